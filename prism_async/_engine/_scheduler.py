"""The one poll scheduler: every watched job on one timeline, polled when it is due.

Jobs are not given a sleeping loop each. One task keeps the timeline: it starts the status
fetches that are due (each in its own cancel scope), expires the waits whose deadline has
passed, then waits until something changes (a fetch ends, a wait begins or leaves) or an
alarm rings at the next due time or deadline. A job is tracked only while someone waits on
it: when its last waiter leaves (done, timed out or cancelled), its in-flight fetch is
cancelled and it is forgotten.

Due times and deadlines live in two heaps, so a wake-up touches only what is due: its cost
does not grow with the jobs in flight (a heap entry that went stale, because its job was
polled or left, is dropped when it reaches the top, and the heaps are compacted when most
of their entries are stale). One alarm task sleeps on the injected clock toward the
earliest entry and is moved only when an earlier one appears.

The alarm runs while status fetches are in flight too, so a job falls due on time while
other jobs' requests (a long poll, say) are on the wire, and a wait ends at its deadline
even if a server holds its status request: the waiter gets
:class:`~prism_async._errors.PollTimeout` then, and the fetch, with nobody left to wait for
it, is cancelled. On a :class:`~prism_async.testing.VirtualClock` this is deterministic:
that clock moves only when every task is idle, never while a request is on the wire to an
emulator in the same process. Each fetch is also bounded by itself: its cancel scope ends
when the last of its waiters' deadlines passes on the event loop's clock (the system
clock's), so a request never outlives the waits it serves, whatever clock is injected.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import attrs

from prism_async._clock import Clock, SystemClock
from prism_async._errors import (
    PollTimeout,
    PrismAsyncError,
    RateLimitedError,
)
from prism_async._events import EventHub, JobFinished, JobPolled, JobStatusChanged
from prism_async._policy import PollPolicy, status_failure_transient
from prism_async._provider import VideoProvider
from prism_async._results import GenerationResult, JobHandle

__all__ = ["Scheduler", "Watch"]

log = logging.getLogger("prism_async._engine")

FetchStatus = Callable[[VideoProvider, JobHandle, bool], Awaitable[GenerationResult]]
OnTerminal = Callable[[VideoProvider, GenerationResult], None]

#: Fetches started by one wake-up at most: ten thousand jobs due at once are started in
#: slices, so that the event loop serves everything else in between.
_STARTS_PER_TICK = 256
#: Deliveries kept for jobs not waited on yet, at most.
_EARLY_KEPT = 4096
_NONE = object()
#: The shortest time between two rings of the alarm, in seconds.
_ALARM_SPACING = 0.005
#: Compact a heap once it holds this many stale entries and they are most of it.
_COMPACT_AT = 256


@attrs.define(eq=False)
class _Tracked:
    provider: VideoProvider
    handle: JobHandle
    due: float
    watches: set[Watch] = attrs.field(factory=set)
    polls: int = 0
    errors: int = 0
    long_poll: bool = False
    #: A webhook will announce its end: polled only as a safety net.
    webhook: bool = False
    #: A callback came while a fetch was in flight: fetch again as soon as it ends.
    hurry: bool = False
    last: GenerationResult | None = None
    #: The poll task while a status fetch is in flight (cancelled when nobody waits).
    in_flight: asyncio.Task[None] | None = None


@attrs.define(eq=False)
class Watch:
    """One wait on a job: ended by the job's end, its deadline, or :meth:`Scheduler.leave`.
    ``on_done`` is called once, synchronously, when it ends (never after it was left)."""

    deadline: float
    tracked: _Tracked
    on_done: Callable[[Watch], None]
    done: bool = False
    result: GenerationResult | None = None
    error: BaseException | None = None


def _fetch_deadline(tracked: _Tracked, now: float, loop: asyncio.AbstractEventLoop) -> float:
    """When a status fetch for ``tracked`` must end, on the event loop's clock: as the
    last of its waiters' deadlines passes (nothing is left to wait for it then)."""
    last = max((w.deadline for w in tracked.watches), default=math.inf)
    if last == math.inf:
        return math.inf
    return loop.time() + max(0.0, last - now)


class Scheduler:
    """Polls every watched job from one task. Run :meth:`run` in a task group first."""

    def __init__(
        self,
        fetch: FetchStatus,
        clock: Clock,
        policy: PollPolicy,
        on_terminal: OnTerminal,
        events: EventHub | None = None,
    ) -> None:
        self._fetch = fetch
        #: Per-job event listeners; told only while ``events.active``.
        self.events = events or EventHub()
        self._on_terminal = on_terminal
        self._clock = clock
        self.policy = policy
        self._jobs: dict[JobHandle, _Tracked] = {}
        #: The same jobs by (provider, job id): how a webhook delivery finds its job.
        self._ids: dict[tuple[str, str], _Tracked] = {}
        #: Deliveries for jobs expected but not waited on yet, oldest first.
        self._early: dict[tuple[str, str], GenerationResult | None] = {}
        self._changed = anyio.Event()
        self._tasks: anyio.abc.TaskGroup | None = None
        self._fetching = 0
        self._polls: set[asyncio.Task[None]] = set()
        self._order = itertools.count()  # ties in a heap never compare jobs
        #: (due, n, job): a job is due when its entry's time is still its ``due``.
        self._due: list[tuple[float, int, _Tracked]] = []
        #: (deadline, n, watch), finite deadlines only; stale once the watch is done.
        self._deadlines: list[tuple[float, int, Watch]] = []
        self._stale_deadlines = 0
        #: The time the alarm rings at (inf: not set), and what moves it earlier.
        self._alarm = math.inf
        self._alarm_moved = anyio.Event()
        self._alarm_scope: anyio.CancelScope | None = None
        self._rang = -math.inf  # when the alarm last rang
        # On the system clock, the timeline's own deadlines cancel a fetch nobody waits
        # for; another clock (a virtual one) needs the event loop's clock to bound it.
        self._bounded = not isinstance(clock, SystemClock)

    @property
    def tracked(self) -> int:
        """Jobs currently watched."""
        return len(self._jobs)

    @property
    def fetching(self) -> int:
        """Status fetches in flight."""
        return self._fetching

    @property
    def timers(self) -> int:
        """Entries on the timeline (due polls and deadlines), stale ones included: what
        the scheduler holds on to besides the jobs themselves."""
        return len(self._due) + len(self._deadlines)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            tasks.start_soon(self._ring)
            task_status.started()
            try:
                while True:
                    await self._tick()
            finally:
                self._tasks = None
                tasks.cancel_scope.cancel()
                polls = list(self._polls)
                for poll in polls:
                    poll.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.gather(*polls, return_exceptions=True)
                for tracked in list(self._jobs.values()):
                    self._resolve(
                        tracked,
                        error=PrismAsyncError(
                            "the client was closed while waiting",
                            provider=tracked.provider.name,
                            job_id=tracked.handle.id,
                        ),
                    )

    async def wait(
        self,
        provider: VideoProvider,
        handle: JobHandle,
        *,
        timeout: float,
        first_delay: float,
        long_poll: bool = False,
        webhook: bool = False,
    ) -> GenerationResult:
        """Wait for a job to end; raise PollTimeout at the deadline or the error that ended
        polling. Cancelling the caller stops the job's polling if nobody else waits on it."""
        ended = anyio.Event()
        watch = self.watch(
            provider,
            handle,
            timeout=timeout,
            first_delay=first_delay,
            long_poll=long_poll,
            webhook=webhook,
            on_done=lambda _: ended.set(),
        )
        try:
            await ended.wait()
        finally:
            self.leave(watch)
        if watch.error is not None:
            raise watch.error
        assert watch.result is not None
        return watch.result

    def watch(
        self,
        provider: VideoProvider,
        handle: JobHandle,
        *,
        timeout: float,
        first_delay: float,
        on_done: Callable[[Watch], None],
        long_poll: bool = False,
        webhook: bool = False,
    ) -> Watch:
        """Start waiting on a job without a task of its own: ``on_done`` is called when
        the wait ends (many-job waits use this; a task and an event per job would cost
        more than the job's polling). Call :meth:`leave` to give the wait up early."""
        if self._tasks is None:
            raise RuntimeError("the engine is not running: use the Client as 'async with'")
        now = self._clock.monotonic()
        early: object = _NONE
        tracked = self._jobs.get(handle)
        if tracked is None:
            tracked = _Tracked(
                provider=provider,
                handle=handle,
                due=now + first_delay,
                long_poll=long_poll,
                webhook=webhook,
            )
            self._jobs[handle] = tracked
            self._ids[provider.name, handle.id] = tracked
            early = self._early.pop((provider.name, handle.id), _NONE)
            self._schedule(tracked)
            self._due_at(tracked.due, now)
        deadline = now + timeout if math.isfinite(timeout) else math.inf
        watch = Watch(deadline=deadline, tracked=tracked, on_done=on_done)
        tracked.watches.add(watch)
        if deadline != math.inf:
            heapq.heappush(self._deadlines, (deadline, next(self._order), watch))
            self._due_at(deadline, now)
        if early is None or isinstance(early, GenerationResult):  # came before the wait
            self.deliver(provider.name, handle.id, early)
        return watch

    def _schedule(self, tracked: _Tracked) -> None:
        heapq.heappush(self._due, (tracked.due, next(self._order), tracked))

    def leave(self, watch: Watch) -> None:
        """End a wait (done or not): a job nobody waits on any more is no longer polled."""
        tracked = watch.tracked
        watch.done = True  # a wait given up is never ended later
        if watch not in tracked.watches:
            return
        tracked.watches.discard(watch)
        if watch.deadline != math.inf and watch.deadline > self._clock.monotonic():
            self._stale_deadlines += 1
            self._compact()
        if not tracked.watches and self._jobs.get(tracked.handle) is tracked:
            self._forget(tracked)  # its entries go stale: no wake-up is needed
            if tracked.in_flight is not None:
                tracked.in_flight.cancel()

    def _end(
        self, watch: Watch, result: GenerationResult | None, error: BaseException | None
    ) -> None:
        if not watch.done:
            watch.done, watch.result, watch.error = True, result, error
            watch.on_done(watch)

    def _poke(self) -> None:
        self._changed.set()

    def _forget(self, tracked: _Tracked) -> None:
        del self._jobs[tracked.handle]
        if self._ids.get((tracked.provider.name, tracked.handle.id)) is tracked:
            del self._ids[tracked.provider.name, tracked.handle.id]

    def deliver(
        self,
        provider: str,
        job_id: str,
        result: GenerationResult | None,
        *,
        expected: bool = False,
    ) -> bool:
        """A webhook delivery about a job: whether someone here waits on it.

        A terminal ``result`` (a signed delivery) ends the job's waits at once, with no
        status request; a non-terminal one changes nothing (a callback never moves a job
        backwards). ``None`` (an unsigned delivery) makes the job due now: one status
        fetch confirms it, and its answer is what the waits get. Deliveries for jobs that
        already ended, or that nobody here waits on, change nothing, unless the job is
        ``expected`` (submitted here, not waited on yet): the delivery is then kept for
        the wait that comes.
        """
        tracked = self._ids.get((provider, job_id))
        if tracked is None:
            if expected and (result is None or result.is_terminal):
                while len(self._early) >= _EARLY_KEPT:  # the oldest first
                    del self._early[next(iter(self._early))]
                self._early[provider, job_id] = result
            return expected
        if result is None:
            if tracked.in_flight is not None:
                tracked.hurry = True  # it may have left before the job ended
            else:
                tracked.due = self._clock.monotonic()
                self._schedule(tracked)
                self._poke()
        elif result.is_terminal:
            if self.events.active:
                self._tell(tracked, result, polled=False)
            tracked.last = result
            self._on_terminal(tracked.provider, result)
            self._resolve(tracked, result=result)
            poll = tracked.in_flight
            if poll is not None and poll is not asyncio.current_task():
                poll.cancel()  # its answer is not needed any more
        return True

    def _due_at(self, at: float, now: float) -> None:
        """Something falls due at ``at``: wake the timeline now, or move the alarm
        earlier if it rings later. Nothing else wakes the timeline (a fetch that ends
        with its job due later, or a wait that leaves, costs no wake-up)."""
        if at <= now:
            self._poke()
        elif at < self._alarm:
            self._set_alarm(at)

    async def _tick(self) -> None:
        now = self._clock.monotonic()
        self._expire(now)
        self._start_due(now)
        self._changed = anyio.Event()
        self._set_alarm(self._next_wake())
        await self._changed.wait()

    async def _ring(self) -> None:
        """The alarm: sleeps toward ``_alarm`` and pokes the timeline when it rings. Moving
        the alarm earlier cancels the sleep, which then starts again toward the new time."""
        while True:
            target = self._alarm
            if target == math.inf:
                self._alarm_moved = anyio.Event()
                await self._alarm_moved.wait()
                continue
            with anyio.CancelScope() as scope:
                self._alarm_scope = scope
                await self._clock.sleep(max(0.0, target - self._clock.monotonic()))
            self._alarm_scope = None
            if scope.cancelled_caught:
                continue  # moved earlier
            if self._alarm == target:
                self._alarm = math.inf
            self._rang = target
            self._poke()

    def _set_alarm(self, at: float) -> None:
        # Rings are at least _ALARM_SPACING apart: jobs falling due within a few
        # milliseconds of each other share one wake-up (a poll is late by less than that,
        # never early), instead of a wake-up each.
        at = max(at, self._rang + _ALARM_SPACING)
        if at < self._alarm:
            self._alarm = at
            if self._alarm_scope is not None:
                self._alarm_scope.cancel()
            else:
                self._alarm_moved.set()

    def _start_due(self, now: float) -> None:
        assert self._tasks is not None
        due = self._due
        started = 0
        while due and due[0][0] <= now:
            if started == _STARTS_PER_TICK:  # the rest after the loop has run others
                self._poke()
                return
            entry = heapq.heappop(due)
            tracked = entry[2]
            if not self._valid(*entry):
                continue
            self._fetching += 1
            # A bare asyncio task, not the task group's start_soon: one is spawned per
            # poll, and anyio's costs five times as much. run() cancels and awaits them;
            # leave() cancels it when nobody waits for it any more.
            loop = asyncio.get_running_loop()
            deadline = _fetch_deadline(tracked, now, loop)
            poll = loop.create_task(self._poll(tracked, deadline))
            tracked.in_flight = poll
            self._polls.add(poll)
            poll.add_done_callback(self._polled)
            started += 1

    def _valid(self, at: float, _n: int, tracked: _Tracked) -> bool:
        """Whether a due entry still stands: not polled since, and someone waits on it."""
        return (
            tracked.in_flight is None
            and tracked.due == at
            and self._jobs.get(tracked.handle) is tracked
        )

    def _next_wake(self) -> float:
        due, deadlines = self._due, self._deadlines
        while due and not self._valid(*due[0]):
            heapq.heappop(due)
        while deadlines and deadlines[0][2].done:
            heapq.heappop(deadlines)
            self._stale_deadlines = max(0, self._stale_deadlines - 1)
        return min(due[0][0] if due else math.inf, deadlines[0][0] if deadlines else math.inf)

    def _expire(self, now: float) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, watch = heapq.heappop(deadlines)
            if watch.done:
                self._stale_deadlines = max(0, self._stale_deadlines - 1)
                continue
            tracked = watch.tracked
            timeout = PollTimeout(
                "the wait's deadline passed before the job ended",
                last_result=tracked.last,
                provider=tracked.provider.name,
                job_id=tracked.handle.id,
            )
            self._end(watch, None, timeout)

    def _compact(self) -> None:
        """Drop the deadlines of waits that ended early, once they are most of the heap
        (a batch of short jobs with hour-long deadlines would otherwise keep them all)."""
        stale = self._stale_deadlines
        if stale >= _COMPACT_AT and stale * 2 >= len(self._deadlines):
            self._deadlines = [e for e in self._deadlines if not e[2].done]
            heapq.heapify(self._deadlines)
            self._stale_deadlines = 0

    def _resolve(
        self,
        tracked: _Tracked,
        *,
        result: GenerationResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        if self._jobs.get(tracked.handle) is tracked:
            self._forget(tracked)
        for watch in list(tracked.watches):  # on_done may leave
            self._end(watch, result, error)

    def _polled(self, poll: asyncio.Task[None]) -> None:
        self._polls.discard(poll)
        if not poll.cancelled() and poll.exception() is not None:  # a bug: _poll catches all
            log.error("a status poll failed", exc_info=poll.exception())

    async def _poll(self, tracked: _Tracked, deadline: float) -> None:
        poll = tracked.in_flight
        assert poll is not None
        timer = None
        if deadline != math.inf and self._bounded:  # cancel the fetch at the deadline
            timer = asyncio.get_running_loop().call_at(deadline, poll.cancel)
        try:
            try:
                result = await self._fetch(tracked.provider, tracked.handle, tracked.long_poll)
            except Exception as exc:
                self._failed(tracked, exc)
            else:
                self._answered(tracked, result)
        finally:
            if timer is not None:
                timer.cancel()
            tracked.in_flight = None
            self._fetching -= 1
            if self._jobs.get(tracked.handle) is tracked:
                self._schedule(tracked)
                self._due_at(tracked.due, self._clock.monotonic())

    def _failed(self, tracked: _Tracked, exc: Exception) -> None:
        """A status fetch failed: poll again later within the error budget, or end the
        job's waits with the error (an API refusal, or a provider bug)."""
        if not isinstance(exc, PrismAsyncError) or not status_failure_transient(exc):
            self._resolve(tracked, error=exc)
            return
        tracked.errors += 1
        if tracked.errors > self.policy.error_budget:
            self._resolve(tracked, error=exc)
            return
        retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
        log.info("status of %s failed (%s); retrying", tracked.handle, exc)
        tracked.due = self._clock.monotonic() + self.policy.error_delay(tracked.errors, retry_after)

    def _answered(self, tracked: _Tracked, result: GenerationResult) -> None:
        """A status came: end the job's waits if it is terminal, else set its next poll."""
        tracked.errors = 0
        tracked.polls += 1
        if self.events.active:  # one attribute when nobody listens: no event is built
            self._tell(tracked, result, polled=True)
        tracked.last = result
        if result.is_terminal:
            self._on_terminal(tracked.provider, result)
            self._resolve(tracked, result=result)
            return
        now = self._clock.monotonic()
        if tracked.hurry:  # a callback came while this fetch was on its way
            tracked.hurry, tracked.due = False, now
            return
        hint = tracked.provider.poll_hint(tracked.handle, result)
        if tracked.webhook:  # the callback will say: only a safety net
            tracked.long_poll = False
            tracked.due = now + max(self.policy.safety_net, hint.floor or 0.0)
            return
        tracked.long_poll = hint.long_poll
        tracked.due = now + self.policy.delay(hint, tracked.polls)

    def _tell(self, tracked: _Tracked, result: GenerationResult, *, polled: bool) -> None:
        """The job's events for a new answer (before ``tracked.last`` takes it): polled,
        status changed, finished, each where it applies."""
        hub, handle = self.events, tracked.handle
        if not hub.wants(handle):
            return
        now = self._clock.monotonic()
        if polled:
            hub.emit(JobPolled(handle=handle, result=result, polls=tracked.polls, at=now))
        previous = tracked.last.status if tracked.last is not None else None
        if previous is not result.status:
            hub.emit(JobStatusChanged(handle=handle, previous=previous, result=result, at=now))
        if result.is_terminal:
            hub.emit(JobFinished(handle=handle, result=result, at=now))
