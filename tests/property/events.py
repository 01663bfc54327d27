"""What happens to tasks (reports, timeouts, crashes, races), a model of where each must end, and a player.

The player applies events through `transitions.advance` and `transitions.fail` on a real database and, after
each, checks the rows and the ledger against the billing rules and the model.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.store.database import Database
from kling_gateway.store.records import Task, TaskStatus
from kling_gateway.tasks import effects, repository, transitions
from tests.property.billing_state import (
    RANK,
    Account,
    Snapshot,
    StoredTask,
    TaskPlan,
    check_billing,
    expected_charge,
    read_task,
    report,
    snapshot,
)

CALLBACK_GIVE_UP_S = 86_400.0  # how long a move's client callback is retried (none of these tasks has one)
KNOWN = {status.value: status for status in TaskStatus if status is not TaskStatus.QUEUED}

# --- events -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """The upstream tells a task's status: in a callback, which reads the task in its own transaction, or in the
    answer to a poll, which writes from the row its worker listed `listed_ago` events earlier."""

    task: int
    status: str
    deduction: str | None
    listed_ago: int | None = None  # None for a callback


@dataclass(frozen=True)
class Timeout:
    """The gateway gives up on a task it sees unfinished and fails it."""

    task: int


Step = Report | Timeout


@dataclass(frozen=True)
class Replay:
    """An earlier report arrives again: a repeated callback, or a poll answer overtaken by newer news."""

    back: int


@dataclass(frozen=True)
class Crash:
    """A step writes, then its transaction dies before the commit."""

    step: Step


@dataclass(frozen=True)
class Race:
    """Two writers move one task from the same read: at the same moment (PostgreSQL), or one after the other."""

    first: Step
    second: Step
    at_once: bool


Event = Report | Timeout | Replay | Crash | Race


# --- the model ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """Where a task must be: its status, and once it is final what it was charged (and, if it succeeded, for what)."""

    status: TaskStatus
    charge_micros: int | None = None
    deduction: str | None = None


def predict(now: Expected, step: Step, seen: TaskStatus, task: StoredTask) -> Expected | None:
    """Say where a step takes a task now at `now`, its writer having read it at `seen`; None if it stays put.

    A report is weighed against the task as it is when written (a lost write reads again); a timeout is one
    conditional write from what its writer saw.
    """
    if isinstance(step, Timeout):
        return Expected(TaskStatus.FAILED, 0) if now.status is seen and not seen.is_final else None
    new = KNOWN.get(step.status)
    if new is None or now.status.is_final or RANK[new] <= RANK[now.status]:
        return None
    if new is TaskStatus.SUCCEED:
        return Expected(new, expected_charge(step.deduction, task.rate_micros), step.deduction)
    return Expected(new, 0) if new is TaskStatus.FAILED else Expected(new)


def matches(expected: Expected, row: dict[str, object]) -> bool:
    """Tell whether a task's row is where the model says it must be."""
    if row["status"] != expected.status.value:
        return False
    if expected.status is TaskStatus.SUCCEED and row["final_unit_deduction"] != expected.deduction:
        return False
    return row["charge_micros"] == expected.charge_micros


# --- playing the events -------------------------------------------------------------------------------------------


class Crashed(Exception):
    """The transaction of a step died after its writes."""


class Play:
    """Apply events to one user's tasks, checking the database after each against the rules and the model."""

    def __init__(self, db: Database, account: Account, plans: list[TaskPlan], *, concurrent: bool) -> None:
        self.db = db
        self.account = account
        self.concurrent = concurrent  # whether writers may really run at once (not on SQLite: one writer at a time)
        self.expected = [Expected(plan.status) for plan in plans]
        self.sent: list[Report] = []
        self.clock = 10_000
        self.listings: list[list[Task]] = []  # the rows as a worker would have listed them before each event

    async def event(self, event: Event, before: Snapshot) -> None:
        self.listings.append([await read_task(self.db, task) for task in self.account.tasks])
        if isinstance(event, Replay):
            if self.sent:
                await self.step(self.sent[-1 - event.back % len(self.sent)])
        elif isinstance(event, Crash):
            await self.crash(event.step, before)
        elif isinstance(event, Race):
            await self.race(event)
        else:
            await self.step(event)

    def task(self, step: Step) -> tuple[int, StoredTask]:
        index = step.task % len(self.account.tasks)
        return index, self.account.tasks[index]

    def tick(self) -> int:
        self.clock += 10
        return self.clock

    async def write(self, step: Step, row: Task, *, crash: bool = False) -> bool:
        """Apply a step from a row read earlier, in a transaction of its own."""
        async with self.db.session() as session, session.begin():
            moved = await self.apply(session, step, row)
            if crash:
                raise Crashed
        return moved

    async def apply(self, session: AsyncSession, step: Step, row: Task) -> bool:
        """Move the task as the gateway's units of work do: the transition, then its effects, in one transaction."""
        stamp = self.tick()
        if isinstance(step, Timeout):
            move = await transitions.fail(session, row.polled, "no result from the upstream in time", now_ms=stamp)
        else:
            _, task = self.task(step)
            news = report(task, step.status, deduction=step.deduction, stamp=stamp)
            move = await transitions.advance(session, row.polled, news, now_ms=stamp, next_sync_at=stamp + 5_000)
        await effects.record(session, move, callback_give_up_s=CALLBACK_GIVE_UP_S)
        return move is not None

    async def step(self, step: Step) -> None:
        """One writer alone: the task must end exactly where the model says."""
        index, task = self.task(step)
        if isinstance(step, Timeout):
            row = await read_task(self.db, task)
            if TaskStatus(row.status).is_final:
                return  # the gateway only times out the tasks it sees unfinished
            moved = await self.write(step, row)
        elif step.listed_ago is None:
            self.sent.append(step)
            row, moved = await self.callback(step, task)
        else:
            self.sent.append(step)
            row = await self.listed(index, step.listed_ago)
            moved = await self.write(step, row)
        after = predict(self.expected[index], step, TaskStatus(row.status), task)
        assert moved == (after is not None), f"{step} on a task {self.expected[index].status}: moved={moved}"
        if after is not None:
            self.expected[index] = after

    async def callback(self, step: Report, task: StoredTask) -> tuple[Task, bool]:
        """Read the task and apply the report in one transaction, as the callback receiver does."""
        async with self.db.session() as session, session.begin():
            row = await repository.find_by_platform_id(session, task.platform_id)
            assert row is not None
            return row, await self.apply(session, step, row)

    async def listed(self, index: int, ago: int) -> Task:
        """Give a task's row as a worker listed it `ago` events before this one (now, before any event)."""
        if not self.listings:
            return await read_task(self.db, self.account.tasks[index])
        return self.listings[max(0, len(self.listings) - 1 - ago)][index]

    async def crash(self, step: Step, before: Snapshot) -> None:
        """A step whose transaction dies after its writes leaves no trace."""
        _, task = self.task(step)
        row = await read_task(self.db, task)
        if isinstance(step, Timeout) and TaskStatus(row.status).is_final:
            return
        with pytest.raises(Crashed):
            await self.write(step, row, crash=True)
        assert await snapshot(self.db, self.account.user_id) == before, f"{step} left writes behind when it crashed"

    async def race(self, race: Race) -> None:
        """Two writers read the task in the same state; the outcome is one of the two orders they could commit in."""
        index, task = self.task(race.first)
        stale = await read_task(self.db, task)
        seen = TaskStatus(stale.status)
        for step in (race.first, race.second):
            if isinstance(step, Report):
                self.sent.append(step)
        if seen.is_final and Timeout(race.first.task) in (race.first, race.second):
            return  # neither writer would time out a task it sees finished
        if race.at_once and self.concurrent:
            both_read = asyncio.Barrier(2)
            moved = tuple(
                await asyncio.gather(
                    self._at_once(race.first, task, both_read), self._at_once(race.second, task, both_read)
                )
            )
            orders = [(race.first, race.second, False), (race.second, race.first, True)]
        else:
            first_moved = await self.write(race.first, await read_task(self.db, task))
            moved = (first_moved, await self.write(race.second, stale))
            orders = [(race.first, race.second, False)]
        row = (await snapshot(self.db, self.account.user_id)).tasks[task.id]
        outcomes = [self._in_order(self.expected[index], a, b, seen, task, swapped) for a, b, swapped in orders]
        fitting = [end for end, flags in outcomes if flags == moved and matches(end, row)]
        assert fitting, f"{race} from {seen}: moved={moved}, row {row['status']}/{row['charge_micros']}; {outcomes}"
        self.expected[index] = fitting[0]

    def _in_order(
        self, now: Expected, a: Step, b: Step, seen: TaskStatus, task: StoredTask, swapped: bool
    ) -> tuple[Expected, tuple[bool, bool]]:
        after_a = predict(now, a, seen, task)
        middle = after_a or now
        after_b = predict(middle, b, seen, task)
        flags = (after_a is not None, after_b is not None)
        return after_b or middle, (flags[::-1] if swapped else flags)

    async def _at_once(self, step: Step, task: StoredTask, both_read: asyncio.Barrier) -> bool:
        """Read the task in a transaction, wait until the other writer has read it too, then write."""
        async with self.db.session() as session, session.begin():
            row = await repository.find_by_platform_id(session, task.platform_id)
            assert row is not None
            await both_read.wait()
            return await self.apply(session, step, row)

    async def check(self, before: Snapshot | None) -> Snapshot:
        now = await snapshot(self.db, self.account.user_id)
        check_billing(self.account, now, before)
        for stored, expected in zip(self.account.tasks, self.expected, strict=True):
            row = now.tasks[stored.id]
            assert matches(expected, row), f"{stored.platform_id}: expected {expected}, found {row}"
        return now
