"""Secrets never leak: not into logs, listings, error bodies or reprs; and no secret is compared with `==`."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from kling_gateway.api import create_app
from kling_gateway.channels.selection import all_channels
from kling_gateway.cli import app
from kling_gateway.keys.service import signing_key_for
from kling_gateway.serving import BackgroundServer
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.upstream.callbacks import callback_url
from tests.conftest import RunningSandbox
from tests.gateway import GatewayFactory, free_port
from tests.helpers import sign_jwt, wait_for, wait_until
from tests.inprocess import Network

WHSEC = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
SPARE_WHSEC = "whsec_c3BhcmVzcGFyZXNwYXJlc3BhcmVzcGFyZXNwYXJlMTI="
SPARE_SECRET_KEY = "spare-channel-secret-key-0123456789"
DATABASE_PASSWORD = "database-password-0123456789"
T2V = "/kling/v1/videos/text2video"
SQLITE_DRIVER = "aiosqlite"
SOURCE = Path(__file__).resolve().parents[2] / "src" / "kling_gateway"
runner = CliRunner()


def admin(url: str, *arguments: str, exit_code: int = 0) -> Result:
    result = runner.invoke(app, [*arguments, "--database-url", url])
    assert result.exit_code == exit_code, result.output
    return result


@dataclass(frozen=True)
class Pair:
    """An access key and a secret key to sign tokens with."""

    access_key: str
    secret_key: str


def loaded(url: str, access_key: str) -> tuple[list[Any], Any]:
    """The channels and the signing key as the gateway holds them in memory."""

    async def load() -> tuple[list[Any], Any]:
        db = Database(url)
        try:
            async with db.session() as session:
                channels = await all_channels(session)
            async with db.read() as connection:
                return channels, await signing_key_for(connection, access_key)
        finally:
            await db.dispose()

    return asyncio.run(load())


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every logger at debug, the most it can be told to say."""
    caplog.set_level(logging.DEBUG)
    return caplog


def logged(caplog: pytest.LogCaptureFixture, *, sqlite_driver: bool) -> str:
    """The captured log lines, with or without those of the SQLite driver, which logs every query's parameters."""
    return "\n".join(
        record.getMessage() for record in caplog.records if (record.name == SQLITE_DRIVER) == sqlite_driver
    )


def test_no_secret_reaches_a_log_a_listing_an_error_or_a_repr(
    gateway_factory: GatewayFactory, debug_logs: pytest.LogCaptureFixture
) -> None:
    """Keys, channels and tasks made and used the way an operator and a client do leave no secret behind them."""
    gw = gateway_factory(callbacks=True, sandbox={"webhook_secret": WHSEC})
    url = gw.admin.database_url
    admin(url, "channels", "update", "sandbox-1", "--webhook-secret", WHSEC)
    spare = ["--base-url", gw.sandbox.url, "--access-key", gw.sandbox.config.accounts[1].access_key]
    admin(url, "channels", "add", "spare", *spare, "--secret-key", SPARE_SECRET_KEY, "--webhook-secret", SPARE_WHSEC)
    admin(url, "channels", "disable", "spare")
    admin(url, "users", "create", "carol", "--balance", "100")
    issued = json.loads(admin(url, "keys", "create", "--user", "carol", "--json").stdout)
    secrets = {
        "bearer key": issued["secret"],
        "key secret_key": issued["secret_key"],
        "channel secret_key": gw.sandbox.account.secret_key,
        "spare channel secret_key": SPARE_SECRET_KEY,
        "webhook secret": WHSEC,
        "webhook secret key": WHSEC.removeprefix("whsec_"),
        "spare webhook secret": SPARE_WHSEC,
    }

    shown: dict[str, str] = {}
    bearer = {"Authorization": f"Bearer {issued['secret']}"}
    signed = {"Authorization": f"Bearer {sign_jwt(Pair(issued['access_key'], issued['secret_key']))}"}
    wrongly_signed = Pair(issued["access_key"], "not-the-secret-key-of-this-access-key")
    with gw.http() as client:
        for headers in (bearer, signed):
            task = client.post(T2V, json={"prompt": "a fox"}, headers=headers).json()["data"]
            with gw.http(headers) as carol:
                assert wait_until(carol, f"{T2V}/{task['platform_id']}")["task_status"] == "succeed"
        forged = client.get(T2V, headers={"Authorization": f"Bearer {sign_jwt(wrongly_signed)}"})
        assert forged.status_code == 401, forged.text
        shown["refused JWT"] = forged.text
        for dialect in ("kling", "task", "video"):
            unknown = client.get(T2V, headers={"Authorization": "Bearer sk-unknown", "X-Response-Format": dialect})
            shown[f"unknown key {dialect}"] = unknown.text
        admin(url, "keys", "revoke", str(issued["key"]["id"]))
        revoked = client.get(T2V, headers=bearer)
        shown["revoked key"] = revoked.text
    for command in (["keys", "list"], ["channels", "list"]):
        shown[" ".join(command)] = admin(url, *command).output
        shown[" ".join(command) + " --json"] = admin(url, *command, "--json").output
    shown["refused channel update"] = admin(
        url, "channels", "update", "spare", "--webhook-secret", "x", exit_code=1
    ).output
    channels, signing_key = loaded(url, issued["access_key"])
    shown["ChannelChoice"] = repr(channels)
    shown["ChannelCredentials"] = repr([channel.credentials for channel in channels])
    shown["SigningKey"] = repr(signing_key)
    assert gw.runtime is not None
    shown["runtime settings (gateway)"] = repr(gw.runtime.settings.sync) + repr(gw.runtime.settings.public_url)
    shown["logs at debug"] = logged(debug_logs, sqlite_driver=False)
    assert debug_logs.records, "the gateway logged nothing at debug: the check would prove nothing"
    assert {c.name for c in channels} == {"sandbox-1", "spare"}

    for where, text in shown.items():
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} shows in {where}"


class Lines(logging.Handler):
    """Keep the lines a logger writes."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_access_log_names_the_task_of_an_upstream_callback_but_not_its_token(tmp_path: Path) -> None:
    """The token proves a callback comes from the task's channel: a reader of the logs must not learn it."""
    platform_id = "video_01JGHS0000000000000000000A"
    url = callback_url("http://gateway", "channel-secret-key", platform_id)
    token = url.rsplit("/", 1)[1]
    gateway = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"), run_worker=False)
    access = Lines()
    with BackgroundServer(gateway, log_level="info", access_log=True) as server:
        logging.getLogger("uvicorn.access").addHandler(access)  # once uvicorn has set its loggers up
        try:
            answer = httpx.post(url.replace("http://gateway", server.url), json={"task_status": "succeed"})
        finally:
            logging.getLogger("uvicorn.access").removeHandler(access)
    assert answer.status_code == 401, answer.text
    [line] = access.lines
    assert f"POST /upstream/callbacks/{platform_id}/[redacted] HTTP/1.1" in line
    assert token not in line


def test_the_sandbox_names_only_the_host_of_a_callback_it_could_not_deliver(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    token = "0123456789abcdef0123456789abcdef"
    callback = f"http://127.0.0.1:{free_port()}/upstream/callbacks/video_01JGHS0000000000000000000A/{token}"
    with caplog.at_level(logging.WARNING, logger="kling_gateway.sandbox"), sandbox.client() as client:
        assert client.post("/v1/videos/text2video", json={"prompt": "a fox", "callback_url": callback}).is_success
        wait_for(lambda: any("failed" in record.getMessage() for record in caplog.records), "a failed callback")
    assert token not in caplog.text
    assert "127.0.0.1:" in caplog.text


def test_a_store_outage_shows_no_database_password_or_address(
    network: Network, debug_logs: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there: the database refuses every connection
    settings = Settings(database_url=f"postgresql+asyncpg://gateway:{DATABASE_PASSWORD}@127.0.0.1:{port}/gone")
    app = create_app(settings, run_worker=False)
    url = network.add(app, "gateway")
    try:
        with network.client(base_url=url, headers={"Authorization": "Bearer sk-anything"}) as client:
            answers = [client.get(f"{T2V}/video_01ABC"), client.post(T2V, json={"prompt": "a fox"})]
    finally:
        network.remove(url)
        network.loop.run(app.state.runtime.db.dispose())
    assert [answer.status_code for answer in answers] == [503, 503]
    logs = logged(debug_logs, sqlite_driver=False)
    assert "the store is unavailable: the database could not be connected to" in logs  # the operator sees why
    for answer in answers:
        assert DATABASE_PASSWORD not in answer.text
        assert str(port) not in answer.text  # where the database is stays in the log
    assert DATABASE_PASSWORD not in logs


def test_the_sqlite_driver_logs_no_secret_at_debug(tmp_path: Path, debug_logs: pytest.LogCaptureFixture) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    admin(url, "migrate")
    admin(url, "users", "create", "carol")
    issued = json.loads(admin(url, "keys", "create", "--user", "carol", "--json").stdout)
    assert issued["secret_key"] not in logged(debug_logs, sqlite_driver=True)


def test_settings_repr_shows_no_secret() -> None:
    settings = Settings(database_url="postgresql+asyncpg://gateway:hunter2@db.internal/gateway")
    account = settings.sandbox.accounts[0]
    text = repr(settings) + str(settings)
    for secret in (account.secret_key, account.api_key or "", "hunter2"):
        assert secret not in text


SECRET_WORDS = ("secret", "token", "signature", "digest", "password", "key_hash")


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        # A SQLAlchemy column (`TABLE.c.key_hash == ...`) is an indexed lookup in the database, not a comparison here.
        inner = node.value
        if isinstance(inner, ast.Attribute) and inner.attr == "c":
            return None
        return node.attr
    return None


def _compares_a_secret(node: ast.Compare) -> bool:
    if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
        return False
    operands = [node.left, *node.comparators]
    if any(isinstance(operand, ast.Constant) for operand in operands):
        return False  # against a literal, e.g. `scheme != "Bearer"`: nothing secret is guessed byte by byte
    for operand in operands:
        name = _name_of(operand)
        if name is None or not any(word in name.lower() for word in SECRET_WORDS):
            continue
        others = [other for other in operands if other is not operand]
        # `token != token.strip()` checks a value's own form; it compares the value with nothing secret.
        if not all(name in {n.id for n in ast.walk(other) if isinstance(n, ast.Name)} for other in others):
            return True
    return False


def _secret_comparisons(source: Path) -> list[str]:
    found = []
    for path in sorted(source.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Compare) and _compares_a_secret(node):
                found.append(f"{path.relative_to(source)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_secret_is_compared_with_equals() -> None:
    """Secrets are compared in constant time (hmac.compare_digest, PyJWT) or looked up by their hash."""
    assert _secret_comparisons(SOURCE) == []


def test_the_equals_check_finds_a_plain_comparison(tmp_path: Path) -> None:
    (tmp_path / "leaky.py").write_text(
        "def ok(token, expected_token, key, row):\n"
        "    a = token == expected_token\n"
        "    b = row.c.key_hash == key\n"
        "    c = token != 'Bearer' or token != token.strip()\n"
        "    return key.secret_key != row.secret\n"
    )
    assert _secret_comparisons(tmp_path) == [
        "leaky.py:2: token == expected_token",
        "leaky.py:5: key.secret_key != row.secret",
    ]
