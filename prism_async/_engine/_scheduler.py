"""The one poll scheduler: every watched job on one timeline, polled when it is due.

Jobs are not given a sleeping loop each. One task keeps the timeline: it starts the status
fetches that are due (each in its own cancel scope), expires the waits whose deadline has
passed, then sleeps on the injected clock until the next due time or deadline, or until
something changes (a fetch ends, a wait begins or leaves). A job is tracked only while
someone waits on it: when its last waiter leaves (done, timed out or cancelled), its
in-flight fetch is cancelled and it is forgotten.

The sleep toward the next deadline runs while status fetches are in flight too, so a wait
ends at its deadline even if a server holds its status request: the waiter gets
:class:`~prism_async._errors.PollTimeout` then, and the fetch, with nobody left to wait for
it, is cancelled. On a :class:`~prism_async.testing.VirtualClock` this is deterministic:
that clock moves only when every task is idle, never while a request is on the wire to an
emulator in the same process. Each fetch is also bounded by itself: its cancel scope ends
when the last of its waiters' deadlines passes on the event loop's clock (the system
clock's), so a request never outlives the waits it serves, whatever clock is injected.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import attrs

from prism_async._clock import Clock
from prism_async._errors import (
    PollTimeout,
    PrismAsyncError,
    RateLimitedError,
)
from prism_async._policy import PollPolicy, status_failure_transient
from prism_async._provider import VideoProvider
from prism_async._results import GenerationResult, JobHandle

__all__ = ["Scheduler"]

log = logging.getLogger("prism_async._engine")

FetchStatus = Callable[[VideoProvider, JobHandle, bool], Awaitable[GenerationResult]]
OnTerminal = Callable[[VideoProvider, GenerationResult], None]


@attrs.define(eq=False)
class _Watch:
    deadline: float
    done: anyio.Event = attrs.field(factory=anyio.Event)
    result: GenerationResult | None = None
    error: BaseException | None = None


@attrs.define(eq=False)
class _Tracked:
    provider: VideoProvider
    handle: JobHandle
    due: float
    watches: set[_Watch] = attrs.field(factory=set)
    polls: int = 0
    errors: int = 0
    long_poll: bool = False
    last: GenerationResult | None = None
    in_flight: anyio.CancelScope | None = None


def _fetch_deadline(tracked: _Tracked, now: float) -> float:
    """When a status fetch for ``tracked`` must end, on the event loop's clock: as the
    last of its waiters' deadlines passes (nothing is left to wait for it then)."""
    last = max((w.deadline for w in tracked.watches), default=math.inf)
    if not math.isfinite(last):
        return math.inf
    return anyio.current_time() + max(0.0, last - now)


class Scheduler:
    """Polls every watched job from one task. Run :meth:`run` in a task group first."""

    def __init__(
        self, fetch: FetchStatus, clock: Clock, policy: PollPolicy, on_terminal: OnTerminal
    ) -> None:
        self._fetch = fetch
        self._on_terminal = on_terminal
        self._clock = clock
        self.policy = policy
        self._jobs: dict[JobHandle, _Tracked] = {}
        self._changed = anyio.Event()
        self._tasks: anyio.abc.TaskGroup | None = None
        self._fetching = 0

    @property
    def tracked(self) -> int:
        """Jobs currently watched."""
        return len(self._jobs)

    @property
    def fetching(self) -> int:
        """Status fetches in flight."""
        return self._fetching

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            task_status.started()
            try:
                while True:
                    await self._tick()
            finally:
                self._tasks = None
                tasks.cancel_scope.cancel()
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
    ) -> GenerationResult:
        """Wait for a job to end; raise PollTimeout at the deadline or the error that ended
        polling. Cancelling the caller stops the job's polling if nobody else waits on it."""
        if self._tasks is None:
            raise RuntimeError("the engine is not running: use the Client as 'async with'")
        now = self._clock.monotonic()
        watch = _Watch(deadline=now + timeout if math.isfinite(timeout) else math.inf)
        tracked = self._jobs.get(handle)
        if tracked is None:
            tracked = _Tracked(provider=provider, handle=handle, due=now + first_delay)
            self._jobs[handle] = tracked
        tracked.watches.add(watch)
        self._poke()
        try:
            await watch.done.wait()
        finally:
            self._leave(tracked, watch)
        if watch.error is not None:
            raise watch.error
        assert watch.result is not None
        return watch.result

    def _leave(self, tracked: _Tracked, watch: _Watch) -> None:
        tracked.watches.discard(watch)
        if not tracked.watches and self._jobs.get(tracked.handle) is tracked:
            del self._jobs[tracked.handle]
            if tracked.in_flight is not None:
                tracked.in_flight.cancel()
            self._poke()

    def _poke(self) -> None:
        self._changed.set()

    async def _tick(self) -> None:
        now = self._clock.monotonic()
        self._expire(now)
        assert self._tasks is not None
        for tracked in list(self._jobs.values()):
            if tracked.in_flight is None and tracked.due <= now:
                tracked.in_flight = anyio.CancelScope(deadline=_fetch_deadline(tracked, now))
                self._fetching += 1
                self._tasks.start_soon(self._poll, tracked)
        self._changed = anyio.Event()
        wake = self._next_wake()
        if wake is None:
            await self._changed.wait()
            return
        async with anyio.create_task_group() as race:
            race.start_soon(self._sleep_then_cancel, wake - now, race.cancel_scope)
            await self._changed.wait()
            race.cancel_scope.cancel()

    async def _sleep_then_cancel(self, seconds: float, scope: anyio.CancelScope) -> None:
        await self._clock.sleep(seconds)
        scope.cancel()

    def _next_wake(self) -> float | None:
        times = [t.due for t in self._jobs.values() if t.in_flight is None]
        times += [w.deadline for t in self._jobs.values() for w in t.watches if not w.done.is_set()]
        finite = [t for t in times if math.isfinite(t)]
        return min(finite) if finite else None

    def _expire(self, now: float) -> None:
        for tracked in list(self._jobs.values()):
            for watch in list(tracked.watches):
                if watch.deadline <= now and not watch.done.is_set():
                    watch.error = PollTimeout(
                        "the wait's deadline passed before the job ended",
                        last_result=tracked.last,
                        provider=tracked.provider.name,
                        job_id=tracked.handle.id,
                    )
                    watch.done.set()

    def _resolve(
        self,
        tracked: _Tracked,
        *,
        result: GenerationResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        for watch in tracked.watches:
            if not watch.done.is_set():
                watch.result, watch.error = result, error
                watch.done.set()
        if self._jobs.get(tracked.handle) is tracked:
            del self._jobs[tracked.handle]

    async def _poll(self, tracked: _Tracked) -> None:
        assert tracked.in_flight is not None
        try:
            with tracked.in_flight:
                await self._poll_once(tracked)
        finally:
            tracked.in_flight = None
            self._fetching -= 1
            self._poke()

    async def _poll_once(self, tracked: _Tracked) -> None:
        try:
            result = await self._fetch(tracked.provider, tracked.handle, tracked.long_poll)
        except PrismAsyncError as exc:
            if not status_failure_transient(exc):
                self._resolve(tracked, error=exc)
                return
            tracked.errors += 1
            if tracked.errors > self.policy.error_budget:
                self._resolve(tracked, error=exc)
                return
            retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
            log.info("status of %s failed (%s); retrying", tracked.handle, exc)
            tracked.due = self._clock.monotonic() + self.policy.error_delay(
                tracked.errors, retry_after
            )
            return
        except Exception as exc:  # an API refusal, or a provider bug: this job's waiters get it
            self._resolve(tracked, error=exc)
            return
        tracked.errors = 0
        tracked.polls += 1
        tracked.last = result
        if result.is_terminal:
            self._on_terminal(tracked.provider, result)
            self._resolve(tracked, result=result)
            return
        hint = tracked.provider.poll_hint(tracked.handle, result)
        tracked.long_poll = hint.long_poll
        tracked.due = self._clock.monotonic() + self.policy.delay(hint, tracked.polls)
