"""Which channels a task may go to: a new-generation task only to one with an API key, no task to one whose
credentials the upstream refused; when none is left, the task is not sent and the reason says why."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kling_gateway.channels.admin import add_channel, mark_misconfigured, set_channel_enabled
from kling_gateway.clock import now_ms
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.records import Task
from kling_gateway.tasks import repository
from kling_gateway.tasks.dispatch import Dispatcher, Sent
from kling_gateway.upstream import KlingClient
from tests.factories import task_draft, user_id_of_new_user

BASE_URL = "http://kling.test"
PAIR = {"access_key": "ak_pair", "secret_key": "sk_" + "p" * 32}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    opened = Database(database_url)
    yield opened
    await opened.dispose()


def unreachable(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no channel may be asked, yet {request.method} {request.url} was sent")


async def queued(db: Database, generation: str) -> Task:
    moment = now_ms()
    async with db.session() as session, session.begin():
        user_id = await user_id_of_new_user(session, name="sender", created_at=moment)
        action = "text-to-video/kling-3.0-turbo" if generation == "new" else "text2video"
        draft = task_draft(
            platform_id="video_01JELIGIBLE000000000000000",
            user_id=user_id,
            created_at=moment,
            action=action,
            generation=generation,
        )
        return await repository.insert(session, draft)


@pytest.mark.parametrize(
    ("generation", "channels", "refused", "reason"),
    [
        ("new", [PAIR], [], "no channel with an API key, which the new generation's endpoints require"),
        ("new", [PAIR, {"api_key": "kling_k"}], ["c1"], "every channel with an API key is misconfigured: c1: refused"),
        ("legacy", [PAIR, {"api_key": "kling_k"}], ["c0", "c1"], "every channel is misconfigured: c0: refused; c1"),
        ("legacy", [], [], "no upstream channel is configured"),
        ("legacy", [PAIR, PAIR], ["-c0", "-c1"], "every upstream channel is disabled (c0, c1); an admin enables"),
        ("new", [{"api_key": "kling_k"}], ["-c0"], "every upstream channel is disabled (c0)"),
        ("legacy", [PAIR, PAIR], ["-c0", "c1"], "every channel is misconfigured: c1: refused"),
    ],
    ids=["new-without-key", "new-key-refused", "legacy-all-refused", "none", "all-disabled", "new-disabled", "mixed"],
)
async def test_a_task_with_no_usable_channel_is_not_sent_and_says_why(
    db: Database, generation: str, channels: list[dict[str, Any]], refused: list[str], reason: str
) -> None:
    async with db.session() as session, session.begin():
        for number, credentials in enumerate(channels):
            channel = await add_channel(session, name=f"c{number}", base_url=BASE_URL, **credentials)
            if channel.name in refused:
                await mark_misconfigured(session, channel_id=channel.id, reason="refused")
            if f"-{channel.name}" in refused:  # "-NAME": disabled by an admin
                await set_channel_enabled(session, name=channel.name, enabled=False)
    task = await queued(db, generation)
    client = KlingClient(httpx.AsyncClient(transport=httpx.MockTransport(unreachable)))
    outcome = await Dispatcher(db, client, Settings(database_url="sqlite://"), random.Random(1)).send(task)
    assert (outcome.sent, client.requests_sent) == (Sent.NO_CHANNEL, 0)
    assert reason in outcome.reason
