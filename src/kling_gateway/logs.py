"""Configure every process's log lines once, at start-up: time, level, logger, process and, for a request, its
request id and the id of the key that made it; as text for a terminal or as JSON lines for a log shipper.

The request a line belongs to travels in a context variable: the edge names each request as it comes in
(`api.request_log`) and authentication adds the key; a line logged anywhere while the request is being answered,
in the routes, the services or the store, carries both. Lines of the sync worker belong to no request.
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Literal

import orjson

LogFormat = Literal["text", "json"]
ACCESS_LOGGER = "kling_gateway.access"  # one line per answered request
# Libraries whose info lines repeat, one per request or upstream call, what the gateway's own lines already say.
CHATTY = ("httpx", "httpcore")
TEXT_LINE = "%(asctime)s %(levelname)s %(name)s [%(process)d]%(request)s %(message)s"
# What every record has of its own; anything else on a record came in `extra=` and is a field of its JSON line.
STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request",
    "request_id",
    "key_id",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}


@dataclass(slots=True)
class RequestContext:
    """The request being answered: its id, and its key's once authentication has found it."""

    request_id: str
    key_id: int | None = None


_current: ContextVar[RequestContext | None] = ContextVar("kling_gateway_request", default=None)


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # the base32 alphabet ULIDs are written in
_PAIRS = tuple(first + second for first in CROCKFORD for second in CROCKFORD)  # every 10 bits as two characters
_PAIR_SHIFTS = tuple(range(120, -10, -10))  # a ULID's 128 bits behind two zero bits: 13 pairs, first to last


def generate_request_id() -> str:
    """Name a request that came without a usable id of its own: `req_` and a ULID (48 bits of Unix milliseconds,
    80 random bits, in Crockford's base32).

    The ULID is written ten bits at a time from a table, rather than by python-ulid, whose generator (a lock, a
    monotonic policy no request id needs) and five-bit encoder cost twice as many instructions, a tenth of a
    finished task's GET; `ULID.from_str` reads these ids back (the tests hold the two to the same string).
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10))
    return "req_" + "".join([_PAIRS[value >> shift & 0x3FF] for shift in _PAIR_SHIFTS])


def enter_request(request_id: str) -> Token[RequestContext | None]:
    """Make the lines logged from here on, in this context, belong to the request `request_id`."""
    return _current.set(RequestContext(request_id))


def leave_request(token: Token[RequestContext | None]) -> None:
    """End what `enter_request` began."""
    _current.reset(token)


def current_request() -> RequestContext | None:
    """The request being answered here, if any."""
    return _current.get()


def note_key(key_id: int) -> None:
    """Say which key made the request being answered, for the lines logged after."""
    request = _current.get()
    if request is not None:
        request.key_id = key_id


class LineRecords:
    """Make the records of one logger's lines at one level from one place in the code, each as `Logger.makeRecord`
    makes it, from a record made once per thread and process.

    LogRecord's constructor works out anew, for every line, what is the same for every line of one call site in one
    thread of one process (the source file's name and module, the level's name, the thread's and the process's
    names, the process id): for the access log, a third of the line's cost. A line's record here is a copy of that
    first record with its own message, time and fields (and, where logging names them, its asyncio task).
    """

    def __init__(self, logger: logging.Logger, level: int, pathname: str) -> None:
        self.logger = logger
        self.level = level
        self.pathname = pathname
        self._first: dict[int, logging.LogRecord] = {}  # by thread; a forked child makes its own
        os.register_at_fork(after_in_child=self._first.clear)

    def record(self, message: str, fields: Mapping[str, object]) -> logging.LogRecord:
        """The record of one line with `message` and the extra `fields` (none of a record's own names)."""
        thread = threading.get_ident()
        first = self._first.get(thread)
        if first is None:
            first = self.logger.makeRecord(self.logger.name, self.level, self.pathname, 0, "", (), None)
            self._first[thread] = first
        created = time.time()
        record: logging.LogRecord = object.__new__(type(first))
        record.__dict__.update(vars(first))
        record.msg = message
        record.created = created
        record.msecs = int((created - int(created)) * 1000) + 0.0  # as logging's own (gh-89047)
        record.relativeCreated = first.relativeCreated + (created - first.created) * 1000
        if "taskName" in record.__dict__:  # Python 3.12 and later
            record.taskName = _task_name()
        record.__dict__.update(fields)
        return record


def _task_name() -> str | None:
    """The running asyncio task's name, as LogRecord names it."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None or not getattr(logging, "logAsyncioTasks", True):
        return None
    try:
        name: str = asyncio.current_task().get_name()
    except Exception:  # no task running here; logging's own leaves the name out too
        return None
    return name


class RequestFields(logging.Filter):
    """Stamp each record with the request it was logged for, as the record is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _current.get()
        record.request_id = None if request is None else request.request_id
        record.key_id = None if request is None else request.key_id
        return True


class TextLines(logging.Formatter):
    """`2026-05-01 10:00:00,123 INFO kling_gateway.access [4242] req_01… key 7 GET /v1/… 200 1.20 ms`"""

    def __init__(self) -> None:
        super().__init__(TEXT_LINE)
        self._second: tuple[int, str] = (-1, "")  # the last second a line was stamped with, and its text

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's)
        """Stamp the line as logging does, with each second's text made once: `localtime` and `strftime` on every
        line were a tenth of the access log's cost."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached, text = self._second
        if cached != second:
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second = (second, text)
        return f"{text},{int(record.msecs):03d}"  # logging.Formatter.default_msec_format

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        request_id, key_id = getattr(record, "request_id", None), getattr(record, "key_id", None)
        record.request = "" if request_id is None else f" {request_id}" + ("" if key_id is None else f" key {key_id}")
        return super().formatMessage(record)


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, pid, message, the request's ids, the record's extra fields
    and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if (request_id := getattr(record, "request_id", None)) is not None:
            line["request_id"] = request_id
            if (key_id := getattr(record, "key_id", None)) is not None:
                line["key_id"] = key_id
        for name, value in record.__dict__.items():
            if name not in STANDARD_ATTRIBUTES:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def log_handler(log_format: LogFormat = "text", stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing lines of `log_format` to `stream` (standard error by default), each with its request."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines() if log_format == "json" else TextLines())
    handler.addFilter(RequestFields())
    return handler


def logging_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """The `logging.config.dictConfig` of a gateway process; uvicorn applies it in each process it starts."""
    level = level.upper()
    quiet = max(logging.WARNING, logging.getLevelNamesMapping()[level])
    own_handlers = {"handlers": [], "propagate": True}  # uvicorn's loggers write through the one handler too
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"main": {"()": f"{__name__}.log_handler", "log_format": log_format}},
        "root": {"level": level, "handlers": ["main"]},
        "loggers": {
            "uvicorn": {"level": level, **own_handlers},
            "uvicorn.error": {"level": level, **own_handlers},
            "uvicorn.access": {"level": level, **own_handlers},
            **{name: {"level": logging.getLevelName(quiet)} for name in CHATTY},
        },
    }


def configure(level: str, log_format: LogFormat) -> None:
    """Set up this process's logging: every logger through one handler on standard error."""
    logging.config.dictConfig(logging_config(level, log_format))
