"""Submit, find and list tasks: the rules of a submit from validation to the upstream's acceptance."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing import ledger
from kling_gateway.billing.money import cost_micros, format_yuan
from kling_gateway.catalog.service import Catalog
from kling_gateway.channels.affinity import required_channel
from kling_gateway.channels.selection import NONE_CONFIGURED
from kling_gateway.clock import Clock, SystemClock
from kling_gateway.errors import (
    Conflict,
    InsufficientBalance,
    InvalidRequest,
    NoCapacity,
    NotFound,
    RefusedUpstream,
    StoreUnavailable,
    UpstreamFailed,
)
from kling_gateway.keys import service as keys_service
from kling_gateway.keys.service import Principal
from kling_gateway.kling.codes import refusal_code
from kling_gateway.kling.output import expected_output
from kling_gateway.kling.schemas import ActionSpec, CreateBody, Family, InvalidBody, parse_body
from kling_gateway.outbox.targets import check_callback_target
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database, Executor
from kling_gateway.store.outages import unavailable_reason
from kling_gateway.store.records import Task, TaskDraft, TaskStatus, TaskView
from kling_gateway.tasks import repository
from kling_gateway.tasks.dispatch import Dispatcher, Offer, Outcome, Sent
from kling_gateway.tasks.estimates import hold_units
from kling_gateway.tasks.ids import is_platform_id, new_platform_id
from kling_gateway.upstream.client import KlingClient
from kling_gateway.users import service as users_service


@dataclass(frozen=True)
class _Draft:
    """A validated submit, before anything is stored."""

    spec: ActionSpec
    body: CreateBody
    raw: dict[str, object]
    body_hash: str


class TaskService:
    """Take tasks in and answer about them; holds the database, the upstream client and the prices."""

    def __init__(
        self,
        db: Database,
        client: KlingClient,
        settings: Settings,
        *,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ):
        self.db = db
        self.client = client
        self.settings = settings
        self.rng = rng or random.Random()
        self.clock = clock or SystemClock()
        self.dispatcher = Dispatcher(db, client, settings, self.rng, clock=self.clock)
        self.catalog = Catalog(db, settings, clock=self.clock)

    # -- queries -------------------------------------------------------------------------------------------------

    async def find(self, owner: Principal, family: Family, reference: str, *, action: str | None = None) -> TaskView:
        """Find one of the owner's tasks (of one action, or any of the family) by any of its three ids."""
        async with self.db.read() as connection:
            row = await repository.find_for_user(
                connection, user_id=owner.user_id, family=family.value, action=action, reference=reference
            )
        if row is None:
            raise NotFound(
                f"task {reference!r} was not found among your {action or family.value} tasks "
                "(look it up by task_id, platform_id or external_task_id)",
                param="task_id",
            )
        return row

    async def channel_base_url(self, task: TaskView) -> str | None:
        """Name the base URL of the channel a task went to (where its results come from); None while it has none."""
        async with self.db.read() as connection:
            return await repository.channel_base_url(connection, platform_id=task.platform_id)

    async def page(
        self, owner: Principal, family: Family, action: str, *, page_num: int, page_size: int
    ) -> tuple[list[TaskView], bool]:
        """List a page of the owner's tasks of an action, newest first; say whether another page follows."""
        async with self.db.read() as connection:
            return await repository.page_for_user(
                connection,
                user_id=owner.user_id,
                family=family.value,
                action=action,
                page_num=page_num,
                page_size=page_size,
            )

    async def cursor_page(
        self, owner: Principal, family: Family, *, after: str | None, limit: int, newest_first: bool
    ) -> tuple[list[TaskView], bool]:
        """List the owner's tasks of a family from just past the task `after`; say whether more follow."""
        async with self.db.read() as connection:
            found = await repository.cursor_page_for_user(
                connection,
                user_id=owner.user_id,
                family=family.value,
                after=after,
                limit=limit,
                newest_first=newest_first,
            )
        if found is None:
            raise InvalidRequest(
                f"after: {after!r} is not the id of one of your {family.value} (use an id from a list answer)",
                param="after",
            )
        return found

    # -- submit --------------------------------------------------------------------------------------------------

    async def submit(self, owner: Principal, spec: ActionSpec, raw: object) -> TaskView:
        """Validate, hold the estimate, then send upstream now or queue the task until a channel has room."""
        admitted = await self.catalog.admit(spec, raw)  # a retired or disabled model: refused before anything
        draft = _draft(admitted.spec, raw, validated=admitted.validated)
        if draft.body.callback_url is not None:
            await check_callback_target(draft.body.callback_url, allow_private=self.settings.allow_private_callbacks)
        external_id = draft.body.external_task_id
        if external_id is not None:
            _check_external_id(external_id)
        platform_id = new_platform_id(spec.family)
        try:
            return await self._store_and_send(owner, draft, platform_id)
        except Exception as failure:
            reason = unavailable_reason(failure)
            if reason is None:
                raise
            raise StoreUnavailable(_unknown_outcome(reason, platform_id, external_id)) from failure

    async def _store_and_send(self, owner: Principal, draft: _Draft, platform_id: str) -> TaskView:
        """Store the task and hold its estimate, then send it or leave it queued; answer with it as stored."""
        external_id = draft.body.external_task_id
        try:
            stored = await self._store_and_hold(owner, draft, platform_id)
        except IntegrityError:
            # Another request with the same external_task_id won the race: answer as that one.
            async with self.db.read() as connection:
                earlier = await self._earlier(connection, owner, external_id or "", draft)
            if earlier is None:
                raise
            return earlier
        if isinstance(stored, TaskView):  # submitted before under its external_task_id: nothing was stored
            return stored
        task, offer = stored
        # Tasks already waiting go first: a new one only skips the queue when there is none (then it has an offer).
        sent = None if offer is None else await self._send_now(owner, task, offer)
        if sent is not None:
            view = sent.view
            if view is None:  # its acceptance was more than one statement
                async with self.db.read() as connection:
                    view = await repository.find_view(connection, task_id=task.id)
        else:
            await self._check_queue_bound(owner, task)
            async with self.db.session() as session, session.begin():
                await repository.make_ready(session, task_id=task.id)
            async with self.db.session() as session:
                view = await repository.find_view(session, task_id=task.id)
        assert view is not None
        return view

    async def _send_now(self, owner: Principal, task: Task, offer: Offer) -> Outcome | None:
        """Offer a new task to the channels; undo the submit if the upstream refused it or none can be reached.
        Return the outcome when a channel took it; None when it waits in the queue, or its answer is being
        looked for."""
        outcome = await self.dispatcher.send(task, offer)
        if outcome.sent is Sent.ACCEPTED:
            return outcome
        if outcome.sent is Sent.REFUSED:
            await self._forget(task, f"refused upstream: {outcome.reason}")
            raise RefusedUpstream(f"the upstream refused the task: {outcome.reason}", refusal_code(outcome.code))
        if outcome.sent is Sent.NO_CHANNEL:
            await self._forget(task, outcome.reason)
            if outcome.reason != NONE_CONFIGURED:  # e.g. no channel with an API key, or the owner's disabled
                raise UpstreamFailed(f"the task cannot be sent: {outcome.reason}")
            raise UpstreamFailed(
                "no upstream channel is configured; an admin adds one with `kling-gateway channels add`"
            )
        if outcome.sent is Sent.FAILED:
            await self._forget(task, "no channel could take the task")
            raise UpstreamFailed(f"no upstream channel could take the task: {outcome.reason}")
        return None

    async def _check_queue_bound(self, owner: Principal, task: Task) -> None:
        """Refuse a task that would wait in a full queue (it was offered first, so it waits only if all are busy)."""
        admission = self.settings.admission
        async with self.db.session() as session:
            fresh = await repository.find_by_platform_id(session, task.platform_id)
            if fresh is None or fresh.status is not TaskStatus.QUEUED or fresh.channel_id is not None:
                return
            mine, everyone = await repository.waiting_counts(session, user_id=owner.user_id)
        # The counts include this task.
        if mine <= admission.queue_per_user and everyone <= admission.queue_total:
            return
        if not await self._forget(task, "the queue of tasks waiting for a channel was full"):
            return  # a worker sent it meanwhile: it no longer waits
        if mine > admission.queue_per_user:
            raise NoCapacity(
                f"every upstream channel is busy and you already have {mine - 1} tasks waiting for one, the most "
                f"a user may queue ({admission.queue_per_user}); retry when some have started"
            )
        raise NoCapacity(
            f"every upstream channel is busy and {everyone - 1} tasks are already waiting, the most the gateway "
            f"queues ({admission.queue_total}); retry in a little while"
        )

    async def _earlier(self, reader: Executor, owner: Principal, external_id: str, draft: _Draft) -> TaskView | None:
        """Find the task submitted earlier under this external id; refuse an id that is another task's upstream
        id, as lookups by id try it before the external id."""
        named = await repository.find_named(reader, user_id=owner.user_id, reference=external_id)
        for other in named:
            if other.upstream_task_id == external_id:
                raise InvalidRequest(
                    f"external_task_id: {external_id!r} is the task_id of your task {other.platform_id}, so the "
                    "new task could never be found by it; choose another",
                    param="external_task_id",
                )
        row = next((task for task in named if task.external_task_id == external_id), None)
        if row is None:
            return None
        if row.body_hash != draft.body_hash or row.action != draft.spec.action or row.family != draft.spec.family:
            raise Conflict(
                f"external_task_id {external_id!r} already names your task {row.platform_id} "
                f"({row.family}/{row.action}) with a different request body; resend the same body to get that task, "
                "or use a new external_task_id for a new task"
            )
        return row.view

    async def _store_and_hold(
        self, owner: Principal, draft: _Draft, platform_id: str
    ) -> tuple[Task, Offer | None] | TaskView:
        """Store the task as queued and hold its estimate, in one transaction; refuse if the balance is short,
        the key has too many tasks unfinished, or the task refers to a video or session that is not the owner's.
        Return the stored task and, unless tasks of its pack type were already waiting for a channel (then it
        waits behind them), the channels it may go to now, claimed for the best (`Dispatcher.plan`); or, storing
        nothing, the task submitted earlier under its external_task_id (looked for on the same connection)."""
        pack_type, slots = draft.body.slots()
        output = expected_output(draft.spec, draft.body)
        moment = self.clock.now_ms()
        async with self.db.session() as session, session.begin():
            committed = self.db.committed(session)  # what this transaction reads but never writes
            external_id = draft.body.external_task_id
            if external_id is not None:
                earlier = await self._earlier(committed, owner, external_id, draft)
                if earlier is not None:
                    return earlier
            units = await hold_units(session, user_id=owner.user_id, spec=draft.spec, body=draft.body)
            required = await required_channel(session, user_id=owner.user_id, spec=draft.spec, body=draft.body)
            await self._check_in_flight(session, owner)
            rates = await users_service.rates_for_new_task(committed, user_id=owner.user_id, settings=self.settings)
            rate = rates.of(draft.body.package())
            estimate = cost_micros(units, rate)
            if (
                await ledger.hold(session, user_id=owner.user_id, task_platform_id=platform_id, amount_micros=estimate)
                is None
            ):
                raise InsufficientBalance(await self._shortfall(session, owner, draft, units, rate, estimate))
            draft_task = TaskDraft(
                platform_id=platform_id,
                user_id=owner.user_id,
                key_id=owner.key_id,
                dialect=None if owner.dialect is None else owner.dialect.value,
                required_channel_id=required,
                family=draft.spec.family.value,
                action=draft.spec.action,
                external_task_id=draft.body.external_task_id,
                body_hash=draft.body_hash,
                request_json=orjson.dumps(draft.raw).decode(),
                callback_url=draft.body.callback_url,
                pack_type=pack_type.value,
                slots=slots,
                watermark=draft.body.wants_watermark(),
                rate_micros=rate,
                hold_micros=estimate,
                created_at=moment,
                # Its submitter sends it; only if the submitter dies first do the workers take it from here.
                next_sync_at=moment + self.dispatcher.send_lease_ms,
                model=output.model,
                seconds=output.seconds,
                width=output.width,
                height=output.height,
                fps=output.fps,
                expected_ms=output.typical_ms,
                generation=draft.spec.generation.value,
                rates_json=rates.as_json(),
            )
            task, behind = await repository.insert_behind(session, draft_task)
            if behind:
                return task, None
            return task, await self.dispatcher.plan(session, task)

    async def _check_in_flight(self, session: AsyncSession, owner: Principal) -> None:
        limit = owner.limits(self.settings.admission).tasks_in_flight
        if limit is None:
            return
        # Submits of one key take turns here, so two at once cannot both slip under the limit.
        await keys_service.lock_key(session, key_id=owner.key_id)
        unfinished = await repository.in_flight_for_key(session, key_id=owner.key_id)
        if unfinished >= limit:
            raise NoCapacity(
                f"this key already has {unfinished} unfinished tasks, its limit ({limit}); "
                "submit more once some have finished"
            )

    async def _shortfall(
        self, session: AsyncSession, owner: Principal, draft: _Draft, units: Decimal, rate: int, estimate: int
    ) -> str:
        balance, held = await ledger.balance_of(session, user_id=owner.user_id)
        return (
            f"insufficient balance: this {draft.spec.action} task needs ¥{format_yuan(estimate)} held until it "
            f"finishes ({units} credits × ¥{format_yuan(rate)}), but only ¥{format_yuan(balance - held)} is available "
            f"(balance ¥{format_yuan(balance)}, ¥{format_yuan(held)} held for tasks in flight); top up and retry"
        )

    async def _forget(self, task: Task, note: str) -> bool:
        """Remove a task no upstream took and release its hold; the ledger keeps both entries. Tell whether it
        was still queued and unsent (a worker may have sent it meanwhile; then it stays)."""
        async with self.db.session() as session, session.begin():
            if not await repository.delete_unsent(session, task_id=task.id):
                return False
            await ledger.settle(session, task, charge_micros=0, note=note)
        return True


def _check_external_id(external_id: str) -> None:
    """Refuse an external id that would not find the new task, as it is, or could be, another task's id: lookups
    by id try platform_id, then task_id, then external id."""
    if is_platform_id(external_id):
        raise InvalidRequest(
            f"external_task_id: {external_id!r} has the form of the gateway's own task ids (platform_id), so "
            "the task could never be found by it; choose an id of your own that does not",
            param="external_task_id",
        )


def _unknown_outcome(reason: str, platform_id: str, external_id: str | None) -> str:
    """Tell a client whose submit met an unavailable store how to learn whether its task exists, and how to
    retry without making two: the store may have kept the task (its commit was under way, or a worker will send
    it after its submitter gave up)."""
    resend = (
        f", or resend it with external_task_id {external_id!r}, which never makes a second task"
        if external_id is not None
        else "; give a submit an external_task_id to retry it safely"
    )
    return (
        f"the gateway's store is unavailable ({reason}), so it is not known whether this task was stored; if it "
        f"was, it is {platform_id}: look it up by that id before sending it again{resend}"
    )


def _draft(spec: ActionSpec, raw: object, *, validated: object | None = None) -> _Draft:
    """Validate a body (as `validated` when the catalog has it name the model an added one is like); keep `raw`
    as sent, which is what is stored and sent upstream."""
    try:
        body = parse_body(spec.schema, raw if validated is None else validated)
    except InvalidBody as invalid:
        raise InvalidRequest(invalid.message, param=invalid.field) from None
    assert isinstance(raw, dict)  # parse_body takes nothing but a JSON object
    canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    return _Draft(spec=spec, body=body, raw=dict(raw), body_hash=hashlib.sha256(canonical).hexdigest())
