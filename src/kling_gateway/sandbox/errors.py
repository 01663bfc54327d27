"""The one exception the sandbox answers with: an official code and a message that says what was wrong."""

from kling_gateway.kling.codes import KlingCode


class SandboxError(Exception):
    """Refuse a call with an official code and a message that says what was wrong."""

    def __init__(self, code: KlingCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def refuse(message: str) -> SandboxError:
    """Refuse a value of the request: 400 / 1201 with the message."""
    return SandboxError(KlingCode.ILLEGAL_VALUE, message)
