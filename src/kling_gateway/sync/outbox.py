"""The outbox of client callbacks: every status change of a task with a `callback_url`, delivered at least once.

A change is written to the outbox in the transaction that made it, with its body rendered then, in the task's
dialect: exactly what a single query of the task answered at that moment (for `kling`, the bare task object, as
official Kling callbacks send it). The sync worker's Deliverer then POSTs it, signed with the Standard Webhooks
headers under the submitting key's `whsec_` secret (unsigned when the key has none), and retries with exponential
backoff until the receiver answers 2xx or `sync.callback_give_up_s` has passed since the change; then the callback
is given up, and `kling-gateway callbacks list --state given-up` shows it. A task's callbacks go out in the order
of its changes: one is not sent while an earlier one is neither delivered nor given up.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx
import orjson
from sqlalchemy import Row, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook
from ulid import ULID

from kling_gateway.clock import now_ms as wall_clock_ms
from kling_gateway.dialects import Dialect, kling, task, video
from kling_gateway.errors import InvalidRequest, NotFound
from kling_gateway.outbox.targets import check_callback_target
from kling_gateway.settings import SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.models import API_KEYS, CLIENT_CALLBACKS, TASKS
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks.repository import TaskRow

log = logging.getLogger(__name__)

FIRST_RETRY_S = 5.0  # the wait after a first failed delivery; it doubles with each failure after that
MAX_RETRY_S = 3600.0  # the longest wait between two deliveries of one callback
RETRY_JITTER = 0.1  # up to this share is added to each wait, so callbacks failing together spread out
MAX_IN_FLIGHT = 32  # deliveries under way at once in one Deliverer
LEASE_MARGIN_S = 30.0  # a claim outlives the delivery's own time limit by this much
MAX_ERROR_CHARS = 200  # how much of a failure last_error keeps
JSON_TYPE = "application/json; charset=utf-8"  # as official Kling callbacks are sent

_cb = CLIENT_CALLBACKS.c

# The single-task answer of each dialect; `kling` callbacks carry the task object without the envelope.
RENDERERS: dict[Dialect, Callable[[TaskRow, int], Any]] = {
    Dialect.KLING: kling.one,
    Dialect.TASK: task.one,
    Dialect.VIDEO: video.one,
}


def new_message_id() -> str:
    """Name a callback: its `webhook-id`, the same on every retry, so receivers can drop repeats."""
    return f"msg_{ULID()}"


def render(row: TaskRow, now_ms: int) -> str:
    """Render what a single query of the task answers now, in the task's dialect, as JSON text."""
    dialect = Dialect(row.dialect) if row.dialect else Dialect.KLING
    return orjson.dumps(RENDERERS[dialect](row, now_ms)).decode()


async def enqueue(session: AsyncSession, *, task_id: int, now_ms: int) -> None:
    """Queue a callback of the task's current status, inside the transaction that just changed it.

    Nothing is queued for a task without a `callback_url`, nor for `queued` (the create answer already said it);
    queuing the same status of a task twice keeps the first.
    """
    row = (await session.execute(select(TASKS).where(TASKS.c.id == task_id))).one_or_none()
    if row is None or not row.callback_url or row.status == TaskStatus.QUEUED:
        return
    values = {
        "task_id": task_id,
        "status": row.status,
        "message_id": new_message_id(),
        "body": render(row, now_ms),
        "attempts": 0,
        "next_attempt_at": now_ms,
        "last_error": "",
        "created_at": now_ms,
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(insert(CLIENT_CALLBACKS).values(**values).on_conflict_do_nothing())


@dataclass(frozen=True, slots=True)
class Claimed:
    """A callback this Deliverer holds the lease on, with where it goes and what signs it."""

    id: int
    task_id: int
    message_id: str
    body: str
    attempts: int
    created_at: int
    url: str | None
    platform_id: str
    webhook_secret: str | None = field(repr=False)  # never in a log line or a traceback


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one delivery went: delivered, or the reason it was not."""

    delivered: bool
    error: str = ""


class Deliverer:
    """Deliver due client callbacks from the outbox: claim a batch under a lease, POST each, record the outcome.

    Several Deliverers (in several worker processes) may run at once: a claim moves a callback's next attempt past
    the lease, and on PostgreSQL skips rows another claim holds, so no callback is sent twice at the same time.
    """

    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        config: SyncConfig,
        *,
        allow_private: bool,
        max_in_flight: int = MAX_IN_FLIGHT,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.http = http
        self.config = config
        self.allow_private = allow_private
        self.max_in_flight = max_in_flight
        self.rng = rng or random.Random()
        self._lease_ms = int((config.callback_timeout_s + LEASE_MARGIN_S) * 1000)

    async def run_once(self) -> int:
        """Deliver one batch of due callbacks; return how many deliveries it attempted."""
        moment = wall_clock_ms()
        lease_until = moment + self._lease_ms
        claimed = await self._claim(moment, lease_until)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._deliver(callback) for callback in claimed))
        await self._record(claimed, outcomes, lease_until)
        return len(claimed)

    async def _claim(self, moment: int, lease_until: int) -> Sequence[Claimed]:
        """Take the lease on due callbacks whose task has no earlier one still pending, most overdue first."""
        earlier = CLIENT_CALLBACKS.alias("earlier")
        blocked = exists().where(
            earlier.c.task_id == _cb.task_id,
            earlier.c.id < _cb.id,
            earlier.c.delivered_at.is_(None),
            earlier.c.given_up_at.is_(None),
        )
        due = (
            select(_cb.id)
            .where(_cb.next_attempt_at <= moment, ~blocked)
            .order_by(_cb.next_attempt_at, _cb.id)
            .limit(self.max_in_flight)
            .with_for_update(skip_locked=True, of=CLIENT_CALLBACKS)
        )
        claim = (
            update(CLIENT_CALLBACKS)
            .where(_cb.id.in_(due), _cb.next_attempt_at <= moment)
            .values(next_attempt_at=lease_until)
            .returning(_cb.id)
        )
        targets = (
            select(
                _cb.id,
                _cb.task_id,
                _cb.message_id,
                _cb.body,
                _cb.attempts,
                _cb.created_at,
                TASKS.c.callback_url,
                TASKS.c.platform_id,
                API_KEYS.c.webhook_secret,
            )
            .select_from(CLIENT_CALLBACKS.join(TASKS, TASKS.c.id == _cb.task_id))
            .outerjoin(API_KEYS, API_KEYS.c.id == TASKS.c.key_id)
        )
        async with self.db.session() as session, session.begin():
            ids = list((await session.execute(claim)).scalars())
            if not ids:
                return []
            rows = (await session.execute(targets.where(_cb.id.in_(ids)).order_by(_cb.id))).all()
        return [
            Claimed(
                id=row.id,
                task_id=row.task_id,
                message_id=row.message_id,
                body=row.body,
                attempts=row.attempts,
                created_at=row.created_at,
                url=row.callback_url,
                platform_id=row.platform_id,
                webhook_secret=row.webhook_secret,
            )
            for row in rows
        ]

    async def _deliver(self, callback: Claimed) -> Outcome:
        """POST one callback, within the delivery time limit from the address check to the last byte."""
        if not callback.url:
            return Outcome(delivered=False, error="the task has no callback_url any more")
        try:
            async with asyncio.timeout(self.config.callback_timeout_s):
                outcome = await self._post(callback, callback.url)
        except TimeoutError:
            outcome = Outcome(delivered=False, error=f"no answer within {self.config.callback_timeout_s:g} s")
        if not outcome.delivered:
            log.warning(
                "callback %s (%s) of task %s failed: %s",
                callback.id,
                callback.message_id,
                callback.platform_id,
                outcome.error,
            )
        return outcome

    async def _post(self, callback: Claimed, url: str) -> Outcome:
        try:
            # The address was checked at submit, but what the name resolves to may have changed since.
            await check_callback_target(url, allow_private=self.allow_private)
        except InvalidRequest as refused:
            return Outcome(delivered=False, error=refused.message)
        try:
            headers = _headers(callback)
        except (ValueError, EmptyWebhookSecretError):
            return Outcome(delivered=False, error="the key's webhook secret is not a valid whsec_ secret")
        try:
            response = await self.http.post(url, content=callback.body.encode(), headers=headers)
        except httpx.HTTPError as error:
            return Outcome(delivered=False, error=_short(f"{type(error).__name__}: {error}".rstrip(": ")))
        if response.is_success:
            return Outcome(delivered=True)
        return Outcome(delivered=False, error=_short(f"HTTP {response.status_code} {response.reason_phrase}".strip()))

    async def _record(self, claimed: Sequence[Claimed], outcomes: Sequence[Outcome], lease_until: int) -> None:
        """Write each outcome, unless the lease on that callback was lost meanwhile."""
        moment = wall_clock_ms()
        async with self.db.session() as session, session.begin():
            for callback, outcome in zip(claimed, outcomes, strict=True):
                values = self._after(callback, outcome, moment)
                still_ours = (_cb.id == callback.id, _cb.next_attempt_at == lease_until)
                await session.execute(update(CLIENT_CALLBACKS).where(*still_ours).values(**values))

    def _after(self, callback: Claimed, outcome: Outcome, moment: int) -> dict[str, Any]:
        """Say how a callback stands after a delivery: delivered, retried later, or given up at the deadline."""
        attempts = callback.attempts + 1
        if outcome.delivered:
            return {"attempts": attempts, "delivered_at": moment, "next_attempt_at": None, "last_error": ""}
        deadline = callback.created_at + int(self.config.callback_give_up_s * 1000)
        if moment >= deadline:
            log.warning("gave up callback %s of task %s after %d attempts", callback.id, callback.platform_id, attempts)
            return {"attempts": attempts, "given_up_at": moment, "next_attempt_at": None, "last_error": outcome.error}
        # The last attempt is made at the deadline itself, however long the backoff has grown.
        next_attempt = min(moment + self.backoff_ms(attempts), deadline)
        return {"attempts": attempts, "next_attempt_at": next_attempt, "last_error": outcome.error}

    def backoff_ms(self, attempts: int) -> int:
        """Wait after `attempts` failed deliveries: 5 s doubling up to 1 h, plus up to a tenth more at random."""
        wait_s = min(FIRST_RETRY_S * 2 ** (attempts - 1), MAX_RETRY_S)
        return int(wait_s * (1 + self.rng.uniform(0, RETRY_JITTER)) * 1000)


def _headers(callback: Claimed) -> dict[str, str]:
    """Name and date a callback with the Standard Webhooks headers; sign it when its key has a secret."""
    sent_at = datetime.now(tz=UTC)
    headers = {
        "Content-Type": JSON_TYPE,
        "webhook-id": callback.message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
    }
    if callback.webhook_secret:
        webhook = Webhook(callback.webhook_secret)
        headers["webhook-signature"] = webhook.sign(callback.message_id, sent_at, callback.body)
    return headers


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


# --- what the admin sees and does ---


class CallbackState(StrEnum):
    """Where a callback stands: still to be delivered, delivered, or given up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    GIVEN_UP = "given-up"


CallbackRow = Row[*tuple[Any, ...]]
_LISTED = (
    _cb.id,
    TASKS.c.platform_id,
    _cb.status,
    _cb.message_id,
    _cb.attempts,
    _cb.next_attempt_at,
    _cb.last_error,
    _cb.delivered_at,
    _cb.given_up_at,
    _cb.created_at,
)
_STATE_FILTERS = {
    CallbackState.PENDING: _cb.next_attempt_at.is_not(None),
    CallbackState.DELIVERED: _cb.delivered_at.is_not(None),
    CallbackState.GIVEN_UP: _cb.given_up_at.is_not(None),
}


def state_of(row: CallbackRow) -> CallbackState:
    """Tell where a listed callback stands."""
    if row.delivered_at is not None:
        return CallbackState.DELIVERED
    if row.given_up_at is not None:
        return CallbackState.GIVEN_UP
    return CallbackState.PENDING


async def list_callbacks(
    session: AsyncSession, *, state: CallbackState | None = None, platform_id: str | None = None, limit: int
) -> Sequence[CallbackRow]:
    """List callbacks newest first, of one state or one task (by platform id) when given."""
    query = select(*_LISTED).select_from(CLIENT_CALLBACKS.join(TASKS, TASKS.c.id == _cb.task_id))
    if state is not None:
        query = query.where(_STATE_FILTERS[state])
    if platform_id is not None:
        task_id = (await session.execute(select(TASKS.c.id).where(TASKS.c.platform_id == platform_id))).scalar()
        if task_id is None:
            raise NotFound(f"there is no task {platform_id!r}; give a task's platform_id (video_… or image_…)")
        query = query.where(_cb.task_id == task_id)
    return (await session.execute(query.order_by(_cb.id.desc()).limit(limit))).all()


async def retry_callback(session: AsyncSession, *, callback_id: int, now_ms: int) -> CallbackRow:
    """Make a callback due now; a given-up one is re-armed for another full retry period from now.

    A delivered callback is refused: it reached its receiver, and sending it again would only repeat it.
    """
    found = await _listed(session, callback_id)
    if found is None:
        raise NotFound(f"there is no callback with id {callback_id}; `callbacks list` shows them")
    if found.delivered_at is not None:
        raise InvalidRequest(f"callback {callback_id} was already delivered; only pending or given-up ones are retried")
    values: dict[str, Any] = {"next_attempt_at": now_ms}
    if found.given_up_at is not None:
        values |= {"given_up_at": None, "created_at": now_ms}
    await session.execute(update(CLIENT_CALLBACKS).where(_cb.id == callback_id).values(**values))
    retried = await _listed(session, callback_id)
    assert retried is not None
    return retried


async def _listed(session: AsyncSession, callback_id: int) -> CallbackRow | None:
    query = select(*_LISTED).select_from(CLIENT_CALLBACKS.join(TASKS, TASKS.c.id == _cb.task_id))
    return (await session.execute(query.where(_cb.id == callback_id))).one_or_none()
