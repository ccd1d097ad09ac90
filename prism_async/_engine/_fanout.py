"""Fan-out: many items through per-group slots, pulled lazily, outputs as they complete.

This is the batch runner's scheduling, kept in the engine with the rest of it. One feeder
pulls the next item only while fewer than ``sum(limits) + lookahead`` items are in
progress, so memory stays flat however long the input is. Each item runs in its own task
and takes its group's slot (a ``CapacityLimiter``: the provider's jobs in flight) when its
work needs one, and gives it back when its jobs have ended. Outputs reach the consumer
through a bounded memory stream; a slow consumer holds back the workers, which holds back
the feeder. With fail-fast, the first output judged a failure stops the feeder and wakes
every item still waiting for a slot, which then gives up without starting.

The fan-out runs in the engine's task group, not in the consumer's generator: a consumer
may stop iterating at any point, and closing the iterator then cancels the fan-out without
a task group having to exit from another task.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc
import attrs

from prism_async._errors import PrismAsyncError

__all__ = ["FanOutPlan", "Slot", "fan_out"]

ItemT = TypeVar("ItemT")
OutT = TypeVar("OutT")

Emit = Callable[[OutT], Awaitable[None]]


class Slot:
    """An item's claim on its group's capacity, taken only when its work needs one."""

    def __init__(self, limiter: anyio.CapacityLimiter, run: _Run[Any, Any]) -> None:
        self._limiter = limiter
        self._run = run
        self.held = False

    async def acquire(self) -> bool:
        """Wait for a free slot. False when the fan-out stopped first: do not start."""
        if self.held:
            return True
        if self._run.stopped:
            return False
        scope = anyio.CancelScope()
        self._run.waiting.add(scope)
        try:
            with scope:
                await self._limiter.acquire_on_behalf_of(self)
                self.held = True
        finally:
            self._run.waiting.discard(scope)
        if self.held and self._run.stopped:
            self.release()
        return self.held

    def release(self) -> None:
        """Give the slot back (again is harmless)."""
        if self.held:
            self.held = False
            self._limiter.release_on_behalf_of(self)


@attrs.frozen(kw_only=True)
class FanOutPlan(Generic[ItemT, OutT]):
    """How to fan out.

    Args:
        work: Runs one item: ``work(item, slot, emit)``. It takes the slot (``await
            slot.acquire()``) before anything that occupies one, and emits any number of
            outputs. An exception it raises ends the whole fan-out: catch per-item errors.
        group: The group (provider name) whose slots an item uses.
        limits: Slots per group.
        default_limit: Slots of a group not in ``limits``.
        lookahead: Items pulled beyond the slots, waiting for one.
        fail_fast: When given, the first output it calls a failure stops the fan-out.
        buffer: Outputs held for a slow consumer before the workers wait. With 0 (the
            default) an item stays in progress until its last output is taken, so at most
            ``max_active`` items are ever pulled beyond those the consumer has seen.
        stop: When set, the fan-out stops as fail-fast stops it (no item starts; the items
            already started finish), after calling ``on_stop``.
        on_stop: Called once when ``stop`` is set (to let go of the items in progress).
    """

    work: Callable[[ItemT, Slot, Emit[OutT]], Awaitable[None]]
    group: Callable[[ItemT], str]
    limits: Mapping[str, int] = attrs.field(factory=dict)
    default_limit: int = 16
    lookahead: int = 64
    fail_fast: Callable[[OutT], bool] | None = None
    buffer: int = 0
    stop: anyio.Event | None = None
    on_stop: Callable[[], None] | None = None

    @property
    def max_active(self) -> int:
        """Items in progress at most (pulled and not yet finished)."""
        return sum(self.limits.values()) + self.lookahead


class _Run(Generic[ItemT, OutT]):
    def __init__(self, plan: FanOutPlan[ItemT, OutT], send: Any) -> None:
        self.plan = plan
        self.stopped = False
        self.completed = False
        self.waiting: set[anyio.CancelScope] = set()
        self._send = send
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self._active = anyio.Semaphore(max(1, plan.max_active))
        self._feeding = anyio.CancelScope()

    def stop(self) -> None:
        self.stopped = True
        self._feeding.cancel()
        for scope in list(self.waiting):
            scope.cancel()

    def _limiter(self, group: str) -> anyio.CapacityLimiter:
        if group not in self._limiters:
            tokens = self.plan.limits.get(group, self.plan.default_limit)
            self._limiters[group] = anyio.CapacityLimiter(max(1, tokens))
        return self._limiters[group]

    async def main(self, source: Iterable[ItemT] | AsyncIterable[ItemT]) -> None:
        async with anyio.create_task_group() as outer:
            if self.plan.stop is not None:
                outer.start_soon(self._stop_when, self.plan.stop)
            async with anyio.create_task_group() as workers:
                with self._feeding:
                    await self._feed(source, workers)
            outer.cancel_scope.cancel()
        self.completed = True

    async def _stop_when(self, event: anyio.Event) -> None:
        await event.wait()
        if self.plan.on_stop is not None:
            self.plan.on_stop()
        self.stop()

    async def _feed(
        self, source: Iterable[ItemT] | AsyncIterable[ItemT], workers: anyio.abc.TaskGroup
    ) -> None:
        done = object()
        if isinstance(source, AsyncIterable):
            items: AsyncIterator[ItemT] | None = aiter(source)
            sync_items = None
        else:
            items, sync_items = None, iter(source)
        try:
            while True:
                await self._active.acquire()  # an item in progress may end: pull one more
                if self.stopped:
                    self._active.release()
                    return
                if items is not None:
                    item: Any = await anext(items, done)
                else:
                    assert sync_items is not None
                    item = next(sync_items, done)
                if item is done:
                    self._active.release()
                    return
                workers.start_soon(self._run_item, item)
        finally:
            with anyio.CancelScope(shield=True):
                if items is not None and hasattr(items, "aclose"):
                    await items.aclose()
                elif sync_items is not None and hasattr(sync_items, "close"):
                    sync_items.close()

    async def _run_item(self, item: ItemT) -> None:
        slot = Slot(self._limiter(self.plan.group(item)), self)
        try:
            await self.plan.work(item, slot, self.emit)
        finally:
            slot.release()
            self._active.release()

    async def emit(self, output: OutT) -> None:
        if self.plan.fail_fast is not None and self.plan.fail_fast(output):
            self.stop()  # before anything can wait, so no queued item takes a freed slot
        try:
            await self._send.send(output)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # the consumer has gone; the fan-out is being cancelled


async def fan_out(
    tasks: anyio.abc.TaskGroup,
    source: Iterable[ItemT] | AsyncIterable[ItemT],
    plan: FanOutPlan[ItemT, OutT],
) -> AsyncIterator[OutT]:
    """Run ``plan.work`` on every item of ``source`` in ``tasks``; outputs as they come.

    Args:
        tasks: The engine's task group, where the fan-out runs.
        source: Items, pulled lazily (a plain iterable is read on the event loop: give an
            async iterable where reading blocks for long).
        plan: The work, the slots and the stop rule.

    Raises:
        Exception: What a worker or the source raised; the fan-out was cancelled.
        PrismAsyncError: The engine closed before the fan-out ended.
    """
    send, receive = anyio.create_memory_object_stream[OutT](max(0, plan.buffer))
    run = _Run(plan, send)
    scope = anyio.CancelScope()
    errors: list[BaseException] = []

    finished = anyio.Event()

    async def root() -> None:
        try:
            with scope:
                async with send:
                    await run.main(source)
        except Exception as exc:  # forwarded to the consumer, not to the engine
            errors.append(_unwrap(exc))
        finally:
            finished.set()

    tasks.start_soon(root)
    try:
        async with receive:
            async for output in receive:
                yield output
        if errors:
            raise errors[0]
        if not run.completed:
            raise PrismAsyncError("the client was closed before the batch ended")
    finally:
        run.stop()
        scope.cancel()
        with anyio.CancelScope(shield=True):  # once closed, nothing more is pulled or sent
            await finished.wait()


def _unwrap(exc: BaseException) -> BaseException:
    """The one error inside (nested) task-group exception groups, else the group."""
    inner = getattr(exc, "exceptions", None)  # BaseExceptionGroup, without 3.11's builtin
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc
