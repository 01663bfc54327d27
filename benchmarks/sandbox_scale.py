"""Show that the sandbox answers as fast with 100 000 tasks as with 100, and how close it is to a bare app.

    python -m benchmarks.sandbox_scale [--quick] [--json FILE]

Each sandbox is preloaded in its own process (finished text2video tasks of one account), then loaded with wrk
at 32 connections next to the bare baseline app on the same server settings.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.harness import Load, ServerProcess, baseline_app, wrk
from kling_gateway.kling.schemas import ACTIONS, Family, parse_create_body
from kling_gateway.sandbox import Account, SandboxConfig, create_app
from kling_gateway.upstream.tokens import TokenCache

ACCOUNT = Account(access_key="ak_benchmark", secret_key="sk_benchmark_" + "0" * 40, api_key="kling_benchmark")
PATH = "/v1/videos/text2video"
SPEC = ACTIONS[(Family.VIDEOS, "text2video")]


def preloaded_sandbox(count: int) -> Callable[[], Any]:
    """Return a factory of a sandbox app that already holds `count` finished tasks."""

    def factory() -> Any:
        app = create_app(
            SandboxConfig(accounts=(ACCOUNT,), video_concurrency=10**9, resource_pack_units=10**12, seed=1)
        )
        sandbox = app.state.sandbox
        long_ago_ms = time.time_ns() // 1_000_000 - 86_400_000
        for index in range(count):
            body = parse_create_body(Family.VIDEOS, "text2video", {"prompt": "x", "external_task_id": f"b-{index}"})
            sandbox.create_task(ACCOUNT.access_key, SPEC, body, base_url="http://sandbox", now_ms=long_ago_ms + index)
        return app

    return factory


def measure(sizes: tuple[int, ...], seconds: int) -> dict[str, Load]:
    """Load the baseline and each preloaded sandbox; return the figures by name."""
    token = TokenCache(ttl_s=3600).token(ACCOUNT.access_key, ACCOUNT.secret_key)
    headers = {"Authorization": f"Bearer {token}"}
    figures: dict[str, Load] = {}
    with ServerProcess(baseline_app) as baseline:
        figures["baseline"] = wrk(f"{baseline.url}{PATH}/1", seconds=seconds)
    for size in sizes:
        with ServerProcess(preloaded_sandbox(size)) as sandbox:
            newest = httpx.get(f"{sandbox.url}{PATH}?pageSize=1", headers=headers).json()["data"][0]["task_id"]
            deepest = max(1, min(1000, size // 500))
            paths = {
                f"get_by_task_id_{size}": f"{PATH}/{newest}",
                f"get_by_external_id_{size}": f"{PATH}/b-{size // 2}",
                f"list_30_{size}": f"{PATH}?pageNum=1&pageSize=30",
                f"list_500_first_{size}": f"{PATH}?pageNum=1&pageSize=500",
                f"list_500_deepest_{size}": f"{PATH}?pageNum={deepest}&pageSize=500",
            }
            for name, path in paths.items():
                figures[name] = wrk(f"{sandbox.url}{path}", headers=headers, seconds=seconds)
    return figures


def summary(figures: dict[str, Load], sizes: tuple[int, ...]) -> dict[str, float]:
    """Turn raw figures into the ratios that survive a noisy machine."""
    small, large = sizes
    base = figures["baseline"].requests_per_s
    result = {"baseline_rps": base}
    for name, load in figures.items():
        if name != "baseline":
            result[f"{name}_rps_ratio"] = load.requests_per_s / base
            result[f"{name}_p99_ms"] = load.p99_ms
    for kind in ("get_by_task_id", "get_by_external_id", "list_30"):
        result[f"{kind}_large_over_small_rps"] = (
            figures[f"{kind}_{large}"].requests_per_s / figures[f"{kind}_{small}"].requests_per_s
        )
    result["list_500_deepest_over_first_rps"] = (
        figures[f"list_500_deepest_{large}"].requests_per_s / figures[f"list_500_first_{large}"].requests_per_s
    )
    return result


def main() -> None:
    """Run the benchmark and print a table and the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10 000 tasks and 2 s a path instead of 100 000 and 5 s")
    parser.add_argument("--json", type=Path, help="also write the summary to this file")
    args = parser.parse_args()
    sizes = (100, 10_000) if args.quick else (100, 100_000)
    figures = measure(sizes, seconds=2 if args.quick else 5)
    table = Table("path", "requests/s", "× baseline", "p50 ms", "p99 ms", "errors", title="Sandbox under wrk, 32 conns")
    base = figures["baseline"].requests_per_s
    for name, load in figures.items():
        table.add_row(
            name,
            f"{load.requests_per_s:,.0f}",
            f"{load.requests_per_s / base:.2f}",
            f"{load.p50_ms:.2f}",
            f"{load.p99_ms:.2f}",
            str(load.errors),
        )
    console = Console()
    console.print(table)
    result = summary(figures, sizes)
    console.print_json(orjson.dumps(result).decode())
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
