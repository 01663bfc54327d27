"""The sync benchmark's arithmetic, its plans, the rows it loads, and the sandbox counter it reads."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from benchmarks.sync_figures import (
    CALLBACKS_PATH,
    CHANNELS,
    COLUMNS,
    STATS_PATH,
    CountedSandbox,
    Size,
    TaskPlan,
    accounts,
    measure,
    percentile,
    plan_tasks,
    preload,
    read_status_kb,
    requests_per_100_tasks,
    rss_mb,
    task_rows,
    visibility_delays_ms,
)

from kling_gateway.tasks.ids import is_platform_id
from kling_gateway.upstream.tokens import TokenCache

NOW = 1_800_000_000_000
HORIZON_MS = 600_000


def test_percentiles_are_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7], 0.99) == 7
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_requests_are_counted_per_poll_interval_and_100_tasks() -> None:
    # 2000 requests in a minute of 5 s intervals is 166.7 an interval; 100 000 tasks are 1000 hundreds.
    assert requests_per_100_tasks(2000, window_s=60, interval_s=5, tasks_in_flight=100_000) == pytest.approx(
        0.16667, rel=1e-3
    )
    assert requests_per_100_tasks(120, window_s=10, interval_s=2, tasks_in_flight=1000) == 2.4


def test_resident_memory_is_read_from_the_process_status() -> None:
    status = "Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t1\n"
    assert read_status_kb(status, "VmRSS") == 102_400
    assert read_status_kb(status, "VmHWM") == 204_800
    with pytest.raises(ValueError, match="VmSwap"):
        read_status_kb(status, "VmSwap")
    assert 1 < rss_mb(os.getpid()) <= rss_mb(os.getpid(), field="VmHWM")


def test_planned_tasks_are_in_flight_over_every_channel_and_move_within_their_expected_time() -> None:
    plans = plan_tasks(4000, now_ms=NOW, horizon_ms=HORIZON_MS)

    assert [plan.created_ms for plan in plans] == sorted(plan.created_ms for plan in plans)
    assert {plan.channel for plan in plans} == set(range(CHANNELS))
    assert len({plan.platform_id for plan in plans}) == len(plans)
    assert all(is_platform_id(plan.platform_id) for plan in plans)
    assert {plan.status_at(NOW)[0] for plan in plans} == {"submitted", "processing"}
    moving = [plan for plan in plans if NOW <= plan.processing_ms < NOW + HORIZON_MS]
    finishing = [plan for plan in plans if plan.finished_ms < NOW + HORIZON_MS]
    assert 0.4 < len(moving) / len(plans) < 0.6  # half start processing during the horizon
    assert 0.05 < len(finishing) / len(plans) < 0.15  # a fifth of the other half finish in it
    assert any(plan.fails for plan in finishing)


def test_loaded_rows_match_the_plans_and_are_all_due_and_in_flight() -> None:
    plans = plan_tasks(200, now_ms=NOW, horizon_ms=HORIZON_MS)
    task_ids = [str(10**17 + n) for n in range(len(plans))]
    later = NOW + HORIZON_MS // 2  # some tasks finished by then: the gateway has not seen it yet
    rows = [
        dict(zip(COLUMNS, row, strict=True))
        for row in task_rows(plans, task_ids, [11, 12, 13, 14], user_id=3, at_ms=later)
    ]

    assert {row["status"] for row in rows} == {"submitted", "processing"}
    assert {row["channel_id"] for row in rows} == {11, 12, 13, 14}
    assert all(row["next_sync_at"] == later for row in rows)
    for plan, row, task_id in zip(plans, rows, task_ids, strict=True):
        assert (row["platform_id"], row["upstream_task_id"], row["created_at"]) == (
            plan.platform_id,
            task_id,
            plan.created_ms,
        )
        assert row["expected_ms"] >= plan.finished_ms - plan.created_ms
        assert row["updated_at"] == plan.status_at(min(later, plan.finished_ms - 1))[1]


def _plan(processing_ms: int, finished_ms: int) -> TaskPlan:
    return TaskPlan(0, f"video_{processing_ms}", 0, processing_ms, finished_ms, fails=False)


def test_a_change_counts_from_its_upstream_moment_to_the_gateway_storing_it() -> None:
    plans = [
        _plan(1000, 9000),  # moved to processing in the window; stored 300 ms later
        _plan(1500, 2000),  # finished in the window; still processing on the gateway: counted until the read
        _plan(50, 9000),  # moved before the window: not counted
        _plan(9000, 9500),  # moves after the window: not counted
        _plan(1200, 2500),  # processing in the window, finished after it, and the gateway shows that: left out
    ]
    view = {
        "video_1000": ("processing", 1300),
        "video_1500": ("processing", 1600),
        "video_50": ("processing", 60),
        "video_9000": ("submitted", 0),
        "video_1200": ("succeed", 2600),
    }
    delays = visibility_delays_ms(plans, view, start_ms=500, end_ms=2100, read_ms=3000)
    assert delays == [300, 1000]


def test_the_sandbox_counts_api_requests_and_turns_callbacks_on() -> None:
    keys = accounts()
    plans = plan_tasks(40, now_ms=NOW, horizon_ms=HORIZON_MS)
    app, task_ids = preload(plans, keys, "http://gateway.example")
    assert len(set(task_ids)) == len(plans)

    async def scenario() -> None:
        counted = CountedSandbox(app)
        headers = {"Authorization": f"Bearer {TokenCache().token(keys[0].access_key, keys[0].secret_key)}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=counted), base_url="http://sandbox") as http:
            page = (await http.get("/v1/videos/text2video?pageSize=500", headers=headers)).json()["data"]
            assert [task["task_id"] for task in page] == task_ids[0::CHANNELS][::-1]  # newest first
            one = (await http.get(f"/v1/videos/text2video/{task_ids[0]}", headers=headers)).json()["data"]
            assert one["task_info"]["external_task_id"] == plans[0].platform_id
            assert (await http.get(STATS_PATH)).json() == {"requests": 2, "lists": 1, "others": 1}
            assert (await http.post(CALLBACKS_PATH)).json() == {"scheduled": len(plans)}
        assert counted.dispatcher is not None
        await counted.dispatcher.aclose()

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_tiny_run_measures_every_figure() -> None:
    """Sandbox, PostgreSQL database, API and worker processes: the whole benchmark on a few hundred tasks."""
    figures = measure(Size(tasks=400, poll_interval_s=0.5, horizon_s=20, warm_up_s=10, window_s=3), say=lambda _: None)

    for name in (
        "sync_upstream_requests_per_100_tasks_per_interval",
        "sync_visible_p50_s",
        "sync_visible_p99_s",
        "sync_callback_visible_p50_ms",
        "rss_gateway_mb",
        "rss_worker_mb",
    ):
        assert figures[name] > 0, name
    assert figures["sync_tasks_in_flight"] == 400
    assert figures["sync_upstream_list_share"] > 0  # the worker read list pages, not only single tasks
