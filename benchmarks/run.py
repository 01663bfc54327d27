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

STORE_MODULE = "benchmarks.store"
API_FIGURES = (
    "baseline_rps",
    "baseline_p99_ms",
    "query_finished_ratio",
    "query_finished_p99_ms",
    "query_inflight_ratio",
    "query_inflight_p99_ms",
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
    """A bound one figure should meet, e.g. `query_finished_ratio` ≥ 0.6."""

    figure: str
    at_least: bool
    bound: float

    def met(self, figures: dict[str, float]) -> bool:
        """Tell whether the figure is on the right side of the bound."""
        compare: Callable[[float, float], bool] = operator.ge if self.at_least else operator.le
        return compare(figures[self.figure], self.bound)

    def describe(self) -> str:
        """Say the bound, e.g. `≥ 0.6`."""
        return f"{'≥' if self.at_least else '≤'} {self.bound:g}"

    def verdict(self, figures: dict[str, float]) -> str:
        """Say PASS or MISS, in colour."""
        return "[green]PASS[/green]" if self.met(figures) else "[red]MISS[/red]"


TARGETS = (
    Target("query_finished_ratio", at_least=True, bound=0.6),
    Target("query_finished_p99_ms", at_least=False, bound=5.0),
    Target("query_inflight_ratio", at_least=True, bound=0.4),
    Target("submit_overhead_p50_ms", at_least=False, bound=3.0),
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
        "list_30_p99_ms": api.loads["list_30"].p99_ms,
        "list_500_p99_ms": api.loads["list_500"].p99_ms,
        "submit_overhead_p50_ms": api.submit_gateway.p50_ms - api.submit_sandbox.p50_ms,
        "submit_overhead_p99_ms": api.submit_gateway.p99_ms - api.submit_sandbox.p99_ms,
    }


def measure_store(*, quick: bool) -> dict[str, float] | str:
    """Run the store part; when it cannot give figures, say why instead, so the other parts still count."""
    if importlib.util.find_spec(STORE_MODULE) is None:
        return f"not measured yet: no {STORE_MODULE} module"
    store_figures: Callable[..., dict[str, float]] = importlib.import_module(STORE_MODULE).store_figures
    try:
        return store_figures(quick=quick)
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


def table(figures: dict[str, float], store: dict[str, float] | str) -> Table:
    """Lay out each named figure with its target and PASS or MISS, then the store part."""
    shown = Table(*FIGURE_COLUMNS, title="Figures")
    targets = {target.figure: target for target in TARGETS}
    for name in API_FIGURES:
        target = targets.get(name)
        verdict = (target.describe(), target.verdict(figures)) if target else ("", "")
        shown.add_row(name, f"{figures[name]:,.2f}", *verdict)
    shown.add_section()
    if isinstance(store, str):
        shown.add_row(f"store: {store}", "", "", "")
    else:
        for name, measured in store.items():
            shown.add_row(name, f"{measured:,.4g}", "", "")
    return shown


def main(argv: Sequence[str] | None = None) -> int:
    """Run every part, print the table and write the JSON figures when asked; 1 when the store part failed."""
    args = parser().parse_args(argv)
    api = measure_api(quick=args.quick)
    figures = summarize(api)
    store = measure_store(quick=args.quick)
    figures |= store if isinstance(store, dict) else {}
    console = Console(width=None if sys.stdout.isatty() else WIDTH)
    console.print(measurements(api))
    console.print(table(figures, store))
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 1 if isinstance(store, str) and store.startswith("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
