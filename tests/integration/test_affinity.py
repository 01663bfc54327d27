"""Channel affinity on real SQLite and PostgreSQL: a video or session is found only among its user's own, and
remembering one twice keeps the first record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from kling_gateway.channels import affinity
from kling_gateway.channels.admin import add_channel
from kling_gateway.errors import InvalidRequest
from kling_gateway.kling.schemas import ACTIONS, CreateBody, Family, parse_body
from kling_gateway.store.database import Database
from kling_gateway.store.models import UPSTREAM_OBJECTS
from kling_gateway.upstream.client import UpstreamTask
from kling_gateway.users.service import create_user

pytestmark = pytest.mark.both_backends  # the affinity repository: the store matters

NOW_MS = 1_790_000_000_000
VIDEO_ID = "860531209405841471"
SESSION_ID = "860531209405841472"
FACE = {"face_id": "0", "audio_id": "a-1", "sound_start_time": 0, "sound_end_time": 1000, "sound_insert_time": 0}
SPEECH = {"mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}


@dataclass(frozen=True)
class World:
    """Two users and two channels in a fresh database."""

    db: Database
    alice: int
    bob: int
    first: int
    second: int


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    db = Database(database_url)
    async with db.session() as session, session.begin():
        alice, bob = [(await create_user(session, name=name)).id for name in ("alice", "bob")]
        first, second = [
            (
                await add_channel(
                    session, name=f"account-{n}", base_url="http://127.0.0.1:9", access_key=f"ak-{n}", secret_key="sk"
                )
            ).id
            for n in (1, 2)
        ]
    yield World(db, alice, bob, first, second)
    await db.dispose()


def succeeded(*video_ids: Any) -> UpstreamTask:
    """A succeeded task report whose result holds videos with these ids."""
    videos = [
        {"id": video_id, "url": f"https://cdn.example.com/{video_id}.mp4", "duration": "5.1"} for video_id in video_ids
    ]
    return UpstreamTask(
        task_id="t-1",
        task_status="succeed",
        task_status_msg="",
        task_info={},
        task_result={"videos": videos},
        final_unit_deduction="2",
        created_at=NOW_MS,
        updated_at=NOW_MS,
    )


def body(action: str, raw: dict[str, Any]) -> tuple[Any, CreateBody]:
    spec = ACTIONS[Family.VIDEOS, action]
    return spec, parse_body(spec.schema, raw)


async def required(world: World, user_id: int, action: str, raw: dict[str, Any]) -> int | None:
    spec, parsed = body(action, raw)
    async with world.db.session() as session:
        return await affinity.required_channel(session, user_id=user_id, spec=spec, body=parsed)


async def remember_video(world: World, user_id: int, channel_id: int, *video_ids: Any) -> None:
    async with world.db.session() as session, session.begin():
        await affinity.remember_results(
            session, user_id=user_id, channel_id=channel_id, report=succeeded(*video_ids), now_ms=NOW_MS
        )


async def remember_session(world: World, user_id: int, channel_id: int, session_id: str) -> None:
    async with world.db.session() as session, session.begin():
        await affinity.remember_session(
            session, user_id=user_id, channel_id=channel_id, session_id=session_id, now_ms=NOW_MS
        )


async def stored(world: World) -> list[tuple[int, str, str, int]]:
    uo = UPSTREAM_OBJECTS.c
    async with world.db.read() as connection:
        rows = await connection.execute(
            select(uo.user_id, uo.kind, uo.object_id, uo.channel_id).order_by(uo.kind, uo.object_id, uo.user_id)
        )
        return [tuple(row) for row in rows.all()]


async def test_an_own_video_or_session_names_the_channel_that_made_it(world: World) -> None:
    await remember_video(world, world.alice, world.second, VIDEO_ID)
    await remember_session(world, world.alice, world.second, SESSION_ID)
    assert await required(world, world.alice, "video-extend", {"video_id": VIDEO_ID}) == world.second
    lip_sync = {"input": {"video_id": VIDEO_ID} | SPEECH}
    assert await required(world, world.alice, "lip-sync", lip_sync) == world.second
    advanced = {"session_id": SESSION_ID, "face_choose": [FACE]}
    assert await required(world, world.alice, "advanced-lip-sync", advanced) == world.second
    edit = {"session_id": SESSION_ID, "edit_mode": "removal", "prompt": "remove it"}
    assert await required(world, world.alice, "multi-elements", edit) == world.second


async def test_a_body_naming_no_upstream_object_needs_no_channel(world: World) -> None:
    assert await required(world, world.alice, "text2video", {"prompt": "a fox"}) is None
    by_url = {"input": {"video_url": "https://cdn.example.com/in/talk.mp4"} | SPEECH}
    assert await required(world, world.alice, "lip-sync", by_url) is None


@pytest.mark.parametrize(
    ("action", "raw", "field", "hint"),
    [
        ("video-extend", {"video_id": VIDEO_ID}, "video_id", "task_result.videos"),
        ("lip-sync", {"input": {"video_id": VIDEO_ID} | SPEECH}, "input.video_id", "task_result.videos"),
        ("advanced-lip-sync", {"session_id": SESSION_ID, "face_choose": [FACE]}, "session_id", "identify-face"),
        (
            "multi-elements",
            {"session_id": SESSION_ID, "edit_mode": "removal", "prompt": "remove it"},
            "session_id",
            "multi-elements/init-selection",
        ),
    ],
)
async def test_another_users_object_is_refused_exactly_like_an_unknown_one(
    world: World, action: str, raw: dict[str, Any], field: str, hint: str
) -> None:
    with pytest.raises(InvalidRequest) as unknown:
        await required(world, world.bob, action, raw)
    await remember_video(world, world.alice, world.first, VIDEO_ID)
    await remember_session(world, world.alice, world.first, SESSION_ID)
    with pytest.raises(InvalidRequest) as foreign:
        await required(world, world.bob, action, raw)
    assert foreign.value.message == unknown.value.message
    assert foreign.value.param == field
    assert foreign.value.http_status == 400
    assert foreign.value.message.startswith(f"{field}: ")
    assert hint in foreign.value.message


async def test_a_video_and_a_session_with_the_same_id_are_different_objects(world: World) -> None:
    await remember_session(world, world.alice, world.first, VIDEO_ID)
    with pytest.raises(InvalidRequest, match="is not a video of one of your tasks"):
        await required(world, world.alice, "video-extend", {"video_id": VIDEO_ID})


async def test_remembering_is_idempotent_and_keeps_the_first_channel(world: World) -> None:
    await remember_video(world, world.alice, world.first, VIDEO_ID, "v-2")
    await remember_video(world, world.alice, world.first, VIDEO_ID, "v-2")
    await remember_video(world, world.alice, world.second, VIDEO_ID)
    await remember_session(world, world.alice, world.first, SESSION_ID)
    await remember_session(world, world.alice, world.second, SESSION_ID)
    await remember_video(world, world.bob, world.second, VIDEO_ID)
    assert await stored(world) == [
        (world.alice, "session", SESSION_ID, world.first),
        (world.alice, "video", VIDEO_ID, world.first),
        (world.bob, "video", VIDEO_ID, world.second),
        (world.alice, "video", "v-2", world.first),
    ]


async def test_a_result_without_usable_video_ids_records_nothing(world: World) -> None:
    await remember_video(world, world.alice, world.first, None, "", 7, "x" * (affinity.OBJECT_ID_MAX_CHARS + 1))
    images = UpstreamTask("t-2", "succeed", "", {}, {"images": [{"index": 0, "url": "u"}]}, "1", NOW_MS, NOW_MS)
    async with world.db.session() as session, session.begin():
        await affinity.remember_results(
            session, user_id=world.alice, channel_id=world.first, report=images, now_ms=NOW_MS
        )
    assert await stored(world) == []
