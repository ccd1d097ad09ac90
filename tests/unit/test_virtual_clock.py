"""The virtual clock: sleepers wake in order, time jumps only when every task is idle."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import aiohttp
import anyio
import pytest
from aiohttp import web

from prism_async._clock import Clock
from prism_async.testing import AUTOJUMP_THRESHOLD, VirtualClock

pytestmark = pytest.mark.anyio


class Log:
    """Who woke when, on the clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.woke: list[tuple[str, float]] = []

    async def sleeper(self, name: str, seconds: float) -> None:
        await self.clock.sleep(seconds)
        self.woke.append((name, self.clock.monotonic()))


async def test_three_tasks_sleeping_10_s_at_once_all_wake_at_10_s() -> None:
    clock = VirtualClock()
    log = Log(clock)
    with anyio.fail_after(5):  # a guard against a lost wake-up, not a timing assertion
        async with anyio.create_task_group() as tasks:
            for name in "abc":
                tasks.start_soon(log.sleeper, name, 10)
    assert log.woke == [("a", 10.0), ("b", 10.0), ("c", 10.0)]
    assert clock.monotonic() == 10.0
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 10, tzinfo=timezone.utc)


async def test_sleepers_wake_in_order_of_wake_up_then_of_arrival() -> None:
    clock = VirtualClock()
    log = Log(clock)
    async with anyio.create_task_group() as tasks:
        for name, seconds in [("c", 3), ("a", 1), ("b2", 2), ("b1", 2), ("d", 30)]:
            tasks.start_soon(log.sleeper, name, seconds)
            await anyio.lowlevel.checkpoint()  # arrive in this order
    assert log.woke == [("a", 1.0), ("b2", 2.0), ("b1", 2.0), ("c", 3.0), ("d", 30.0)]


async def test_a_sleeper_added_while_others_sleep_takes_its_place_in_line() -> None:
    clock = VirtualClock()
    log = Log(clock)

    async def late() -> None:
        await clock.sleep(4)
        log.woke.append(("first", clock.monotonic()))
        await log.sleeper("late", 3)  # falls asleep at 4 while "long" sleeps until 10

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(log.sleeper, "long", 10)
        tasks.start_soon(late)
    assert log.woke == [("first", 4.0), ("late", 7.0), ("long", 10.0)]


@pytest.mark.parametrize("seconds", [0, 0.0, -1, -math.inf, math.nan])
async def test_a_sleep_of_zero_or_less_returns_at_once_and_is_a_checkpoint(
    seconds: float,
) -> None:
    clock = VirtualClock()
    clock.advance(5)
    with anyio.fail_after(5):
        await clock.sleep(seconds)
    assert clock.monotonic() == 5.0
    assert clock.sleepers == 0
    with anyio.CancelScope() as scope:
        scope.cancel()
        await clock.sleep(seconds)
        pytest.fail("a cancelled scope must interrupt the sleep")  # pragma: no cover
    assert scope.cancelled_caught


async def test_a_sleep_too_short_to_move_the_clock_returns_at_once() -> None:
    clock = VirtualClock()
    clock.advance(1e9)
    await clock.sleep(1e-9)  # 1e9 + 1e-9 == 1e9 in floating point
    assert clock.monotonic() == 1e9


def test_advance_moves_time_without_an_event_loop() -> None:
    clock = VirtualClock(start=datetime(2030, 5, 1, tzinfo=timezone.utc))
    clock.advance(90)
    clock.advance(-5)  # moving back is ignored
    clock.advance(0)
    assert clock.monotonic() == 90.0
    assert clock.now() == datetime(2030, 5, 1, 0, 1, 30, tzinfo=timezone.utc)
    assert clock.next_wake is None
    assert not clock.jump()
    with pytest.raises(ValueError, match="infinity"):
        clock.advance(math.inf)


async def test_advance_by_hand_wakes_exactly_the_sleepers_due() -> None:
    clock = VirtualClock(autojump_threshold=None)
    log = Log(clock)
    async with anyio.create_task_group() as tasks:
        for name, seconds in [("a", 5), ("b", 10), ("c", 10), ("d", 20)]:
            tasks.start_soon(log.sleeper, name, seconds)
        await wait_until(lambda: clock.sleepers == 4)
        assert clock.next_wake == 5.0
        clock.advance(4)
        await settle()
        assert log.woke == []
        clock.advance(7)  # to 11: a, b and c are due
        await settle()
        assert log.woke == [("a", 11.0), ("b", 11.0), ("c", 11.0)]
        assert (clock.sleepers, clock.next_wake) == (1, 20.0)
        assert clock.jump()
    assert log.woke[-1] == ("d", 20.0)
    assert clock.sleepers == 0


async def test_without_autojump_time_stands_still_while_everyone_sleeps() -> None:
    clock = VirtualClock(autojump_threshold=None)
    log = Log(clock)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(log.sleeper, "a", 1)
        await anyio.sleep(10 * AUTOJUMP_THRESHOLD)  # real time: the loop is idle
        assert (clock.monotonic(), log.woke) == (0.0, [])
        clock.autojump_threshold = AUTOJUMP_THRESHOLD  # switched on: the sleeper's next
        clock.advance(0.5)  # wake-up is checked the next time the loop is idle
    assert log.woke == [("a", 1.0)]


async def test_a_cancelled_sleeper_leaves_the_line() -> None:
    clock = VirtualClock()
    log = Log(clock)
    async with anyio.create_task_group() as tasks:
        with anyio.CancelScope() as scope:
            tasks.start_soon(log.sleeper, "kept", 10)
            await wait_until(lambda: clock.sleepers == 1)
            scope.cancel()
            await clock.sleep(5)  # cancelled before it could wake
        assert clock.sleepers == 1
        assert clock.next_wake == 10.0
    assert log.woke == [("kept", 10.0)]
    assert clock.monotonic() == 10.0  # nobody was left to wake at 5


async def test_cancelled_sleepers_do_not_pile_up() -> None:
    clock = VirtualClock()
    for _ in range(1000):  # as the scheduler's sleep toward a far deadline is, every tick
        with anyio.CancelScope() as scope:
            scope.cancel()
            await clock.sleep(3600)
    assert clock.sleepers == 0
    assert len(clock._sleepers) <= 65  # compacted as they piled up
    assert clock.next_wake is None


async def test_time_does_not_jump_while_the_loop_is_busy() -> None:
    clock = VirtualClock()
    log = Log(clock)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(log.sleeper, "a", 1)
        end = time.perf_counter() + 10 * AUTOJUMP_THRESHOLD
        while time.perf_counter() < end:  # busy: always something ready to run
            await anyio.lowlevel.checkpoint()
            assert clock.monotonic() == 0.0
    assert log.woke == [("a", 1.0)]


# -- real I/O -----------------------------------------------------------------------------

BODY = bytes(16 * 1024 * 1024)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A loopback HTTP server in this event loop: a small answer and a large one."""

    async def small(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def large(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for start in range(0, len(BODY), 1 << 16):
            await response.write(BODY[start : start + (1 << 16)])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/small", small)
    app.router.add_get("/large", large)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_time_does_not_jump_while_a_loopback_request_is_in_flight(server: str) -> None:
    # A threshold far below the exchanges' real duration: only the I/O in flight keeps
    # the clock from jumping.
    clock = VirtualClock(autojump_threshold=0.001)
    log = Log(clock)
    async with aiohttp.ClientSession() as session, anyio.create_task_group() as tasks:
        tasks.start_soon(log.sleeper, "a", 1)
        await wait_until(lambda: clock.sleepers == 1)
        started = time.perf_counter()
        for _ in range(20):
            async with session.get(f"{server}/small") as response:
                assert await response.json() == {"ok": True}
            assert clock.monotonic() == 0.0
        async with session.get(f"{server}/large") as response:
            size = 0
            async for chunk in response.content.iter_any():
                size += len(chunk)
                assert clock.monotonic() == 0.0
        assert size == len(BODY)
        assert time.perf_counter() - started > 10 * 0.001  # the exchanges took that long
        assert log.woke == []
    assert log.woke == [("a", 1.0)]  # once the exchanges were over, time moved on


async def test_the_virtual_clock_is_a_clock() -> None:
    clock: Clock = VirtualClock()
    before = clock.now()
    await clock.sleep(2.5)
    assert clock.monotonic() == 2.5
    assert clock.now() - before == timedelta(seconds=2.5)


def test_a_negative_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="autojump_threshold"):
        VirtualClock(autojump_threshold=-1)


# -- helpers ------------------------------------------------------------------------------


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await anyio.lowlevel.checkpoint()


async def wait_until(condition: object) -> None:
    assert callable(condition)
    with anyio.fail_after(5):
        while not condition():
            await anyio.lowlevel.checkpoint()
