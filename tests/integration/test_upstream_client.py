"""The upstream client against a real sandbox, and against faked transports for faults a sandbox cannot make."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest

from kling_gateway.sandbox import Account
from kling_gateway.upstream import (
    ChannelBusy,
    ChannelCredentials,
    ChannelMisconfigured,
    ChannelUnavailable,
    KlingClient,
    OutcomeUnknown,
    RequestRefused,
    TokenCache,
    UpstreamError,
    UpstreamTask,
)
from tests.conftest import RunningSandbox, SandboxFactory

SLOW = 0.01  # tasks take hours, so a concurrency slot stays taken for the whole test
VIDEOS, T2V = "videos", "text2video"
FAKE = ChannelCredentials("http://kling.invalid", "ak_fake", "sk_" + "f" * 32)
TASK = {"task_id": "860000000000000001", "task_status": "submitted", "created_at": 1, "updated_at": 1}


def channel_of(sandbox: RunningSandbox, account: Account | None = None) -> ChannelCredentials:
    chosen = account or sandbox.account
    return ChannelCredentials(sandbox.url, chosen.access_key, chosen.secret_key)


class Recorder:
    """Remember every request a client sends, as an httpx event hook."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def authorizations(self) -> set[str]:
        return {request.headers["authorization"] for request in self.requests}


@pytest.fixture
def sandbox(loopback_sandbox: RunningSandbox) -> RunningSandbox:
    """The default sandbox over a real port: these tests are of the client's own HTTP."""
    return loopback_sandbox


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def kling(recorder: Recorder) -> AsyncIterator[KlingClient]:
    """A client over a real HTTP connection pool that records what it sends."""
    async with httpx.AsyncClient(timeout=10, event_hooks={"request": [recorder]}) as http:
        yield KlingClient(http)


def faked(handler: Callable[[httpx.Request], httpx.Response], tokens: TokenCache | None = None) -> KlingClient:
    """Make a client whose network is `handler` (which may raise a transport error instead of answering)."""
    return KlingClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), tokens=tokens)


def answering(status: int, body: bytes) -> KlingClient:
    return faked(lambda _request: httpx.Response(status, content=body))


def raising(error: type[httpx.TransportError]) -> KlingClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("faked", request=request)

    return faked(handler)


async def test_a_created_task_is_found_by_both_ids_and_listed(sandbox: RunningSandbox, kling: KlingClient) -> None:
    channel = channel_of(sandbox)
    external = "order #42 ?ü"  # characters that would break the path unless quoted
    created = await kling.create(channel, VIDEOS, T2V, {"prompt": "a fox", "external_task_id": external})
    assert (created.task_status, created.external_task_id) == ("submitted", external)
    assert (created.task_status_msg, created.task_result, created.final_unit_deduction) == ("", {}, None)
    assert created.created_at == created.updated_at > 0
    by_id = await kling.get(channel, VIDEOS, T2V, created.task_id)
    by_external = await kling.get(channel, VIDEOS, T2V, external)
    assert by_id is not None
    assert by_external is not None
    # The same task; the two reads may straddle a status change, so only what never changes is compared.
    assert (by_external.task_id, by_external.external_task_id, by_external.created_at) == (
        by_id.task_id,
        by_id.external_task_id,
        by_id.created_at,
    )
    assert by_id.task_id == created.task_id
    assert [task.task_id for task in await kling.list(channel, VIDEOS, T2V)] == [created.task_id]
    assert kling.requests_sent == 4


async def test_a_finished_task_carries_its_result_and_units(sandbox: RunningSandbox, kling: KlingClient) -> None:
    channel = channel_of(sandbox)
    task_id = (await kling.create(channel, VIDEOS, T2V, {"prompt": "a fox"})).task_id
    deadline = time.monotonic() + 5
    while (task := await kling.get(channel, VIDEOS, T2V, task_id)) is None or task.task_status != "succeed":
        assert time.monotonic() < deadline, f"the task stayed {task}"
        await asyncio.sleep(0.02)
    assert task.final_unit_deduction == "1"
    assert task.task_result["videos"][0]["url"].endswith(".mp4")
    assert task.updated_at > task.created_at


async def test_an_action_with_a_slash_goes_into_the_path_as_is(sandbox: RunningSandbox, kling: KlingClient) -> None:
    channel = channel_of(sandbox)
    body = {"image": "https://example.com/a.png", "up_expansion_ratio": 0.5}
    created = await kling.create(channel, "images", "editing/expand", body)
    found = await kling.get(channel, "images", "editing/expand", created.task_id)
    assert found is not None
    assert found.task_id == created.task_id
    assert [task.task_id for task in await kling.list(channel, "images", "editing/expand")] == [created.task_id]


async def test_a_list_is_paged_newest_first(sandbox: RunningSandbox, kling: KlingClient) -> None:
    channel = channel_of(sandbox)
    ids = [(await kling.create(channel, VIDEOS, T2V, {"prompt": f"clip {n}"})).task_id for n in range(3)]
    first = await kling.list(channel, VIDEOS, T2V, page_size=2)
    second = await kling.list(channel, VIDEOS, T2V, page_num=2, page_size=2)
    assert [task.task_id for task in first + second] == ids[::-1]


async def test_an_unknown_id_is_none(sandbox: RunningSandbox, kling: KlingClient) -> None:
    assert await kling.get(channel_of(sandbox), VIDEOS, T2V, "123456789012345678") is None


async def test_an_empty_reference_is_a_programming_error(sandbox: RunningSandbox, kling: KlingClient) -> None:
    with pytest.raises(ValueError, match="reference"):
        await kling.get(channel_of(sandbox), VIDEOS, T2V, "")
    assert kling.requests_sent == 0


async def test_one_token_serves_a_channel_across_requests(
    sandbox: RunningSandbox, kling: KlingClient, recorder: Recorder
) -> None:
    first, second = (channel_of(sandbox, account) for account in sandbox.config.accounts)
    await kling.create(first, VIDEOS, T2V, {"prompt": "a fox"})
    await kling.list(first, VIDEOS, T2V)
    await kling.get(first, VIDEOS, T2V, "unknown")
    assert len(recorder.authorizations()) == 1
    await kling.list(second, VIDEOS, T2V)
    assert len(recorder.authorizations()) == 2
    assert kling.requests_sent == len(recorder.requests) == 4


async def test_a_trailing_slash_in_the_base_url_is_dropped(sandbox: RunningSandbox, kling: KlingClient) -> None:
    channel = ChannelCredentials(sandbox.url + "/", sandbox.account.access_key, sandbox.account.secret_key)
    assert channel.base_url == sandbox.url
    assert sandbox.account.secret_key not in repr(channel)
    assert await kling.list(channel, VIDEOS, T2V) == []


@pytest.mark.parametrize("which", ["secret key", "access key"])
async def test_wrong_keys_make_the_channel_misconfigured(
    sandbox: RunningSandbox, kling: KlingClient, which: str
) -> None:
    account = sandbox.account
    wrong = "xx_" + "w" * 32
    if which == "secret key":
        channel = ChannelCredentials(sandbox.url, account.access_key, wrong)
    else:
        channel = ChannelCredentials(sandbox.url, wrong, account.secret_key)
    with pytest.raises(ChannelMisconfigured) as raised:
        await kling.create(channel, VIDEOS, T2V, {"prompt": "a fox"})
    assert (raised.value.code, raised.value.http_status) == (1000, 401)
    assert raised.value.message.startswith("upstream answered 1000: Authentication failed")
    assert raised.value.request_id


async def test_a_channel_at_its_concurrency_limit_is_busy(sandbox_factory: SandboxFactory, kling: KlingClient) -> None:
    channel = channel_of(sandbox_factory(speed=SLOW, video_concurrency=1, listen=True))
    await kling.create(channel, VIDEOS, T2V, {"prompt": "one"})
    with pytest.raises(ChannelBusy) as raised:
        await kling.create(channel, VIDEOS, T2V, {"prompt": "two"})
    assert (raised.value.code, raised.value.http_status) == (1303, 429)
    assert str(raised.value) == "upstream answered 1303: parallel task over resource pack limit"


@pytest.mark.parametrize("body", [{"prompt": ""}, {"prompt": "a fox", "duration": "7"}], ids=["empty", "duration"])
async def test_a_body_the_upstream_refuses_is_refused(
    sandbox: RunningSandbox, kling: KlingClient, body: dict[str, Any]
) -> None:
    with pytest.raises(RequestRefused) as raised:
        await kling.create(channel_of(sandbox), VIDEOS, T2V, body)
    assert (raised.value.code, raised.value.http_status) == (1201, 400)
    assert raised.value.message.startswith("upstream answered 1201: ")


async def test_server_errors_leave_the_outcome_unknown(sandbox_factory: SandboxFactory, kling: KlingClient) -> None:
    channel = channel_of(sandbox_factory(error_rate=1.0, listen=True))
    calls = (
        kling.create(channel, VIDEOS, T2V, {"prompt": "a fox"}),
        kling.get(channel, VIDEOS, T2V, "123"),
        kling.list(channel, VIDEOS, T2V),
    )
    for call in calls:
        with pytest.raises(OutcomeUnknown) as raised:
            await call
        assert raised.value.code in (5000, 5001, 5002)
        assert raised.value.http_status in (500, 503, 504)


async def test_a_closed_port_makes_the_channel_unavailable(kling: KlingClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = ChannelCredentials(f"http://127.0.0.1:{port}", "ak", "sk_" + "s" * 32)
    with pytest.raises(ChannelUnavailable) as raised:
        await kling.create(channel, VIDEOS, T2V, {"prompt": "a fox"})
    assert type(raised.value) is ChannelUnavailable
    assert channel.base_url in raised.value.message
    assert (raised.value.code, raised.value.http_status) == (None, None)
    assert kling.requests_sent == 1


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (httpx.ConnectError, ChannelUnavailable),
        (httpx.ConnectTimeout, ChannelUnavailable),
        (httpx.PoolTimeout, ChannelUnavailable),
        (httpx.ReadTimeout, OutcomeUnknown),
        (httpx.WriteTimeout, OutcomeUnknown),
        (httpx.ReadError, OutcomeUnknown),
        (httpx.RemoteProtocolError, OutcomeUnknown),
    ],
)
async def test_transport_faults_are_sorted_by_whether_the_request_left(
    fault: type[httpx.TransportError], expected: type[UpstreamError]
) -> None:
    kling = raising(fault)
    with pytest.raises(UpstreamError) as raised:
        await kling.create(FAKE, VIDEOS, T2V, {"prompt": "a fox"})
    assert type(raised.value) is expected
    assert FAKE.base_url in raised.value.message
    assert fault.__name__ in raised.value.message
    assert kling.requests_sent == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html>ok</html>",
        b"",
        b"[]",
        b'{"code": 0, "message": "SUCCEED"}',
        b'{"code": 0, "data": []}',
        b'{"code": "0", "data": {"task_id": "1", "task_status": "submitted"}}',
        b'{"code": 1303, "message": "parallel task over resource pack limit"}',
        b'{"code": 0, "data": {"task_status": "submitted"}}',
        b'{"code": 0, "data": {"task_id": 1, "task_status": "submitted"}}',
        b'{"code": 0, "data": {"task_id": "1", "task_status": "submitted", "created_at": "soon"}}',
        b'{"code": 0, "data": {"task_id": "1", "task_status": "succeed", "final_unit_deduction": 1.5}}',
    ],
)
async def test_a_200_that_is_not_a_success_envelope_leaves_the_outcome_unknown(body: bytes) -> None:
    with pytest.raises(OutcomeUnknown) as raised:
        await answering(200, body).create(FAKE, VIDEOS, T2V, {"prompt": "a fox"})
    assert type(raised.value) is OutcomeUnknown


async def test_a_list_with_a_malformed_task_leaves_the_outcome_unknown() -> None:
    body = orjson.dumps({"code": 0, "data": [TASK, "not a task"]})
    with pytest.raises(OutcomeUnknown, match="not an object"):
        await answering(200, body).list(FAKE, VIDEOS, T2V)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (502, b"<html>bad gateway</html>", OutcomeUnknown),
        (503, b'{"code": 1303, "message": "odd"}', OutcomeUnknown),
        (429, b"slow down", ChannelBusy),
        (404, b"not found", RequestRefused),
        (404, b'{"code": 1202, "message": "GET is not allowed"}', RequestRefused),
        (403, b'{"code": 1103, "message": "no permission"}', ChannelUnavailable),
        (429, b'{"code": 1102, "message": "Account balance not enough"}', ChannelUnavailable),
        (429, b'{"code": 1302, "message": "too fast"}', ChannelBusy),
        (429, b'{"code": 1304, "message": "ip whitelist"}', ChannelUnavailable),
        (400, b'{"code": 1301, "message": "content safety"}', RequestRefused),
        (409, b'{"code": 4242, "message": "new"}', RequestRefused),
    ],
)
async def test_error_answers_map_by_code_then_status(status: int, body: bytes, expected: type[UpstreamError]) -> None:
    with pytest.raises(UpstreamError) as raised:
        await answering(status, body).get(FAKE, VIDEOS, T2V, "123")
    assert type(raised.value) is expected
    assert raised.value.http_status == status
    assert raised.value.message.startswith("upstream answered ")


async def test_a_refused_token_is_signed_anew() -> None:
    answers = iter([httpx.Response(401, json={"code": 1004, "message": "Authorization has expired"})])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return next(answers, httpx.Response(200, json={"code": 0, "data": []}))

    ticks = itertools.count(1_700_000_000)  # a new second on every read, so a new token differs from the old
    kling = faked(handler, TokenCache(clock=lambda: next(ticks)))
    with pytest.raises(ChannelUnavailable):
        await kling.list(FAKE, VIDEOS, T2V)
    await kling.list(FAKE, VIDEOS, T2V)
    await kling.list(FAKE, VIDEOS, T2V)
    assert seen[0] != seen[1] == seen[2]


def test_a_task_reads_absent_optional_fields_as_empty() -> None:
    task = UpstreamTask.from_json(
        TASK | {"task_info": None, "final_unit_deduction": "", "updated_at": None, "created_at": 5}
    )
    assert (task.task_status_msg, task.task_info, task.task_result) == ("", {}, {})
    assert (task.final_unit_deduction, task.external_task_id, task.updated_at) == (None, None, 5)
    assert UpstreamTask.from_json(TASK | {"final_unit_deduction": 3}).final_unit_deduction == "3"


NEW_RECORD: dict[str, Any] = {
    "id": "930831534075682845",
    "status": "succeeded",
    "message": "",
    "create_time": 1781080778802,
    "update_time": 1781080794151,
    "external_id": "video_01JEXTERNAL",
    "outputs": [{"type": "video", "id": "v1", "url": "https://cdn.example/v.mp4", "duration": "3.041"}],
    "billing": [{"charge_type": "unit", "amount": "2.4", "package_type": "video"}],
}


def test_a_new_generation_record_reads_into_the_one_report_type() -> None:
    task = UpstreamTask.from_new_json(NEW_RECORD)
    assert (task.task_id, task.task_status, task.task_status_msg) == ("930831534075682845", "succeed", "")
    assert (task.external_task_id, task.created_at, task.updated_at) == (
        "video_01JEXTERNAL",
        1781080778802,
        1781080794151,
    )
    assert task.task_result == {"outputs": NEW_RECORD["outputs"]}  # kept apart from a legacy task_result
    assert task.billing == tuple(NEW_RECORD["billing"])
    assert task.final_unit_deduction is None
    bare = UpstreamTask.from_new_json({"id": "1", "status": "submitted", "outputs": [], "message": ""})
    assert (bare.task_result, bare.billing, bare.external_task_id) == ({"outputs": []}, (), None)
    # A callback may carry either body.
    assert UpstreamTask.from_either_json(NEW_RECORD) == task
    assert UpstreamTask.from_either_json(TASK).task_id == TASK["task_id"]


@pytest.mark.parametrize(
    ("record", "complaint"),
    [
        ({"status": "succeeded"}, "without id or status"),
        ({"id": "1"}, "without id or status"),
        ({"id": 1, "status": "failed"}, "id is a int"),
        ({"id": "1", "status": "succeeded", "billing": ["2.4"]}, "billing[] holds a non-object"),
        ({"id": "1", "status": "succeeded", "outputs": {}}, "outputs is a dict"),
    ],
)
def test_a_malformed_new_record_is_an_unknown_outcome(record: dict[str, Any], complaint: str) -> None:
    with pytest.raises(OutcomeUnknown, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        UpstreamTask.from_new_json(record)


def test_a_legacy_cash_deduction_is_read_too() -> None:
    deduction = {"quota": "0.3", "list_price": "0.4"}
    assert UpstreamTask.from_json(TASK | {"final_balance_deduction": deduction}).final_balance_deduction == deduction
    assert UpstreamTask.from_json(TASK).final_balance_deduction is None


async def test_batched_queries_name_one_to_twenty_ids_and_the_new_generation_needs_an_api_key() -> None:
    kling = answering(200, b'{"code": 0, "data": []}')
    keyed = ChannelCredentials("http://kling.invalid", api_key="kling_key")
    for ids in ([], [str(n) for n in range(21)]):
        with pytest.raises(ValueError, match="1 to 20 ids"):
            await kling.tasks_by_ids(keyed, ids)
    with pytest.raises(ValueError, match="no comma"):
        await kling.tasks_by_external_ids(keyed, ["a,b"])
    with pytest.raises(ChannelMisconfigured, match="no API key"):
        await kling.tasks_by_ids(FAKE, ["1"])
    assert kling.requests_sent == 0
    assert await kling.tasks_by_ids(keyed, [str(n) for n in range(20)]) == []


def test_a_channel_needs_an_api_key_or_a_whole_key_pair() -> None:
    with pytest.raises(ValueError, match="needs an API key"):
        ChannelCredentials("http://kling.invalid")
    with pytest.raises(ValueError, match="come together"):
        ChannelCredentials("http://kling.invalid", "ak", None, "key")
    keyed = ChannelCredentials("http://kling.invalid", api_key="kling_secret")
    assert (keyed.pair, keyed.callback_secret) == (None, "kling_secret")
    assert "kling_secret" not in repr(keyed)
    assert FAKE.callback_secret == FAKE.secret_key


async def test_a_garbled_record_in_a_batched_answer_leaves_the_others_readable() -> None:
    good = {"id": "7", "status": "processing", "create_time": 1, "update_time": 2, "external_id": "video_1"}
    body = orjson.dumps({"code": 0, "data": [{"id": 1, "status": "failed"}, good]})
    kling = answering(200, body)
    [read] = await kling.tasks_by_ids(ChannelCredentials("http://kling.invalid", api_key="kling_key"), ["1", "7"])
    assert (read.task_id, read.task_status) == ("7", "processing")
