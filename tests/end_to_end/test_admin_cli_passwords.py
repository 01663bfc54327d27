"""`users set-password` as an operator runs it: the password a user signs in to the portal with, its refusals,
and what signing in then checks."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from kling_gateway.cli import app
from kling_gateway.store.database import Database
from kling_gateway.store.models import AUDIT_LOG
from kling_gateway.users import service as users_service
from tests.databases import run

runner = CliRunner()
GOOD = "correct horse battery"


def signs_in(url: str, name: str, password: str) -> bool:
    return run(_signs_in(url, name, password))


async def _signs_in(url: str, name: str, password: str) -> bool:
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            return await users_service.check_password(session, name=name, password=password) is not None
    finally:
        await db.dispose()


def audited(url: str) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        db = Database(url)
        try:
            async with db.session() as session:
                rows = await session.execute(select(AUDIT_LOG.c.actor, AUDIT_LOG.c.action, AUDIT_LOG.c.target))
                return [(actor, action, target) for actor, action, target in rows.all()]
        finally:
            await db.dispose()

    return run(read())


def test_a_password_is_set_from_stdin_reset_and_refused_when_short_or_for_nobody(database_url: str) -> None:
    url = ["--database-url", database_url]
    assert runner.invoke(app, ["users", "create", "alice", *url]).exit_code == 0
    assert not signs_in(database_url, "alice", GOOD)  # no password yet: nobody signs in as alice

    done = runner.invoke(app, ["users", "set-password", "alice", "--password-stdin", "--json", *url], input=GOOD + "\n")
    assert done.exit_code == 0, done.output
    first = json.loads(done.stdout)["password_set_at"]
    assert signs_in(database_url, "alice", GOOD)

    for name, password, said in (
        ("alice", "short one", "the password is 9 characters long; use at least 10"),
        ("alice", "", "the password is 0 characters long; use at least 10"),
        ("bob", GOOD, "there is no user named 'bob'"),
    ):
        refused = runner.invoke(app, ["users", "set-password", name, "--password-stdin", *url], input=password + "\n")
        assert (refused.exit_code, said in refused.stderr) == (1, True), refused.output

    unsafe = runner.invoke(app, ["users", "set-password", "alice", *url], input="another long one\n")
    assert (unsafe.exit_code, "give --password-stdin" in unsafe.stderr) == (1, True)
    again = runner.invoke(app, ["users", "set-password", "alice", "--password-stdin", *url], input="another long one\n")
    assert again.exit_code == 0, again.output
    assert "older sessions have ended" in again.stdout
    assert not signs_in(database_url, "alice", GOOD)
    assert signs_in(database_url, "alice", "another long one")
    shown = json.loads(runner.invoke(app, ["users", "show", "alice", "--json", *url]).stdout)
    assert shown["user"]["portal_password"] is True
    assert first is not None
    assert audited(database_url) == [("cli", "user.set_password", "alice")] * 2  # the refusals left no trace
