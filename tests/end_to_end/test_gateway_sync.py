"""Tasks reach their end through the gateway: every action, failover, timeouts, callbacks, failures, batched polls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from kling_gateway.billing.money import yuan_to_micros
from kling_gateway.kling.schemas import ACTIONS, Family
from kling_gateway.settings import AdmissionConfig, SyncConfig
from kling_gateway.upstream.callbacks import callback_url
from tests.gateway import QUICK_SYNC, GatewayFactory, RunningGateway
from tests.helpers import SteppedClock, create, error_of, wait_for, wait_until

pytestmark = pytest.mark.both_backends  # the worker, transitions and billing: the store matters

STARTING_BALANCE = yuan_to_micros("1000")  # what gateway_factory gives alice
RATES = {Family.VIDEOS: yuan_to_micros("1"), Family.IMAGES: yuan_to_micros("0.025")}  # the default credit prices
T2V = "/kling/v1/videos/text2video"
IMAGE = "https://cdn.example.com/in/cat.png"
SANDBOX_T2V = "/v1/videos/text2video"
FOX = {"prompt": "a fox", "model_name": "kling-v1-6"}  # a 5 s video: extendable, lip-syncable, selectable


@dataclass(frozen=True)
class Sources:
    """Upstream objects that some actions refer to, made before those actions are submitted."""

    platform_id: str  # the gateway task that made the video
    video_id: str  # a finished text2video of the channel's account
    selection_session: str  # a multi-elements selection session on that video, with one object selected
    face_session: str  # an identify-face session on that video
    face_id: str


def bodies(sources: Sources) -> dict[tuple[Family, str], dict[str, Any]]:
    """A valid create body for every action (the minimal ones of tests/unit/schemas/*_cases.py)."""
    videos, images = Family.VIDEOS, Family.IMAGES
    face = {
        "face_id": sources.face_id,
        "sound_file": "https://cdn.example.com/in/voice.mp3",
        "sound_start_time": 0,
        "sound_end_time": 3000,
        "sound_insert_time": 0,
    }
    return {
        (videos, "text2video"): {"prompt": "a cat"},
        (videos, "image2video"): {"image": IMAGE},
        (videos, "omni-video"): {"prompt": "a fox", "aspect_ratio": "16:9"},
        (videos, "multi-image2video"): {"image_list": [{"image": IMAGE}], "prompt": "they meet"},
        (videos, "multi-elements"): {
            "session_id": sources.selection_session,
            "edit_mode": "removal",
            "prompt": "remove the fox",
        },
        (videos, "lip-sync"): {
            "input": {"video_id": sources.video_id, "mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}
        },
        (videos, "advanced-lip-sync"): {"session_id": sources.face_session, "face_choose": [face]},
        (videos, "video-extend"): {"video_id": sources.video_id},
        (videos, "effects"): {"effect_scene": "bloombloom", "input": {"image": IMAGE, "duration": "5"}},
        (videos, "avatar/image2video"): {"image": IMAGE, "audio_id": "audio-1"},
        (videos, "motion-control"): {
            "image_url": IMAGE,
            "video_url": "https://cdn.example.com/in/dance.mp4",
            "character_orientation": "image",
            "mode": "std",
        },
        (images, "generations"): {"prompt": "a red bicycle"},
        (images, "omni-image"): {"prompt": "a logo"},
        (images, "multi-image2image"): {"subject_image_list": [{"subject_image": IMAGE}]},
        (images, "kolors-virtual-try-on"): {"human_image": IMAGE, "cloth_image": IMAGE},
        (images, "editing/expand"): {"image": IMAGE, "up_expansion_ratio": 0.5},
    }


def sync_call(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Make a synchronous helper call through the gateway, which sends it to the channel owning the video."""
    answer = client.post(f"/kling/v1/videos/{path}", json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def make_sources(gw: RunningGateway, client: httpx.Client) -> Sources:
    """Make a source video through the gateway, then the sessions that refer to it, through the gateway too."""
    platform_id = create(client, T2V, FOX)["platform_id"]
    video = wait_until(client, f"{T2V}/{platform_id}")
    assert video["task_status"] == "succeed", video
    video_id = str(video["task_result"]["videos"][0]["id"])
    selection = str(sync_call(client, "multi-elements/init-selection", {"video_id": video_id})["session_id"])
    sync_call(
        client,
        "multi-elements/add-selection",
        {"session_id": selection, "frame_index": 0, "points": [{"x": 0.5, "y": 0.4}]},
    )
    faces = sync_call(client, "identify-face", {"video_id": video_id})
    return Sources(platform_id, video_id, selection, str(faces["session_id"]), str(faces["face_data"][0]["face_id"]))


def path_of(family: Family, action: str) -> str:
    return f"/kling/v1/{family.value}/{action}"


def charge_of(deduction: str, family: Family) -> int:
    """What a task that deducted `deduction` credits upstream costs alice, in micro-yuan."""
    return int(Decimal(deduction) * RATES[family])


def test_every_action_submits_finishes_and_is_billed_from_its_deduction(gateway: RunningGateway) -> None:
    """Each of the 16 actions goes through the gateway to `succeed`, and is held, released and charged once."""
    with gateway.client() as client:
        sources = make_sources(gateway, client)
        table = bodies(sources)
        assert table.keys() == ACTIONS.keys()
        submitted = {key: create(client, path_of(*key), body)["platform_id"] for key, body in table.items()}
        done = {key: wait_until(client, f"{path_of(*key)}/{pid}") for key, pid in submitted.items()}
    charged = 0
    for (family, action), data in done.items():
        assert data["task_status"] == "succeed", (action, data)
        assert data["task_result"], action
        assert "final_unit_deduction" in data, action
        deduction = data["final_unit_deduction"]
        assert Decimal(deduction) >= 0, action
        entries = gateway.admin.ledger(submitted[family, action])
        charge = charge_of(deduction, family)
        expected = {"hold", "release"} | ({"charge"} if charge else set())
        assert entries.keys() == expected, (action, entries)
        assert entries["release"] == -entries["hold"], action
        assert entries.get("charge", 0) == -charge, action
        charged += charge
    source_charge = -gateway.admin.ledger(sources.platform_id)["charge"]
    face_charge = 50_000  # the identify-face call that opened the face session: 0.05 credits at ¥1
    assert gateway.admin.money("alice") == (STARTING_BALANCE - charged - source_charge - face_charge, 0)


def upstream_account(gw: RunningGateway, task_id: str) -> int:
    """Tell which sandbox account (by index) runs an upstream task."""
    task = gw.sandbox.state.tasks.task_by_id(task_id)
    assert task is not None, task_id
    keys = [account.access_key for account in gw.sandbox.config.accounts]
    return keys.index(task.account)


def fill(gw: RunningGateway, account: int, tasks: int) -> None:
    """Take `tasks` video slots of a sandbox account directly, with slow tasks that keep them."""
    with gw.sandbox.client(gw.sandbox.config.accounts[account]) as sandbox:
        for number in range(tasks):
            create(sandbox, SANDBOX_T2V, {"prompt": f"filler {number}"})


def test_a_channel_that_answers_1303_is_failed_over(gateway_factory: GatewayFactory) -> None:
    """When the upstream says account 0 is full (1303), the gateway submits to account 1 instead."""
    # No worker: the submit alone sends, so the failover is its own (a worker could send a task the first channel
    # refused before the submit tries the second, and the answer would then carry no upstream id yet).
    gw = gateway_factory(channels=2, sandbox={"speed": 1.0, "video_concurrency": 3}, worker=False)
    fill(gw, 0, 3)  # the gateway does not know: its own limits for the channel are roomy
    with gw.client() as client:
        for number in range(3):  # each submit may try channel sandbox-1 first; only failover can succeed
            answer = client.post(T2V, json={"prompt": f"a fox {number}"})
            assert answer.status_code == 200, answer.text
            assert upstream_account(gw, answer.json()["data"]["task_id"]) == 1


def test_when_every_channel_answers_1303_and_no_queue_is_allowed_the_submit_is_refused_and_nothing_is_kept(
    gateway_factory: GatewayFactory,
) -> None:
    """When every upstream account is full and a user may queue nothing, the submit is a 429 with code 1303;
    nothing is held or stored."""
    # No worker: one could claim the task between the submit's offer and its queue check, and the submit then
    # leaves the task to it (TaskService._check_queue_bound); what is checked here is the submit's own refusal.
    gw = gateway_factory(
        channels=2,
        worker=False,
        sandbox={"speed": 1.0, "video_concurrency": 1},
        admission=AdmissionConfig(queue_per_user=0),
    )
    fill(gw, 0, 1)
    fill(gw, 1, 1)
    with gw.client() as client:
        status, code, message = error_of(client.post(T2V, json={"prompt": "a fox"}))
    assert (status, code) == (429, 1303)
    assert "every upstream channel is busy" in message
    assert "the most a user may queue (0)" in message
    assert gw.admin.money("alice") == (STARTING_BALANCE, 0)
    assert gw.admin.task_count() == 0


def test_a_task_with_no_result_in_time_fails_and_costs_nothing(gateway_factory: GatewayFactory) -> None:
    """A task still unfinished `stuck_after_s` after submit is failed by the gateway, its hold released."""
    gw = gateway_factory(
        sandbox={"speed": 0.01},
        sync=SyncConfig(poll_interval_s=0.05, idle_sleep_s=0.02, stuck_after_s=0.5),
    )
    with gw.client() as client:
        platform_id = create(client, T2V, {"prompt": "a very slow fox"})["platform_id"]
        done = wait_until(client, f"{T2V}/{platform_id}")
    assert done["task_status"] == "failed"
    assert "no result from the upstream within 0.5 s" in done["task_status_msg"]
    assert "final_unit_deduction" not in done
    # On a loaded machine the half second can pass before the create's answer is kept (task_id still unknown);
    # when it is known, the upstream is still at it.
    if done["task_id"] is not None:
        with gw.sandbox.client() as sandbox:
            assert sandbox.get(f"{SANDBOX_T2V}/{done['task_id']}").json()["data"]["task_status"] in (
                "submitted",
                "processing",
            )
    entries = gw.admin.ledger(platform_id)
    assert entries.keys() == {"hold", "release"}
    assert entries["release"] == -entries["hold"]
    assert gw.admin.money("alice") == (STARTING_BALANCE, 0)


def callback_task(task_id: str, platform_id: str, status: str) -> dict[str, Any]:
    """A bare task object, as the upstream POSTs it to a callback URL."""
    return {
        "task_id": task_id,
        "task_status": status,
        "task_status_msg": "",
        "task_info": {"external_task_id": platform_id},
        "task_result": {},
        "created_at": 1_700_000_000_000,
        "updated_at": 1_700_000_000_000,
    }


@pytest.fixture
def called_back(gateway_factory: GatewayFactory) -> Iterator[tuple[RunningGateway, dict[str, Any]]]:
    """A gateway with no poller that learns of its tasks from upstream callbacks, and one task finished that way."""
    gw = gateway_factory(worker=False, callbacks=True)
    assert gw.runtime is not None
    assert gw.runtime.worker is None
    with gw.client() as client:
        platform_id = create(client, T2V, {"prompt": "a fox"})["platform_id"]
        yield gw, wait_until(client, f"{T2V}/{platform_id}")


def test_upstream_callbacks_alone_bring_a_task_to_its_result(
    called_back: tuple[RunningGateway, dict[str, Any]],
) -> None:
    """Without any polling, the upstream's callbacks move a task to `succeed`, with its result, charged once."""
    gw, done = called_back
    assert done["task_status"] == "succeed"
    assert done["task_result"]["videos"][0]["url"].endswith(".mp4")
    charge = charge_of(done["final_unit_deduction"], Family.VIDEOS)
    assert charge > 0
    entries = gw.admin.ledger(done["platform_id"])
    assert entries == {"hold": entries["hold"], "release": -entries["hold"], "charge": -charge}
    assert gw.admin.money("alice") == (STARTING_BALANCE - charge, 0)


def test_forged_unknown_and_late_callbacks_change_nothing(called_back: tuple[RunningGateway, dict[str, Any]]) -> None:
    """A callback with a wrong token, or about a task that does not exist, is refused alike (401); a late one is
    ignored."""
    gw, done = called_back
    platform_id, task_id = done["platform_id"], done["task_id"]
    secret = gw.sandbox.config.accounts[0].secret_key
    stale = callback_task(task_id, platform_id, "submitted")
    charged_money = gw.admin.money("alice")
    entries = gw.admin.ledger(platform_id)
    with httpx.Client(timeout=10) as upstream, gw.client() as client:
        forged = callback_url(gw.url, gw.sandbox.config.accounts[1].secret_key, platform_id)
        refused = upstream.post(forged, json=stale)
        assert refused.status_code == 401
        unknown = "video_01JAAAAAAAAAAAAAAAAAAAAAAA"
        no_such_task = upstream.post(callback_url(gw.url, secret, unknown), json=stale)
        assert (no_such_task.status_code, no_such_task.json()["message"]) == (401, refused.json()["message"])
        late = upstream.post(callback_url(gw.url, secret, platform_id), json=stale)
        assert late.status_code == 200, late.text
        assert late.json()["data"] == {"applied": False}
        again = client.get(f"{T2V}/{platform_id}").json()["data"]
    assert again["task_status"] == "succeed"
    assert again["task_result"] == done["task_result"]
    assert gw.admin.ledger(platform_id) == entries
    assert gw.admin.money("alice") == charged_money


def test_a_failed_task_costs_nothing(gateway_factory: GatewayFactory) -> None:
    """A task the upstream fails ends `failed` with the upstream's reason; its hold is released, nothing charged."""
    gw = gateway_factory(sandbox={"failure_rate": 1.0})
    with gw.client() as client:
        platform_id = create(client, T2V, {"prompt": "a fox"})["platform_id"]
        done = wait_until(client, f"{T2V}/{platform_id}")
    with gw.sandbox.client() as sandbox:
        upstream = sandbox.get(f"{SANDBOX_T2V}/{done['task_id']}").json()["data"]
    assert done["task_status"] == upstream["task_status"] == "failed"
    assert done["task_status_msg"] == upstream["task_status_msg"]
    assert done["task_status_msg"]
    entries = gw.admin.ledger(platform_id)
    assert entries.keys() == {"hold", "release"}
    assert entries["release"] == -entries["hold"]
    assert gw.admin.money("alice") == (STARTING_BALANCE, 0)


@dataclass
class PollCount:
    """What a gateway's sync worker did: upstream list and single-task GETs, and task looks (tasks × rounds)."""

    lists: int = 0
    gets: int = 0
    looks: int = 0

    @property
    def requests(self) -> int:
        return self.lists + self.gets


def count_polls(gw: RunningGateway) -> PollCount:
    """Watch a running gateway's upstream GETs (at its transport) and the tasks each sync round looked at."""
    assert gw.runtime is not None
    worker = gw.runtime.worker
    assert worker is not None
    count = PollCount()

    async def record(request: httpx.Request) -> None:
        if request.method == "GET" and request.url.path == SANDBOX_T2V:
            count.lists += 1
        elif request.method == "GET" and request.url.path.startswith(f"{SANDBOX_T2V}/"):
            count.gets += 1

    one_round = worker.run_once

    async def counted_round() -> int:
        looked_at = await one_round()
        count.looks += looked_at
        return looked_at

    gw.runtime.http.event_hooks["request"].append(record)
    worker.run_once = counted_round  # type: ignore[method-assign]  # observe only: the round itself is unchanged
    return count


def submit_as_alice(gw: RunningGateway, number: int) -> str:
    with gw.client() as client:
        return str(create(client, T2V, {"prompt": f"fox {number}"})["platform_id"])


def test_many_tasks_of_one_channel_are_polled_with_list_calls(gateway_factory: GatewayFactory) -> None:
    """Ten tasks submitted at once are kept in sync with list calls: far fewer requests than one GET per look."""
    gw = gateway_factory(sandbox={"speed": 200.0}, sync=QUICK_SYNC.model_copy(update={"batch_min_tasks": 2}))
    count = count_polls(gw)
    with ThreadPoolExecutor(max_workers=10) as pool:
        platform_ids = list(pool.map(lambda number: submit_as_alice(gw, number), range(10)))
    with gw.client() as client:
        done = [wait_until(client, f"{T2V}/{platform_id}") for platform_id in platform_ids]
    assert [data["task_status"] for data in done] == ["succeed"] * 10
    assert count.lists > 0
    # Polling one by one would take a GET per look; list calls take a fraction (about a fifth on a quiet machine,
    # less of a saving when a loaded machine spreads the tasks over more rounds).
    assert count.requests < 0.7 * count.looks, count


def test_tasks_submitted_one_after_another_are_still_polled_together(gateway_factory: GatewayFactory) -> None:
    """Tasks submitted at different moments come due in the same rounds, so list calls read them together."""
    clock = SteppedClock()  # the upstream's time: the tasks stay in flight until the test ends them
    gw = gateway_factory(
        sandbox={"speed": 50.0, "clock": clock},
        sync=SyncConfig(poll_interval_s=0.25, idle_sleep_s=0.02, batch_min_tasks=2),
    )
    count = count_polls(gw)
    platform_ids = []
    for number in range(10):  # spread over a whole poll interval
        platform_ids.append(submit_as_alice(gw, number))
        time.sleep(0.025)  # the gateway's clock
    wait_for(lambda: count.looks >= 3 * len(platform_ids), "three rounds' worth of looks at the tasks in flight")
    clock.advance(60)
    with gw.client() as client:
        done = [wait_until(client, f"{T2V}/{platform_id}") for platform_id in platform_ids]
    assert [data["task_status"] for data in done] == ["succeed"] * 10
    assert count.lists > 0
    assert count.requests < 0.4 * count.looks, count  # one by one, each task would cost a GET a look
