"""When every channel is full, a submit waits in the gateway's queue instead of failing, and goes upstream fairly."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from kling_gateway.sandbox.store import SandboxTask
from kling_gateway.settings import AdmissionConfig
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import FINAL, SteppedClock, create, error_of, wait_for, wait_until

T2V = "/kling/v1/videos/text2video"
pytestmark = pytest.mark.both_backends  # the worker dispatches the queue and settles holds: the store matters

SPEED = 400.0  # a 5-second standard video then takes about a third of a second upstream


def one_slot_gateway(
    gateway_factory: GatewayFactory, *, speed: float = SPEED, clock: SteppedClock | None = None, **settings: Any
) -> RunningGateway:
    """A gateway whose only channel runs one video at a time (on an upstream whose time is `clock`, if given)."""
    upstream: dict[str, Any] = {"speed": speed} | ({} if clock is None else {"clock": clock})
    gw = gateway_factory(channels=0, sandbox=upstream, **settings)
    gw.admin.channel("narrow", gw.sandbox.url, gw.sandbox.account, video_concurrency=1)
    return gw


def run_out(gw: RunningGateway, clock: SteppedClock, client: httpx.Client, platform_ids: list[str]) -> list[Any]:
    """Have the upstream finish whatever it runs, again and again, until each of these tasks has ended here;
    return them as they end."""

    def ended() -> bool:
        running = gw.sandbox.state.tasks.all_tasks()
        clock.move_to(max((task.timeline.finished_ms for task in running), default=clock.ms))
        return all(
            client.get(f"{T2V}/{platform_id}").json()["data"]["task_status"] in FINAL for platform_id in platform_ids
        )

    wait_for(ended, "every task to run upstream in turn and end", every_s=0.02)
    return [client.get(f"{T2V}/{platform_id}").json()["data"] for platform_id in platform_ids]


def upstream_by_platform_id(gw: RunningGateway) -> dict[str, SandboxTask]:
    """The sandbox's tasks, by the external id the gateway gave them (its platform_id)."""
    found = {}
    for task in gw.sandbox.state.tasks.all_tasks():
        assert task.body.external_task_id is not None
        found[task.body.external_task_id] = task
    return found


def test_submits_past_the_channel_limit_are_queued_then_run_one_at_a_time(gateway_factory: GatewayFactory) -> None:
    clock = SteppedClock()  # the first task runs until the test moves the upstream's time
    gw = one_slot_gateway(gateway_factory, clock=clock)
    with gw.client() as client:
        first = create(client, T2V, {"prompt": "fox 0"})
        assert first["task_id"] is not None
        queued = [create(client, T2V, {"prompt": f"fox {n}", "external_task_id": f"mine-{n}"}) for n in (1, 2, 3)]
        for task in queued:  # accepted and held, not yet upstream: the official shape calls that `submitted`
            assert (task["task_status"], task["task_id"]) == ("submitted", None)
        video = client.get(f"{T2V}/mine-3", headers={"X-Response-Format": "video"}).json()
        assert video["status"] == "queued"
        assert gw.admin.money("alice")[1] > 0  # every queued task has its hold
        done = run_out(gw, clock, client, [task["platform_id"] for task in [first, *queued]])
    assert [task["task_status"] for task in done] == ["succeed"] * 4
    upstream = upstream_by_platform_id(gw)
    runs = sorted((upstream[task["platform_id"]].timeline for task in done), key=lambda timeline: timeline.created_ms)
    for earlier, later in itertools.pairwise(runs):
        assert later.created_ms >= earlier.finished_ms  # never two at once on the one-slot channel
    assert [upstream[task["platform_id"]].task_id for task in done] == [task["task_id"] for task in done]


def test_users_take_turns_in_the_queue_each_oldest_first(gateway_factory: GatewayFactory) -> None:
    clock = SteppedClock()  # the first task runs while the others are submitted: until the test moves time
    gw = one_slot_gateway(gateway_factory, speed=100.0, clock=clock)
    with gw.client("alice") as alice, gw.client("bob") as bob:
        create(alice, T2V, {"prompt": "alice runs"})
        alice_waits = [create(alice, T2V, {"prompt": f"alice waits {n}"})["platform_id"] for n in (1, 2, 3)]
        bob_waits = create(bob, T2V, {"prompt": "bob waits"})["platform_id"]
        run_out(gw, clock, alice, alice_waits)
        run_out(gw, clock, bob, [bob_waits])
    upstream = upstream_by_platform_id(gw)
    order = sorted([*alice_waits, bob_waits], key=lambda platform_id: upstream[platform_id].timeline.created_ms)
    # Bob's only task goes right after alice's oldest waiting one, not behind all of hers.
    names = {bob_waits: "bob"} | {platform_id: f"alice {n}" for n, platform_id in enumerate(alice_waits, 1)}
    assert [names[platform_id] for platform_id in order] == ["alice 1", "bob", "alice 2", "alice 3"]


def test_past_a_users_queue_bound_the_submit_is_a_clear_429_and_nothing_is_kept(
    gateway_factory: GatewayFactory,
) -> None:
    gw = one_slot_gateway(gateway_factory, speed=1.0, admission=AdmissionConfig(queue_per_user=1))
    with gw.client("alice") as alice, gw.client("bob") as bob:
        create(alice, T2V, {"prompt": "runs"})
        create(alice, T2V, {"prompt": "waits"})
        held = gw.admin.money("alice")
        tasks = gw.admin.task_count()
        for dialect, expected_code in (("kling", 1303), ("task", "no_capacity"), ("video", "no_capacity")):
            answer = alice.post(T2V, json={"prompt": "one too many"}, headers={"X-Response-Format": dialect})
            assert answer.status_code == 429, answer.text
            body = answer.json()
            code = body.get("code", body.get("error", {}).get("code"))
            assert code == expected_code, body
        status, _, message = error_of(alice.post(T2V, json={"prompt": "one too many"}))
        assert status == 429
        assert "you already have 1 tasks waiting" in message
        assert "the most a user may queue (1)" in message
        assert gw.admin.money("alice") == held
        assert gw.admin.task_count() == tasks
        create(bob, T2V, {"prompt": "bob may still queue"})  # the bound is per user


def test_past_the_overall_queue_bound_every_user_gets_a_429(gateway_factory: GatewayFactory) -> None:
    gw = one_slot_gateway(gateway_factory, speed=1.0, admission=AdmissionConfig(queue_total=1))
    with gw.client("alice") as alice, gw.client("bob") as bob:
        create(alice, T2V, {"prompt": "runs"})
        create(alice, T2V, {"prompt": "waits"})
        status, code, message = error_of(bob.post(T2V, json={"prompt": "no room"}))
    assert (status, code) == (429, 1303)
    assert "1 tasks are already waiting, the most the gateway queues (1)" in message


def test_a_key_past_its_tasks_in_flight_gets_a_429_until_one_finishes(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(sandbox={"speed": SPEED}, admission=AdmissionConfig(tasks_in_flight=2))
    with gw.client("alice") as alice, gw.client("bob") as bob:
        first = create(alice, T2V, {"prompt": "one"})
        create(alice, T2V, {"prompt": "two"})
        status, code, message = error_of(alice.post(T2V, json={"prompt": "three"}))
        assert (status, code) == (429, 1303)
        assert "this key already has 2 unfinished tasks, its limit (2)" in message
        create(bob, T2V, {"prompt": "bob's own key is not limited by alice's"})
        wait_until(alice, f"{T2V}/{first['platform_id']}")
        answer = alice.post(T2V, json={"prompt": "three, later"})
        assert answer.status_code == 200, answer.text


def test_a_queued_task_can_be_asked_for_in_every_shape_and_by_every_id_it_has(gateway_factory: GatewayFactory) -> None:
    gw = one_slot_gateway(gateway_factory, speed=1.0)
    with gw.client() as client:
        create(client, T2V, {"prompt": "runs for minutes"})
        waiting = create(client, T2V, {"prompt": "waits", "external_task_id": "waiting-1"})
        for reference in (waiting["platform_id"], "waiting-1"):
            kling = client.get(f"{T2V}/{reference}").json()["data"]
            assert (kling["task_status"], kling["task_id"]) == ("submitted", None)
            task = client.get(f"{T2V}/{reference}", headers={"X-Response-Format": "task"}).json()["data"]
            assert (task["task_id"], task["status"]) == (waiting["platform_id"], "SUBMITTED")
        listed = client.get(T2V, params={"pageSize": 5}).json()["data"]
        assert waiting["platform_id"] in [item["platform_id"] for item in listed]
    with gw.client("bob") as bob:
        assert bob.get(f"{T2V}/{waiting['platform_id']}").status_code == 404
