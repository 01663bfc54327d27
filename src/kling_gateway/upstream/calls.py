"""What one finished upstream request says about its channel, sorted once here for everyone who watches them.

Every request the client sends ends as one `FinishedCall`, handed to each observer: the Prometheus counters are one,
the channels' health another. Its `kind` is the one judgement of whose fault a failure was: the upstream's (5xx, a
timeout, a connection lost, Kling's 5000-class codes), the credentials' (1000-1004), the account's (balance empty,
account disabled, no permission, IP whitelist: 1100-1103, 1304), the request's own (400, 1200-class: another channel
would refuse it too), or no fault at all but a busy account (429, 1302/1303).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from kling_gateway.kling.codes import SERVER_FAULTS
from kling_gateway.observability.metrics import UPSTREAM_REQUESTS, UPSTREAM_SECONDS
from kling_gateway.upstream.errors import ACCOUNT_FAULTS, BUSY, CREDENTIAL_CODES

_SERVER_CODES = frozenset(known.code for known in SERVER_FAULTS)
_ACCOUNT_CODES = frozenset(known.code for known in ACCOUNT_FAULTS)
_BUSY_CODES = frozenset(known.code for known in BUSY)


class CallKind(StrEnum):
    """Whose fault a finished call was, if anyone's."""

    SUCCESS = "success"
    UPSTREAM_FAULT = "upstream_fault"  # the upstream failed or could not be reached: the channel may be down
    # The credentials were refused (1000-1004): noted on the channel itself, which takes no task until an operator
    # updates them (`channels.admin.mark_misconfigured`), so the breaker need not count it.
    CREDENTIALS_REFUSED = "credentials_refused"
    ACCOUNT_FAULT = "account_fault"  # the account refused (balance, standing, permission): misconfigured till a success
    BAD_REQUEST = "bad_request"  # the request itself was refused: not the channel's fault
    RATE_LIMITED = "rate_limited"  # the account is busy, not down

    @property
    def is_fault(self) -> bool:
        """Whether the call counts against its channel."""
        return self in (CallKind.UPSTREAM_FAULT, CallKind.ACCOUNT_FAULT, CallKind.CREDENTIALS_REFUSED)


def classify(http_status: int | None, code: int | None) -> CallKind:
    """Sort a call by its answer's HTTP status and Kling code; `http_status` None: no answer came (lost,
    unreachable)."""
    if http_status is not None and 200 <= http_status < 300:
        return CallKind.SUCCESS
    # A 1xx or 3xx is no answer a Kling client can use.
    if http_status is None or http_status >= 500 or http_status < 400 or code in _SERVER_CODES:
        return CallKind.UPSTREAM_FAULT
    if code in CREDENTIAL_CODES:
        return CallKind.CREDENTIALS_REFUSED
    if code in _ACCOUNT_CODES or (code is None and http_status in (401, 403)):
        return CallKind.ACCOUNT_FAULT
    if code in _BUSY_CODES or http_status == 429:
        return CallKind.RATE_LIMITED
    return CallKind.BAD_REQUEST


@dataclass(frozen=True)
class FinishedCall:
    """One upstream request, once it ended."""

    channel_id: int | None  # None where the caller has no channel row (e.g. a tool's own client)
    channel: str  # the channel's name, else its base URL: the metrics' label
    endpoint: str  # `GET /v1/videos/text2video/{id}`: the path's template
    outcome: str  # `200`, `429/1303`, `lost`, `unreachable`: the metrics' label
    kind: CallKind
    seconds: float
    detail: str = ""  # for a failure: what went wrong, with no secret in it


class CallObserver(Protocol):
    """Anything told of each finished upstream call; it must not block, nor raise."""

    def observe(self, call: FinishedCall) -> None: ...


class CallMetrics:
    """Count and time each call in the Prometheus metrics."""

    def observe(self, call: FinishedCall) -> None:
        UPSTREAM_SECONDS.labels(call.channel, call.endpoint).observe(call.seconds)
        UPSTREAM_REQUESTS.labels(call.channel, call.endpoint, call.outcome).inc()
