"""A virtual clock shared by the client and the emulators, so tests run in virtual time.

Sleepers are kept in order: a heap of wake-up times. Time moves on in two ways only:

* :meth:`VirtualClock.advance` (or :meth:`~VirtualClock.jump`) by hand, which wakes every
  sleeper whose time has come;
* the *autojump*: when the event loop has had nothing to do for ``autojump_threshold``
  seconds of real time, the clock moves to the earliest wake-up and wakes the sleepers
  due then. Three tasks that sleep 10 s at once all wake at 10 s.

This is trio's ``MockClock(autojump_threshold=...)`` carried over to asyncio.

How idleness is seen
--------------------
The first sleep of an autojumping clock in an asyncio event loop wraps the ``select()``
of that loop's selector (asyncio's own loops all have one: ``loop._selector``; the
proactor of Windows too). asyncio calls it once per loop iteration with a timeout of 0
when callbacks are ready to run, else with the time to the next real timer. The loop is
*busy* when it is called with a timeout of 0 or returns I/O events; it is *idle* from the
first ``select()`` after that. When it has been idle for the whole threshold (no ready
callback, no I/O event, no real timer that woke a task), the clock jumps: the woken
sleepers' callbacks are queued, so the very same loop iteration runs them.

An HTTP exchange with an emulator in the same process over loopback keeps the loop busy:
the bytes written by one end are readable by the other at once, so every ``select()``
in between returns an event. Virtual time therefore never jumps while such a request is
on the wire.

The threshold
-------------
:data:`AUTOJUMP_THRESHOLD` (5 ms of real time) is how long the loop must have been idle
before virtual time moves: the longest it may wait on something outside it (a worker
thread, a server in another process) that is about to answer.

It is waived in one case: right after a jump, if the loop has seen no I/O event since and
no worker thread is running (``loop.run_in_executor`` jobs, which ``asyncio.to_thread``
uses, are counted; so are the tokens of ``anyio.to_thread``'s default limiter), the tasks
the jump woke went back to sleep without anything outside the loop showing signs of
life, and the next jump comes as soon as the loop is idle. A chain of sleeps (a server
stepping through a long poll, a rate budget spacing out a burst) then runs at CPU speed;
a jump after any I/O waits the threshold. So a test pays about 5 ms of real time for each
idle moment that follows I/O (each poll of a job on an emulator), and next to nothing for
the others.

Limits
------
* Something outside the loop that takes longer than the threshold (a stalled disk, a
  slow subprocess, a server that holds a request in *real* time, as the emulators' SLOW
  and HANG faults do) lets time jump before it answers, as trio's does. Raise
  ``autojump_threshold``, or move time by hand, in such tests.
* A request that a woken task sends to a server in *another* process does not hold back
  the jump that follows at once (its bytes give no event until the answer comes). Worker
  threads started through another limiter or executor are not seen either.
* A real-time timer that wakes a task more often than the threshold (``asyncio.sleep``
  in a polling loop) never leaves the loop idle that long: after I/O, virtual time then
  moves only by hand.
* It needs one of asyncio's own event loops (not uvloop), and the loop's thread:
  :meth:`advance` and :meth:`jump` are not thread-safe. On another backend, or with
  ``autojump_threshold=None``, time moves only by :meth:`advance` and :meth:`jump`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import anyio.to_thread
import attrs

__all__ = ["AUTOJUMP_THRESHOLD", "VirtualClock"]

#: Real seconds the event loop must have been idle before virtual time jumps.
AUTOJUMP_THRESHOLD = 0.005


@attrs.define(eq=False)
class _Sleeper:
    wake: float
    order: int
    event: anyio.Event = attrs.field(factory=anyio.Event)
    done: bool = False  # woken, or left (cancelled)

    def __lt__(self, other: _Sleeper) -> bool:
        return (self.wake, self.order) < (other.wake, other.order)


class VirtualClock:
    """Time that moves when everyone sleeps, or by hand.

    Give the same instance to the Client and the emulators: a job that takes 90 virtual
    seconds finishes after the engine has slept 90 virtual seconds, in a few real
    milliseconds. See the module documentation for how idleness is detected.

    Args:
        start: The wall time at monotonic 0 (default: 2026-01-01T00:00:00Z).
        autojump_threshold: Real seconds of an idle event loop after which time jumps to
            the earliest wake-up; None: time moves only by :meth:`advance` and
            :meth:`jump`. May be changed at any time.
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        autojump_threshold: float | None = AUTOJUMP_THRESHOLD,
    ) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._now = 0.0
        self._sleepers: list[_Sleeper] = []
        self._live = 0
        self._order = itertools.count()
        self._threshold: float | None = None
        self.autojump_threshold = autojump_threshold

    @property
    def autojump_threshold(self) -> float | None:
        """Real seconds of an idle event loop after which time jumps (None: never)."""
        return self._threshold

    @autojump_threshold.setter
    def autojump_threshold(self, seconds: float | None) -> None:
        if seconds is not None and not seconds >= 0:
            raise ValueError(f"autojump_threshold must be >= 0, not {seconds}")
        self._threshold = seconds
        if seconds is not None and self._live:
            _Autojump.watch(self)  # switched on while tasks sleep: their loop is running

    # -- the Clock protocol --------------------------------------------------------------

    def monotonic(self) -> float:
        return self._now

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._now)

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` of virtual time have passed (at once for 0 or less)."""
        wake = self._now + seconds if seconds > 0 else self._now
        if not wake > self._now:  # zero, negative, NaN, or too small to move the clock
            await anyio.lowlevel.checkpoint()
            return
        if math.isinf(wake):
            await anyio.sleep_forever()
            return
        if self.autojump_threshold is not None:
            _Autojump.watch(self)
        sleeper = _Sleeper(wake, next(self._order))
        heapq.heappush(self._sleepers, sleeper)
        self._live += 1
        try:
            await sleeper.event.wait()
        finally:
            if not sleeper.done:  # cancelled: left in the heap, skipped when due
                sleeper.done = True
                self._live -= 1
                if len(self._sleepers) - self._live > max(64, self._live):
                    self._sleepers = [s for s in self._sleepers if not s.done]
                    heapq.heapify(self._sleepers)

    # -- moving time by hand -------------------------------------------------------------

    @property
    def sleepers(self) -> int:
        """Tasks asleep on this clock."""
        return self._live

    @property
    def next_wake(self) -> float | None:
        """The earliest wake-up (monotonic seconds), or None if nobody sleeps."""
        self._drop_left()
        return self._sleepers[0].wake if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds`` (nothing for 0 or less) and wake the sleepers due."""
        if math.isinf(seconds) and seconds > 0:
            raise ValueError("cannot advance a clock by infinity")
        if seconds > 0:
            self._now += seconds
        self._wake_due()

    def jump(self) -> bool:
        """Move time to the earliest wake-up and wake every sleeper due then; False (and
        time unchanged) if nobody sleeps. What the autojump does when the loop is idle."""
        wake = self.next_wake
        if wake is None:
            return False
        self._now = max(self._now, wake)
        self._wake_due()
        return True

    def _wake_due(self) -> None:
        # In order of wake-up, then of falling asleep: tasks resume in that order.
        while self._sleepers and self._sleepers[0].wake <= self._now:
            sleeper = heapq.heappop(self._sleepers)
            if not sleeper.done:
                sleeper.done = True
                self._live -= 1
                sleeper.event.set()

    def _drop_left(self) -> None:
        while self._sleepers and self._sleepers[0].done:
            heapq.heappop(self._sleepers)


class _Autojump:
    """One per event loop: watches its selector's ``select()`` and jumps idle clocks."""

    _loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Autojump] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, select: Callable[[float | None], Any]) -> None:
        self._select = select
        self._clocks: set[VirtualClock] = set()
        self._busy = True  # the last select() found work: the idle time starts anew
        self._idle_since = 0.0
        self._calm = False  # jumped, and no I/O event since
        self._executor_jobs = 0  # loop.run_in_executor calls running (asyncio.to_thread)
        self._limiter: anyio.CapacityLimiter | None = None  # anyio.to_thread's default

    @classmethod
    def watch(cls, clock: VirtualClock) -> None:
        """Jump ``clock`` when the running loop is idle (hooking the loop on first use)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "VirtualClock's autojump runs on asyncio: on another event loop, pass "
                "autojump_threshold=None and move time with advance() or jump()"
            ) from None
        autojump = cls._loops.get(loop)
        if autojump is None:
            autojump = cls._loops[loop] = cls._hook(loop)
        if autojump._limiter is None:
            with contextlib.suppress(Exception):  # not in a task: known at the next sleep
                autojump._limiter = anyio.to_thread.current_default_thread_limiter()
        autojump._clocks.add(clock)

    @classmethod
    def _hook(cls, loop: asyncio.AbstractEventLoop) -> _Autojump:
        selector: Any = getattr(loop, "_selector", None)
        select = getattr(selector, "select", None)
        if select is None:
            raise RuntimeError(
                f"VirtualClock's autojump needs one of asyncio's own event loops, not "
                f"{type(loop).__name__}: pass autojump_threshold=None and move time "
                "with advance() or jump()"
            )
        autojump = cls(select)
        selector.select = autojump._hooked
        run_in_executor = loop.run_in_executor

        def counted(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
            future = run_in_executor(executor, func, *args)
            autojump._executor_jobs += 1
            future.add_done_callback(autojump._executor_job_done)
            return future

        setattr(loop, "run_in_executor", counted)  # noqa: B010 (mypy: a method)
        return autojump

    def _executor_job_done(self, future: object) -> None:
        self._executor_jobs -= 1

    def _threads_busy(self) -> bool:
        limiter = self._limiter
        return self._executor_jobs > 0 or (limiter is not None and limiter.borrowed_tokens > 0)

    def _hooked(self, timeout: float | None = None) -> Any:
        clocks = self._waiting()
        if not clocks or (timeout is not None and timeout <= 0):
            events = self._select(timeout)
            self._busy = True
            self._calm = self._calm and not events
            return events
        start = time.perf_counter()
        if self._busy:
            self._busy = False
            self._idle_since = start
        # Right after a jump, with no I/O since and no worker thread running, nothing
        # outside the loop has shown signs of life: jump again as soon as it is idle.
        quick = self._calm and not self._threads_busy()
        threshold = 0.0 if quick else min(c.autojump_threshold or 0.0 for c in clocks)
        left = self._idle_since + threshold - start
        if timeout is not None and timeout < left:
            events = self._select(timeout)  # a real timer is due first
        else:
            events = self._select(max(0.0, left))
        if events:
            self._busy = True
            self._calm = False
            return events
        idle = time.perf_counter() - self._idle_since
        jumped = False
        for clock in clocks:
            if quick or (clock.autojump_threshold or 0.0) <= idle:
                jumped = clock.jump() or jumped
        if jumped:
            self._busy = True
            self._calm = True
        return events

    def _waiting(self) -> list[VirtualClock]:
        """The clocks to jump: those with sleepers and a threshold."""
        if not self._clocks:
            return []
        waiting = [c for c in self._clocks if c.sleepers and c.autojump_threshold is not None]
        if len(waiting) < len(self._clocks):
            self._clocks = set(waiting)
        return waiting
