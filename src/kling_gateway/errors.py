"""One exception hierarchy for the gateway; the edge turns each into a status code and a body per dialect."""

from __future__ import annotations

from kling_gateway.kling.codes import KlingCode


class GatewayError(Exception):
    """The gateway refused or could not finish a request."""

    kling_code: KlingCode = KlingCode.SERVER_ERROR

    def __init__(self, message: str | None = None, code: KlingCode | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        if code is not None:  # the class default, unless this case has a more precise official code
            self.kling_code = code
        super().__init__(self.message)

    @property
    def http_status(self) -> int:
        return self.kling_code.http_status


class Unauthenticated(GatewayError):
    """Authorization is missing, malformed, unknown or revoked."""

    kling_code = KlingCode.AUTH_FAILED


class InvalidRequest(GatewayError):
    """The request is not valid; the message names the field and what is allowed."""

    kling_code = KlingCode.ILLEGAL_VALUE


class NotFound(GatewayError):
    """No such task among your tasks."""

    kling_code = KlingCode.RESOURCE_NOT_FOUND


class Conflict(GatewayError):
    """The request conflicts with an earlier one (an external_task_id reused with a different body)."""

    kling_code = KlingCode.ILLEGAL_VALUE

    @property
    def http_status(self) -> int:
        return 409


class InsufficientBalance(GatewayError):
    """Your balance does not cover this task's estimated cost."""

    kling_code = KlingCode.RESOURCE_PACK_EXHAUSTED


class NoCapacity(GatewayError):
    """Every upstream channel is at its concurrency limit for this kind of task; retry after a second or more."""

    kling_code = KlingCode.CONCURRENCY_LIMIT


class UpstreamFailed(GatewayError):
    """The upstream Kling service could not take the task; nothing was charged."""

    kling_code = KlingCode.SERVICE_UNAVAILABLE


class RefusedUpstream(GatewayError):
    """The upstream refused the task itself (e.g. content safety); nothing was charged."""

    kling_code = KlingCode.ILLEGAL_VALUE


class MethodNotAllowed(GatewayError):
    """This path does not take this method."""

    kling_code = KlingCode.INVALID_METHOD
