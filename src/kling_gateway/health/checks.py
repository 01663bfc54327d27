"""Tell whether the gateway can do its work now, check by check, each with the reason when it cannot: the
database answers, it is at this version's migration, a worker has finished a round lately, and some channel can
take tasks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kling_gateway.channels.selection import usable
from kling_gateway.health.tallies import Snapshot, snapshot
from kling_gateway.kling.schemas import Generation
from kling_gateway.settings import ChannelHealthConfig, HealthConfig
from kling_gateway.store.migrate import head_revision
from kling_gateway.store.outages import unavailable_reason
from kling_gateway.store.probe import Probe, reachable, revision

DATABASE, MIGRATIONS, WORKER, CHANNELS = "database", "migrations", "worker", "channels"


class Outcome(StrEnum):
    """How a check came out: passed, failed, or not run because a check it needs failed."""

    PASS = "pass"  # noqa: S105  # an outcome, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """One check's outcome and what it found."""

    name: str
    outcome: Outcome
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "outcome": self.outcome.value, "detail": self.detail}


@dataclass(frozen=True)
class Readiness:
    """Every check, and the store's snapshot when the database could be read."""

    checks: list[Check]
    snapshot: Snapshot | None

    @property
    def ready(self) -> bool:
        return all(check.outcome is Outcome.PASS for check in self.checks)

    @property
    def failing(self) -> list[str]:
        return [check.name for check in self.checks if check.outcome is Outcome.FAIL]

    def as_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "failing": self.failing,
            "checks": [check.as_json() for check in self.checks],
        }


async def readiness(
    probe: Probe, config: HealthConfig, *, now_ms: int, channel_health: ChannelHealthConfig
) -> Readiness:
    """Run every check on a fresh connection; a check whose ground is missing (the database cannot be reached, the
    schema is another version's) fails and leaves the checks that need it unrun. A channel down or misconfigured
    by its calls is not usable."""
    store: Snapshot | None = None
    try:
        async with asyncio.timeout(config.check_timeout_s), probe.connect() as connection:
            await reachable(connection)
            found = await revision(connection)
            if found == head_revision():
                store = await snapshot(connection, now_ms=now_ms, config=channel_health)
    except TimeoutError:
        return _skipping(Check(DATABASE, Outcome.FAIL, f"no answer within {config.check_timeout_s:g} s"))
    except Exception as error:
        reason = unavailable_reason(error)
        if reason is None:
            raise
        return _skipping(Check(DATABASE, Outcome.FAIL, reason))
    answers = Check(DATABASE, Outcome.PASS, f"answers ({probe.url.get_backend_name()})")
    if store is None:
        return _skipping(answers, _migration(found))
    return Readiness([answers, _migration(found), _worker(store, config, now_ms), _channels(store)], store)


def _skipping(*done: Check) -> Readiness:
    """Complete the checks done with the others, unrun for want of what the last one found missing."""
    why = "the database cannot be reached" if len(done) == 1 else "the schema is not this version's"
    names = [name for name in (DATABASE, MIGRATIONS, WORKER, CHANNELS) if name not in {c.name for c in done}]
    return Readiness([*done, *(Check(name, Outcome.SKIP, f"not checked: {why}") for name in names)], None)


def _migration(found: str | None) -> Check:
    head = head_revision()
    if found == head:
        return Check(MIGRATIONS, Outcome.PASS, f"at {head}, this version's newest")
    if found is None:
        return Check(MIGRATIONS, Outcome.FAIL, f"the database has no schema; run `kling-gateway migrate` (to {head})")
    return Check(MIGRATIONS, Outcome.FAIL, f"at {found}, this version needs {head}; run `kling-gateway migrate`")


def _worker(store: Snapshot, config: HealthConfig, now_ms: int) -> Check:
    if not store.beats:
        return Check(
            WORKER,
            Outcome.FAIL,
            "no sync worker has ever finished a round; start `kling-gateway worker`, or serve without --no-worker",
        )
    newest = store.beats[0]
    age_s = max(now_ms - newest.beat_at, 0) / 1000
    said = f"the latest round finished {age_s:.1f} s ago ({newest.worker})"
    if age_s > config.worker_stale_after_s:
        return Check(WORKER, Outcome.FAIL, f"{said}, more than {config.worker_stale_after_s:g} s")
    return Check(WORKER, Outcome.PASS, said)


def _channels(store: Snapshot) -> Check:
    left, why_none = usable(store.channels, Generation.LEGACY)
    if not left:
        return Check(CHANNELS, Outcome.FAIL, why_none)
    return Check(
        CHANNELS, Outcome.PASS, f"{len(left)} of {len(store.channels)} usable: {', '.join(c.name for c in left)}"
    )
