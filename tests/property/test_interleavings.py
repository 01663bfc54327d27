"""Any interleaving of polls, callbacks, timeouts, crashes and racing writers bills every task exactly once.

Each example opens a user with a balance and up to four tasks stored as a submit stores them, then plays a drawn
list of events through `transitions.advance` and `transitions.fail` on a real database. After every event the
rows and the ledger are checked against the billing rules and against a model of where each task must be.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kling_gateway.store.database import Database
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks import effects, repository, transitions
from kling_gateway.tasks.states import may_move, upstream_status
from tests.databases import run
from tests.property.billing_state import (
    RANK,
    TaskPlan,
    expected_charge,
    open_account,
    read_task,
    report,
    snapshot,
)
from tests.property.events import CALLBACK_GIVE_UP_S, KNOWN, Crash, Event, Play, Race, Replay, Report, Step, Timeout

pytestmark = pytest.mark.both_backends  # transitions and the ledger on a real store: the store matters

# `succeed` twice: it is the move with the most billing to get wrong. The last two are not upstream statuses.
REPORTED = ("submitted", "processing", "succeed", "succeed", "failed", "queued", "SUCCEED")
SQLITE_EXAMPLES = 50
POSTGRES_EXAMPLES = 40


@dataclass(frozen=True)
class World:
    """How much money the user has, the tasks they start with, and what happens to them."""

    spare_micros: int
    plans: list[TaskPlan]
    events: list[Event]


task_indexes = st.integers(min_value=0, max_value=3)
listed_ago = st.one_of(st.none(), st.integers(min_value=0, max_value=4))  # a callback, or a poll listed n events ago
deductions = st.one_of(
    st.none(),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(100), places=3).map(str),
    st.sampled_from(
        [
            *("0.5", "2.5", "0.0005", "1.0000005"),  # ties, rounded half up
            *("0", "-3", "-0.5", "1e-30", "1e2", " 5 "),
            *("", "abc", "5 credits", "NaN", "sNaN", "Infinity", "-Infinity"),
        ]
    ),
    # Any text an upstream's JSON can carry: no lone surrogate, which the client's JSON decoder refuses (and which
    # PostgreSQL could not store); NUL is tried on its own, below.
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8),
)


def reports(task: int) -> st.SearchStrategy[Report]:
    return st.builds(Report, st.just(task), st.sampled_from(REPORTED), deductions, listed_ago)


def steps(task: int) -> st.SearchStrategy[Step]:
    return st.one_of(reports(task), st.just(Timeout(task)))


def racing_steps(task: int) -> st.SearchStrategy[Step]:
    """Draw a writer of a race: one that moves the task, most often to a final status."""
    moves = st.sampled_from(("submitted", "processing", "succeed", "failed"))
    return st.one_of(st.builds(Report, st.just(task), moves, deductions), st.just(Timeout(task)))


races = task_indexes.flatmap(lambda task: st.builds(Race, racing_steps(task), racing_steps(task), st.booleans()))
# Reports and races twice as often as the rest: a timeout ends a task, after which little is left to check.
events: st.SearchStrategy[Event] = st.one_of(
    task_indexes.flatmap(reports),
    races,
    task_indexes.flatmap(reports),
    races,
    st.builds(Replay, st.integers(min_value=0, max_value=5)),
    st.builds(Timeout, task_indexes),
    task_indexes.flatmap(steps).map(Crash),
)


@st.composite
def plans(draw: st.DrawFn) -> TaskPlan:
    """Draw a task as a submit stores it: its price per credit (often a tiny one, where rounding shows) and hold."""
    rate = draw(st.one_of(st.integers(min_value=0, max_value=9), st.integers(min_value=0, max_value=2_000_000)))
    estimate = draw(st.sampled_from(["0.5", "1", "2.5", "5", "10"]))
    status = draw(st.sampled_from([TaskStatus.QUEUED, TaskStatus.SUBMITTED]))
    return TaskPlan(status=status, rate_micros=rate, hold_micros=expected_charge(estimate, rate))


worlds = st.builds(
    World,
    st.integers(min_value=0, max_value=20_000_000),
    st.lists(plans(), min_size=1, max_size=4),
    st.lists(events, min_size=4, max_size=16),
)


async def play(url: str, world: World) -> None:
    """Open the world's user and tasks in a database of their own engine, then play every event, checking each."""
    db = Database(url)
    try:
        holds = sum(plan.hold_micros for plan in world.plans)
        account = await open_account(db, balance_micros=holds + world.spare_micros, plans=world.plans)
        game = Play(db, account, world.plans, concurrent=not db.is_sqlite)
        before = await game.check(None)
        for event in world.events:
            await game.event(event, before)
            before = await game.check(before)
    finally:
        await db.dispose()


@pytest.mark.slow  # a long property run: dozens of drawn worlds, each played out on a real database
def test_any_interleaving_bills_each_task_exactly_once(database_url: str) -> None:
    examples = SQLITE_EXAMPLES if database_url.startswith("sqlite") else POSTGRES_EXAMPLES

    @settings(max_examples=examples, deadline=None)
    @given(world=worlds)
    def interleaving(world: World) -> None:
        run(play(database_url, world))

    interleaving()


# Rates of the form 2^a·5^b divide a half micro-yuan exactly, so a deduction can cost exactly x.5 micro-yuan.
exact_rates = st.builds(lambda a, b: 2**a * 5**b, st.integers(0, 6), st.integers(0, 6))


@st.composite
def priced_deductions(draw: st.DrawFn) -> tuple[int, str, int]:
    """Draw a rate, a deduction and its price: whole micro-yuan, or exactly half one more (rounded up)."""
    rate = draw(exact_rates)
    whole = draw(st.integers(min_value=0, max_value=10**7))
    half = draw(st.booleans())
    units = (Decimal(whole) + (Decimal("0.5") if half else 0)) / rate
    return rate, str(units), whole + half


async def succeed_once(url: str, rate_micros: int, deduction: str) -> int:
    db = Database(url)
    try:
        plan = TaskPlan(TaskStatus.SUBMITTED, rate_micros=rate_micros, hold_micros=rate_micros)
        account = await open_account(db, balance_micros=rate_micros, plans=[plan])
        game = Play(db, account, [plan], concurrent=False)
        await game.step(Report(0, "succeed", deduction))
        now = await game.check(None)
        charge = now.tasks[account.tasks[0].id]["charge_micros"]
        assert isinstance(charge, int)
        return charge
    finally:
        await db.dispose()


def test_a_success_costs_the_deduction_at_the_rate_rounded_half_up(database_url: str) -> None:
    @settings(max_examples=20, deadline=None)
    @given(priced=priced_deductions())
    def charged(priced: tuple[int, str, int]) -> None:
        rate, deduction, price = priced
        assert run(succeed_once(database_url, rate, deduction)) == price, f"{deduction} credits at {rate} µ¥"

    charged()


async def succeed_then_time_out(url: str) -> bool:
    db = Database(url)
    try:
        plan = TaskPlan(TaskStatus.SUBMITTED, rate_micros=1_000_000, hold_micros=5_000_000)
        account = await open_account(db, balance_micros=5_000_000, plans=[plan])
        game = Play(db, account, [plan], concurrent=False)
        await game.step(Report(0, "succeed", "3"))
        before = await game.check(None)
        row = await read_task(db, account.tasks[0])
        async with db.session() as session, session.begin():
            moved = await transitions.fail(session, row.polled, "no result from the upstream in time", now_ms=99_000)
            await effects.record(session, moved, callback_give_up_s=CALLBACK_GIVE_UP_S)
        await game.check(before)
        return moved is not None
    finally:
        await db.dispose()


def test_timing_out_a_finished_task_changes_nothing(database_url: str) -> None:
    assert not run(succeed_then_time_out(database_url))


async def succeed_unpriced(url: str, deduction: str) -> TaskStatus:
    db = Database(url)
    try:
        plan = TaskPlan(TaskStatus.SUBMITTED, rate_micros=1_000_000, hold_micros=5_000_000)
        account = await open_account(db, balance_micros=5_000_000, plans=[plan])
        task = account.tasks[0]
        async with db.session() as session, session.begin():
            row = await repository.find_by_platform_id(session, task.platform_id)
            assert row is not None
            news = report(task, "succeed", deduction=deduction, stamp=1)
            move = await transitions.advance(session, row.polled, news, now_ms=11_000, next_sync_at=None)
            await effects.record(session, move, callback_give_up_s=CALLBACK_GIVE_UP_S)
        now = await snapshot(db, account.user_id)
        assert now.held_micros == 0, "the hold is released"
        return TaskStatus(str(now.tasks[task.id]["status"]))
    finally:
        await db.dispose()


@pytest.mark.parametrize("deduction", ["1e30", "1e15"])
def test_a_deduction_too_large_to_price_still_ends_the_task(database_url: str, deduction: str) -> None:
    assert run(succeed_unpriced(database_url, deduction)) is TaskStatus.SUCCEED


@pytest.mark.parametrize("deduction", ["x" * 40, "5\x00"], ids=["longer-than-the-column", "nul-byte"])
def test_a_garbage_deduction_still_ends_the_task(database_url: str, deduction: str) -> None:
    assert run(succeed_unpriced(database_url, deduction)) is TaskStatus.SUCCEED


statuses = st.sampled_from(list(TaskStatus))


@given(current=statuses, new=statuses)
def test_a_task_moves_only_forward_and_never_out_of_a_final_status(current: TaskStatus, new: TaskStatus) -> None:
    allowed = may_move(current, new)
    assert allowed == (not current.is_final and RANK[new] > RANK[current])
    assert not (allowed and new is TaskStatus.QUEUED), "nothing moves a task back to queued"


@given(path=st.lists(statuses, max_size=8))
def test_any_path_of_allowed_moves_is_at_most_three_long(path: list[TaskStatus]) -> None:
    status, moves = TaskStatus.QUEUED, 0
    for new in path:
        if may_move(status, new):
            status, moves = new, moves + 1
    assert moves <= transitions.MAX_RACES, "a report can lose a race at most once per move left"


@given(text=st.one_of(st.sampled_from([*(s.value for s in TaskStatus), "SUCCEED", " failed", "running"]), st.text()))
def test_only_the_upstream_statuses_are_read(text: str) -> None:
    status = upstream_status(text)
    if text in KNOWN:
        assert status is KNOWN[text]
    else:
        assert status is None, f"{text!r} is not a status the upstream reports"
