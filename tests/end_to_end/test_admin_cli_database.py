"""Which database a command uses, and what it says when it cannot use it: one line, a non-zero exit, nothing made."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from kling_gateway.cli import app
from kling_gateway.settings import get_settings
from kling_gateway.store.migrate import head_revision

runner = CliRunner()
UNREACHABLE = "postgresql+asyncpg://gateway:hunter2@127.0.0.1:1/gateway"  # nothing listens on port 1
READING = (["users", "list"], ["channels", "list"], ["tasks", "list"], ["keys", "list"], ["callbacks", "list"])


def command(*arguments: str) -> Result:
    """Run a command of the command line in-process."""
    return runner.invoke(app, list(arguments))


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def refused_in_one_line(result: Result, exit_code: int = 1) -> str:
    """Check that a command did nothing but say why in one line on stderr (after the line naming its database)."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    said = [line for line in lines(result.stderr) if not line.startswith("database: ")]
    assert len(said) == 1, result.stderr
    return said[0]


def test_a_command_says_which_database_it_reads(database_url: str) -> None:
    result = command("users", "list", "--json", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert lines(result.stderr) == [f"database: {database_url}"]
    assert result.stdout.strip() == '{"users": []}'  # --json output stays one document on stdout


@pytest.mark.parametrize("arguments", READING)
def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path, arguments: list[str]) -> None:
    missing = tmp_path / "elsewhere" / "gateway.db"
    result = command(*arguments, "--database-url", f"sqlite+aiosqlite:///{missing}")
    said = refused_in_one_line(result)
    assert said == f"no database at {missing}; run `kling-gateway migrate` first, or pass --database-url"
    assert not missing.parent.exists()


def test_the_default_database_is_refused_when_missing_and_named_with_its_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default data dir is data/ under the current folder
    result = command("users", "show", "alice")
    assert lines(result.stderr)[0] == f"database: sqlite+aiosqlite:///{tmp_path / 'data' / 'gateway.db'}"
    assert "no database at" in refused_in_one_line(result)
    assert list(tmp_path.iterdir()) == []


def tables_of(url: str) -> list[str]:
    """List the tables of a database, read past the gateway."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///")) as connection:
            return [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    async def read() -> list[str]:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return [row["tablename"] for row in rows]
        finally:
            await connection.close()

    return asyncio.run(read())


@pytest.mark.both_backends
def test_an_unmigrated_database_is_refused_and_left_empty_until_migrate(empty_database_url: str) -> None:
    for arguments in (*READING, ["users", "create", "alice"], ["worker"]):
        said = refused_in_one_line(command(*arguments, "--database-url", empty_database_url))
        assert said.startswith("no gateway database at ")
        assert said.endswith("(it has no schema); run `kling-gateway migrate` first, or pass --database-url")
    assert tables_of(empty_database_url) == []

    migrated = command("migrate", "--database-url", empty_database_url)
    assert migrated.exit_code == 0, migrated.output
    assert f"database at migration {head_revision()}" in migrated.stdout
    assert command("users", "create", "alice", "--database-url", empty_database_url).exit_code == 0


def test_migrate_makes_a_sqlite_database_where_there_was_none(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new' / 'gateway.db'}"
    assert command("migrate", "--database-url", url).exit_code == 0
    listed = command("users", "list", "--json", "--database-url", url)
    assert (listed.exit_code, listed.stdout.strip()) == (0, '{"users": []}')


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["users", "list"], "cannot open the database postgresql+asyncpg://gateway:***@127.0.0.1:1/gateway: "),
        (["tasks", "show", "video_x"], "cannot open the database postgresql+asyncpg://gateway:***@127.0.0.1:1/"),
        (["serve"], "cannot open the database postgresql+asyncpg://gateway:***@127.0.0.1:1/gateway: "),
        (["worker"], "cannot open the database postgresql+asyncpg://gateway:***@127.0.0.1:1/gateway: "),
        (["migrate"], "cannot open the database postgresql+asyncpg://gateway:***@127.0.0.1:1/gateway: "),
    ],
)
def test_an_unreachable_server_is_one_line_for_every_command(arguments: list[str], complaint: str) -> None:
    said = refused_in_one_line(command(*arguments, "--database-url", UNREACHABLE))
    assert said.startswith(complaint)
    assert "hunter2" not in said


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("nonsense", "--database-url: 'nonsense' is not a database URL; use sqlite+aiosqlite:///PATH or "),
        ("postgresql://u@h/db", "--database-url: postgresql databases are not supported; use sqlite+aiosqlite"),
        ("mysql+aiomysql://u@h/db", "--database-url: mysql+aiomysql databases are not supported; use "),
    ],
)
@pytest.mark.parametrize("arguments", [["users", "list"], ["serve"], ["worker"], ["migrate"]])
def test_a_url_the_gateway_cannot_speak_is_one_line(arguments: list[str], url: str, complaint: str) -> None:
    assert refused_in_one_line(command(*arguments, "--database-url", url)).startswith(complaint)


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Read the settings anew in this test, and again after it (they are loaded once per process)."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("fresh_settings")
@pytest.mark.parametrize("arguments", [["users", "list"], ["serve"], ["worker"], ["sandbox"], ["migrate"]])
def test_each_bad_setting_is_one_line_naming_it_and_what_it_allows(
    monkeypatch: pytest.MonkeyPatch, arguments: list[str]
) -> None:
    monkeypatch.setenv("KLING_GATEWAY_LOG_LEVEL", "loud")
    monkeypatch.setenv("KLING_GATEWAY_SYNC__POLL_INTERVAL_S", "-1")
    monkeypatch.setenv("KLING_GATEWAY_SANDBOX__ACCOUNTS", '[{"access_key": "AK"}]')
    result = command(*arguments)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert sorted(lines(result.stderr)) == [
        "bad setting KLING_GATEWAY_LOG_LEVEL: Input should be 'critical', 'error', 'warning', 'info' or 'debug'",
        "bad setting KLING_GATEWAY_SANDBOX__ACCOUNTS (at 0.secret_key): Field required",
        "bad setting KLING_GATEWAY_SYNC__POLL_INTERVAL_S: Input should be greater than 0",
    ]


@pytest.mark.usefixtures("fresh_settings")
def test_a_setting_that_is_not_json_where_json_is_expected_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_GATEWAY_BILLING__CURRENCY_MICROS", "{not json")
    result = command("serve")
    assert result.exit_code == 2, result.output
    [said] = lines(result.stderr)
    assert said.startswith('bad setting: error parsing value for field "billing"')
    assert said.endswith("lists and nested objects are given as JSON")


def test_version_names_the_installed_release() -> None:
    result = command("--version")
    assert (result.exit_code, result.stdout) == (0, f"kling-gateway {version('kling-gateway')}\n")
