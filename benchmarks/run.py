"""Run the gateway's benchmarks on loopback in one go and compare every speed with the fastest bare server.

    python -m benchmarks.run [--quick] [--json FILE]

Prints what was measured (requests/s, p50, p99, the ratio to the fastest bare ASGI server), the figures with
PASS/MISS against the targets, the gateway next to its peer (LiteLLM's proxy) and, with --json, writes one JSON
object of the figures by name. A figure that could not be measured is NaN (null in the JSON), with the reason
printed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import operator
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.api_figures import (
    ID_FORMS,
    SLOW_SPEED,
    ApiFigures,
    Plan,
    measure_finished,
    measure_inflight,
    sandbox_factory,
)
from benchmarks.baseline import fastest, measure_baselines
from benchmarks.harness import Load, ServerProcess
from benchmarks.submit_figures import BACKENDS, GENERATIONS, measure_submits

# The parts that need more than the API servers: each module's function returns its figures by name.
PARTS = {
    "store": ("benchmarks.store", "store_figures"),
    "sync": ("benchmarks.sync_figures", "sync_figures"),
    "access_log": ("benchmarks.access_log", "access_log_figures"),
    "peer_litellm": ("benchmarks.peer_litellm", "peer_litellm_figures"),
    "instructions": ("benchmarks.instructions", "instructions_figures"),
}
SUBMIT_KINDS = tuple(f"{generation.name}_{backend}" for backend in BACKENDS for generation in GENERATIONS)
API_FIGURES = (
    "baseline_rps",
    "baseline_granian_rps",
    "baseline_uvicorn_rps",
    "baseline_p99_ms",
    "query_finished_rps",
    "query_finished_ratio",
    "query_finished_p99_ms",
    "query_inflight_ratio",
    "query_inflight_p99_ms",
    "list_30_ratio",
    "list_30_p99_ms",
    "list_500_p99_ms",
    "tasks_batch_20_ratio",
    "tasks_batch_20_p99_ms",
    "workers2_finished_ratio",
    "query_metrics_ratio",
    *(f"submit_overhead_p50_ms_{kind}" for kind in SUBMIT_KINDS),
    *(f"submit_overhead_p99_ms_{kind}" for kind in SUBMIT_KINDS),
    "submit_overhead_p50_ms_worst",
)
MEASUREMENT_COLUMNS = ("measured", "requests/s", "× baseline", "p50 ms", "p99 ms")
FIGURE_COLUMNS = ("figure", "value", "target", "result")
WIDTH = 120  # when printing to a file or pipe, wide enough for every row on one line


@dataclass(frozen=True)
class Target:
    """A bound one figure should meet, e.g. `query_finished_ratio` ≥ 0.6; with `per`, the bound is that many times
    another figure (e.g. 2 × `sync_poll_interval_s`)."""

    figure: str
    at_least: bool
    bound: float
    per: str | None = None

    def limit(self, figures: dict[str, float]) -> float:
        """The bound in the figure's own unit."""
        return self.bound * figures[self.per] if self.per else self.bound

    def known(self, figures: dict[str, float]) -> bool:
        """Tell whether the figure and the one its bound is a multiple of were measured."""
        named = (self.figure, self.per) if self.per else (self.figure,)
        return all(name in figures and not math.isnan(figures[name]) for name in named)

    def met(self, figures: dict[str, float]) -> bool:
        """Tell whether the figure is on the right side of the bound."""
        compare: Callable[[float, float], bool] = operator.ge if self.at_least else operator.le
        return compare(figures[self.figure], self.limit(figures))

    def describe(self, figures: dict[str, float]) -> str:
        """Say the bound, e.g. `≥ 0.6`, or `≤ 10 (2 × sync_poll_interval_s)`."""
        relation = "≥" if self.at_least else "≤"
        if self.per is None:
            return f"{relation} {self.bound:g}"
        known = f"{self.limit(figures):g} " if self.known(figures) else ""
        return f"{relation} {known}({self.bound:g} × {self.per})"

    def verdict(self, figures: dict[str, float]) -> str:
        """Say PASS or MISS, in colour (or n/a, when a figure it needs is missing)."""
        if not self.known(figures):
            return "[yellow]n/a[/yellow]"
        return "[green]PASS[/green]" if self.met(figures) else "[red]MISS[/red]"


TARGETS = (
    Target("query_finished_ratio", at_least=True, bound=0.6),
    Target("query_finished_p99_ms", at_least=False, bound=5.0),
    Target("query_inflight_ratio", at_least=True, bound=0.4),
    Target("list_30_ratio", at_least=True, bound=0.2),
    Target("tasks_batch_20_ratio", at_least=True, bound=0.1),
    Target("workers2_finished_ratio", at_least=True, bound=1.5),
    Target("query_metrics_ratio", at_least=True, bound=0.9),
    *(Target(f"submit_overhead_p50_ms_{kind}", at_least=False, bound=3.0) for kind in SUBMIT_KINDS),
    # The gateway's worst submit overhead against what LiteLLM's proxy adds to a pass-through in the same run.
    Target("submit_overhead_p50_ms_worst", at_least=False, bound=1.0, per="peer_litellm_overhead_p50_ms"),
    Target("store_get_p99_ms", at_least=False, bound=5.0),
    Target("store_deepest_page_p99_ms", at_least=False, bound=100.0),
    Target("store_console_search_p99_ms", at_least=False, bound=100.0),
    Target("store_console_list_p99_ms", at_least=False, bound=100.0),
    Target("sync_upstream_requests_per_100_tasks_per_interval", at_least=False, bound=1.0),
    Target("sync_visible_max_s", at_least=False, bound=2.0, per="sync_poll_interval_s"),
    Target("sync_visible_p99_s", at_least=False, bound=2.0, per="sync_poll_interval_s"),
    Target("sync_callback_visible_p50_ms", at_least=False, bound=100.0),
    Target("rss_gateway_mb", at_least=False, bound=300.0),
    Target("rss_worker_mb", at_least=False, bound=300.0),
    Target("access_log_json_ratio", at_least=True, bound=0.8),
)


def parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    command = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    command.add_argument("--quick", action="store_true", help="2 s per wrk run and fewer tasks; well under 5 minutes")
    command.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE as one JSON object")
    return command


def measure_api(*, quick: bool) -> ApiFigures:
    """Run the bare servers, the queries of finished and in-flight tasks, and the submits, in this order."""
    plan = Plan.of(quick=quick)
    baselines = measure_baselines(seconds=plan.seconds, path="/kling/v1/videos/text2video/1")
    loads = measure_finished(plan)
    with ServerProcess(sandbox_factory(SLOW_SPEED)) as sandbox:
        loads |= measure_inflight(plan, sandbox.url)
        submits = measure_submits(plan, sandbox.url)
    return ApiFigures(baselines=baselines, loads=loads, submits=submits)


def summarize(api: ApiFigures) -> dict[str, float]:
    """Turn what was measured into the named figures: ratios against the faster bare server, a query figure the
    worst of the three id forms, a submit's overhead the difference of its percentiles with the upstream's."""
    _, base = fastest(api.baselines)

    def rps(server: str) -> float:
        load = api.baselines.get(server)
        return load.requests_per_s if isinstance(load, Load) else math.nan

    def worst(kind: str) -> tuple[float, float]:
        loads = [api.loads[f"query_{kind}_{form}"] for form in ID_FORMS]
        return min(load.requests_per_s for load in loads), max(load.p99_ms for load in loads)

    def ratio(label: str) -> float:
        return api.loads[label].requests_per_s / base.requests_per_s

    finished_rps, finished_p99 = worst("finished")
    inflight_rps, inflight_p99 = worst("inflight")
    overheads = {
        kind: (through.p50_ms - direct.p50_ms, through.p99_ms - direct.p99_ms)
        for kind, (through, direct) in api.submits.items()
    }
    return {
        "baseline_rps": base.requests_per_s,
        "baseline_granian_rps": rps("granian"),
        "baseline_uvicorn_rps": rps("uvicorn"),
        "baseline_p99_ms": base.p99_ms,
        "query_finished_rps": finished_rps,
        "query_finished_ratio": finished_rps / base.requests_per_s,
        "query_finished_p99_ms": finished_p99,
        "query_inflight_ratio": inflight_rps / base.requests_per_s,
        "query_inflight_p99_ms": inflight_p99,
        "list_30_ratio": ratio("list_30"),
        "list_30_p99_ms": api.loads["list_30"].p99_ms,
        "list_500_p99_ms": api.loads["list_500"].p99_ms,
        "tasks_batch_20_ratio": ratio("tasks_batch_20"),
        "tasks_batch_20_p99_ms": api.loads["tasks_batch_20"].p99_ms,
        # The same finished task's GET through `serve --workers 2` against `--workers 1`, loaded in turns.
        "workers2_finished_ratio": api.loads["workers_2"].requests_per_s / api.loads["workers_1"].requests_per_s,
        # A finished task's GET with the request metrics on, against the same gateway with them off.
        "query_metrics_ratio": api.loads["query_metrics_on"].requests_per_s
        / api.loads["query_metrics_off"].requests_per_s,
        **{f"submit_overhead_p50_ms_{kind}": overheads[kind][0] for kind in SUBMIT_KINDS},
        **{f"submit_overhead_p99_ms_{kind}": overheads[kind][1] for kind in SUBMIT_KINDS},
        "submit_overhead_p50_ms_worst": max(overheads[kind][0] for kind in SUBMIT_KINDS),
    }


def measure_part(name: str, *, quick: bool) -> dict[str, float] | str:
    """Run one part; when it cannot give figures, say why instead, so the other parts still count."""
    module, function = PARTS[name]
    if importlib.util.find_spec(module) is None:
        return f"not measured: no {module} module"
    started = time.monotonic()
    try:
        figures: Callable[..., dict[str, float]] = getattr(importlib.import_module(module), function)
        return figures(quick=quick)
    except Exception as error:  # a failed part is shown in the table and makes the exit 1; the others still count
        traceback.print_exc()
        return f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        print(f"part {name} took {time.monotonic() - started:.0f} s", flush=True)


def measurements(api: ApiFigures) -> Table:
    """Lay out every bare server's load, every wrk load of the gateway and the sequential creates."""
    shown = Table(*MEASUREMENT_COLUMNS, title="Measured on loopback (wrk -t1 -c32)")
    winner, base = fastest(api.baselines)

    def add(label: str, load: Load) -> None:
        ratio = load.requests_per_s / base.requests_per_s
        shown.add_row(label, f"{load.requests_per_s:,.0f}", f"{ratio:.2f}", f"{load.p50_ms:.2f}", f"{load.p99_ms:.2f}")

    for server, measured in api.baselines.items():
        label = f"bare ASGI app on {server}" + (" (the baseline)" if server == winner else "")
        if isinstance(measured, Load):
            add(label, measured)
        else:
            shown.add_row(f"{label}: {measured}", "", "", "", "")
    for label, load in api.loads.items():
        add(label, load)
    for kind, latencies in api.submits.items():
        for side, latency in zip(("gateway", "upstream"), latencies, strict=True):
            shown.add_row(f"{kind} create via {side}", "", "", f"{latency.p50_ms:.2f}", f"{latency.p99_ms:.2f}")
    return shown


def table(figures: dict[str, float], parts: dict[str, dict[str, float] | str]) -> Table:
    """Lay out each named figure with its target and PASS or MISS, then each further part's figures (or why it
    has none)."""
    shown = Table(*FIGURE_COLUMNS, title="Figures")
    targets = {target.figure: target for target in TARGETS}

    def row(name: str, shape: str) -> None:
        target = targets.get(name)
        verdict = (target.describe(figures), target.verdict(figures)) if target else ("", "")
        shown.add_row(name, format(figures[name], shape), *verdict)

    for name in API_FIGURES:
        row(name, ",.2f")
    for part, measured in parts.items():
        shown.add_section()
        if isinstance(measured, str):
            shown.add_row(f"{part}: {measured}", "", "", "")
            continue
        for name in measured:
            row(name, ",.0f" if abs(measured[name]) >= 1e5 else ",.4g")  # instruction counts in full
    return shown


PEER_ROWS = (
    ("added latency p50, ms", "submit_overhead_p50_ms_worst", "peer_litellm_overhead_p50_ms"),
    ("added latency p99, ms", "submit_overhead_p99_ms_legacy_sqlite", "peer_litellm_overhead_p99_ms"),
    ("requests/s at 32 connections", "query_finished_rps", "peer_litellm_rps"),
)


def peer_table(figures: dict[str, float]) -> Table:
    """Lay the gateway's submit overhead and task-GET requests/s next to what LiteLLM's proxy does in the same run
    (the gateway's worst submit kind at p50, its legacy submit on SQLite at p99, a finished task's GET)."""
    shown = Table("", "kling-gateway", "LiteLLM proxy", "figures", title="Next to a peer, in the same run")
    for label, ours, theirs in PEER_ROWS:
        cells = [format(figures[name], ",.2f") if name in figures else "not measured" for name in (ours, theirs)]
        shown.add_row(label, *cells, f"{ours} / {theirs}")
    return shown


def main(argv: Sequence[str] | None = None) -> int:
    """Run every part, print the tables and write the JSON figures when asked; 1 when a part failed."""
    args = parser().parse_args(argv)
    started = time.monotonic()
    api = measure_api(quick=args.quick)
    print(f"the API part took {time.monotonic() - started:.0f} s", flush=True)
    figures = summarize(api)
    parts = {name: measure_part(name, quick=args.quick) for name in PARTS}
    for measured in parts.values():
        figures |= measured if isinstance(measured, dict) else {}
    console = Console(width=None if sys.stdout.isatty() else WIDTH)
    console.print(measurements(api))
    console.print(table(figures, parts))
    console.print(peer_table(figures))
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 1 if any(isinstance(measured, str) for measured in parts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
