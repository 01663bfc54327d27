"""Send queued tasks upstream exactly once.

A task is claimed for one channel before its create call goes out (`tasks.channel_id` set while it is still
`queued`). While claimed it goes nowhere else. When the create answers, the task moves on or the claim is
dropped; when the answer is lost (a timeout, a 5xx, a sender killed mid-call) the upstream is asked for the task
by its external id — the task's `platform_id` — and only once it says it has no such task is the claim dropped
and the task offered again, to the same or another channel. So a task never has two upstream tasks. Between two
channels of one offer the sender keeps the task's lease, so no worker offers it meanwhile.

A channel whose breaker is open (down) or whose account refused (misconfigured) is offered nothing while it is so;
what each offer's calls said of their channels is reported as soon as the offer is over (`channels.health`).
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum, auto

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.channels.admin import mark_misconfigured
from kling_gateway.channels.health import tracker_of
from kling_gateway.channels.selection import (
    NONE_CONFIGURED,
    ChannelChoice,
    all_channels,
    rank,
    refused_reason,
    usable,
)
from kling_gateway.clock import Clock, SystemClock
from kling_gateway.kling.schemas import Generation, PackType
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.records import Task, TaskStatus, TaskView
from kling_gateway.tasks import effects, repository, transitions
from kling_gateway.tasks.schedule import next_look, retry_delay_ms
from kling_gateway.upstream.callbacks import callback_url
from kling_gateway.upstream.client import KlingClient, UpstreamTask
from kling_gateway.upstream.errors import (
    ChannelBusy,
    ChannelMisconfigured,
    ChannelUnavailable,
    OutcomeUnknown,
    RequestRefused,
    UpstreamError,
)

log = logging.getLogger(__name__)

_RETRY_LONGEST_S = 300.0  # a task no channel could take is offered again at least this often


class Sent(Enum):
    """What became of one offer of a task."""

    ACCEPTED = auto()  # an upstream task exists for it now
    UNKNOWN = auto()  # the answer was lost and the upstream could not be asked yet: a worker settles it later
    TAKEN = auto()  # another sender claimed the task first
    WAITING = auto()  # every channel it may go to is at its concurrency limit
    REFUSED = auto()  # the upstream refused the request itself: no channel will take it
    FAILED = auto()  # every channel tried is known not to have taken it (down, or the create had no effect)
    NO_CHANNEL = auto()  # no enabled channel may take it


@dataclass(frozen=True)
class Outcome:
    sent: Sent
    reason: str = ""
    code: int | None = None  # the upstream's code, for a refusal
    channel_id: int | None = None  # where the task now is (or may be): set when accepted or unknown
    view: TaskView | None = None  # the task as its acceptance left it, when that was written in one statement


@dataclass(frozen=True)
class Offer:
    """Where a task may go, best first; `claimed`: the first channel holds the task's claim already (a crash
    after its commit leaves a claim, as any does, for `resolve_unknown` to settle)."""

    ranked: Sequence[ChannelChoice]
    enabled: int
    why_none: str
    claimed: bool


class Dispatcher:
    """Offer tasks to channels: at submit, from the admission queue, and again after a lost answer."""

    def __init__(
        self,
        db: Database,
        client: KlingClient,
        settings: Settings,
        rng: random.Random,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self.rng = rng
        self.clock = clock or SystemClock()
        sync = settings.sync
        # A claim outlives any create call still under way, so no one asks the upstream before it could answer.
        self.send_lease_ms = round((2 * sync.upstream_timeout_s + sync.poll_interval_s) * 1000)
        # A create that never answered may still land upstream for a while; until then, absence proves nothing.
        self.landing_ms = round(2 * sync.upstream_timeout_s * 1000)
        self.health = tracker_of(client, db, settings.channel_health, self.clock)
        self._served: dict[int, int] = {}  # user id → the turn their latest task was sent upstream
        self._refused: set[int] = set()  # channels found misconfigured during this queue round
        self._turns = 0

    # -- one task ------------------------------------------------------------------------------------------------

    async def plan(self, session: AsyncSession, task: Task) -> Offer:
        """Choose the channels that have room for a new task, in the transaction that stores it, and claim it for
        the best one there: a submit commits once before its create call, not twice."""
        reader = self.db.committed(session)
        # The disabled ones too, to say so when none is left.
        channels, in_use = await repository.channels_in_use(reader, pack_type=task.pack_type)
        allowed, why_none = _allowed(await self.health.judged(channels), task)
        ranked = rank(allowed, in_use, PackType(task.pack_type), task.slots, self.rng)
        claimed = bool(ranked) and await self._claim(session, task, ranked[0])
        return Offer(ranked, len(allowed), why_none, claimed)

    async def send(self, task: Task, offer: Offer | None = None) -> Outcome:
        """Offer a queued task to the channels `plan` chose (in a transaction of its own unless given), best first,
        until one takes it."""
        if offer is None:
            async with self.db.session() as session, session.begin():
                offer = await self.plan(session, task)
        try:
            return await self._offer(
                task, offer.ranked, enabled=offer.enabled, why_none=offer.why_none, claimed=offer.claimed
            )
        finally:
            self.health.report_soon()  # a submit's faults count at once, and the submit does not wait for them

    async def _offer(
        self, task: Task, ranked: Sequence[ChannelChoice], *, enabled: int, why_none: str = "", claimed: bool = False
    ) -> Outcome:
        """Try the channels in turn; with `claimed`, the first holds the task's claim already."""
        busy, problems = enabled - len(ranked), []
        for index, channel in enumerate(ranked):
            outcome = await self._try(task, channel, claimed=claimed and index == 0)
            if outcome.sent is Sent.WAITING:
                busy += 1
            if outcome.sent in (Sent.WAITING, Sent.FAILED):
                problems.append(f"{channel.name}: {outcome.reason}")
                continue
            if outcome.sent in (Sent.ACCEPTED, Sent.UNKNOWN):
                return replace(outcome, channel_id=channel.id)
            return outcome
        if enabled == 0:
            return Outcome(Sent.NO_CHANNEL, why_none or NONE_CONFIGURED)
        if busy:
            return Outcome(Sent.WAITING, "; ".join(problems) or "every channel is at its concurrency limit")
        return Outcome(Sent.FAILED, "; ".join(problems))

    async def _claim(self, session: AsyncSession, task: Task, channel: ChannelChoice) -> bool:
        moment = self.clock.now_ms()
        return await repository.claim_send(
            session, task_id=task.id, channel_id=channel.id, now_ms=moment, lease_until=moment + self.send_lease_ms
        )

    async def _try(self, task: Task, channel: ChannelChoice, *, claimed: bool = False) -> Outcome:
        """Claim the task for a channel (unless it holds the claim already), create it there, and settle the claim
        by what the upstream said."""
        if not claimed:
            async with self.db.session() as session, session.begin():
                won = await self._claim(session, task, channel)
            if not won:
                return Outcome(Sent.TAKEN)
        body = self._upstream_body(task, channel)
        try:
            report = await self.client.create(
                channel.credentials, task.family, task.action, body, generation=Generation(task.generation)
            )
        except UpstreamError as error:
            return await self._after_error(task, channel, error)
        return Outcome(Sent.ACCEPTED, view=await self._adopt(task, channel, report))

    async def _after_error(self, task: Task, channel: ChannelChoice, error: UpstreamError) -> Outcome:
        # A refusal naming the external id means the upstream already has a task under it: an earlier create
        # did take effect. That, like a lost answer, is settled by asking for the task.
        # (The new generation spells it `External_task_id … already exists`.)
        if isinstance(error, OutcomeUnknown) or (
            isinstance(error, RequestRefused) and "external_task_id" in error.message.lower()
        ):
            # An upstream that answered (a 5xx) is done with the create, so its "no such task" is final. One that
            # never answered (a timeout, a dropped connection) may still be creating it: its "no" is believed
            # only once the create could no longer land.
            answered = error.http_status is not None
            return await self._look_up(task, channel, absence_is_final=answered)
        await self._release(task, channel)
        if isinstance(error, ChannelMisconfigured):
            return Outcome(Sent.FAILED, await self.note_misconfigured(channel, error))
        if isinstance(error, ChannelBusy):
            return Outcome(Sent.WAITING, error.message)
        if isinstance(error, ChannelUnavailable):
            return Outcome(Sent.FAILED, error.message)
        return Outcome(Sent.REFUSED, error.message, error.code)

    async def _look_up(self, task: Task, channel: ChannelChoice, *, absence_is_final: bool) -> Outcome:
        """Ask the channel for the task by its external id: adopt it if there; if not, offer it again once the
        absence is certain, else leave it claimed for a worker to ask again."""
        try:
            found = await self._find(task, channel)
        except UpstreamError as error:
            # Keep the claim; a worker asks again soon (the create call is known to be over).
            await self._recheck_soon(task)
            return Outcome(Sent.UNKNOWN, error.message)
        if found is not None:
            return Outcome(Sent.ACCEPTED, view=await self._adopt(task, channel, found))
        if not absence_is_final:
            await self._recheck_at(task, self.clock.now_ms() + self.landing_ms)
            return Outcome(Sent.UNKNOWN, "no answer, and the task is not there yet")
        await self._release(task, channel)
        return Outcome(Sent.FAILED, "no answer, and the task is not there")

    async def _find(self, task: Task, channel: ChannelChoice) -> UpstreamTask | None:
        """Ask the channel for the task by its external id (our platform_id); None when it has no such task."""
        if task.generation != Generation.NEW.value:
            return await self.client.get(channel.credentials, task.family, task.action, task.platform_id)
        # `/tasks` leaves out an id it does not know rather than refusing it: absent means not created.
        found = await self.client.tasks_by_external_ids(channel.credentials, [task.platform_id])
        return next((report for report in found if report.external_task_id == task.platform_id), None)

    async def note_misconfigured(self, channel: ChannelChoice, error: ChannelMisconfigured) -> str:
        """Note on the channel that the upstream refused its credentials, so no task is offered to it until an
        admin updates them (it is not down: waiting would not help); return the reason."""
        reason = refused_reason(channel, error.message)
        log.warning("channel %s is misconfigured: %s", channel.name, reason)
        async with self.db.session() as session, session.begin():
            await mark_misconfigured(session, channel_id=channel.id, reason=reason)
        self._refused.add(channel.id)
        return reason

    def _upstream_body(self, task: Task, channel: ChannelChoice) -> dict[str, object]:
        """Send our platform_id as the upstream's external id, and never the client's callback URL: the
        gateway's receiver goes in its place, when the gateway has a public URL."""
        raw: dict[str, object] = orjson.loads(task.request_json)
        receiver = None
        if self.settings.public_url is not None:
            receiver = callback_url(
                str(self.settings.public_url), channel.credentials.callback_secret, task.platform_id
            )
        if task.generation == Generation.NEW.value:
            # New-style bodies carry both in `options`; nothing else is added to what the client sent.
            given = raw.get("options")
            options = {k: v for k, v in given.items() if k != "callback_url"} if isinstance(given, dict) else {}
            options["external_task_id"] = task.platform_id
            if receiver is not None:
                options["callback_url"] = receiver
            return raw | {"options": options}
        body = {key: value for key, value in raw.items() if key != "callback_url"}
        body["external_task_id"] = task.platform_id
        if receiver is not None:
            body["callback_url"] = receiver
        return body

    async def _adopt(self, task: Task, channel: ChannelChoice, report: UpstreamTask) -> TaskView | None:
        """Move the task on from the upstream's first word about it (a callback may have got there first); return
        the task as the move left it when the move was one statement (most creates: nothing else is owed).

        The report proves the task lives on this channel, so the claim is set to it under the row's lock, even
        if a stale "not there" dropped it meanwhile: a task in flight always knows its channel.
        """
        moment = self.clock.now_ms()
        next_sync_at = next_look(moment, self.settings.sync.poll_interval_s)
        alone = transitions.first_move_alone(task, report, now_ms=moment, next_sync_at=next_sync_at)
        if alone is not None:
            # A task no longer queued was moved by whoever set its channel.
            async with self.db.one_statement() as connection:
                changes = alone | {"channel_id": channel.id}
                return await repository.transition_shown(
                    connection, task_id=task.id, expected=TaskStatus.QUEUED, changes=changes
                )
        async with self.db.session() as session, session.begin():
            fresh = await repository.lock_queued_to(session, task_id=task.id, channel_id=channel.id)
            if fresh is None:  # no longer queued: whoever moved it set its channel
                return None
            move = await transitions.advance(
                session,
                fresh,
                report,
                now_ms=moment,
                next_sync_at=next_sync_at,
                currency_micros=self.settings.billing.currency_micros,
            )
            await effects.record(session, move, callback_give_up_s=self.settings.sync.callback_give_up_s)
        return None

    async def _release(self, task: Task, channel: ChannelChoice) -> None:
        """Drop the claim on a channel known not to have the task, keeping the sender's lease: the offer may go on
        to another channel, and no worker must offer the task meanwhile. Whoever ends the offer sets its next look."""
        lease_until = self.clock.now_ms() + self.send_lease_ms
        async with self.db.session() as session, session.begin():
            await repository.release_send(session, task_id=task.id, channel_id=channel.id, retry_at=lease_until)

    async def _recheck_soon(self, task: Task) -> None:
        await self._recheck_at(task, self.clock.now_ms() + round(self.settings.sync.poll_interval_s * 1000))

    async def _recheck_at(self, task: Task, at: int) -> None:
        async with self.db.session() as session, session.begin():
            await repository.set_next_look(session, task_id=task.id, at=at)

    # -- the queue -----------------------------------------------------------------------------------------------

    async def dispatch_waiting(self) -> int:
        """Send waiting tasks while channels have room: users take turns, each user's oldest task first.

        Return how many tasks were offered. A task no channel would take (down, or refused) waits a while before
        its next offer; after `max_send_attempts` creates it fails and its hold is released.
        """
        moment = self.clock.now_ms()
        self._refused.clear()
        async with self.db.session() as session:
            waiting = await repository.waiting_in_turn(session, now_ms=moment, limit=self.settings.sync.claim_limit)
            if not waiting:
                return 0
            channels = await self.health.judged(await all_channels(session))
            in_use: dict[str, Counter[int]] = {}
            for pack_type in {w.task.pack_type for w in waiting}:
                in_use[pack_type] = Counter(await repository.slots_in_use(session, pack_type=pack_type))
        # Among equal places, the user served longest ago goes first: users take turns.
        in_turn = sorted(waiting, key=lambda w: (w.place, self._served.get(w.task.user_id, 0), w.task.id))
        offered = 0
        for task in (w.task for w in in_turn):
            if self._refused:  # refused once this round: the rest of the queue does not try it again
                channels = [_refused_now(channel) if channel.id in self._refused else channel for channel in channels]
            allowed, why_none = _allowed(channels, task)
            pack_type = PackType(task.pack_type)
            ranked = rank(allowed, in_use[task.pack_type], pack_type, task.slots, self.rng)
            if not ranked and allowed:
                continue  # full for now; a task of another pack type or channel may still go
            offered += 1
            outcome = await self._offer(task, ranked, enabled=len(allowed), why_none=why_none)
            if outcome.sent in (Sent.ACCEPTED, Sent.UNKNOWN, Sent.TAKEN):
                self._turns += 1
                self._served[task.user_id] = self._turns
                if outcome.channel_id is not None:  # taken by another sender: it counts it
                    in_use[task.pack_type][outcome.channel_id] += task.slots
            elif outcome.sent is Sent.WAITING:
                # The upstream says the account is full though the gateway counted room (other users of the
                # account, or its tasks ending later than ours know): offer again after a poll interval.
                await self._defer(task, round(self.settings.sync.poll_interval_s * 1000))
            else:
                await self._not_sent(task, outcome)
        await self.health.report()
        return offered

    async def _defer(self, task: Task, delay_ms: int) -> None:
        async with self.db.session() as session, session.begin():
            await repository.set_next_look(session, task_id=task.id, at=self.clock.now_ms() + delay_ms)

    async def _not_sent(self, task: Task, outcome: Outcome) -> None:
        """Fail a queued task that cannot go upstream, or let it wait before its next offer."""
        moment = self.clock.now_ms()
        async with self.db.session() as session, session.begin():
            fresh = await repository.find_by_platform_id(session, task.platform_id)
            if fresh is None or fresh.channel_id is not None:
                return
            if outcome.sent is Sent.REFUSED:
                await self._fail(session, fresh, f"refused upstream: {outcome.reason}", moment)
            elif fresh.send_attempts >= self.settings.admission.max_send_attempts:
                message = (
                    f"no upstream channel took the task in {fresh.send_attempts} attempts ({outcome.reason}); "
                    "its hold was released"
                )
                await self._fail(session, fresh, message, moment)
            else:
                delay = retry_delay_ms(
                    fresh.send_attempts + 1, base_s=self.settings.sync.poll_interval_s, longest_s=_RETRY_LONGEST_S
                )
                await repository.set_next_look(session, task_id=fresh.id, at=moment + delay)

    async def _fail(self, session: AsyncSession, task: Task, message: str, moment: int) -> None:
        move = await transitions.fail(session, task.polled, message, now_ms=moment)
        await effects.record(session, move, callback_give_up_s=self.settings.sync.callback_give_up_s)

    # -- lost answers --------------------------------------------------------------------------------------------

    async def resolve_unknown(self, channels: Mapping[int, ChannelChoice]) -> int:
        """Settle claims whose create answer was lost or whose sender died: adopt the upstream task if the
        channel has it, else put the task back in the queue (or fail it once it has used its attempts)."""
        moment = self.clock.now_ms()
        async with self.db.session() as session, session.begin():
            pending = await repository.claim_unknown(
                session, now_ms=moment, lease_until=moment + self.send_lease_ms, limit=self.settings.sync.claim_limit
            )
        for task in pending:
            channel = None if task.channel_id is None else channels.get(task.channel_id)
            if channel is None:  # claimed ones have a channel; one since deleted cannot be asked
                continue
            try:
                found = await self._find(task, channel)
            except UpstreamError as error:
                log.warning("could not ask %s about task %s yet: %s", channel.name, task.platform_id, error)
                continue
            if found is not None:
                await self._adopt(task, channel, found)
                continue
            if moment < task.updated_at + self.landing_ms:  # claimed recently: its create may still land
                await self._recheck_at(task, task.updated_at + self.landing_ms)
                continue
            await self._release(task, channel)
            await self._not_sent(task, Outcome(Sent.FAILED, f"{channel.name}: the create had no effect"))
        return len(pending)


def _refused_now(channel: ChannelChoice) -> ChannelChoice:
    if channel.misconfigured is not None:
        return channel
    return replace(channel, misconfigured="the upstream refused its credentials just now")


def _allowed(channels: Sequence[ChannelChoice], task: Task) -> tuple[list[ChannelChoice], str]:
    """The enabled channels a task may go to, and why there are none when so: those whose credentials work for
    its generation, and of them only the owner of what it refers to, if it refers to something."""
    if task.required_channel_id is not None:
        owners = [channel for channel in channels if channel.id == task.required_channel_id and channel.enabled]
        if not owners:
            return [], "the channel that owns the video or session it refers to is disabled"
        channels = owners
    return usable(channels, task.generation)
