"""A log line says when, how bad, who wrote it, in which process and, within a request, which request and key."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import threading
import time

import orjson
import pytest
from ulid import ULID

from kling_gateway import logs


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("kling_gateway.tasks", logging.WARNING, __file__, 1, message, args or ("world",), None)
    made.__dict__.update(extra)
    return made


def written(log_format: logs.LogFormat, *records: logging.LogRecord) -> list[str]:
    stream = io.StringIO()
    handler = logs.log_handler(log_format, stream)
    for each in records:
        handler.handle(each)
    return stream.getvalue().splitlines()


def test_a_text_line_names_time_level_logger_process_request_and_key() -> None:
    token = logs.enter_request("req_1")
    try:
        [before_key] = written("text", record())
        logs.note_key(7)
        [after_key] = written("text", record())
    finally:
        logs.leave_request(token)
    [outside] = written("text", record())
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(rf"{stamp} WARNING kling_gateway.tasks \[\d+\] req_1 hello world", before_key)
    assert re.fullmatch(rf"{stamp} WARNING kling_gateway.tasks \[\d+\] req_1 key 7 hello world", after_key)
    assert re.fullmatch(rf"{stamp} WARNING kling_gateway.tasks \[\d+\] hello world", outside)


def test_a_json_line_holds_the_fields_given_and_the_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        failing = record("failed %s", "once", path="/v1/x", status=500)
        failing.exc_info = sys.exc_info()
    token = logs.enter_request("req_2")
    logs.note_key(3)
    try:
        [line] = [orjson.loads(text) for text in written("json", failing)]
    finally:
        logs.leave_request(token)
    assert line["time"].endswith("+00:00")
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "kling_gateway.tasks", "failed once")
    assert (line["request_id"], line["key_id"], line["path"], line["status"]) == ("req_2", 3, "/v1/x", 500)
    assert isinstance(line["pid"], int)
    assert "ValueError: broken" in line["exception"]
    assert "args" not in line
    assert "msg" not in line


def test_outside_a_request_a_json_line_has_no_request_fields() -> None:
    [line] = [orjson.loads(text) for text in written("json", record())]
    assert "request_id" not in line
    assert "key_id" not in line


def test_a_key_noted_outside_a_request_changes_nothing() -> None:
    logs.note_key(9)
    assert logs.current_request() is None


def test_the_process_configuration_sends_every_logger_through_one_handler_and_quiets_chatty_ones() -> None:
    script = (
        "import logging; from kling_gateway import logs; logs.configure('info', 'json');"
        "logging.getLogger('uvicorn.error').info('server line');"
        "logging.getLogger('kling_gateway.sync').warning('worker line');"
        "logging.getLogger('httpx').info('HTTP Request: GET https://api.example.com/v1/x');"
        "logging.getLogger('kling_gateway.tasks').debug('not at info')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    lines = [orjson.loads(line) for line in done.stderr.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("uvicorn.error", "server line"),
        ("kling_gateway.sync", "worker line"),
    ]


def test_a_new_request_id_is_a_ulid_of_this_millisecond_and_never_repeats() -> None:
    before_ms = time.time_ns() // 1_000_000
    made = [logs.generate_request_id() for _ in range(1000)]
    after_ms = time.time_ns() // 1_000_000
    assert len(set(made)) == len(made)
    for request_id in made:
        assert request_id.startswith("req_")
        ulid = ULID.from_str(request_id.removeprefix("req_"))  # refuses any string that is not one
        assert str(ulid) == request_id.removeprefix("req_")
        assert before_ms <= ulid.milliseconds <= after_ms
    assert len({ULID.from_str(request_id[4:]).bytes[6:] for request_id in made}) == len(made)  # random parts differ


def test_a_request_id_is_written_as_python_ulid_writes_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    for bits in (b"\x00" * 16, b"\xff" * 6 + b"\x00" * 10, b"\x01\x8f" + b"\xa5" * 14, b"\x00" * 6 + b"\xff" * 10):
        monkeypatch.setattr("time.time_ns", lambda bits=bits: int.from_bytes(bits[:6]) * 1_000_000)
        monkeypatch.setattr("os.urandom", lambda size, bits=bits: bits[6:])
        assert logs.generate_request_id() == f"req_{ULID.from_bytes(bits)}"


def test_a_line_record_is_the_record_logging_would_make_with_its_own_time_and_thread() -> None:
    logger = logging.getLogger("kling_gateway.access")
    lines = logs.LineRecords(logger, logging.INFO, __file__)
    fields = {"method": "GET", "status": 200}
    made: list[logging.LogRecord] = []
    thread = threading.Thread(target=lambda: made.append(lines.record("on a thread", fields)), name="another")
    before = time.time()
    ours = [lines.record("first", fields), lines.record("second", fields)]
    thread.start()
    thread.join()
    after = time.time()
    expected = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "second", (), None, extra=fields)
    timed = {"created", "msecs", "relativeCreated"}
    assert {name: value for name, value in vars(ours[1]).items() if name not in timed} == {
        name: value for name, value in vars(expected).items() if name not in timed
    }
    assert (ours[0].getMessage(), ours[1].getMessage(), made[0].getMessage()) == ("first", "second", "on a thread")
    assert (made[0].threadName, made[0].thread) == ("another", thread.ident)
    for record in (*ours, *made):
        assert before <= record.created <= after
        assert record.msecs == int((record.created - int(record.created)) * 1000)
        assert abs(record.relativeCreated - expected.relativeCreated - (record.created - expected.created) * 1000) < 1
