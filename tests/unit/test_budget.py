"""Request budgets on a virtual clock: the window holds, waiters are served in order."""

from __future__ import annotations

import math

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_async._engine._budget import RateBudget
from prism_async._provider import Rate
from prism_async.testing import VirtualClock

pytestmark = pytest.mark.anyio


class _CountingClock(VirtualClock):
    """A virtual clock that fails (instead of hanging) when a waiter busy-loops."""

    def __init__(self, max_sleeps: int) -> None:
        super().__init__()
        self.sleeps = 0
        self.max_sleeps = max_sleeps

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.sleeps > self.max_sleeps:
            raise AssertionError(f"busy loop: {self.sleeps} sleeps, clock at {self.monotonic()}")
        await super().sleep(seconds)


async def _request(budget: RateBudget) -> None:
    """One request through the budget, answered at once."""
    budget.settle(await budget.acquire())


async def _acquire_all(budget: RateBudget, clock: VirtualClock, count: int) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        await _request(budget)
        times.append(clock.monotonic())

    # A guard, not a timing assertion: a lost wake-up fails instead of hanging.
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            for _ in range(count):
                tasks.start_soon(one)
    return times


@settings(max_examples=80, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=8),
    per_seconds=st.floats(min_value=0.001, max_value=3600.0),
    count=st.integers(min_value=0, max_value=40),
    start=st.floats(min_value=0.0, max_value=1e9),
)
async def test_never_more_than_n_acquisitions_in_any_window(
    requests: int, per_seconds: float, count: int, start: float
) -> None:
    clock = _CountingClock(max_sleeps=count + 1)
    clock.advance(start)
    budget = RateBudget(Rate(requests=requests, per_seconds=per_seconds), clock)
    times = await _acquire_all(budget, clock, count)
    assert len(times) == count
    assert times == sorted(times)
    # Any N+1 consecutive acquisitions span at least one whole window (up to the clock's
    # float resolution at that reading).
    for first, later in zip(times, times[requests:], strict=False):
        assert later - first >= per_seconds - 4 * math.ulp(later)
    # ...and the budget waits no longer than it must: the first N go at once, and each
    # later batch of N after one wait.
    assert times[:requests] == [start] * min(requests, count)
    assert clock.sleeps <= max(0, math.ceil(count / requests) - 1)


async def test_a_burst_goes_out_at_the_documented_pace() -> None:
    clock = VirtualClock()
    budget = RateBudget(Rate(requests=5, per_seconds=60.0), clock)
    times = await _acquire_all(budget, clock, 12)
    assert times == [0.0] * 5 + [60.0] * 5 + [120.0] * 2


async def test_waiters_are_served_in_arrival_order() -> None:
    clock = VirtualClock()
    budget = RateBudget(Rate(requests=1, per_seconds=10.0), clock)
    served: list[int] = []

    async def one(index: int) -> None:
        await _request(budget)
        served.append(index)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            for index in range(20):
                tasks.start_soon(one, index)
                await anyio.lowlevel.checkpoint()  # arrive one after the other
    assert served == list(range(20))
    assert clock.monotonic() == pytest.approx(190.0)


async def test_acquisitions_spread_over_time_are_not_delayed() -> None:
    clock = VirtualClock()
    budget = RateBudget(Rate(requests=2, per_seconds=10.0), clock)
    for _ in range(6):
        before = clock.monotonic()
        await _request(budget)
        assert clock.monotonic() == before
        clock.advance(5.0)


async def test_defer_holds_the_next_acquisition_for_the_given_seconds() -> None:
    clock = VirtualClock()
    budget = RateBudget(Rate(requests=5, per_seconds=60.0), clock)
    await _request(budget)
    clock.advance(3.0)
    budget.defer(30.0)
    await _request(budget)
    assert clock.monotonic() == pytest.approx(33.0)


async def test_defer_longer_than_the_window_is_honoured() -> None:
    clock = VirtualClock()
    budget = RateBudget(Rate(requests=3, per_seconds=1.0), clock)
    budget.defer(90.0)
    times = await _acquire_all(budget, clock, 4)
    assert times[0] == pytest.approx(90.0)
    assert times[:3] == [times[0]] * 3  # the whole budget is free again after the wait
    assert times[3] == pytest.approx(91.0)


async def test_defer_of_zero_does_not_block() -> None:
    clock = VirtualClock()
    budget = RateBudget(Rate(requests=2, per_seconds=60.0), clock)
    budget.defer(0.0)
    await _request(budget)
    assert clock.monotonic() == 0.0


@pytest.mark.parametrize(
    "rate", [Rate(requests=0, per_seconds=1.0), Rate(requests=1, per_seconds=0.0)]
)
def test_invalid_rate_is_refused(rate: Rate) -> None:
    with pytest.raises(ValueError, match="invalid rate"):
        RateBudget(rate, VirtualClock())
