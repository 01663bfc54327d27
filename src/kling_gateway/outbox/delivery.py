"""Deliver client callbacks from the outbox, at least once, in order per task.

A change is written to the outbox in the transaction that made it, with its body rendered then, in the task's
dialect: exactly what a single query of the task answered at that moment (for `kling`, the bare task object, as
official Kling callbacks send it). The Deliverer POSTs it, signed with the Standard Webhooks headers under the
submitting key's `whsec_` secret (unsigned when the key has none), and retries with exponential backoff until the
receiver answers 2xx or the callback's deadline (`sync.callback_give_up_s` after the change) has passed; then the
callback is given up, and `kling-gateway callbacks list --state given-up` shows it. A task's callbacks go out in
the order of its changes: one is not sent while an earlier one is neither delivered nor given up.

Deliveries run beside the worker's polling, each as a task of its own that writes its own outcome: at most
`callback_concurrency` at once, and at most `callback_per_target` to one receiver host, so a receiver that never
answers holds only its own share of the slots, and never a poll, a send or anyone else's callback.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from kling_gateway.clock import Clock, SystemClock
from kling_gateway.egress.addresses import Resolver, system_resolver
from kling_gateway.errors import InvalidRequest
from kling_gateway.observability.metrics import CALLBACK_DELIVERIES, LEASE_LOSSES
from kling_gateway.outbox import repository
from kling_gateway.outbox.repository import AfterDelivery, Claimed
from kling_gateway.outbox.targets import check_callback_target
from kling_gateway.redaction import redact
from kling_gateway.settings import SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.outages import unavailable_detail

log = logging.getLogger(__name__)

FIRST_RETRY_S = 5.0  # the wait after a first failed delivery; it doubles with each failure after that
MAX_RETRY_S = 3600.0  # the longest wait between two deliveries of one callback
RETRY_JITTER = 0.1  # up to this share is added to each wait, so callbacks failing together spread out
LEASE_MARGIN_S = 30.0  # a claim outlives the delivery's own time limit by this much
MAX_ERROR_CHARS = 200  # how much of a failure last_error keeps
JSON_TYPE = "application/json; charset=utf-8"  # as official Kling callbacks are sent


class Deliverer:
    """Deliver due client callbacks from the outbox: claim what there is room for under a lease, POST each, record
    each outcome as it comes.

    Several Deliverers (in several worker processes) may run at once: each claim holds a lease, so no callback is
    sent twice at the same time.
    """

    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        config: SyncConfig,
        *,
        allow_private: bool,
        max_in_flight: int | None = None,  # deliveries under way at once; by default config.callback_concurrency
        per_target: int | None = None,  # of them to one receiver host; by default config.callback_per_target
        rng: random.Random | None = None,
        clock: Clock | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.db = db
        self.http = http
        self.config = config
        self.allow_private = allow_private
        self.resolver = resolver
        self.max_in_flight = max_in_flight or config.callback_concurrency
        self.per_target = per_target or config.callback_per_target
        self.rng = rng or random.Random()
        self.clock = clock or SystemClock()
        self._lease_ms = int((config.callback_timeout_s + LEASE_MARGIN_S) * 1000)
        self._under_way: dict[asyncio.Task[None], tuple[Claimed, int]] = {}  # each delivery: its callback, lease
        self._posting: set[asyncio.Task[None]] = set()  # those not yet answered (then their outcome is written)
        self._per_target: Counter[str] = Counter()  # deliveries under way by receiver host
        self._ended = asyncio.Event()  # a delivery has ended: there is room again
        self._unrecorded: list[Exception] = []  # why outcomes could not be written, for the loop to raise

    @property
    def under_way(self) -> int:
        """How many deliveries are under way now."""
        return len(self._under_way)

    async def run_once(self) -> int:
        """Claim the due callbacks there is room for, deliver them, and wait until each outcome is written; return
        how many deliveries it attempted."""
        started = await self._start_due()
        await asyncio.gather(*started)
        self._raise_unrecorded()
        return len(started)

    async def run(self, stop: asyncio.Event, *, idle_s: float) -> None:
        """Deliver due callbacks until `stop` is set, each as soon as a slot is free for it; look again when a
        delivery ends, or after `idle_s` when nothing was due. Stopping abandons the deliveries under way and hands
        their callbacks back, due at once.

        An outcome that could not be written (the store is down) is raised here; its callback's lease runs out and
        it is sent again.
        """
        try:
            while not stop.is_set():
                self._raise_unrecorded()
                self._ended.clear()
                room = self.max_in_flight - len(self._under_way)
                started = await self._start_due() if room > 0 else []
                if len(started) < room or room == 0:  # nothing more due yet, or no slot free: wait for either
                    await self._rest(stop, idle_s)
        finally:
            if stop.is_set():
                await self._abandon()

    async def _start_due(self) -> list[asyncio.Task[None]]:
        """Claim due callbacks for the free slots, within each receiver's bound, and start a delivery for each."""
        room = self.max_in_flight - len(self._under_way)
        if room <= 0:
            return []
        moment = self.clock.now_ms()
        lease_until = moment + self._lease_ms
        async with self.db.session() as session, session.begin():
            claimed = await repository.claim_due(
                session,
                now_ms=moment,
                lease_until=lease_until,
                limit=room,
                per_target=self.per_target,
                under_way=self._per_target,
            )
        started = []
        for callback in claimed:
            delivery = asyncio.create_task(self._deliver_and_record(callback, lease_until), name="client-callback")
            self._under_way[delivery] = (callback, lease_until)
            self._posting.add(delivery)
            self._per_target[callback.target] += 1
            started.append(delivery)
        return started

    async def _deliver_and_record(self, callback: Claimed, lease_until: int) -> None:
        current = asyncio.current_task()
        assert current is not None  # each delivery runs as a task of its own
        try:
            error = await self._deliver(callback)
            self._posting.discard(current)
            after = self._after(callback, error, self.clock.now_ms())
            async with self.db.session() as session, session.begin():
                held = await repository.record_attempts(session, [(callback.id, after)], lease_until=lease_until)
            CALLBACK_DELIVERIES.labels(_outcome(after)).inc()
            if not held:
                LEASE_LOSSES.labels("callback").inc()
        except Exception as unrecorded:  # the lease runs out and the callback is sent again: at least once
            self._unrecorded.append(unrecorded)
        finally:
            self._posting.discard(current)
            self._under_way.pop(current, None)
            self._per_target[callback.target] -= 1
            if self._per_target[callback.target] <= 0:
                del self._per_target[callback.target]
            self._ended.set()

    def _raise_unrecorded(self) -> None:
        if self._unrecorded:
            first = self._unrecorded[0]
            self._unrecorded.clear()
            raise first

    async def _rest(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait until a delivery ends, `stop` is set, or `seconds` have passed."""
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._ended.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _abandon(self) -> None:
        """Cancel the deliveries still waiting for their receiver and hand their callbacks back, so they go out
        again at once; let those answered write their outcome."""
        abandoned = [(delivery, self._under_way[delivery]) for delivery in self._posting]
        for delivery, _ in abandoned:
            delivery.cancel()
        await asyncio.gather(*self._under_way, return_exceptions=True)
        by_lease: dict[int, list[int]] = defaultdict(list)
        for _, (callback, lease_until) in abandoned:
            by_lease[lease_until].append(callback.id)
        if not by_lease:
            return
        try:
            async with self.db.session() as session, session.begin():
                for lease_until, callback_ids in by_lease.items():
                    await repository.release(
                        session, callback_ids=callback_ids, lease_until=lease_until, now_ms=self.clock.now_ms()
                    )
        except Exception as error:
            reason = unavailable_detail(error)
            if reason is None:
                raise
            log.warning(
                "could not hand back %d callbacks under way (%s); they go again after their lease",
                len(abandoned),
                reason,
            )

    async def _deliver(self, callback: Claimed) -> str | None:
        """POST one callback, within the delivery time limit from the address check to the last byte; return
        why it was not delivered, or None when it was."""
        if not callback.url:
            return "the task has no callback_url any more"
        try:
            async with asyncio.timeout(self.config.callback_timeout_s):
                error = await self._post(callback, callback.url)
        except TimeoutError:
            error = f"no answer within {self.config.callback_timeout_s:g} s"
        if error is not None:
            log.warning(  # the reason may quote the client's URL, and a URL may carry the client's secret
                "callback %s (%s) of task %s failed: %s",
                callback.id,
                callback.message_id,
                callback.platform_id,
                redact(error),
            )
        return error

    async def _post(self, callback: Claimed, url: str) -> str | None:
        try:
            # The address was checked at submit, but what the name resolves to may have changed since: check it
            # again and connect to the address checked now (through a proxy, the proxy connects).
            destination = await check_callback_target(
                url, allow_private=self.allow_private, pin=self.config.callback_proxy is None, resolver=self.resolver
            )
        except InvalidRequest as refused:
            return refused.message
        try:
            headers = _headers(callback)
        except (ValueError, EmptyWebhookSecretError):
            return "the key's webhook secret is not a valid whsec_ secret"
        request = destination.request(self.http, "POST", content=callback.body.encode(), headers=headers)
        try:
            # Only the status matters: the answer's body is never read, so a receiver answering 400 MB costs nothing.
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as error:
            return _short(f"{type(error).__name__}: {error}".rstrip(": "))
        await response.aclose()
        if response.is_success:
            return None
        return _short(f"HTTP {response.status_code} {response.reason_phrase}".strip())

    def _after(self, callback: Claimed, error: str | None, moment: int) -> AfterDelivery:
        """Say how a callback stands after a delivery: delivered, retried later, or given up at its deadline."""
        attempts = callback.attempts + 1
        if error is None:
            return {"attempts": attempts, "delivered_at": moment, "next_attempt_at": None, "last_error": ""}
        if moment >= callback.give_up_at:
            log.warning("gave up callback %s of task %s after %d attempts", callback.id, callback.platform_id, attempts)
            return {"attempts": attempts, "given_up_at": moment, "next_attempt_at": None, "last_error": error}
        # The last attempt is made at the deadline itself, however long the backoff has grown.
        next_attempt = min(moment + self.backoff_ms(attempts), callback.give_up_at)
        return {"attempts": attempts, "next_attempt_at": next_attempt, "last_error": error}

    def backoff_ms(self, attempts: int) -> int:
        """Wait after `attempts` failed deliveries: 5 s doubling up to 1 h, plus up to a tenth more at random."""
        wait_s = min(FIRST_RETRY_S * 2 ** (attempts - 1), MAX_RETRY_S)
        return int(wait_s * (1 + self.rng.uniform(0, RETRY_JITTER)) * 1000)


def _outcome(after: AfterDelivery) -> str:
    """Name how a delivery ended, for the metrics."""
    if "delivered_at" in after:
        return "delivered"
    return "given_up" if "given_up_at" in after else "retry"


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
