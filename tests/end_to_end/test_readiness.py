"""`/livez`, `/readyz` and `kling-gateway status` tell the truth: a database gone, a worker silent or no usable
channel is named, with the reason, and readiness comes back with what it needs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from kling_gateway.cli import app
from kling_gateway.store.migrate import head_revision
from tests.databases import POSTGRES_DSN, run
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import create, wait_for
from tests.integration.test_worker_outage import GONE, swap_for_a_directory

T2V = "/kling/v1/videos/text2video"
runner = CliRunner()


def readiness(client: httpx.Client) -> tuple[int, dict[str, Any]]:
    """Ask /readyz; return its status and its checks by name."""
    answer = client.get("/readyz")
    body = answer.json()
    assert body["ready"] is (answer.status_code == 200)
    return answer.status_code, {check["name"]: check for check in body["checks"]} | {"failing": body["failing"]}


def until_ready(client: httpx.Client) -> dict[str, Any]:
    """Wait for the worker's first heartbeat, then return the checks."""
    wait_for(lambda: readiness(client)[0] == 200, lambda: f"readiness: {readiness(client)[1]}", every_s=0.02)
    return readiness(client)[1]


@contextmanager
def database_away(database_url: str) -> Iterator[None]:
    """Take the database away, then give it back: a SQLite file replaced by a directory; a PostgreSQL database
    that takes no new connections, its open ones killed."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        swap_for_a_directory(path)
        try:
            yield
        finally:
            swap_for_a_directory(path)
        return
    name = str(url.database)

    async def allow(allowed: bool) -> None:
        admin = await asyncpg.connect(POSTGRES_DSN)
        try:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
            if not allowed:
                await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        finally:
            await admin.close()

    run(allow(False))
    try:
        yield
    finally:
        run(allow(True))


@pytest.mark.both_backends
def test_readiness_names_a_database_gone_and_comes_back_with_it(
    gateway: RunningGateway, database_url: str, backend: str
) -> None:
    with gateway.http() as operator:
        checks = until_ready(operator)
        assert checks["migrations"]["detail"].startswith(f"at {head_revision()}")
        assert "sandbox-1" in checks["channels"]["detail"]
        with database_away(database_url):
            status, checks = readiness(operator)
            assert status == 503
            assert checks["failing"] == ["database"]
            assert GONE[backend] in checks["database"]["detail"]
            assert checks["worker"]["outcome"] == "skip"
            assert operator.get("/livez").status_code == 200  # the process still answers
            assert operator.get("/healthz").status_code == 200
            scraped = operator.get("/metrics")  # still answers, saying which check fails
            assert scraped.status_code == 200
            assert 'kling_gateway_ready_check{check="database"} 0.0' in scraped.text
        status, checks = readiness(operator)
    assert status == 200, checks


def test_readiness_names_a_missing_worker(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(worker=False)
    with gw.http() as operator:
        status, checks = readiness(operator)
    assert status == 503
    assert checks["failing"] == ["worker"]
    assert "kling-gateway worker" in checks["worker"]["detail"]


def test_readiness_names_the_lack_of_a_usable_channel(gateway: RunningGateway) -> None:
    with gateway.http() as operator:
        until_ready(operator)
        gateway.admin.enable_channel("sandbox-1", False)
        status, checks = readiness(operator)
    assert status == 503
    assert checks["failing"] == ["channels"]
    assert "every upstream channel is disabled" in checks["channels"]["detail"]


def test_status_prints_the_checks_and_each_channels_load(gateway_factory: GatewayFactory, database_url: str) -> None:
    gw = gateway_factory(sandbox={"speed": 0.001})  # the task stays in flight
    with gw.client() as client, gw.http() as operator:
        create(client, T2V, {"prompt": "a slow fox"})
        until_ready(operator)
    done = runner.invoke(app, ["status", "--json", "--database-url", database_url])
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["ready"] is True
    assert [check["name"] for check in document["checks"]] == ["database", "migrations", "worker", "channels"]
    (channel,) = document["channels"]
    assert (channel["name"], channel["enabled"], channel["misconfigured"]) == ("sandbox-1", True, None)
    assert channel["in_flight"]["video"] == 1
    assert channel["limits"]["video"] == 10_000
    assert document["workers"][0]["rounds"] >= 1
    text = runner.invoke(app, ["status", "--database-url", database_url])
    assert text.exit_code == 0, text.output
    assert "ready" in text.stdout
    assert "sandbox-1" in text.stdout


def test_status_refuses_what_is_no_database_url_in_one_line() -> None:
    done = runner.invoke(app, ["status", "--database-url", "mysql://somewhere/db"])
    assert done.exit_code == 2
    assert "not a database URL the gateway can use" in done.output
    assert "Traceback" not in done.output


def test_status_of_a_missing_database_fails_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    done = runner.invoke(app, ["status", "--json", "--database-url", f"sqlite+aiosqlite:///{path}"])
    assert done.exit_code == 1
    document = json.loads(done.stdout)
    assert document["failing"] == ["database"]
    assert "unable to open database file" in document["checks"][0]["detail"]
    assert not path.exists()
