"""The gateway's Prometheus metrics, each defined once here, and their exposition, in one process or several.

Several processes (API processes, separate `kling-gateway worker`s) are counted together in prometheus-client's
multiprocess mode: every process writes its counts to files in `PROMETHEUS_MULTIPROC_DIR`, and whichever process
answers a scrape adds up every process's files. prometheus-client chooses the mode once, when it is imported, from
that variable, so the variable must be set before a process starts (`prepare_multiprocess` sets it for the
processes a parent starts afterwards).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own, read when it is imported
CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "kling_gateway_"

# Buckets in seconds: requests answered from the store take a millisecond, upstream calls up to their timeout.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Poll lag and task durations: from the poll interval to a day.
SLOW_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21_600.0, 86_400.0)

HTTP_REQUESTS = Counter(
    PREFIX + "http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    PREFIX + "http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["route", "method"],
    buckets=FAST_BUCKETS,
)
UNEXPECTED_ERRORS = Counter(
    PREFIX + "unexpected_errors", "Failures that are bugs (logged with a traceback), by where they happened", ["where"]
)
UPSTREAM_REQUESTS = Counter(
    PREFIX + "upstream_requests",
    "Requests to the Kling API, by channel, endpoint template and outcome (HTTP status/Kling code, or lost, "
    "unreachable)",
    ["channel", "endpoint", "outcome"],
)
UPSTREAM_SECONDS = Histogram(
    PREFIX + "upstream_request_duration_seconds",
    "Time of a request to the Kling API, by channel and endpoint template",
    ["channel", "endpoint"],
    buckets=FAST_BUCKETS,
)
LEDGER_MICROS = Counter(
    PREFIX + "ledger_micros",
    "Money moved in the ledger, in micro-yuan, by kind (hold, charge, release, top_up)",
    ["kind"],
)
LEDGER_ENTRIES = Counter(PREFIX + "ledger_entries", "Ledger entries written, by kind", ["kind"])
TASKS_FINISHED = Counter(
    PREFIX + "tasks_finished",
    "Tasks that reached a final status, by status, action, generation and channel",
    ["status", "family", "action", "generation", "channel"],
)
TASK_SECONDS = Histogram(
    PREFIX + "task_duration_seconds",
    "Time from submit to final status, by action and final status",
    ["family", "action", "status"],
    buckets=SLOW_BUCKETS,
)
POLL_LAG_SECONDS = Histogram(
    PREFIX + "poll_lag_seconds",
    "At each successful look upstream at a task in flight, the time since the one before (or since its last change)",
    buckets=SLOW_BUCKETS,
)
CALLBACK_DELIVERIES = Counter(
    PREFIX + "callback_deliveries", "Client-callback deliveries, by outcome (delivered, retry, given_up)", ["outcome"]
)
WORKER_ROUND_SECONDS = Histogram(
    PREFIX + "worker_round_duration_seconds",
    "Time of one sync-worker round (poll, lost creates, sends, stuck tasks)",
    buckets=FAST_BUCKETS,
)
LEASE_LOSSES = Counter(
    PREFIX + "worker_lease_losses",
    "Claims a worker held past their lease, so another may have taken the work, by kind (poll, callback)",
    ["kind"],
)

_PENDING = "kling_gateway.metrics.on_commit"  # the key in a session's `info` of the counts waiting for its commit


def on_commit(session: AsyncSession | Session, count: Callable[[], None]) -> None:
    """Count something a unit of work did once it commits, and never if it rolls back: a ledger entry refused by
    its unique key, or a move that lost its race, is never counted."""
    session.info.setdefault(_PENDING, []).append(count)


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for count in session.info.pop(_PENDING, ()):
        count()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def multiprocess_directory() -> Path | None:
    """The directory every process of this gateway writes its counts to, when multiprocess mode is on."""
    # prometheus-client's own variable, read here as it reads it: the gateway's settings cannot switch the mode.
    directory = os.environ.get(MULTIPROCESS_VARIABLE)
    return Path(directory) if directory else None


def prepare_multiprocess(directory: Path) -> None:
    """Make `directory` the place where every process started after this call (API processes, workers) writes its
    counts, so that any of them answers a scrape for all: create it (for this user alone) and set the variable
    they read.

    The files of processes that stopped are kept on purpose: their counts stay in the totals, so a counter never
    goes back when a process restarts. Empty the directory only while no gateway process runs (e.g. at boot).
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[MULTIPROCESS_VARIABLE] = str(directory.resolve())


def exposition(collectors: Iterable[Collector] = ()) -> bytes:
    """Render every metric, with `collectors` (gauges read from the store at this moment), in the text format: in
    multiprocess mode, the counts of every process; else this process's own, with its process metrics."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_directory()
    if directory is not None:
        MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    else:
        registry.register(REGISTRY)  # a registry collects like any collector
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)
