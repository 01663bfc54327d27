"""A user with tasks stored as the gateway stores them, and the billing facts their rows and ledger must obey."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import select

from kling_gateway.billing import ledger
from kling_gateway.billing.ledger import EntryKind
from kling_gateway.kling.schemas import Family
from kling_gateway.store.database import Database
from kling_gateway.store.models import LEDGER, TASKS, USERS
from kling_gateway.store.records import Task, TaskStatus
from kling_gateway.tasks import repository
from kling_gateway.tasks.ids import new_platform_id
from kling_gateway.upstream.client import UpstreamTask
from kling_gateway.users.service import create_user
from tests.factories import task_draft

RANK = {
    TaskStatus.QUEUED: 0,
    TaskStatus.SUBMITTED: 1,
    TaskStatus.PROCESSING: 2,
    TaskStatus.SUCCEED: 3,
    TaskStatus.FAILED: 3,
}
# What a final task shows; none of it may change once the task is final.
FINAL_COLUMNS = (
    "status",
    "status_msg",
    "task_info_json",
    "result_json",
    "final_unit_deduction",
    "charge_micros",
    "upstream_task_id",
    "updated_at",
    "next_sync_at",
)


@dataclass(frozen=True)
class TaskPlan:
    """One task to store: how it starts, what a credit costs and how much is held for it."""

    status: TaskStatus  # queued (its submit's answer was lost) or submitted (the upstream took it)
    rate_micros: int
    hold_micros: int


@dataclass(frozen=True)
class StoredTask:
    """A stored task: its ids, the id the upstream knows it by, and its price."""

    id: int
    platform_id: str
    upstream_task_id: str
    rate_micros: int
    hold_micros: int


@dataclass(frozen=True)
class Account:
    """A user, the money put in, and the tasks stored for them."""

    user_id: int
    topped_up_micros: int
    tasks: tuple[StoredTask, ...]


@dataclass(frozen=True)
class Snapshot:
    """What the database says about one user: their row, their tasks (by row id) and their ledger, oldest first."""

    balance_micros: int
    held_micros: int
    tasks: dict[int, dict[str, object]]
    entries: list[dict[str, object]]


async def open_account(db: Database, *, balance_micros: int, plans: list[TaskPlan]) -> Account:
    """Create a user with a balance, then store each task with its hold in one transaction, as a submit does."""
    async with db.session() as session, session.begin():
        user = await create_user(session, name=f"user-{uuid.uuid4().hex[:12]}", balance_micros=balance_micros)
        user_id = user.id
    tasks = [await _store(db, user_id, plan) for plan in plans]
    return Account(user_id=user_id, topped_up_micros=balance_micros, tasks=tuple(tasks))


async def _store(db: Database, user_id: int, plan: TaskPlan) -> StoredTask:
    platform_id = new_platform_id(Family.VIDEOS)
    upstream_id = f"up-{uuid.uuid4().hex}"
    moment = 1_000
    async with db.session() as session, session.begin():
        held = await ledger.hold(session, user_id=user_id, task_platform_id=platform_id, amount_micros=plan.hold_micros)
        assert held is not None, "the opening balance must cover every hold"
        task = await repository.insert(
            session,
            task_draft(
                platform_id=platform_id,
                user_id=user_id,
                created_at=moment,
                request_json='{"prompt": "a cat"}',
                rate_micros=plan.rate_micros,
                hold_micros=plan.hold_micros,
            ),
        )
        task_id = task.id
    if plan.status is TaskStatus.SUBMITTED:
        async with db.session() as session, session.begin():
            accepted = await repository.transition(
                session,
                task_id=task_id,
                expected=TaskStatus.QUEUED,
                changes={
                    "status": TaskStatus.SUBMITTED.value,
                    "upstream_task_id": upstream_id,
                    "updated_at": moment,
                    "next_sync_at": moment,
                },
            )
            assert accepted
    return StoredTask(task_id, platform_id, upstream_id, plan.rate_micros, plan.hold_micros)


def report(task: StoredTask, status: str, *, deduction: str | None, stamp: int) -> UpstreamTask:
    """Write the task object the upstream would send about a task (in a poll answer or a callback)."""
    result = (
        {"videos": [{"id": f"v-{stamp}", "url": f"https://cdn.example/{stamp}.mp4"}]} if status == "succeed" else {}
    )
    return UpstreamTask(
        task_id=task.upstream_task_id,
        task_status=status,
        task_status_msg="" if status != "failed" else f"refused at step {stamp}",
        task_info={"external_task_id": task.platform_id},
        task_result=result,
        final_unit_deduction=deduction,
        created_at=1_000,
        updated_at=1_000 + stamp,
    )


async def read_task(db: Database, task: StoredTask) -> Task:
    """Read a task's row as a poll or a callback would find it."""
    async with db.read() as connection:
        row = await repository.find_by_platform_id(connection, task.platform_id)
    assert row is not None
    return row


async def snapshot(db: Database, user_id: int) -> Snapshot:
    """Read a user's row, tasks and ledger in one go."""
    async with db.read() as connection:
        balance, held = (
            await connection.execute(select(USERS.c.balance_micros, USERS.c.held_micros).where(USERS.c.id == user_id))
        ).one()
        tasks = (await connection.execute(select(TASKS).where(TASKS.c.user_id == user_id))).mappings().all()
        entries = (
            (await connection.execute(select(LEDGER).where(LEDGER.c.user_id == user_id).order_by(LEDGER.c.id)))
            .mappings()
            .all()
        )
    return Snapshot(
        balance_micros=balance,
        held_micros=held,
        tasks={row["id"]: dict(row) for row in tasks},
        entries=[dict(entry) for entry in entries],
    )


def expected_charge(deduction: str | None, rate_micros: int) -> int:
    """Price a succeeded task: deduction × rate, half up to the micro-yuan; 0 when the deduction is not usable."""
    if deduction is None:
        return 0
    try:
        units = Decimal(deduction)
    except InvalidOperation:
        return 0
    if not units.is_finite() or units <= 0:
        return 0
    return int((units * rate_micros).to_integral_value(rounding=ROUND_HALF_UP))


def check_billing(account: Account, now: Snapshot, before: Snapshot | None) -> None:
    """Assert every fact the rows and the ledger must obey after any step, and against the previous snapshot."""
    by_task = Counter((entry["task_platform_id"], entry["kind"]) for entry in now.entries)
    for stored in account.tasks:
        row = now.tasks[stored.id]
        status = TaskStatus(str(row["status"]))
        platform_id = stored.platform_id
        assert by_task[platform_id, EntryKind.HOLD] == 1, f"{platform_id}: one hold"
        releases = 1 if status.is_final and stored.hold_micros else 0  # a hold of nothing leaves nothing to release
        assert by_task[platform_id, EntryKind.RELEASE] == releases, (
            f"{platform_id} is {status}: a release exists exactly when the task is final"
        )
        assert by_task[platform_id, EntryKind.CHARGE] <= 1, f"{platform_id}: at most one charge"
        charge = _entry_amount(now, platform_id, EntryKind.CHARGE)
        if status is TaskStatus.SUCCEED:
            expected = expected_charge(_text(row["final_unit_deduction"]), stored.rate_micros)
            assert row["charge_micros"] == expected, f"{platform_id}: charge is deduction × rate"
            # The ledger takes the whole, up to the hold: the most the task can cost (the task row keeps the whole,
            # for the reconciliation to show the difference).
            assert -charge == min(expected, stored.hold_micros), (
                f"{platform_id}: the ledger charges what the task row says, at most the task's hold"
            )
        elif status is TaskStatus.FAILED:
            assert row["charge_micros"] == 0, f"{platform_id}: a failed task costs nothing"
            assert charge == 0, f"{platform_id}: a failed task has no charge entry"
        else:
            assert row["charge_micros"] is None, f"{platform_id}: an unfinished task has no charge yet"
            assert charge == 0, f"{platform_id}: an unfinished task has no charge entry"
        if status.is_final:
            assert _entry_amount(now, platform_id, EntryKind.RELEASE) == -stored.hold_micros
            assert row["next_sync_at"] is None, f"{platform_id}: a final task is never looked at again"
        # A report names the upstream id of a task whose submit answer was lost; a timeout leaves it unknown.
        assert row["upstream_task_id"] in (None, stored.upstream_task_id)
        if status in (TaskStatus.SUBMITTED, TaskStatus.PROCESSING, TaskStatus.SUCCEED):
            assert row["upstream_task_id"] == stored.upstream_task_id, f"{platform_id}: the upstream id is known"
        if before is not None:
            _check_moved_forward(platform_id, before.tasks[stored.id], row)
    unfinished = [s for s in account.tasks if not TaskStatus(str(now.tasks[s.id]["status"])).is_final]
    assert now.held_micros == sum(s.hold_micros for s in unfinished), "held is the holds of unfinished tasks"
    charged = -sum(int(str(e["amount_micros"])) for e in now.entries if e["kind"] == EntryKind.CHARGE)
    assert now.balance_micros == account.topped_up_micros - charged, "balance is top-ups less charges"
    # Even an upstream deduction above the estimate held never takes more than was available.
    assert now.balance_micros - now.held_micros >= 0, "available never goes below zero"
    _check_running_totals(now)


def _check_moved_forward(platform_id: str, old: dict[str, object], new: dict[str, object]) -> None:
    old_status, new_status = TaskStatus(str(old["status"])), TaskStatus(str(new["status"]))
    if old_status.is_final:
        changed = {column for column in FINAL_COLUMNS if old[column] != new[column]}
        assert not changed, f"{platform_id} was {old_status} and then changed: {sorted(changed)}"
    assert RANK[new_status] >= RANK[old_status], f"{platform_id} went back from {old_status} to {new_status}"


def _check_running_totals(now: Snapshot) -> None:
    """Replay the ledger: each movement's entries show the balance and held right after it.

    A settle is one movement written as two entries (release, then charge); both show the money after both.
    """
    balance = held = 0
    entries = now.entries
    for index, entry in enumerate(entries):
        amount = int(str(entry["amount_micros"]))
        if entry["kind"] in (EntryKind.TOP_UP, EntryKind.CHARGE):
            balance += amount
        else:
            held += amount
        following = entries[index + 1] if index + 1 < len(entries) else None
        settled_with_charge = (
            entry["kind"] == EntryKind.RELEASE
            and following is not None
            and following["kind"] == EntryKind.CHARGE
            and following["task_platform_id"] == entry["task_platform_id"]
        )
        if settled_with_charge:
            assert following is not None
            assert entry["balance_after_micros"] == balance + int(str(following["amount_micros"]))
        else:
            assert entry["balance_after_micros"] == balance, f"entry {entry['id']} shows the balance after it"
        assert entry["held_after_micros"] == held, f"entry {entry['id']} shows what is held after it"
    assert (now.balance_micros, now.held_micros) == (balance, held), "the ledger adds up to the user row"


def _entry_amount(now: Snapshot, platform_id: str, kind: EntryKind) -> int:
    return sum(
        int(str(e["amount_micros"])) for e in now.entries if e["task_platform_id"] == platform_id and e["kind"] == kind
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
