"""Poll scheduling: the base interval while a task is young, backing off once it runs long, on shared grids."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from kling_gateway.tasks.schedule import next_look, poll_interval, retry_delay_ms


def test_a_task_within_its_typical_time_is_polled_at_the_base_interval() -> None:
    assert poll_interval(age_ms=50_000, expected_ms=120_000, base_s=5, longest_s=60) == 5


def test_a_task_past_its_typical_time_is_polled_less_often_up_to_the_longest_interval() -> None:
    intervals = [
        poll_interval(age_ms=age_s * 1000, expected_ms=120_000, base_s=5, longest_s=60)
        for age_s in (120, 170, 200, 300, 600, 3600, 86_400)
    ]
    assert intervals == [5, 10, 20, 40, 40, 40, 40]
    assert poll_interval(age_ms=10**9, expected_ms=None, base_s=5, longest_s=80) == 80


@given(
    age_ms=st.integers(0, 10**9),
    expected_ms=st.none() | st.integers(0, 10**7),
    base_s=st.sampled_from([0.05, 1.0, 5.0]),
    longest_s=st.floats(0.05, 3600),
)
def test_every_interval_is_the_base_doubled_and_within_bounds(
    age_ms: int, expected_ms: int | None, base_s: float, longest_s: float
) -> None:
    interval = poll_interval(age_ms=age_ms, expected_ms=expected_ms, base_s=base_s, longest_s=longest_s)
    assert interval >= base_s
    assert interval <= max(base_s, longest_s)
    assert math.log2(interval / base_s).is_integer()  # the base doubled: the grids of all intervals align


@given(moment_ms=st.integers(0, 10**13), doublings=st.integers(0, 5))
def test_a_longer_interval_lands_on_the_base_grid(moment_ms: int, doublings: int) -> None:
    """Tasks on different intervals come due at instants of the base grid, so one list call still reads them."""
    base_ms = 5000
    at = next_look(moment_ms, base_ms * 2**doublings / 1000)
    assert at % base_ms == 0
    assert at > moment_ms


def test_retries_wait_twice_as_long_each_time_up_to_a_ceiling() -> None:
    assert [retry_delay_ms(n, base_s=5, longest_s=300) for n in (1, 2, 3, 4, 7, 20)] == [
        5000,
        10_000,
        20_000,
        40_000,
        300_000,
        300_000,
    ]
