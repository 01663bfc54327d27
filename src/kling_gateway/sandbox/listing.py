"""The index behind `POST /tasks`: each account's tasks in creation order, whole and per product type.

A page is found by bisecting creation times and sequence numbers, then read newest first, so it costs
O(log n + page), not O(tasks); only a status filter, which changes with time, has to skip non-matching tasks.
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kling_gateway.sandbox.store import SandboxTask


@dataclass(slots=True)
class _Run:
    """Tasks in creation order, with their creation times and account-wide sequence numbers beside them."""

    tasks: list[SandboxTask] = field(default_factory=list)
    created_ms: list[int] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)

    def add(self, seq: int, task: SandboxTask) -> None:
        self.tasks.append(task)
        # A clock that steps back must not break the bisection: creation times never decrease here.
        self.created_ms.append(max(task.timeline.created_ms, self.created_ms[-1] if self.created_ms else 0))
        self.seqs.append(seq)

    def newest_first(self, *, before_seq: int | None, start_ms: int, end_ms: int) -> Iterator[tuple[int, SandboxTask]]:
        """Yield (seq, task) from the newest within the bounds back to the window's start."""
        stop = bisect.bisect_right(self.created_ms, end_ms)
        if before_seq is not None:
            stop = min(stop, bisect.bisect_left(self.seqs, before_seq))
        first = bisect.bisect_left(self.created_ms, start_ms)
        for index in range(stop - 1, first - 1, -1):
            yield self.seqs[index], self.tasks[index]


@dataclass(slots=True)
class TaskListing:
    """Index tasks per account, and per account and product type (`video`, `image`, `try_on`)."""

    _all: defaultdict[str, _Run] = field(default_factory=lambda: defaultdict(_Run))
    _by_product: defaultdict[tuple[str, str], _Run] = field(default_factory=lambda: defaultdict(_Run))

    def add(self, task: SandboxTask) -> None:
        """Index a new task as its account's newest."""
        run = self._all[task.account]
        seq = len(run.tasks) + 1
        run.add(seq, task)
        self._by_product[(task.account, product_type(task))].add(seq, task)

    def newest_first(
        self,
        account: str,
        *,
        product_types: Iterable[str] | None,
        before_seq: int | None,
        start_ms: int,
        end_ms: int,
    ) -> Iterator[tuple[int, SandboxTask]]:
        """Yield an account's tasks newest first, within a window and below a sequence number (a cursor)."""
        if product_types is None:
            runs = [self._all[account]] if account in self._all else []
        else:
            runs = [self._by_product[(account, kind)] for kind in product_types if (account, kind) in self._by_product]
        streams = [run.newest_first(before_seq=before_seq, start_ms=start_ms, end_ms=end_ms) for run in runs]
        yield from heapq.merge(*streams, key=lambda entry: entry[0], reverse=True)


def product_type(task: SandboxTask) -> str:
    """Name the `/tasks` product type of a task: the pack type whose concurrency it takes."""
    return task.body.slots()[0].value
