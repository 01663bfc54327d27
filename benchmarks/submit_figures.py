"""Measure what a submit through the gateway adds to the upstream's own create: legacy and new-generation, with the
gateway's store on SQLite and on PostgreSQL.

One `kling-gateway serve` per backend (its defaults: access log, metrics, the sync worker inside) in front of a
sandbox whose tasks stay in flight. Creates are sequential on keep-alive clients, one through the gateway then one
straight to the sandbox with the same body, in turns, so a busy moment of the machine lands on both sides alike;
the overhead is the difference of their percentiles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from benchmarks.api_figures import (
    ACCOUNT,
    GATEWAY_PATH,
    NEW_ACTION,
    PATH,
    Backend,
    Latency,
    Plan,
    create_task,
    new_gateway,
)
from kling_gateway.upstream.tokens import TokenCache

BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")
WARM_UP = 5  # creates on each side before the timed ones: connections open, caches and statements warm


@dataclass(frozen=True)
class Generation:
    """Where one generation's create goes on the gateway and on the upstream, and how the upstream is signed in."""

    name: str
    gateway_path: str
    upstream_path: str

    def upstream_headers(self) -> dict[str, str]:
        """The legacy API takes a JWT of the key pair; the new generation takes the static API key."""
        if self.name == "legacy":
            return {"Authorization": f"Bearer {TokenCache(ttl_s=3600).token(ACCOUNT.access_key, ACCOUNT.secret_key)}"}
        return {"Authorization": f"Bearer {ACCOUNT.api_key}"}


GENERATIONS = (Generation("legacy", GATEWAY_PATH, PATH), Generation("new", f"/kling/{NEW_ACTION}", f"/{NEW_ACTION}"))


def timed_in_turns(
    through: httpx.Client, direct: httpx.Client, generation: Generation, count: int, prefix: str
) -> tuple[Latency, Latency]:
    """Send `count` creates through the gateway and `count` straight to the upstream, one of each in turn; return
    the latency percentiles of each side."""
    sides = ((through, generation.gateway_path), (direct, generation.upstream_path))
    for index in range(WARM_UP):
        for side, (client, path) in enumerate(sides):
            create_task(client, path, f"{prefix}-warm-{side}-{index}")
    samples_ms: tuple[list[float], list[float]] = ([], [])
    for index in range(count):
        for side, (client, path) in enumerate(sides):
            started = time.perf_counter()
            create_task(client, path, f"{prefix}-{side}-{index}")
            samples_ms[side].append((time.perf_counter() - started) * 1000)
    return Latency.of(samples_ms[0]), Latency.of(samples_ms[1])


def measure_submits(plan: Plan, sandbox_url: str) -> dict[str, tuple[Latency, Latency]]:
    """Time creates of each generation on a gateway over each backend, and the same creates direct; keyed
    `{generation}_{backend}`, each (through the gateway, direct)."""
    measured: dict[str, tuple[Latency, Latency]] = {}
    for backend in BACKENDS:
        with new_gateway(sandbox_url, backend) as gateway, gateway.serve() as server:
            for generation in GENERATIONS:
                with (
                    httpx.Client(base_url=server.url, headers=gateway.headers, timeout=30) as through,
                    httpx.Client(base_url=sandbox_url, headers=generation.upstream_headers(), timeout=30) as direct,
                ):
                    key = f"{generation.name}_{backend}"
                    measured[key] = timed_in_turns(through, direct, generation, plan.submits, key)
    return measured
