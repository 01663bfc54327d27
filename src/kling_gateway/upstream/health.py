"""A channel's health from the calls made to it: a sliding window of them, and a circuit breaker.

The window (the latest `window_calls` calls of the last `window_s`) gives the error rate and the latency
percentiles. The breaker opens after `breaker_faults` upstream faults in a row, or at once on an account fault: the
channel then takes no new task for a cool-down, which starts at `cooldown_s` and doubles up to `max_cooldown_s`
each time it opens again without a success between. Once the cool-down is over the breaker is half-open: the first
call that succeeds or fails decides, and the worker makes sure one does (a probe). While the cool-down lasts,
calls (polls of the tasks already there) are only counted: they neither close nor prolong it.

Everything here is pure: a record in, a record out, so every process folds what it saw into the one stored row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from kling_gateway.settings import ChannelHealthConfig
from kling_gateway.upstream.calls import CallKind

ERROR_CHARS = 300  # of the last error's message, kept


class HealthState(StrEnum):
    """What a channel's calls say about it."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"  # answers, but too many of its recent calls failed: tried after the healthy ones
    MISCONFIGURED = "misconfigured"  # the account refused (credentials, balance, standing): no new task
    DOWN = "down"  # the breaker is open: no new task until a probe succeeds
    UNKNOWN = "unknown"  # no call made yet

    @property
    def takes_tasks(self) -> bool:
        """Whether new tasks may go to a channel in this state."""
        return self not in (HealthState.DOWN, HealthState.MISCONFIGURED)


@dataclass(frozen=True)
class Observed:
    """One finished call as health keeps it."""

    at_ms: int
    kind: CallKind
    ms: int  # how long it took
    detail: str = ""


@dataclass(frozen=True)
class HealthRecord:
    """Everything kept of one channel's calls: the window's samples, the breaker and the last success and error."""

    samples: tuple[Observed, ...] = ()  # oldest first, details dropped
    faults_in_row: int = 0  # upstream faults since the last success
    open_until: int | None = None  # while set, the breaker is open: half-open from this moment on
    cooldown_ms: int = 0  # the cool-down the breaker opened with last; 0 while it has not opened since a success
    account_fault: str | None = None  # why the account refused, until a success
    last_success_at: int | None = None
    last_error_at: int | None = None
    last_error: str = ""


@dataclass(frozen=True)
class Summary:
    """The window's figures and the state they give."""

    state: HealthState
    calls: int
    faults: int
    error_ratio: float  # faults / calls in the window; 0 when there were none
    p50_ms: int | None
    p95_ms: int | None
    reason: str  # why the state is what it is, for a person


def fold(record: HealthRecord, calls: Iterable[Observed], config: ChannelHealthConfig) -> HealthRecord:
    """Take calls (in any order) into a record; keep only what the window needs."""
    for call in sorted(calls, key=lambda observed: observed.at_ms):
        record = _take(record, call, config)
    return replace(record, samples=_window(record.samples, record.samples[-1].at_ms if record.samples else 0, config))


def _take(record: HealthRecord, call: Observed, config: ChannelHealthConfig) -> HealthRecord:
    record = replace(record, samples=(*record.samples, replace(call, detail="")))
    if call.kind is CallKind.SUCCESS:
        record = replace(record, last_success_at=call.at_ms)
    elif call.kind.is_fault:
        record = replace(record, last_error_at=call.at_ms, last_error=call.detail[:ERROR_CHARS])
    cooling = record.open_until is not None and call.at_ms < record.open_until
    if cooling:
        if call.kind is CallKind.ACCOUNT_FAULT:  # the account's refusal is the better reason to give
            record = replace(record, account_fault=call.detail[:ERROR_CHARS] or "the account refused a request")
        return record
    half_open = record.open_until is not None
    if call.kind is CallKind.SUCCESS:
        return replace(record, faults_in_row=0, open_until=None, cooldown_ms=0, account_fault=None)
    if call.kind is CallKind.ACCOUNT_FAULT:
        reason = call.detail[:ERROR_CHARS] or "the account refused a request"
        return _open(replace(record, account_fault=reason), call.at_ms, config)
    if call.kind is CallKind.UPSTREAM_FAULT:
        faults = record.faults_in_row + 1
        record = replace(record, faults_in_row=faults)
        if half_open or faults >= config.breaker_faults:
            return _open(record, call.at_ms, config)
    return record  # a bad request or a busy answer says nothing of the channel's health


def _open(record: HealthRecord, at_ms: int, config: ChannelHealthConfig) -> HealthRecord:
    """Open the breaker: for the first cool-down, or twice the last one when it opens again without a success."""
    first, longest = round(config.cooldown_s * 1000), round(config.max_cooldown_s * 1000)
    cooldown = first if record.cooldown_ms == 0 else min(2 * record.cooldown_ms, longest)
    return replace(record, open_until=at_ms + cooldown, cooldown_ms=cooldown)


def _window(samples: Sequence[Observed], now_ms: int, config: ChannelHealthConfig) -> tuple[Observed, ...]:
    since = now_ms - round(config.window_s * 1000)
    return tuple(sample for sample in samples[-config.window_calls :] if sample.at_ms > since)


def probe_due(record: HealthRecord, now_ms: int) -> bool:
    """Whether the breaker is half-open: its cool-down is over and no call has decided yet."""
    return record.open_until is not None and now_ms >= record.open_until


def summarize(
    record: HealthRecord | None, now_ms: int, config: ChannelHealthConfig, *, refused: str | None = None
) -> Summary:
    """Say a channel's state and its window's figures now; `refused`: why the upstream refused its credentials,
    as noted on the channel itself (it stays until an operator updates them)."""
    if record is None:
        record = HealthRecord()
    window = _window(record.samples, now_ms, config)
    faults = sum(1 for sample in window if sample.kind.is_fault)
    ratio = faults / len(window) if window else 0.0
    latencies = sorted(sample.ms for sample in window)
    state, reason = _state(record, now_ms, config, refused, calls=len(window), ratio=ratio)
    return Summary(
        state=state,
        calls=len(window),
        faults=faults,
        error_ratio=ratio,
        p50_ms=_percentile(latencies, 0.50),
        p95_ms=_percentile(latencies, 0.95),
        reason=reason,
    )


def _state(
    record: HealthRecord,
    now_ms: int,
    config: ChannelHealthConfig,
    refused: str | None,
    *,
    calls: int,
    ratio: float,
) -> tuple[HealthState, str]:
    if refused is not None:
        return HealthState.MISCONFIGURED, refused
    if record.account_fault is not None:
        return HealthState.MISCONFIGURED, f"the account refused: {record.account_fault}"
    if record.open_until is not None:
        if now_ms >= record.open_until:
            wait = "waiting for a probe"
        else:
            wait = f"cooling down for {math.ceil((record.open_until - now_ms) / 1000)} s more"
        return HealthState.DOWN, f"{record.faults_in_row} upstream faults in a row, {wait}: {record.last_error}"
    if record.last_success_at is None and record.last_error_at is None and not record.samples:
        return HealthState.UNKNOWN, "no call made to it yet"
    if calls >= config.min_calls and ratio >= config.degraded_error_ratio:
        return HealthState.DEGRADED, f"{ratio:.0%} of its last {calls} calls failed: {record.last_error}"
    return HealthState.HEALTHY, ""


def _percentile(ordered: Sequence[int], fraction: float) -> int | None:
    """The nearest-rank percentile of sorted values; None of none."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
