"""The benchmark command's options, figure names and targets, on made-up measurements (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.api_figures import ID_FORMS, ApiFigures, Latency, Plan
from benchmarks.harness import Load
from benchmarks.run import API_FIGURES, TARGETS, measurements, parser, summarize, table
from rich.console import Console


def load(requests_per_s: float, p99_ms: float) -> Load:
    return Load(requests_per_s=requests_per_s, p50_ms=p99_ms / 2, p99_ms=p99_ms, errors=0)


def made_up() -> ApiFigures:
    loads = {"baseline": load(10_000, 4.0), "list_30": load(4_000, 12.0), "list_500": load(1_000, 40.0)}
    for number, form in enumerate(ID_FORMS):
        loads[f"query_finished_{form}"] = load(7_000 - 1_000 * number, 3.0 + number)
        loads[f"query_inflight_{form}"] = load(5_000 + 500 * number, 6.0 - number)
    loads |= {"query_metrics_on": load(5_700, 3.2), "query_metrics_off": load(6_000, 3.0)}
    return ApiFigures(loads=loads, submit_gateway=Latency(6.0, 9.5), submit_sandbox=Latency(4.0, 6.0))


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
    assert figures["baseline_rps"] == 10_000
    assert figures["query_finished_ratio"] == pytest.approx(0.5)  # the slowest of the three forms
    assert figures["query_finished_p99_ms"] == 5.0
    assert figures["query_inflight_ratio"] == pytest.approx(0.5)
    assert figures["query_inflight_p99_ms"] == 6.0
    assert figures["query_metrics_ratio"] == pytest.approx(0.95)  # metrics on against off
    assert (figures["list_30_p99_ms"], figures["list_500_p99_ms"]) == (12.0, 40.0)
    assert (figures["submit_overhead_p50_ms"], figures["submit_overhead_p99_ms"]) == (2.0, 3.5)


def test_targets_tell_pass_from_miss() -> None:
    figures = summarize(made_up())
    met = {target.figure: target.met(figures) for target in TARGETS if target.figure in figures}
    assert met == {
        "query_finished_ratio": False,  # 0.5 < 0.6
        "query_finished_p99_ms": True,  # 5 ≤ 5
        "query_inflight_ratio": True,
        "query_metrics_ratio": True,  # 0.95 ≥ 0.9
        "submit_overhead_p50_ms": True,
    }


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
    assert text.count("MISS") == 1
    assert text.count("PASS") == 4


def test_table_lists_each_part_with_its_verdicts() -> None:
    api = made_up()
    store = {"store_get_p99_ms": 1.25, "store_deepest_page_p99_ms": 140.0}
    figures = summarize(api) | store
    console = Console(width=200, record=True)
    console.print(measurements(api), table(figures, {"store": store, "sync": "failed: RuntimeError: no sandbox"}))
    text = console.export_text()
    assert "store_get_p99_ms" in text
    assert "sync: failed: RuntimeError: no sandbox" in text
    assert text.count("MISS") == 2  # query_finished_ratio and the deepest page
    assert text.count("PASS") == 5
