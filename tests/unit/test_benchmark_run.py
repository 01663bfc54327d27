"""The benchmark command's options, figure names and targets, on made-up measurements (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.api_figures import ID_FORMS, ApiFigures, Latency, Plan
from benchmarks.baseline import fastest
from benchmarks.harness import Load
from benchmarks.run import API_FIGURES, SUBMIT_KINDS, TARGETS, measurements, parser, peer_table, summarize, table
from rich.console import Console


def load(requests_per_s: float, p99_ms: float) -> Load:
    return Load(requests_per_s=requests_per_s, p50_ms=p99_ms / 2, p99_ms=p99_ms, errors=0)


def made_up() -> ApiFigures:
    baselines: dict[str, Load | str] = {"granian": load(10_000, 4.0), "uvicorn": load(8_000, 5.0)}
    loads = {"list_30": load(4_000, 12.0), "list_500": load(1_000, 40.0), "tasks_batch_20": load(900, 30.0)}
    for number, form in enumerate(ID_FORMS):
        loads[f"query_finished_{form}"] = load(7_000 - 1_000 * number, 3.0 + number)
        loads[f"query_inflight_{form}"] = load(5_000 + 500 * number, 6.0 - number)
    loads |= {"workers_1": load(6_000, 3.0), "workers_2": load(9_600, 2.5)}
    loads |= {"query_metrics_on": load(5_700, 3.2), "query_metrics_off": load(6_000, 3.0)}
    submits = {kind: (Latency(6.0 + n, 9.5), Latency(4.0, 6.0)) for n, kind in enumerate(SUBMIT_KINDS)}
    return ApiFigures(baselines=baselines, loads=loads, submits=submits)


def test_options_default_to_the_full_run_without_a_file() -> None:
    args = parser().parse_args([])
    assert (args.quick, args.json) == (False, None)


def test_quick_and_json_options_are_read() -> None:
    args = parser().parse_args(["--quick", "--json", "figures.json"])
    assert (args.quick, args.json) == (True, Path("figures.json"))


def test_an_unknown_option_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--seconds", "3"])
    assert "unrecognized arguments: --seconds 3" in capsys.readouterr().err


def test_quick_plan_is_shorter_in_every_respect() -> None:
    quick, full = Plan.of(quick=True), Plan.of(quick=False)
    assert quick.seconds < full.seconds
    assert quick.submits < full.submits
    assert 500 <= quick.stored_tasks <= full.stored_tasks


def test_figures_carry_exactly_the_named_keys_with_the_worst_id_form() -> None:
    figures = summarize(made_up())
    assert tuple(figures) == API_FIGURES
    assert (figures["baseline_rps"], figures["baseline_granian_rps"], figures["baseline_uvicorn_rps"]) == (
        10_000,
        10_000,
        8_000,
    )
    assert figures["query_finished_ratio"] == pytest.approx(0.5)  # the slowest of the three forms
    assert figures["query_finished_p99_ms"] == 5.0
    assert figures["query_inflight_ratio"] == pytest.approx(0.5)
    assert figures["query_inflight_p99_ms"] == 6.0
    assert figures["query_metrics_ratio"] == pytest.approx(0.95)  # metrics on against off
    assert (figures["list_30_p99_ms"], figures["list_500_p99_ms"]) == (12.0, 40.0)
    assert (figures["list_30_ratio"], figures["tasks_batch_20_ratio"]) == (0.4, 0.09)
    assert figures["workers2_finished_ratio"] == pytest.approx(1.6)
    assert (figures["submit_overhead_p50_ms_legacy_sqlite"], figures["submit_overhead_p99_ms_legacy_sqlite"]) == (
        2.0,
        3.5,
    )
    assert figures["submit_overhead_p50_ms_worst"] == 5.0  # the last of the four kinds


def test_the_faster_bare_server_is_the_baseline_and_one_that_failed_is_passed_over() -> None:
    granian, uvicorn = load(30_000, 2.0), load(15_000, 4.0)
    assert fastest({"granian": granian, "uvicorn": uvicorn}) == ("granian", granian)
    assert fastest({"granian": "not measured: exited", "uvicorn": uvicorn}) == ("uvicorn", uvicorn)
    with pytest.raises(RuntimeError, match="no bare server"):
        fastest({"granian": "not measured: exited"})


def test_targets_tell_pass_from_miss() -> None:
    figures = summarize(made_up())
    met = {target.figure: target.met(figures) for target in TARGETS if target.known(figures)}
    assert met == {
        "query_finished_ratio": False,  # 0.5 < 0.6
        "query_finished_p99_ms": True,  # 5 ≤ 5
        "query_inflight_ratio": True,
        "list_30_ratio": True,
        "tasks_batch_20_ratio": False,  # 0.09 < 0.1
        "workers2_finished_ratio": True,
        "query_metrics_ratio": True,  # 0.95 ≥ 0.9
        "submit_overhead_p50_ms_legacy_sqlite": True,  # 2 ≤ 3
        "submit_overhead_p50_ms_new_sqlite": True,
        "submit_overhead_p50_ms_legacy_postgresql": False,  # 4 > 3
        "submit_overhead_p50_ms_new_postgresql": False,
    }
    (peer,) = (target for target in TARGETS if target.figure == "submit_overhead_p50_ms_worst")
    assert not peer.known(figures)  # no LiteLLM figure: neither PASS nor MISS
    assert peer.met(figures | {"peer_litellm_overhead_p50_ms": 5.0})
    assert not peer.met(figures | {"peer_litellm_overhead_p50_ms": 4.9})


def test_a_target_may_be_a_multiple_of_another_figure() -> None:
    within = {"sync_poll_interval_s": 5.0, "sync_visible_p99_s": 9.9}
    (target,) = (target for target in TARGETS if target.figure == "sync_visible_p99_s")
    assert target.met(within)
    assert not target.met(within | {"sync_visible_p99_s": 10.1})
    assert target.describe(within) == "≤ 10 (2 × sync_poll_interval_s)"


def test_every_figure_the_issue_names_has_a_target() -> None:
    named = {target.figure for target in TARGETS}
    assert {
        "store_get_p99_ms",
        "store_deepest_page_p99_ms",
        "sync_upstream_requests_per_100_tasks_per_interval",
        "sync_visible_p99_s",
        "sync_callback_visible_p50_ms",
        "rss_gateway_mb",
        "rss_worker_mb",
    } <= named


def test_table_says_when_the_store_part_is_not_measured() -> None:
    api = made_up()
    console = Console(width=200, record=True)
    console.print(measurements(api), table(summarize(api), {"store": "not measured: no benchmarks.store module"}))
    text = console.export_text()
    assert "not measured" in text
    assert text.count("MISS") == 4
    assert text.count("PASS") == 7
    assert text.count("n/a") == 1  # the comparison with LiteLLM, which was not measured


def test_table_lists_each_part_with_its_verdicts() -> None:
    api = made_up()
    store = {"store_get_p99_ms": 1.25, "store_deepest_page_p99_ms": 140.0}
    figures = summarize(api) | store
    console = Console(width=200, record=True)
    console.print(measurements(api), table(figures, {"store": store, "sync": "failed: RuntimeError: no sandbox"}))
    text = console.export_text()
    assert "store_get_p99_ms" in text
    assert "sync: failed: RuntimeError: no sandbox" in text
    assert text.count("MISS") == 5  # the four of the made-up API figures and the deepest page
    assert text.count("PASS") == 8


def test_the_peer_table_says_what_was_not_measured() -> None:
    figures = summarize(made_up()) | {"peer_litellm_overhead_p50_ms": 12.5, "peer_litellm_rps": 300.0}
    console = Console(width=200, record=True)
    console.print(peer_table(figures))
    text = console.export_text()
    assert "12.50" in text
    assert "300.00" in text
    assert "not measured" in text  # no p99 of the peer
