"""What can go wrong when calling Kling, sorted by what the caller may safely do next."""

from __future__ import annotations

from kling_gateway.kling.codes import KlingCode


class UpstreamError(Exception):
    """The upstream Kling API did not do what was asked."""

    def __init__(
        self,
        message: str | None = None,
        *,
        code: int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.code = code  # the Kling business code, when the upstream sent one
        self.http_status = http_status
        self.request_id = request_id  # what Kling support asks for
        super().__init__(self.message)


class ChannelUnavailable(UpstreamError):
    """The channel cannot take work now; the request may go to another channel."""


class ChannelMisconfigured(ChannelUnavailable):
    """The upstream refused the channel's credentials; it takes no task until an admin updates them."""


class ChannelBusy(ChannelUnavailable):
    """The channel is at its concurrency or rate limit."""


class RequestRefused(UpstreamError):
    """The upstream refused the request itself; another channel would refuse it too."""


class OutcomeUnknown(UpstreamError):
    """The request may or may not have taken effect upstream."""


# What the account itself refuses: its credentials, its standing, its balance, its permissions, its IP whitelist.
ACCOUNT_FAULTS = (
    KlingCode.AUTH_FAILED,
    KlingCode.AUTH_EMPTY,
    KlingCode.AUTH_INVALID,
    KlingCode.AUTH_NOT_YET_VALID,
    KlingCode.AUTH_EXPIRED,
    KlingCode.ACCOUNT_EXCEPTION,
    KlingCode.ACCOUNT_ARREARS,
    KlingCode.RESOURCE_PACK_EXHAUSTED,
    KlingCode.NO_PERMISSION,
    KlingCode.IP_WHITELIST,
)
BUSY = (KlingCode.RATE_LIMITED, KlingCode.CONCURRENCY_LIMIT)
_REFUSED = (
    KlingCode.INVALID_PARAMS,
    KlingCode.ILLEGAL_VALUE,
    KlingCode.INVALID_METHOD,
    KlingCode.RESOURCE_NOT_FOUND,
    KlingCode.POLICY,
    KlingCode.CONTENT_SAFETY,
)
_BY_CODE: dict[int, type[UpstreamError]] = {
    **{known.code: ChannelUnavailable for known in ACCOUNT_FAULTS},
    **{known.code: ChannelBusy for known in BUSY},
    **{known.code: RequestRefused for known in _REFUSED},
}
CREDENTIAL_CODES = frozenset(known.code for known in ACCOUNT_FAULTS[:5])
"""1000-1004: the channel's token was refused, so a freshly signed one may fare differently."""


def error_for_answer(
    http_status: int, code: int | None, message: str | None, request_id: str | None = None
) -> UpstreamError:
    """Turn an error answer (its HTTP status and, when it has one, its Kling envelope) into the matching error."""
    error_class = _error_class(http_status, code)
    if code is not None:
        text = f"upstream answered {code}: {message or 'no message'}"
    else:
        text = f"upstream answered HTTP {http_status} without a Kling error body"
    return error_class(text, code=code, http_status=http_status, request_id=request_id)


def _error_class(http_status: int, code: int | None) -> type[UpstreamError]:
    # A 5xx may have been raised after the work was done (the sandbox's lost responses are exactly that).
    if http_status >= 500:
        return OutcomeUnknown
    if code is not None and code in CREDENTIAL_CODES:
        return ChannelMisconfigured
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    # A bare 429 comes from something in front of Kling limiting the rate: nothing was created.
    if http_status == 429:
        return ChannelBusy
    if 400 <= http_status < 500:
        return RequestRefused
    return OutcomeUnknown
