"""The official Kling error codes, with the HTTP status and wording each one carries."""

from __future__ import annotations

from enum import Enum


class KlingCode(Enum):
    """Name every Kling business code as (code, HTTP status, official meaning)."""

    SUCCEED = (0, 200, "SUCCEED")
    AUTH_FAILED = (1000, 401, "Authentication failed")
    AUTH_EMPTY = (1001, 401, "Authorization is empty")
    AUTH_INVALID = (1002, 401, "Authorization is invalid")
    AUTH_NOT_YET_VALID = (1003, 401, "Authorization is not yet valid")
    AUTH_EXPIRED = (1004, 401, "Authorization has expired")
    ACCOUNT_EXCEPTION = (1100, 429, "Account exception")
    ACCOUNT_ARREARS = (1101, 429, "Account in arrears")
    RESOURCE_PACK_EXHAUSTED = (1102, 429, "Account balance not enough")
    NO_PERMISSION = (1103, 403, "No permission for this resource")
    INVALID_PARAMS = (1200, 400, "Invalid request parameters")
    ILLEGAL_VALUE = (1201, 400, "Invalid request parameters")
    INVALID_METHOD = (1202, 404, "Invalid request method")
    RESOURCE_NOT_FOUND = (1203, 404, "Requested resource does not exist")
    POLICY = (1300, 400, "Trigger platform policy")
    CONTENT_SAFETY = (1301, 400, "Trigger content safety policy")
    RATE_LIMITED = (1302, 429, "Requests are too fast, exceeding the rate limit")
    CONCURRENCY_LIMIT = (1303, 429, "parallel task over resource pack limit")
    IP_WHITELIST = (1304, 429, "Trigger IP whitelist policy")
    SERVER_ERROR = (5000, 500, "Internal server error")
    SERVICE_UNAVAILABLE = (5001, 503, "Service temporarily unavailable")
    SERVER_TIMEOUT = (5002, 504, "Server internal timeout")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return self.value[1]

    @property
    def message(self) -> str:
        return self.value[2]


SERVER_FAULTS = (KlingCode.SERVER_ERROR, KlingCode.SERVICE_UNAVAILABLE, KlingCode.SERVER_TIMEOUT)


def refusal_code(code: int | None) -> KlingCode:
    """Name the 400 code an upstream refusal carried (e.g. 1301 content safety), to pass it on; else 1201."""
    for known in KlingCode:
        if known.code == code and known.http_status == 400:
            return known
    return KlingCode.ILLEGAL_VALUE
