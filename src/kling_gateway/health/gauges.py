"""The gauges of `/metrics` that the store knows best, read at each scrape: the same whichever process answers,
however many processes there are."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from kling_gateway.health.checks import Outcome, Readiness
from kling_gateway.health.tallies import Snapshot, limits
from kling_gateway.observability.metrics import PREFIX
from kling_gateway.upstream.health import HealthState

ANY_CHANNEL = "any"  # a waiting task that any channel may take


class StoreGauges:
    """Yield the gauges of one readiness look (its checks, and the store's snapshot when it could be read)."""

    def __init__(self, looked: Readiness, *, now_ms: int) -> None:
        self.looked = looked
        self.now_ms = now_ms

    def collect(self) -> Iterator[Metric]:
        """Give every gauge, as Prometheus collectors do."""
        checks = GaugeMetricFamily(PREFIX + "ready_check", "1 when a readiness check passes, else 0", labels=["check"])
        for check in self.looked.checks:
            checks.add_metric([check.name], 1.0 if check.outcome is Outcome.PASS else 0.0)
        yield checks
        store = self.looked.snapshot
        if store is None:
            return
        names = store.channel_names()
        tasks = GaugeMetricFamily(
            PREFIX + "tasks",
            'Unfinished tasks now, by status, action, generation and channel ("" before one is chosen)',
            labels=["status", "family", "action", "generation", "channel"],
        )
        counted: dict[tuple[str, str, str, str, str], int] = {}
        for row in store.unfinished:
            channel = "" if row.channel_id is None else names.get(row.channel_id, str(row.channel_id))
            key = (row.status, row.family, row.action, row.generation, channel)
            counted[key] = counted.get(key, 0) + row.tasks
        for key, count in sorted(counted.items()):
            tasks.add_metric(list(key), count)
        yield tasks
        yield from self._channels(store, names)
        yield GaugeMetricFamily(
            PREFIX + "callbacks_pending", "Client callbacks waiting to be delivered", value=store.callbacks_pending
        )
        overdue_s = 0.0 if store.callback_due_ms is None else max(self.now_ms - store.callback_due_ms, 0) / 1000
        yield GaugeMetricFamily(
            PREFIX + "callbacks_overdue_seconds",
            "How long the most overdue pending callback has been due",
            value=overdue_s,
        )
        if store.beats:
            age_s = max(self.now_ms - store.beats[0].beat_at, 0) / 1000
            yield GaugeMetricFamily(
                PREFIX + "worker_heartbeat_age_seconds", "Time since a sync worker last finished a round", value=age_s
            )

    def _channels(self, store: Snapshot, names: dict[int, str]) -> Iterator[Metric]:
        used = store.slots_in_use()
        in_use = GaugeMetricFamily(
            PREFIX + "channel_slots_in_use",
            "Concurrency slots that unfinished tasks take on a channel, by pack type",
            labels=["channel", "pack_type"],
        )
        limit = GaugeMetricFamily(
            PREFIX + "channel_slots_limit",
            "A channel's concurrency limit, by pack type",
            labels=["channel", "pack_type"],
        )
        up = GaugeMetricFamily(
            PREFIX + "channel_usable",
            "1 when a channel can take tasks (enabled, credentials accepted, neither down nor misconfigured)",
            labels=["channel"],
        )
        state = GaugeMetricFamily(
            PREFIX + "channel_state",
            "1 for a channel's health state now (healthy, degraded, misconfigured, down, unknown), 0 for the others",
            labels=["channel", "state"],
        )
        errors = GaugeMetricFamily(
            PREFIX + "channel_error_ratio",
            "The share of a channel's calls in the health window that were its fault (upstream or account)",
            labels=["channel"],
        )
        for channel, health in zip(store.channels, store.health, strict=True):
            takes = channel.enabled and channel.misconfigured is None and channel.health.takes_tasks
            up.add_metric([channel.name], 1.0 if takes else 0.0)
            for each in HealthState:
                state.add_metric([channel.name, each.value], 1.0 if each is health.state else 0.0)
            errors.add_metric([channel.name], health.error_ratio)
            for pack_type, bound in limits(channel).items():
                limit.add_metric([channel.name, pack_type], bound)
                in_use.add_metric([channel.name, pack_type], used.get((channel.id, pack_type), 0))
        waiting = GaugeMetricFamily(
            PREFIX + "tasks_waiting",
            'Tasks queued for a free channel, by the channel they must go to ("any") and pack type',
            labels=["channel", "pack_type"],
        )
        for (channel_id, pack_type), count in sorted(store.waiting().items(), key=str):
            name = ANY_CHANNEL if channel_id is None else names.get(channel_id, str(channel_id))
            waiting.add_metric([name, pack_type], count)
        yield from (in_use, limit, up, state, errors, waiting)
