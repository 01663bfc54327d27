"""Check a gateway run against the upstream it ran on: nothing lost, nothing sent, held, charged or released twice.

The gateway's side is read from its database (tasks, ledger, users, channels); the upstream's side from each
channel's own task lists: the legacy ones (`GET /v1/{family}/{action}?pageNum=&pageSize=500`, signed with the
channel's key pair) and the new generation's `POST /tasks` (cursor pages, with the channel's API key), which shows
legacy tasks too, so upstream tasks are keyed by their id. Each upstream task names its gateway task by its
external id (`task_info.external_task_id`, or a record's `external_id`), which is the gateway's platform_id.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from benchmarks.upstream_tasks import FINAL, UpstreamAccount, UpstreamTask, package_rates, read_upstream
from kling_gateway.billing.money import format_yuan
from kling_gateway.kling.schemas import Generation
from kling_gateway.store.database import Database
from kling_gateway.store.models import CHANNELS, LEDGER, TASKS, USERS

WINDOW_SLACK_MS = 3600 * 1000  # the /tasks window reaches this far before the first gateway task and past now
GENERATIONS = tuple(generation.value for generation in Generation)
SHOWN_FINDINGS = 25  # findings the printout lists one by one; the JSON has them all

# The kinds of finding, in the order the printout shows them, with what each means.
KINDS: dict[str, str] = {
    "lost": "lost (accepted, but missing or not final)",
    "idempotency": "one client id answered with several tasks",
    "duplicate": "duplicates (gateway tasks with ≥ 2 upstream tasks)",
    "orphan": "orphans (upstream tasks of no gateway task)",
    "open_hold": "holds left open",
    "double_entry": "double holds, charges or releases",
    "disagreement": "tasks whose status or charge disagrees with the upstream",
    "user_money": "users whose balance or held amount disagrees with their ledger",
    "total": "Σ charges ≠ Σ upstream deductions × rate",
}


@dataclass(frozen=True)
class Finding:
    """One violation: of which kind, about what (a task, a user, an upstream task), and the evidence."""

    kind: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


@dataclass
class GenerationFigures:
    """The figures of the tasks of one API generation."""

    tasks: int = 0  # stored gateway tasks
    finished: int = 0
    succeeded: int = 0
    failed: int = 0
    upstream_tasks: int = 0  # upstream tasks named by these tasks' platform ids
    charged_micros: int = 0
    deducted_micros: int = 0

    def as_json(self) -> dict[str, Any]:
        """Give the figures as plain JSON values, money in yuan."""
        return {
            "tasks": self.tasks,
            "finished": self.finished,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "upstream_tasks": self.upstream_tasks,
            "charged_yuan": format_yuan(self.charged_micros),
            "deducted_yuan": format_yuan(self.deducted_micros),
        }


@dataclass
class Audit:
    """What a run came to: the counts the printout shows and every violation found, with its evidence."""

    submitted: int = 0
    finished: int = 0
    succeeded: int = 0
    failed: int = 0
    upstream_tasks: int = 0
    upstream_per_task: dict[int, int] = field(default_factory=dict)  # upstream tasks → how many gateway tasks
    charged_micros: int = 0
    deducted_micros: int = 0  # Σ over succeeded upstream tasks of their credits × the task's rate for them
    ledger_entries: int = 0
    generations: dict[str, GenerationFigures] = field(
        default_factory=lambda: {generation: GenerationFigures() for generation in GENERATIONS}
    )
    findings: list[Finding] = field(default_factory=list)

    def violations(self) -> list[str]:
        """Every violation, one line each; empty when the run lost nothing and did nothing twice."""
        return [str(finding) for finding in self.findings]

    def count(self, kind: str) -> int:
        """Count the findings of one kind."""
        return sum(finding.kind == kind for finding in self.findings)

    def as_json(self) -> dict[str, Any]:
        """Give every figure and finding as plain JSON values."""
        return {
            "submitted": self.submitted,
            "finished": self.finished,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "upstream_tasks": self.upstream_tasks,
            "upstream_per_task": {str(n): tasks for n, tasks in sorted(self.upstream_per_task.items())},
            "charged_yuan": format_yuan(self.charged_micros),
            "deducted_yuan": format_yuan(self.deducted_micros),
            "ledger_entries": self.ledger_entries,
            "generations": {name: figures.as_json() for name, figures in self.generations.items()},
            "counts": {kind: self.count(kind) for kind in KINDS},
            "violations": self.violations(),
        }

    def table(self) -> Table:
        """Lay the figures out as a table, each with its verdict."""
        table = Table(title="Audit: gateway ledger against upstream tasks")
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_column("verdict")
        histogram = ", ".join(f"{n}: {tasks}" for n, tasks in sorted(self.upstream_per_task.items())) or "-"
        table.add_row("tasks submitted (accepted)", str(self.submitted), "")
        table.add_row("finished (succeed / failed)", f"{self.finished} ({self.succeeded} / {self.failed})", "")
        table.add_row("upstream tasks", str(self.upstream_tasks), "")
        table.add_row("upstream tasks per gateway task", histogram, "")
        table.add_row("ledger entries", str(self.ledger_entries), "")
        table.add_row(
            "charged / deducted × rate",
            f"¥{format_yuan(self.charged_micros)} / ¥{format_yuan(self.deducted_micros)}",
            _verdict(self.count("total")),
        )
        for kind, label in KINDS.items():
            if kind != "total":
                table.add_row(label, str(self.count(kind)), _verdict(self.count(kind)))
        return table

    def generation_table(self) -> Table:
        """Lay the figures of each API generation out as a table, a column each."""
        table = Table(title="Audit: per API generation")
        table.add_column("measure")
        for name in self.generations:
            table.add_column(name, justify="right")
        figures = self.generations.values()
        rows: tuple[tuple[str, Callable[[GenerationFigures], str]], ...] = (
            ("tasks stored", lambda f: str(f.tasks)),
            ("finished (succeed / failed)", lambda f: f"{f.finished} ({f.succeeded} / {f.failed})"),
            ("upstream tasks", lambda f: str(f.upstream_tasks)),
            ("charged", lambda f: f"¥{format_yuan(f.charged_micros)}"),
            ("deducted × rate", lambda f: f"¥{format_yuan(f.deducted_micros)}"),
        )
        for label, shown in rows:
            table.add_row(label, *(shown(one) for one in figures))
        return table

    def print(self, console: Console) -> None:
        """Print the tables, then the first findings one by one."""
        console.print(self.table())
        console.print(self.generation_table())
        for finding in self.findings[:SHOWN_FINDINGS]:
            console.print(f"[red]✗[/red] {finding}", highlight=False, soft_wrap=True)
        if len(self.findings) > SHOWN_FINDINGS:
            console.print(f"… and {len(self.findings) - SHOWN_FINDINGS} more (all of them in the JSON report)")


def _verdict(count: int) -> str:
    return "[green]ok[/green]" if count == 0 else "[bold red]VIOLATION[/bold red]"


# --- the gateway's side -------------------------------------------------------------------------------------------


@dataclass
class _Entries:
    """A task's ledger entries by kind: how many and their sum."""

    counts: Counter[str] = field(default_factory=Counter)
    sums: Counter[str] = field(default_factory=Counter)


@dataclass
class GatewayState:
    """The gateway's side: every task row, the ledger summed per task and kind, users and channels."""

    tasks: list[Any]
    entries: dict[str, _Entries]
    users: list[Any]
    user_sums: dict[tuple[int, str], int]
    channels: list[UpstreamAccount]
    channel_names: dict[int, str]  # by channel id


async def _read_gateway(database_url: str) -> GatewayState:
    db = Database(database_url)
    try:
        async with db.read() as connection:
            tasks = list((await connection.execute(select(TASKS).order_by(TASKS.c.id))).all())
            by_task = select(
                LEDGER.c.task_platform_id, LEDGER.c.kind, func.count(), func.sum(LEDGER.c.amount_micros)
            ).group_by(LEDGER.c.task_platform_id, LEDGER.c.kind)
            entries: dict[str, _Entries] = defaultdict(_Entries)
            for platform_id, kind, count, total in (await connection.execute(by_task)).all():
                if platform_id is not None:
                    entries[platform_id].counts[kind] = int(count)
                    entries[platform_id].sums[kind] = int(total)
            by_user = select(LEDGER.c.user_id, LEDGER.c.kind, func.sum(LEDGER.c.amount_micros)).group_by(
                LEDGER.c.user_id, LEDGER.c.kind
            )
            user_sums = {(int(user), kind): int(total) for user, kind, total in (await connection.execute(by_user))}
            users = list((await connection.execute(select(USERS).order_by(USERS.c.id))).all())
            channel_rows = (await connection.execute(select(CHANNELS).order_by(CHANNELS.c.id))).all()
    finally:
        await db.dispose()
    channels = [
        UpstreamAccount(row.name, row.base_url, row.access_key, row.secret_key, row.api_key) for row in channel_rows
    ]
    names = {row.id: row.name for row in channel_rows}
    return GatewayState(tasks, dict(entries), users, user_sums, channels, names)


# --- the comparison -----------------------------------------------------------------------------------------------


async def audit(
    database_url: str,
    *,
    accepted: Mapping[str, Collection[str]] | None = None,
    actions: Iterable[tuple[str, str]] = (),
    settle_s: float = 0.0,
) -> Audit:
    """Compare the gateway's database with what its channels hold upstream.

    `accepted` maps each client-side id (the client's external_task_id) to the platform ids of the 2xx answers the
    client got for it; `actions` names legacy (family, action) pairs to list upstream besides those the tasks table
    has. New-style tasks are read from `/tasks`, over a window from before the first gateway task until now.
    """
    state = await _read_gateway(database_url)
    legacy = {(row.family, row.action) for row in state.tasks if row.generation != Generation.NEW.value}
    upstream = await read_upstream(state.channels, legacy | set(actions), window=_window(state), settle_s=settle_s)
    return compare(state, upstream, accepted or {})


def _window(state: GatewayState) -> tuple[int, int]:
    """The `/tasks` window (ms) covering the run: from before the gateway's first task until after now."""
    now_ms = int(time.time() * 1000)
    first = min((int(row.created_at) for row in state.tasks), default=now_ms)
    return first - WINDOW_SLACK_MS, now_ms + WINDOW_SLACK_MS


def compare(state: GatewayState, upstream: Sequence[UpstreamTask], accepted: Mapping[str, Collection[str]]) -> Audit:
    """Work out the figures and findings from both sides."""
    report = Audit(upstream_tasks=len(upstream), ledger_entries=sum(_entry_count(e) for e in state.entries.values()))
    rows = {row.platform_id: row for row in state.tasks}
    by_external: dict[str, list[UpstreamTask]] = defaultdict(list)
    for task in upstream:
        by_external[task.external_task_id or ""].append(task)
    answered = {platform_id for platform_ids in accepted.values() for platform_id in platform_ids}
    report.submitted = len(answered | rows.keys())
    _check_client_answers(report, accepted, rows, state.entries)
    histogram: Counter[int] = Counter()
    for row in state.tasks:
        mine = by_external.get(row.platform_id, [])
        histogram[len(mine)] += 1
        channel = state.channel_names.get(row.channel_id, "no channel")
        entries = state.entries.get(row.platform_id, _Entries())
        _check_task(report, row, channel, mine, entries)
        _count_generation(report.generations[_generation(row)], row, mine, entries)
    report.upstream_per_task = dict(histogram)
    _check_forgotten(report, rows, state.entries)
    _check_orphans(report, rows, by_external, state.entries)
    _check_users(report, state)
    _check_total(report, rows, by_external, state.entries)
    return report


def _generation(row: Any) -> str:
    return str(row.generation) if row.generation in GENERATIONS else Generation.LEGACY.value


def _count_generation(figures: GenerationFigures, row: Any, mine: Sequence[UpstreamTask], entries: _Entries) -> None:
    """Add one stored task to its generation's figures."""
    figures.tasks += 1
    figures.finished += row.status in FINAL
    figures.succeeded += row.status == "succeed"
    figures.failed += row.status == "failed"
    figures.upstream_tasks += len(mine)
    figures.charged_micros -= entries.sums["charge"]
    figures.deducted_micros += _deducted(row, mine)


def _deducted(row: Any, mine: Sequence[UpstreamTask]) -> int:
    """What a gateway task's succeeded upstream tasks deducted, at its rates."""
    return sum(task.worth_micros(row) for task in mine if task.status == "succeed")


def _check_total(
    report: Audit,
    rows: Mapping[str, Any],
    by_external: Mapping[str, Sequence[UpstreamTask]],
    entries: Mapping[str, _Entries],
) -> None:
    """Σ ledger charges must equal Σ over succeeded upstream tasks of their credits × their task's rate for them."""
    report.charged_micros = -sum(mine.sums["charge"] for mine in entries.values())
    deducted: Counter[bool] = Counter()  # by whether the gateway has finished the task
    for external, tasks in by_external.items():
        row = rows.get(external)
        if row is not None:
            deducted[row.status in FINAL] += _deducted(row, tasks)
    report.deducted_micros = deducted[True] + deducted[False]
    if report.charged_micros != report.deducted_micros:
        unfinished = (
            f", ¥{format_yuan(deducted[False])} of it for tasks the gateway has not finished" if deducted[False] else ""
        )
        report.findings.append(
            Finding(
                "total",
                "all tasks",
                f"the ledger charged ¥{format_yuan(report.charged_micros)} but the upstream deducted credits worth "
                f"¥{format_yuan(report.deducted_micros)} at the tasks' rates{unfinished}",
            )
        )


def _entry_count(entries: _Entries) -> int:
    return sum(entries.counts.values())


def _ledger_text(entries: _Entries) -> str:
    parts = [f"{kind} ×{count} ({format_yuan(entries.sums[kind])})" for kind, count in sorted(entries.counts.items())]
    return "ledger: " + (", ".join(parts) or "no entries")


def _check_client_answers(
    report: Audit, accepted: Mapping[str, Collection[str]], rows: Mapping[str, Any], entries: Mapping[str, _Entries]
) -> None:
    for client_id, platform_ids in sorted(accepted.items()):
        distinct = sorted(set(platform_ids))
        if len(distinct) > 1:
            report.findings.append(
                Finding("idempotency", client_id, f"the same body and external_task_id got {', '.join(distinct)}")
            )
        for platform_id in distinct:
            if platform_id not in rows:
                ledger = _ledger_text(entries.get(platform_id, _Entries()))
                report.findings.append(
                    Finding("lost", platform_id, f"answered 2xx to {client_id}, but no such task is stored; {ledger}")
                )


def _check_task(report: Audit, row: Any, channel: str, mine: Sequence[UpstreamTask], entries: _Entries) -> None:
    """Check one stored task: final, sent once, held and settled once, and charged what its upstream deducted."""
    subject = f"{row.platform_id} ({row.action}, user {row.user_id})"
    ledger = _ledger_text(entries)
    upstream_text = "; ".join(task.describe() for task in mine) or "no upstream task"
    evidence = f"gateway {row.status} on {channel}, {row.send_attempts} sends, {ledger}; upstream: {upstream_text}"
    if row.status in FINAL:
        report.finished += 1
        report.succeeded += row.status == "succeed"
        report.failed += row.status == "failed"
    else:
        report.findings.append(Finding("lost", subject, f"not final at the end; {evidence}"))
    if len(mine) > 1:
        report.findings.append(Finding("duplicate", subject, f"{len(mine)} upstream tasks; {evidence}"))
    for kind, count in entries.counts.items():
        if count > 1:
            report.findings.append(Finding("double_entry", subject, f"{count} {kind} entries; {evidence}"))
    held = entries.sums["hold"]
    if row.status in FINAL and held and entries.sums["release"] != -held:
        report.findings.append(Finding("open_hold", subject, f"the hold is not released; {evidence}"))
    if row.status in FINAL:
        problem = _disagreement(row, mine, entries)
        if problem:
            report.findings.append(Finding("disagreement", subject, f"{problem}; {evidence}"))


def _disagreement(row: Any, mine: Sequence[UpstreamTask], entries: _Entries) -> str:
    """Say how a final task disagrees with the upstream, or return "" when it agrees."""
    named = next((task for task in mine if task.task_id == row.upstream_task_id), None)
    if row.upstream_task_id is not None and named is None:
        return f"it names upstream task {row.upstream_task_id}, which no channel has under its platform_id"
    if row.hold_micros and not entries.counts["hold"]:
        return f"it holds ¥{format_yuan(row.hold_micros)}, but the ledger has no hold entry"
    charged = -entries.sums["charge"]
    if row.status == "failed":
        return _failed_disagreement(row, mine, charged)
    if named is None or named.status != "succeed":
        return f"succeeded, but its upstream task is {named.status if named else 'missing'}"
    expected = named.worth_micros(row)
    if charged != expected or (row.charge_micros or 0) != expected:
        return (
            f"charged ¥{format_yuan(charged)} (task says ¥{format_yuan(row.charge_micros or 0)}), but "
            f"{named.deduction() or 'no credits'} at the task's rates ({_rates_text(row)}) is ¥{format_yuan(expected)}"
        )
    return ""


def _rates_text(row: Any) -> str:
    rates = package_rates(row) or {"any": int(row.rate_micros)}
    return ", ".join(f"{package} ¥{format_yuan(rate)}" for package, rate in sorted(rates.items()))


def _failed_disagreement(row: Any, mine: Sequence[UpstreamTask], charged: int) -> str:
    """A failed task must not be charged, and none of its upstream tasks may have succeeded or still be running."""
    done = [task for task in mine if task.status == "succeed"]
    if done:
        worth = _deducted(row, done)
        return f"failed, but the upstream succeeded and deducted credits worth ¥{format_yuan(worth)}"
    if any(task.status not in FINAL for task in mine):
        return "failed, but the upstream is still running it"
    return f"failed, yet charged ¥{format_yuan(charged)}" if charged else ""


def _check_forgotten(report: Audit, rows: Mapping[str, Any], entries: Mapping[str, _Entries]) -> None:
    """A ledger entry may outlive its task (a submit no channel took is removed): it must be held and released
    once, and never charged."""
    for platform_id, mine in sorted(entries.items()):
        if platform_id in rows:
            continue
        subject = f"{platform_id} (no longer stored)"
        for kind, count in mine.counts.items():
            if count > 1:
                report.findings.append(
                    Finding("double_entry", subject, f"{count} {kind} entries; {_ledger_text(mine)}")
                )
        if mine.sums["hold"] + mine.sums["release"] != 0:
            report.findings.append(Finding("open_hold", subject, f"the hold is not released; {_ledger_text(mine)}"))
        if mine.counts["charge"]:
            report.findings.append(Finding("disagreement", subject, f"charged, but not stored; {_ledger_text(mine)}"))


def _check_orphans(
    report: Audit,
    rows: Mapping[str, Any],
    by_external: Mapping[str, Sequence[UpstreamTask]],
    entries: Mapping[str, _Entries],
) -> None:
    for external, tasks in sorted(by_external.items()):
        if external in rows:
            continue
        if external in entries:
            known = f"the gateway removed this task; {_ledger_text(entries[external])}"
        else:
            known = "the gateway never recorded this id"
        for task in tasks:
            report.findings.append(Finding("orphan", task.describe(), f"external id {external or '(none)'}: {known}"))


def _check_users(report: Audit, state: GatewayState) -> None:
    """A user's held amount is what their unfinished tasks hold (nothing once all are final), and their balance
    and held amount are what their ledger adds up to."""
    unfinished_holds: Counter[int] = Counter()
    for row in state.tasks:
        if row.status not in FINAL:
            unfinished_holds[row.user_id] += row.hold_micros
    for user in state.users:
        sums = {kind: state.user_sums.get((user.id, kind), 0) for kind in ("top_up", "hold", "release", "charge")}
        held = sums["hold"] + sums["release"]
        balance = sums["top_up"] + sums["charge"]
        subject = f"user {user.name}"
        expected = unfinished_holds[user.id]
        if user.held_micros != expected:
            of_tasks = f"their unfinished tasks hold ¥{format_yuan(expected)}" if expected else "no task is unfinished"
            report.findings.append(
                Finding("open_hold", subject, f"¥{format_yuan(user.held_micros)} is held, but {of_tasks}")
            )
        if (user.held_micros, user.balance_micros) != (held, balance):
            report.findings.append(
                Finding(
                    "user_money",
                    subject,
                    f"balance ¥{format_yuan(user.balance_micros)} held ¥{format_yuan(user.held_micros)}, but the "
                    f"ledger adds up to balance ¥{format_yuan(balance)} held ¥{format_yuan(held)}",
                )
            )
