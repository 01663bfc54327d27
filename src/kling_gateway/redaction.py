"""Keep secrets out of log lines: the token in an upstream callback's path, a URL's credentials, and query
parameters that look like secrets.

Whoever reads the logs must learn nothing that lets them act: the token of `/upstream/callbacks/{platform_id}/{token}`
proves a callback comes from the task's channel, so with it anyone could report a task finished. A filter on the
loggers that print URLs (uvicorn's access and error logs, httpx's log of each request) rewrites the record before any
handler formats it, its message, arguments and traceback alike; the gateway's own log lines name no such URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

REDACTED = "[redacted]"
# The last segment of an upstream callback's path (`upstream.callbacks.callback_url`).
CALLBACK_TOKEN = re.compile(r"(/upstream/callbacks/[^/?#\s]+/)[^/?#\s\"']+")
USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/?#@\s]+@", re.IGNORECASE)
SECRET_PARAMETER = re.compile(
    r"([?&][^=&#\s]*(?:token|secret|key|sig|password|passwd|auth|credential)[^=&#\s]*=)[^&#\s\"']*", re.IGNORECASE
)
LOGGERS = ("uvicorn.access", "uvicorn.error", "httpx")  # the ones whose lines carry URLs the gateway does not write


def redact(text: str) -> str:
    """Replace every secret a URL in the text carries with `[redacted]`."""
    if "://" not in text and "/upstream/callbacks/" not in text and "=" not in text:
        return text  # the common line: nothing to look for
    text = CALLBACK_TOKEN.sub(rf"\1{REDACTED}", text)
    text = USERINFO.sub(rf"\1{REDACTED}@", text)
    return SECRET_PARAMETER.sub(rf"\1{REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Redact the secrets in a record's message, arguments and traceback; never drop a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {name: _redacted(value) for name, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(value) for value in record.args)
        if record.exc_info and not record.exc_text:
            # Formatters reuse a record's formatted traceback: format it once here, redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install() -> None:
    """Put the filter on the loggers that print URLs, once per process."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
            logger.addFilter(RedactSecrets())


def _redacted(value: object) -> object:
    if value is None or isinstance(value, int | float):
        return value  # formatted with %d or %f: never a secret
    text = str(value)
    redacted = redact(text)
    return value if redacted == text else redacted
