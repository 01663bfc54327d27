"""Talk to the Kling API for the gateway: signed requests, parsed tasks, failures sorted by what is safe."""

from __future__ import annotations

from kling_gateway.upstream.client import ChannelCredentials, KlingClient, UpstreamTask
from kling_gateway.upstream.errors import (
    ChannelBusy,
    ChannelMisconfigured,
    ChannelUnavailable,
    OutcomeUnknown,
    RequestRefused,
    UpstreamError,
)
from kling_gateway.upstream.tokens import TokenCache

__all__ = [
    "ChannelBusy",
    "ChannelCredentials",
    "ChannelMisconfigured",
    "ChannelUnavailable",
    "KlingClient",
    "OutcomeUnknown",
    "RequestRefused",
    "TokenCache",
    "UpstreamError",
    "UpstreamTask",
]
