"""Whose fault an upstream call was, and what a channel's calls make of it: the window's figures, the states, and a
breaker that opens after faults in a row, cools down for twice as long each time a probe fails, and closes on a
success."""

from __future__ import annotations

import pytest

from kling_gateway.clock import ManualClock
from kling_gateway.settings import ChannelHealthConfig
from kling_gateway.upstream.calls import CallKind, classify
from kling_gateway.upstream.health import HealthRecord, HealthState, Observed, fold, probe_due, summarize

CONFIG = ChannelHealthConfig()  # 5 faults in a row, 30 s doubling to 600 s, degraded at 20 % of 5 calls


@pytest.mark.parametrize(
    ("http_status", "code", "kind"),
    [
        (200, None, CallKind.SUCCESS),
        (None, None, CallKind.UPSTREAM_FAULT),  # lost or unreachable
        (500, 5000, CallKind.UPSTREAM_FAULT),
        (503, None, CallKind.UPSTREAM_FAULT),
        (504, 5002, CallKind.UPSTREAM_FAULT),
        (401, 1000, CallKind.CREDENTIALS_REFUSED),
        (401, 1004, CallKind.CREDENTIALS_REFUSED),
        (429, 1102, CallKind.ACCOUNT_FAULT),  # the balance is empty
        (429, 1100, CallKind.ACCOUNT_FAULT),
        (403, 1103, CallKind.ACCOUNT_FAULT),
        (429, 1304, CallKind.ACCOUNT_FAULT),  # IP whitelist
        (403, None, CallKind.ACCOUNT_FAULT),
        (400, 1200, CallKind.BAD_REQUEST),
        (400, 1301, CallKind.BAD_REQUEST),  # content safety: the user's prompt
        (404, 1203, CallKind.BAD_REQUEST),
        (429, 1302, CallKind.RATE_LIMITED),
        (429, 1303, CallKind.RATE_LIMITED),
        (429, None, CallKind.RATE_LIMITED),
        (302, None, CallKind.UPSTREAM_FAULT),
    ],
)
def test_each_answer_is_sorted_by_whose_fault_it_was(http_status: int | None, code: int | None, kind: CallKind) -> None:
    assert classify(http_status, code) is kind


class Channel:
    """One channel's record, fed calls on a manual clock."""

    def __init__(self) -> None:
        self.clock = ManualClock(start_ms=1_000_000)
        self.record = HealthRecord()

    def call(self, kind: CallKind, *, ms: int = 100, detail: str = "", after_s: float = 1.0) -> None:
        self.clock.advance(s=after_s)
        self.record = fold(self.record, [Observed(self.clock.now_ms(), kind, ms, detail)], CONFIG)

    def state(self) -> HealthState:
        return summarize(self.record, self.clock.now_ms(), CONFIG).state


def test_a_channel_is_unknown_until_called_then_healthy_with_its_latency() -> None:
    channel = Channel()
    assert channel.state() is HealthState.UNKNOWN
    for ms in range(10, 110, 10):
        channel.call(CallKind.SUCCESS, ms=ms)
    summary = summarize(channel.record, channel.clock.now_ms(), CONFIG)
    assert (summary.state, summary.calls, summary.error_ratio) == (HealthState.HEALTHY, 10, 0.0)
    assert (summary.p50_ms, summary.p95_ms) == (50, 100)
    assert channel.record.last_success_at == channel.clock.now_ms()


def test_a_channel_is_degraded_at_a_fifth_of_faults_and_the_window_forgets_them() -> None:
    channel = Channel()
    for _ in range(3):
        channel.call(CallKind.SUCCESS)
    channel.call(CallKind.UPSTREAM_FAULT, detail="upstream answered 500/5000")
    assert channel.state() is HealthState.HEALTHY  # 4 calls say nothing of a rate
    channel.call(CallKind.SUCCESS)
    summary = summarize(channel.record, channel.clock.now_ms(), CONFIG)
    assert (summary.state, summary.error_ratio) == (HealthState.DEGRADED, 0.2)
    assert "upstream answered 500/5000" in summary.reason
    for kind in (CallKind.BAD_REQUEST, CallKind.RATE_LIMITED):  # neither is the channel's fault
        channel.call(kind)
    assert channel.state() is HealthState.HEALTHY  # 1 of 7
    channel.clock.advance(s=CONFIG.window_s)
    assert summarize(channel.record, channel.clock.now_ms(), CONFIG).calls == 0
    assert channel.state() is HealthState.HEALTHY  # called before, just not lately


def test_the_breaker_opens_after_faults_in_a_row_and_a_probe_decides_with_the_cool_down_doubling() -> None:
    channel = Channel()
    for _ in range(CONFIG.breaker_faults - 1):
        channel.call(CallKind.UPSTREAM_FAULT)
    channel.call(CallKind.SUCCESS)  # a success breaks the run
    for _ in range(CONFIG.breaker_faults - 1):
        channel.call(CallKind.UPSTREAM_FAULT)
    assert channel.state() is HealthState.DEGRADED
    channel.call(CallKind.UPSTREAM_FAULT, detail="lost the upstream")
    opened_at = channel.clock.now_ms()
    assert channel.state() is HealthState.DOWN
    assert channel.record.open_until == opened_at + 30_000
    assert "cooling down for 30 s more: lost the upstream" in summarize(channel.record, opened_at, CONFIG).reason

    channel.call(CallKind.SUCCESS, after_s=10)  # a poll while it cools down: counted, but decides nothing
    channel.call(CallKind.UPSTREAM_FAULT, after_s=1)
    assert (channel.state(), channel.record.open_until) == (HealthState.DOWN, opened_at + 30_000)
    assert not probe_due(channel.record, channel.clock.now_ms())

    expected = [60_000, 120_000, 240_000, 480_000, 600_000, 600_000]  # each failed probe doubles it, to the longest
    for cooldown_ms in expected:
        channel.clock.advance(ms=channel.record.open_until - channel.clock.now_ms())
        assert probe_due(channel.record, channel.clock.now_ms())
        assert "waiting for a probe" in summarize(channel.record, channel.clock.now_ms(), CONFIG).reason
        channel.call(CallKind.UPSTREAM_FAULT, after_s=0)
        assert channel.record.open_until == channel.clock.now_ms() + cooldown_ms
        assert channel.state() is HealthState.DOWN

    channel.clock.advance(ms=channel.record.open_until - channel.clock.now_ms())
    channel.call(CallKind.SUCCESS, after_s=0)  # the probe that succeeds closes it
    assert channel.record.open_until is None
    assert channel.record.faults_in_row == 0
    for _ in range(CONFIG.breaker_faults):
        channel.call(CallKind.UPSTREAM_FAULT)
    assert channel.record.cooldown_ms == 30_000  # opened afresh: the first cool-down again


def test_an_account_fault_makes_a_channel_misconfigured_until_a_success() -> None:
    channel = Channel()
    channel.call(CallKind.SUCCESS)
    channel.call(CallKind.ACCOUNT_FAULT, detail="upstream answered 429/1102: Account balance not enough")
    summary = summarize(channel.record, channel.clock.now_ms(), CONFIG)
    assert summary.state is HealthState.MISCONFIGURED
    assert summary.reason == "the account refused: upstream answered 429/1102: Account balance not enough"
    assert not summary.state.takes_tasks
    channel.call(CallKind.SUCCESS, after_s=5)  # during the cool-down: still refused
    assert channel.state() is HealthState.MISCONFIGURED
    channel.call(CallKind.SUCCESS, after_s=CONFIG.cooldown_s)  # the probe after it: the account works again
    assert channel.state() is HealthState.HEALTHY


def test_refused_credentials_are_the_channels_own_note_and_open_no_breaker() -> None:
    channel = Channel()
    for _ in range(CONFIG.breaker_faults):
        channel.call(CallKind.CREDENTIALS_REFUSED, detail="upstream answered 401/1000")
    assert channel.record.open_until is None
    refused = summarize(channel.record, channel.clock.now_ms(), CONFIG, refused="the upstream refused the API key")
    assert (refused.state, refused.reason) == (HealthState.MISCONFIGURED, "the upstream refused the API key")


def test_calls_fold_in_the_order_they_were_made_whatever_order_they_come_in() -> None:
    calls = [Observed(at_ms, CallKind.UPSTREAM_FAULT, 5) for at_ms in range(1000, 6000, 1000)]
    calls.append(Observed(500, CallKind.SUCCESS, 5))  # made first, reported last
    record = fold(HealthRecord(), reversed(calls), CONFIG)
    assert record.open_until == 5000 + 30_000
    assert record.last_success_at == 500


def test_the_cool_downs_must_grow() -> None:
    with pytest.raises(ValueError, match=r"max_cooldown_s \(10\) must be at least cooldown_s \(30\)"):
        ChannelHealthConfig(max_cooldown_s=10)
