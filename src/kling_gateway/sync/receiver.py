"""Take an upstream callback about a task, in either generation's body, and move the task with the same code
polling uses."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from kling_gateway.channels.selection import all_channels
from kling_gateway.errors import InvalidRequest, Unauthenticated
from kling_gateway.settings import BillingConfig, SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.tasks import effects, repository, transitions
from kling_gateway.tasks.schedule import next_look
from kling_gateway.upstream.callbacks import token_matches, verify_signature
from kling_gateway.upstream.client import UpstreamTask
from kling_gateway.upstream.errors import UpstreamError


async def take_callback(
    db: Database,
    platform_id: str,
    token: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    config: SyncConfig,
    now_ms: int,
    billing: BillingConfig | None = None,
) -> bool:
    """Apply a callback's task object to the task it is about, once it proves its sender; tell if the task moved.

    Nothing is read from the body before the sender is known to be the task's channel, and, when that channel has
    a webhook secret, before the body's signature checks out.
    """
    moment = now_ms
    # The sender is proved on a read, so a flood of forged posts never takes the store's write lock.
    async with db.read() as connection:
        task = await repository.find_by_platform_id(connection, platform_id)
        channels = [] if task is None else await all_channels(connection)
    channels = [c for c in channels if task is not None and task.channel_id in (None, c.id)]
    sender = next((c for c in channels if token_matches(c.credentials.callback_secret, platform_id, token)), None)
    if task is None or sender is None:
        # The same answer for a task that does not exist: the route tells nothing about which ids do.
        raise Unauthenticated("the callback URL's token does not match the task's channel")
    if sender.webhook_secret is not None:
        verify_signature(sender.webhook_secret, body, headers, now_s=moment / 1000)
    report = _task_object(body)
    async with db.session() as session, session.begin():
        task = await repository.find_by_platform_id(session, platform_id)  # as it is now, inside the write
        if task is None or task.channel_id not in (None, sender.id):  # sent elsewhere since the read
            raise Unauthenticated("the callback URL's token does not match the task's channel")
        if task.upstream_task_id not in (None, report.task_id):
            raise InvalidRequest(f"the callback is about upstream task {report.task_id!r}, not this task's")
        polled = task.polled
        if task.channel_id is None:
            # The callback overtook the submit's own answer; it tells which channel took the task.
            await repository.adopt_channel(session, task_id=task.id, channel_id=sender.id)
            polled = polled._replace(channel_id=sender.id)
        next_sync_at = next_look(moment, config.poll_interval_s)
        currency_micros = (billing or BillingConfig()).currency_micros
        move = await transitions.advance(
            session, polled, report, now_ms=moment, next_sync_at=next_sync_at, currency_micros=currency_micros
        )
        await effects.record(session, move, callback_give_up_s=config.callback_give_up_s)
        return move is not None


def _task_object(body: bytes) -> UpstreamTask:
    try:
        # Either body may come: the docs leave open which one some models' tasks send.
        return UpstreamTask.from_either_json(orjson.loads(body))
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"the callback body is not valid JSON ({error})") from None
    except UpstreamError as error:
        raise InvalidRequest(f"the callback body is not a Kling task object: {error.message}") from None
