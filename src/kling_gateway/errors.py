"""One exception hierarchy for the gateway; the edge turns each into a status code and a body per dialect.

Each kind names itself three ways, one per dialect: the official Kling code (`kling`), a short snake_case code
(`task`, and `code` of the OpenAI-style error of `video`) and an OpenAI error type (`video`).
"""

from __future__ import annotations

from kling_gateway.kling.codes import KlingCode


class GatewayError(Exception):
    """The gateway refused or could not finish a request."""

    kling_code: KlingCode = KlingCode.SERVER_ERROR
    slug = "internal_error"
    error_type = "server_error"

    def __init__(self, message: str | None = None, code: KlingCode | None = None, *, param: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        if code is not None:  # the class default, unless this case has a more precise official code
            self.kling_code = code
        self.param = param  # the request field or parameter at fault, when there is one
        super().__init__(self.message)

    @property
    def http_status(self) -> int:
        return self.kling_code.http_status

    @property
    def openai_http_status(self) -> int:
        """The status an OpenAI-shaped answer carries: the same, but where Kling's own status is not HTTP's."""
        return self.http_status


class Unauthenticated(GatewayError):
    """Authorization is missing, malformed, unknown or revoked."""

    kling_code = KlingCode.AUTH_FAILED
    slug = "invalid_api_key"
    error_type = "authentication_error"


class InvalidRequest(GatewayError):
    """The request is not valid; the message names the field and what is allowed."""

    kling_code = KlingCode.ILLEGAL_VALUE
    slug = "invalid_request"
    error_type = "invalid_request_error"


class NotFound(GatewayError):
    """No such task among your tasks."""

    kling_code = KlingCode.RESOURCE_NOT_FOUND
    slug = "task_not_exist"
    error_type = "invalid_request_error"


class Conflict(GatewayError):
    """The request conflicts with an earlier one (an external_task_id reused with a different body)."""

    kling_code = KlingCode.ILLEGAL_VALUE
    slug = "external_task_id_conflict"
    error_type = "invalid_request_error"

    @property
    def http_status(self) -> int:
        return 409


class InsufficientBalance(GatewayError):
    """Your balance does not cover this task's estimated cost."""

    kling_code = KlingCode.RESOURCE_PACK_EXHAUSTED
    slug = "insufficient_balance"
    error_type = "insufficient_quota"


class RateLimited(GatewayError):
    """This key sends requests faster than its limit allows; retry after the time the answer gives."""

    kling_code = KlingCode.RATE_LIMITED
    slug = "rate_limit_exceeded"
    error_type = "rate_limit_error"

    def __init__(self, message: str | None = None, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s  # whole seconds, as the Retry-After header gives them


class TooManyDownloads(RateLimited):
    """Too many downloads are under way at once; retry when one has finished."""

    kling_code = KlingCode.CONCURRENCY_LIMIT
    slug = "too_many_downloads"


class NoCapacity(GatewayError):
    """Every upstream channel is at its concurrency limit for this kind of task; retry after a second or more."""

    kling_code = KlingCode.CONCURRENCY_LIMIT
    slug = "no_capacity"
    error_type = "rate_limit_error"


class UpstreamFailed(GatewayError):
    """The upstream Kling service could not take the task; nothing was charged."""

    kling_code = KlingCode.SERVICE_UNAVAILABLE
    slug = "upstream_unavailable"
    error_type = "upstream_error"


class RefusedUpstream(GatewayError):
    """The upstream refused the task itself (e.g. content safety); nothing was charged."""

    kling_code = KlingCode.ILLEGAL_VALUE
    slug = "upstream_refused"
    error_type = "invalid_request_error"


class MethodNotAllowed(GatewayError):
    """This path does not take this method."""

    kling_code = KlingCode.INVALID_METHOD
    slug = "method_not_allowed"
    error_type = "invalid_request_error"

    def __init__(self, message: str | None = None, *, allowed: str | None = None) -> None:
        super().__init__(message)
        self.allowed = allowed  # the methods the path takes, as an Allow header lists them, when known

    @property
    def openai_http_status(self) -> int:
        return 405  # Kling answers a wrong method 404 / 1202; HTTP, and OpenAI's API, 405


class PayloadTooLarge(InvalidRequest):
    """The request body is larger than the gateway takes."""

    slug = "request_too_large"

    @property
    def http_status(self) -> int:
        return 413


class RequestTimeout(InvalidRequest):
    """The request body did not arrive in time."""

    slug = "request_timeout"

    @property
    def http_status(self) -> int:
        return 408


class Overloaded(GatewayError):
    """The gateway is reading too many large request bodies at once; retry in a few seconds."""

    kling_code = KlingCode.SERVICE_UNAVAILABLE
    slug = "server_busy"
    error_type = "server_error"


class StoreUnavailable(GatewayError):
    """The gateway's store (its database) is unavailable; nothing was charged. Retry in a few seconds."""

    kling_code = KlingCode.SERVICE_UNAVAILABLE
    slug = "store_unavailable"
    error_type = "server_error"


class NoSuchEndpoint(NotFound):
    """No endpoint answers this method and path."""

    slug = "not_found"


class ServerError(GatewayError):
    """Something went wrong inside the gateway; nothing was charged for it. Retry, or report the request id."""
