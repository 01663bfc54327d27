"""Submit, find and list tasks: the rules of a submit from validation to the upstream's acceptance."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing import ledger
from kling_gateway.billing.money import cost_micros, format_yuan, yuan_to_micros
from kling_gateway.channels.selection import ChannelChoice, candidates_for
from kling_gateway.clock import now_ms
from kling_gateway.errors import (
    Conflict,
    InsufficientBalance,
    InvalidRequest,
    NoCapacity,
    NotFound,
    RefusedUpstream,
    UpstreamFailed,
)
from kling_gateway.keys.service import Principal
from kling_gateway.kling.codes import KlingCode
from kling_gateway.kling.output import expected_output
from kling_gateway.kling.pricing import unit_cost
from kling_gateway.kling.schemas import ActionSpec, CreateBody, Family, InvalidBody, parse_body
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.models import USERS
from kling_gateway.sync.callbacks import callback_url
from kling_gateway.sync.schedule import next_look
from kling_gateway.tasks import repository
from kling_gateway.tasks.callback_targets import check_callback_target
from kling_gateway.tasks.ids import new_platform_id
from kling_gateway.tasks.repository import TaskRow
from kling_gateway.tasks.states import TaskStatus
from kling_gateway.upstream.client import KlingClient, UpstreamTask
from kling_gateway.upstream.errors import ChannelBusy, ChannelUnavailable, OutcomeUnknown, RequestRefused


@dataclass(frozen=True)
class _Draft:
    """A validated submit, before anything is stored."""

    spec: ActionSpec
    body: CreateBody
    raw: dict[str, Any]
    body_hash: str


class TaskService:
    """Take tasks in and answer about them; holds the database, the upstream client and the prices."""

    def __init__(self, db: Database, client: KlingClient, settings: Settings, *, rng: random.Random | None = None):
        self.db = db
        self.client = client
        self.settings = settings
        self.rng = rng or random.Random()
        self._default_rates = {
            Family.VIDEOS: yuan_to_micros(settings.video_credit_yuan),
            Family.IMAGES: yuan_to_micros(settings.image_credit_yuan),
        }

    # -- queries -------------------------------------------------------------------------------------------------

    async def find(self, owner: Principal, family: Family, reference: str, *, action: str | None = None) -> TaskRow:
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

    async def page(
        self, owner: Principal, family: Family, action: str, *, page_num: int, page_size: int
    ) -> tuple[Sequence[TaskRow], bool]:
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
    ) -> tuple[Sequence[TaskRow], bool]:
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

    async def submit(self, owner: Principal, spec: ActionSpec, raw: Any) -> TaskRow:
        """Validate, hold the estimate, send upstream (failing over between channels) and return the task."""
        draft = _draft(spec, raw)
        if draft.body.callback_url is not None:
            await check_callback_target(draft.body.callback_url, allow_private=self.settings.allow_private_callbacks)
        external_id = draft.body.external_task_id
        if external_id is not None:
            earlier = await self._earlier(owner, external_id, draft)
            if earlier is not None:
                return earlier
        platform_id = new_platform_id(spec.family)
        try:
            task_id = await self._store_and_hold(owner, draft, platform_id)
        except IntegrityError:
            # Another request with the same external_task_id won the race: answer as that one.
            earlier = await self._earlier(owner, external_id or "", draft)
            if earlier is None:
                raise
            return earlier
        await self._send(task_id, platform_id, draft)
        async with self.db.session() as session:
            row = await repository.find_by_platform_id(session, platform_id)
        assert row is not None
        return row

    async def _earlier(self, owner: Principal, external_id: str, draft: _Draft) -> TaskRow | None:
        async with self.db.read() as connection:
            row = await repository.find_by_external_id(connection, user_id=owner.user_id, external_task_id=external_id)
        if row is None:
            return None
        if row.body_hash != draft.body_hash or row.action != draft.spec.action or row.family != draft.spec.family:
            raise Conflict(
                f"external_task_id {external_id!r} already names your task {row.platform_id} "
                f"({row.family}/{row.action}) with a different request body; resend the same body to get that task, "
                "or use a new external_task_id for a new task"
            )
        return row

    async def _store_and_hold(self, owner: Principal, draft: _Draft, platform_id: str) -> int:
        """Store the task as queued and hold its estimate, in one transaction; refuse if the balance is short."""
        pack_type, slots = draft.body.slots()
        units = unit_cost(draft.spec, draft.body)
        output = expected_output(draft.spec, draft.body)
        moment = now_ms()
        async with self.db.session() as session, session.begin():
            rate = await self._rate(session, owner, draft.spec.family)
            estimate = cost_micros(units, rate)
            if (
                await ledger.hold(session, user_id=owner.user_id, task_platform_id=platform_id, amount_micros=estimate)
                is None
            ):
                raise InsufficientBalance(await self._shortfall(session, owner, draft, units, rate, estimate))
            return await repository.insert(
                session,
                {
                    "platform_id": platform_id,
                    "user_id": owner.user_id,
                    "family": draft.spec.family.value,
                    "action": draft.spec.action,
                    "external_task_id": draft.body.external_task_id,
                    "body_hash": draft.body_hash,
                    "request_json": orjson.dumps(draft.raw).decode(),
                    "callback_url": draft.body.callback_url,
                    "pack_type": pack_type.value,
                    "slots": slots,
                    "status": TaskStatus.QUEUED.value,
                    "watermark": draft.body.wants_watermark(),
                    "rate_micros": rate,
                    "hold_micros": estimate,
                    "created_at": moment,
                    "updated_at": moment,
                    "model": output.model,
                    "seconds": output.seconds,
                    "width": output.width,
                    "height": output.height,
                    "fps": output.fps,
                    "expected_ms": output.typical_ms,
                },
            )

    async def _rate(self, session: AsyncSession, owner: Principal, family: Family) -> int:
        column = USERS.c.video_rate_micros if family is Family.VIDEOS else USERS.c.image_rate_micros
        own = (await session.execute(select(column).where(USERS.c.id == owner.user_id))).scalar_one()
        return self._default_rates[family] if own is None else int(own)

    async def _shortfall(
        self, session: AsyncSession, owner: Principal, draft: _Draft, units: Decimal, rate: int, estimate: int
    ) -> str:
        balance, held = (
            await session.execute(
                select(USERS.c.balance_micros, USERS.c.held_micros).where(USERS.c.id == owner.user_id)
            )
        ).one()
        return (
            f"insufficient balance: this {draft.spec.action} task needs ¥{format_yuan(estimate)} held until it "
            f"finishes ({units} credits × ¥{format_yuan(rate)}), but only ¥{format_yuan(balance - held)} is available "
            f"(balance ¥{format_yuan(balance)}, ¥{format_yuan(held)} held for tasks in flight); top up and retry"
        )

    async def _send(self, task_id: int, platform_id: str, draft: _Draft) -> None:
        """Offer the task to channels in order until one accepts it; settle the hold if none does."""
        pack_type, slots = draft.body.slots()
        async with self.db.session() as session:
            channels, enabled = await candidates_for(session, pack_type, slots, self.rng)
        busy, problems = enabled - len(channels), []
        for channel in channels:
            body = self._upstream_body(draft.raw, platform_id, channel)
            try:
                report = await self.client.create(channel.credentials, draft.spec.family.value, draft.spec.action, body)
            except ChannelBusy as error:
                busy += 1
                problems.append(f"{channel.name}: {error.message}")
                continue
            except ChannelUnavailable as error:
                problems.append(f"{channel.name}: {error.message}")
                continue
            except RequestRefused as error:
                await self._forget(task_id, platform_id, f"refused upstream: {error.message}")
                code = _known_code(error.code)
                raise RefusedUpstream(f"the upstream refused the task: {error.message}", code) from None
            except OutcomeUnknown:
                # The create may have taken effect: ask for the task by the external id it was sent with.
                try:
                    found = await self.client.get(
                        channel.credentials, draft.spec.family.value, draft.spec.action, platform_id
                    )
                except (OutcomeUnknown, ChannelUnavailable):
                    await self._mark_unknown(task_id, channel)  # the worker settles it once the upstream answers
                    return
                if found is None:
                    problems.append(f"{channel.name}: no answer, and the task is not there")
                    continue
                report = found
            await self._accepted(task_id, channel, report)
            return
        await self._forget(task_id, platform_id, "no channel could take the task")
        if enabled == 0:
            raise UpstreamFailed(
                "no upstream channel is configured; an admin adds one with `kling-gateway channels add`"
            )
        if busy == enabled:
            raise NoCapacity(
                f"every upstream channel is at its {pack_type.value} concurrency limit; retry in a few seconds"
            )
        raise UpstreamFailed("no upstream channel could take the task: " + "; ".join(problems))

    def _upstream_body(self, raw: dict[str, Any], platform_id: str, channel: ChannelChoice) -> dict[str, Any]:
        """Send our platform_id as the upstream's external id, and never the client's callback URL."""
        body = {key: value for key, value in raw.items() if key != "callback_url"}
        body["external_task_id"] = platform_id
        if self.settings.public_url is not None:
            body["callback_url"] = callback_url(
                str(self.settings.public_url), channel.credentials.secret_key, platform_id
            )
        return body

    async def _accepted(self, task_id: int, channel: ChannelChoice, report: UpstreamTask) -> None:
        moment = now_ms()
        async with self.db.session() as session, session.begin():
            await repository.transition(
                session,
                task_id=task_id,
                expected=TaskStatus.QUEUED,
                values={
                    "status": TaskStatus.SUBMITTED.value,
                    "channel_id": channel.id,
                    "upstream_task_id": report.task_id,
                    "updated_at": moment,
                    "next_sync_at": next_look(moment, self.settings.sync.poll_interval_s),
                },
            )

    async def _mark_unknown(self, task_id: int, channel: ChannelChoice) -> None:
        async with self.db.session() as session, session.begin():
            await repository.assign_channel(session, task_id=task_id, channel_id=channel.id, now_ms=now_ms())

    async def _forget(self, task_id: int, platform_id: str, note: str) -> None:
        """Remove a task no upstream took and release its hold; the ledger keeps both entries."""
        async with self.db.session() as session, session.begin():
            task = await repository.find_by_platform_id(session, platform_id)
            if task is None or not await repository.delete_queued(session, task_id=task_id):
                return
            await ledger.settle(
                session,
                user_id=task.user_id,
                task_platform_id=platform_id,
                hold_micros=task.hold_micros,
                charge_micros=0,
                note=note,
            )


def _draft(spec: ActionSpec, raw: Any) -> _Draft:
    try:
        body = parse_body(spec.schema, raw)
    except InvalidBody as invalid:
        raise InvalidRequest(invalid.message, param=invalid.field) from None
    canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    return _Draft(spec=spec, body=body, raw=dict(raw), body_hash=hashlib.sha256(canonical).hexdigest())


def _known_code(code: int | None) -> KlingCode:
    for known in KlingCode:
        if known.code == code and known.http_status == 400:
            return known
    return KlingCode.ILLEGAL_VALUE
