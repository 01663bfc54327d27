"""`/metrics` as Prometheus scrapes it: values that move as tasks move (submit, finish, fail, bill), series named by
route template and never by id, and the operator's token."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kling_gateway.api.operations import bound_to_loopback
from kling_gateway.observability.metrics import exposition
from tests.conftest import CallbackReceiver
from tests.end_to_end.test_admission_queue import run_out
from tests.gateway import GatewayFactory, RunningGateway, free_port
from tests.helpers import SteppedClock, create, wait_for, wait_until

T2V = "/kling/v1/videos/text2video"
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client, headers: Mapping[str, str] | None = None) -> Series:
    """Read /metrics as Prometheus does: every sample by name and labels."""
    answer = client.get("/metrics", headers=dict(headers or {}))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return parsed(answer.text)


def parsed(text: str) -> Series:
    """Read an exposition's samples by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """One sample's value (0 when it is not there yet)."""
    return series.get((name, frozenset(labels.items())), 0.0)


def moved(before: Series, after: Series, name: str, **labels: str) -> float:
    """How much a sample rose between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


TASK = {"family": "videos", "action": "text2video", "generation": "legacy"}


@pytest.mark.both_backends
def test_metrics_follow_a_task_from_submit_to_its_bill(gateway_factory: GatewayFactory) -> None:
    clock = SteppedClock()  # the task runs upstream until the test moves the upstream's time
    gw = gateway_factory(channels=0, sandbox={"clock": clock})
    gw.admin.channel("narrow", gw.sandbox.url, gw.sandbox.account, video_concurrency=1)
    with gw.client() as client, gw.http() as operator:
        before = scrape(operator)
        running = create(client, T2V, {"prompt": "a fox"})
        waiting = create(client, T2V, {"prompt": "a second fox"})  # the one slot is taken: it waits
        hold = gw.admin.ledger(running["platform_id"])["hold"]
        submitted = scrape(operator)
        assert value(submitted, "kling_gateway_tasks", status="submitted", channel="narrow", **TASK) == 1
        assert value(submitted, "kling_gateway_tasks", status="queued", channel="", **TASK) == 1
        assert value(submitted, "kling_gateway_channel_slots_in_use", channel="narrow", pack_type="video") == 1
        assert value(submitted, "kling_gateway_channel_slots_limit", channel="narrow", pack_type="video") == 1
        assert value(submitted, "kling_gateway_tasks_waiting", channel="any", pack_type="video") == 1
        assert moved(before, submitted, "kling_gateway_ledger_micros_total", kind="hold") == 2 * hold
        create_call = {"channel": "narrow", "endpoint": "POST /v1/videos/text2video", "outcome": "200"}
        assert moved(before, submitted, "kling_gateway_upstream_requests_total", **create_call) == 1
        post = {"route": T2V, "method": "POST", "status": "200"}
        assert moved(before, submitted, "kling_gateway_http_requests_total", **post) == 2

        run_out(gw, clock, client, [running["platform_id"], waiting["platform_id"]])
        after = scrape(operator)
    finished = {"status": "succeed", "channel": "narrow", **TASK}
    assert moved(before, after, "kling_gateway_tasks_finished_total", **finished) == 2
    assert value(after, "kling_gateway_tasks", status="submitted", channel="narrow", **TASK) == 0
    assert value(after, "kling_gateway_channel_slots_in_use", channel="narrow", pack_type="video") == 0
    assert moved(before, after, "kling_gateway_ledger_micros_total", kind="charge") == 2 * 1_000_000  # 1 credit, ¥1
    assert moved(before, after, "kling_gateway_ledger_micros_total", kind="release") == 2 * hold
    duration = {"family": "videos", "action": "text2video", "status": "succeed"}
    assert moved(before, after, "kling_gateway_task_duration_seconds_count", **duration) == 2
    assert moved(before, after, "kling_gateway_poll_lag_seconds_count") >= 2
    assert moved(before, after, "kling_gateway_worker_round_duration_seconds_count") >= 1
    # The single-task GET, answered ahead of the framework, is counted under its template, never under an id.
    one = {"route": T2V + "/{task_id}", "method": "GET", "status": "200"}
    assert moved(before, after, "kling_gateway_http_requests_total", **one) >= 2
    assert not [labels for (_, labels) in after if any(running["platform_id"] in v for _, v in labels)]


def test_a_failed_task_is_counted_failed_and_charged_nothing(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(sandbox={"failure_rate": 1.0})
    with gw.client() as client, gw.http() as operator:
        before = scrape(operator)
        task = create(client, T2V, {"prompt": "a doomed fox"})
        assert wait_until(client, f"{T2V}/{task['platform_id']}")["task_status"] == "failed"
        after = scrape(operator)
    failed = {"status": "failed", "channel": "sandbox-1", **TASK}
    assert moved(before, after, "kling_gateway_tasks_finished_total", **failed) == 1
    assert moved(before, after, "kling_gateway_ledger_micros_total", kind="charge") == 0
    assert (
        moved(before, after, "kling_gateway_ledger_micros_total", kind="release")
        == gw.admin.ledger(task["platform_id"])["hold"]
    )


def test_unmatched_paths_and_ids_never_become_series(gateway: RunningGateway) -> None:
    with gateway.client() as client, gateway.http() as operator:
        client.get("/no/such/path/12345")
        client.get(f"{T2V}/an-id-nobody-has")
        series = scrape(operator)
    routes = {dict(labels).get("route") for name, labels in series if name == "kling_gateway_http_requests_total"}
    assert "unmatched" in routes
    assert T2V + "/{task_id}" in routes
    assert not [route for route in routes if route and ("12345" in route or "nobody" in route)]


def test_the_batch_query_is_counted_under_its_template_on_both_prefixes(gateway: RunningGateway) -> None:
    with gateway.client() as client, gateway.http() as operator:
        before = scrape(operator)
        task = create(client, T2V, {"prompt": "a counted fox"})
        for path in ("/kling/tasks", "/tasks"):
            assert client.get(path, params={"task_ids": task["platform_id"]}).status_code == 200
            assert client.get(path).status_code == 400  # no ids: refused, and counted as refused
        after = scrape(operator)
    for path in ("/kling/tasks", "/tasks"):
        assert moved(before, after, "kling_gateway_http_requests_total", route=path, method="GET", status="200") == 1
        assert moved(before, after, "kling_gateway_http_requests_total", route=path, method="GET", status="400") == 1


def test_metrics_need_the_operators_token_when_one_is_set(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(metrics={"token": "operator-secret"})
    with gw.http() as anyone:
        assert anyone.get("/metrics").status_code == 401
        wrong = anyone.get("/metrics", headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        assert "operator-secret" not in wrong.text
        assert scrape(anyone, {"Authorization": "Bearer operator-secret"})


def test_metrics_off_loopback_are_refused_without_a_token(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(host="0.0.0.0")  # noqa: S104  # the setting only: in-process, nothing listens
    with gw.http() as anyone:
        refused = anyone.get("/metrics")
    assert refused.status_code == 403
    assert "KLING_GATEWAY_METRICS__TOKEN" in refused.json()["error"]["message"]


def test_metrics_can_be_switched_off(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(metrics={"enabled": False})
    with gw.http() as anyone:
        assert anyone.get("/metrics").status_code == 404
        assert anyone.get("/livez").status_code == 200


def test_without_multiprocess_mode_a_scrape_shows_this_process() -> None:
    series = parsed(exposition().decode())
    assert any(name.startswith("process_") or name.startswith("python_") for name, _ in series)


def test_callback_deliveries_and_the_backlog_are_counted(
    gateway_factory: GatewayFactory, callback_receiver: CallbackReceiver
) -> None:
    gw = gateway_factory(allow_private_callbacks=True)
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens there
    with gw.client() as client, gw.http() as operator:
        before = scrape(operator)
        delivered = create(client, T2V, {"prompt": "a fox", "callback_url": callback_receiver.url})
        create(client, T2V, {"prompt": "a lost fox", "callback_url": dead})
        wait_until(client, f"{T2V}/{delivered['platform_id']}")

        def counted() -> bool:
            after = scrape(operator)
            return (
                moved(before, after, "kling_gateway_callback_deliveries_total", outcome="delivered") >= 1
                and moved(before, after, "kling_gateway_callback_deliveries_total", outcome="retry") >= 1
            )

        wait_for(counted, "a delivery and a failed one to be counted", every_s=0.05)
        assert value(scrape(operator), "kling_gateway_callbacks_pending") >= 1  # the dead receiver's, retried later


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104  # every interface: what the check is for
        ("::", False),
        ("192.168.1.20", False),
        ("gateway.example", False),
    ],
)
def test_only_a_loopback_host_counts_as_bound_to_loopback(host: str, loopback: bool) -> None:
    assert bound_to_loopback(host) is loopback
