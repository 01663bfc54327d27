"""Run the gateway's benchmarks on loopback in one go and compare every speed with the bare baseline.

    python -m benchmarks.run [--quick] [--json FILE]

Prints what was measured (requests/s, p50, p99, the ratio to the bare app), the figures with PASS/MISS against
the targets and, with --json, writes one JSON object of the figures by name.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import operator
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.api_figures import ID_FORMS, ApiFigures, measure_api

# The parts that need more than the API servers: each module's function returns its figures by name.
PARTS = {
    "store": ("benchmarks.store", "store_figures"),
    "sync": ("benchmarks.sync_figures", "sync_figures"),
    "access_log": ("benchmarks.access_log", "access_log_figures"),
}
API_FIGURES = (
    "baseline_rps",
    "baseline_p99_ms",
    "query_finished_ratio",
    "query_finished_p99_ms",
    "query_inflight_ratio",
    "query_inflight_p99_ms",
    "query_metrics_ratio",
    "list_30_p99_ms",
    "list_500_p99_ms",
    "submit_overhead_p50_ms",
    "submit_overhead_p99_ms",
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

    def met(self, figures: dict[str, float]) -> bool:
        """Tell whether the figure is on the right side of the bound."""
        compare: Callable[[float, float], bool] = operator.ge if self.at_least else operator.le
        return compare(figures[self.figure], self.limit(figures))

    def describe(self, figures: dict[str, float]) -> str:
        """Say the bound, e.g. `≥ 0.6`, or `≤ 10 (2 × sync_poll_interval_s)`."""
        relation = "≥" if self.at_least else "≤"
        if self.per is None:
            return f"{relation} {self.bound:g}"
        known = f"{self.limit(figures):g} " if self.per in figures else ""
        return f"{relation} {known}({self.bound:g} × {self.per})"

    def verdict(self, figures: dict[str, float]) -> str:
        """Say PASS or MISS, in colour."""
        return "[green]PASS[/green]" if self.met(figures) else "[red]MISS[/red]"


TARGETS = (
    Target("query_finished_ratio", at_least=True, bound=0.6),
    Target("query_finished_p99_ms", at_least=False, bound=5.0),
    Target("query_inflight_ratio", at_least=True, bound=0.4),
    Target("query_metrics_ratio", at_least=True, bound=0.9),
    Target("submit_overhead_p50_ms", at_least=False, bound=3.0),
    Target("store_get_p99_ms", at_least=False, bound=5.0),
    Target("store_deepest_page_p99_ms", at_least=False, bound=100.0),
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


def summarize(api: ApiFigures) -> dict[str, float]:
    """Turn what was measured into the named figures; a query figure is the worst of the three id forms."""
    base = api.loads["baseline"]

    def worst(kind: str) -> tuple[float, float]:
        loads = [api.loads[f"query_{kind}_{form}"] for form in ID_FORMS]
        return min(load.requests_per_s for load in loads) / base.requests_per_s, max(load.p99_ms for load in loads)

    finished_ratio, finished_p99 = worst("finished")
    inflight_ratio, inflight_p99 = worst("inflight")
    return {
        "baseline_rps": base.requests_per_s,
        "baseline_p99_ms": base.p99_ms,
        "query_finished_ratio": finished_ratio,
        "query_finished_p99_ms": finished_p99,
        "query_inflight_ratio": inflight_ratio,
        "query_inflight_p99_ms": inflight_p99,
        # A finished task's GET with the request metrics on, against the same gateway with them off.
        "query_metrics_ratio": api.loads["query_metrics_on"].requests_per_s
        / api.loads["query_metrics_off"].requests_per_s,
        "list_30_p99_ms": api.loads["list_30"].p99_ms,
        "list_500_p99_ms": api.loads["list_500"].p99_ms,
        "submit_overhead_p50_ms": api.submit_gateway.p50_ms - api.submit_sandbox.p50_ms,
        "submit_overhead_p99_ms": api.submit_gateway.p99_ms - api.submit_sandbox.p99_ms,
    }


def measure_part(name: str, *, quick: bool) -> dict[str, float] | str:
    """Run one part; when it cannot give figures, say why instead, so the other parts still count."""
    module, function = PARTS[name]
    if importlib.util.find_spec(module) is None:
        return f"not measured: no {module} module"
    figures: Callable[..., dict[str, float]] = getattr(importlib.import_module(module), function)
    try:
        return figures(quick=quick)
    except Exception as error:  # a failed part is shown in the table and makes the exit 1; the others still count
        traceback.print_exc()
        return f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def measurements(api: ApiFigures) -> Table:
    """Lay out every wrk load and the sequential creates."""
    shown = Table(*MEASUREMENT_COLUMNS, title="Measured on loopback (wrk -t1 -c32)")
    base = api.loads["baseline"].requests_per_s
    for label, load in api.loads.items():
        ratio = load.requests_per_s / base
        shown.add_row(label, f"{load.requests_per_s:,.0f}", f"{ratio:.2f}", f"{load.p50_ms:.2f}", f"{load.p99_ms:.2f}")
    for label, latency in (("gateway", api.submit_gateway), ("sandbox", api.submit_sandbox)):
        shown.add_row(f"sequential create via {label}", "", "", f"{latency.p50_ms:.2f}", f"{latency.p99_ms:.2f}")
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
            row(name, ",.4g")
    return shown


def main(argv: Sequence[str] | None = None) -> int:
    """Run every part, print the table and write the JSON figures when asked; 1 when the store part failed."""
    args = parser().parse_args(argv)
    api = measure_api(quick=args.quick)
    figures = summarize(api)
    parts = {name: measure_part(name, quick=args.quick) for name in PARTS}
    for measured in parts.values():
        figures |= measured if isinstance(measured, dict) else {}
    console = Console(width=None if sys.stdout.isatty() else WIDTH)
    console.print(measurements(api))
    console.print(table(figures, parts))
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 1 if any(isinstance(measured, str) for measured in parts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
