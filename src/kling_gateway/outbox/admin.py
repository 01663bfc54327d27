"""What the admin sees of client callbacks and does with them: list them by state or task, retry one."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.errors import InvalidRequest, NotFound
from kling_gateway.outbox import repository
from kling_gateway.outbox.repository import ListedCallback


class CallbackState(StrEnum):
    """Where a callback stands: still to be delivered, delivered, or given up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    GIVEN_UP = "given-up"


_FILTERS = {
    CallbackState.PENDING: repository.PENDING,
    CallbackState.DELIVERED: repository.DELIVERED,
    CallbackState.GIVEN_UP: repository.GIVEN_UP,
}


def state_of(callback: ListedCallback) -> CallbackState:
    """Tell where a listed callback stands."""
    if callback.delivered_at is not None:
        return CallbackState.DELIVERED
    if callback.given_up_at is not None:
        return CallbackState.GIVEN_UP
    return CallbackState.PENDING


async def list_callbacks(
    session: AsyncSession, *, state: CallbackState | None = None, platform_id: str | None = None, limit: int
) -> list[ListedCallback]:
    """List callbacks newest first, of one state or one task (by platform id) when given."""
    only = None if state is None else _FILTERS[state]
    if platform_id is None:
        return await repository.newest(session, only=only, limit=limit)
    listed = await repository.of_task(session, platform_id=platform_id, only=only, limit=limit)
    if listed is None:
        raise NotFound(f"there is no task {platform_id!r}; give a task's platform_id (video_… or image_…)")
    return listed


async def retry_callback(session: AsyncSession, *, callback_id: int, now_ms: int, give_up_s: float) -> ListedCallback:
    """Make a callback due now; a given-up one is re-armed with a new deadline `give_up_s` from now (its creation
    time stays as it was).

    A delivered callback is refused: it reached its receiver, and sending it again would only repeat it.
    """
    found = await repository.find(session, callback_id)
    if found is None:
        raise NotFound(f"there is no callback with id {callback_id}; `callbacks list` shows them")
    if found.delivered_at is not None:
        raise InvalidRequest(f"callback {callback_id} was already delivered; only pending or given-up ones are retried")
    deadline = None if found.given_up_at is None else now_ms + round(give_up_s * 1000)
    await repository.rearm(session, callback_id=callback_id, now_ms=now_ms, give_up_at=deadline)
    retried = await repository.find(session, callback_id)
    assert retried is not None
    return retried
