"""The gateway's state as `kling-gateway status` tells it: the readiness checks, each channel's state and load, and
the workers' latest rounds."""

from __future__ import annotations

from typing import Any

from kling_gateway.health.checks import Readiness, readiness
from kling_gateway.health.tallies import Snapshot, limits
from kling_gateway.settings import ChannelHealthConfig, HealthConfig
from kling_gateway.store.probe import Probe


async def status(
    probe: Probe, config: HealthConfig, *, now_ms: int, channel_health: ChannelHealthConfig
) -> dict[str, Any]:
    """Look at the store once and say everything `status` shows, as one JSON document."""
    looked = await readiness(probe, config, now_ms=now_ms, channel_health=channel_health)
    return describe(looked, now_ms=now_ms)


def describe(looked: Readiness, *, now_ms: int) -> dict[str, Any]:
    """Write a readiness look as `status` shows it."""
    document = looked.as_json()
    store = looked.snapshot
    document["channels"] = [] if store is None else channels(store)
    document["workers"] = [] if store is None else workers(store, now_ms=now_ms)
    document["callbacks_pending"] = None if store is None else store.callbacks_pending
    return document


def channels(store: Snapshot) -> list[dict[str, Any]]:
    """Each channel: enabled, why the upstream refuses it (if it does), its health, and its slots in use against
    its limits."""
    used, waiting = store.slots_in_use(), store.waiting()
    return [
        {
            "name": channel.name,
            "enabled": channel.enabled,
            "misconfigured": channel.misconfigured,
            "health": health.as_json(),
            "in_flight": {pack: used.get((channel.id, pack), 0) for pack in limits(channel)},
            "limits": dict(limits(channel)),
            "waiting": sum(count for (required, _), count in waiting.items() if required == channel.id),
        }
        for channel, health in zip(store.channels, store.health, strict=True)
    ]


def workers(store: Snapshot, *, now_ms: int) -> list[dict[str, Any]]:
    """The workers' latest rounds, the most recent first."""
    return [
        {
            "worker": beat.worker,
            "last_round_s_ago": round(max(now_ms - beat.beat_at, 0) / 1000, 1),
            "rounds": beat.rounds,
        }
        for beat in store.beats
    ]
