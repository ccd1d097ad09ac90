"""The engine: drives provider flows through the transport under per-provider budgets,
and waits on jobs through the one scheduler."""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import anyio
import anyio.abc
import attrs

from prism_async._clock import Clock, SystemClock
from prism_async._engine import _effects
from prism_async._engine._budget import RateBudget, SharedBudget
from prism_async._engine._create import BeforeCreate, CreateWatch
from prism_async._engine._fanout import FanOutPlan, fan_out
from prism_async._engine._scheduler import Scheduler, Watch
from prism_async._engine._slots import SlotWaiter
from prism_async._errors import CancelNotSupported, ConcurrencyLimitError, PrismAsyncError
from prism_async._events import (
    EventHub,
    JobFinished,
    JobStatusChanged,
    JobSubmitted,
    OnJobEvent,
)
from prism_async._http import Flow, HttpRequest, HttpResponse, ReadFile, StatFile
from prism_async._policy import PollPolicy
from prism_async._provider import SupportsCancel, SupportsJobLimit, VideoProvider, WebhookCall
from prism_async._results import GenerationResult, JobHandle, JobOutcome, JobStatus
from prism_async._retry_after import parse_retry_after
from prism_async._transport import Transport

__all__ = ["Engine", "EngineConfig"]

T = TypeVar("T")
ItemT = TypeVar("ItemT")
OutT = TypeVar("OutT")


@attrs.frozen(kw_only=True)
class EngineConfig:
    """Scheduling settings.

    Args:
        poll: Cadence and error budget of status polling.
        default_timeout: Seconds a wait lasts when the caller gives no timeout.
        max_concurrent_requests: HTTP exchanges in flight at once, per provider (long
            polls not counted).
        max_long_polls: Long polls in flight at once, per provider. They have slots of
            their own, because the server holds each for seconds: sharing would let them
            hold up every short request (a create, a finished job's status). 100 is what
            the lipsync API's documented read budget sustains (600 a minute, each held up
            to 10 s), so every waiting job can long-poll. With the transport's default
            pool (128 connections a host), these and the short requests' slots never
            wait for a connection.
    """

    poll: PollPolicy = PollPolicy()
    default_timeout: float = 3600.0
    max_concurrent_requests: int = 16
    max_long_polls: int = 100


class Engine:
    """Schedules every exchange and every wait. Use as an async context.

    Args:
        transport: Moves the bytes.
        clock: Time for cadence, deadlines and budgets (inject a virtual one in tests).
        config: Scheduling settings.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        clock: Clock | None = None,
        config: EngineConfig | None = None,
    ) -> None:
        self.transport = transport
        self.clock = clock or SystemClock()
        self.config = config or EngineConfig()
        #: Who listens to job events (:mod:`prism_async._events`).
        self.events = EventHub()
        self.scheduler = Scheduler(
            self._fetch_status,
            self.clock,
            self.config.poll,
            on_terminal=self._job_ended,
            events=self.events,
        )
        self._slots = SlotWaiter(self.clock)
        self._budgets: dict[tuple[str, str], RateBudget] = {}
        #: Budgets of paid calls shared with other processes (see :meth:`share_budgets`).
        self._shared: SharedBudget | None = None
        self._limiters: dict[tuple[str, bool], asyncio.Semaphore] = {}
        self._fresh: dict[JobHandle, float] = {}
        #: (provider, job id) of the jobs whose end a webhook will announce.
        self._webhooked: set[tuple[str, str]] = set()
        self._tasks: anyio.abc.TaskGroup | None = None
        #: HTTP exchanges made, by provider name (retries inside the transport not counted).
        self.requests: collections.Counter[str] = collections.Counter()

    async def __aenter__(self) -> Engine:
        self._tasks = await anyio.create_task_group().__aenter__()
        await self._tasks.start(self.scheduler.run)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._tasks is not None
        tasks, self._tasks = self._tasks, None
        tasks.cancel_scope.cancel()
        # The caller's exception is not handed to the task group: it would come back
        # wrapped in an ExceptionGroup. It propagates unchanged once the group is closed.
        await tasks.__aexit__(None, None, None)

    async def run(
        self, provider: VideoProvider, flow: Flow[T], *, create: CreateWatch | None = None
    ) -> T:
        """Drive a provider flow to its end, carrying out each effect it yields."""
        try:
            effect = next(flow)
            while True:
                if type(effect) is HttpRequest:  # the common effect, without a hop
                    value: object = await self._send(
                        provider, effect, create if effect.charges else None
                    )
                else:
                    value = await self._perform(provider, effect, create)
                effect = flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except PrismAsyncError as exc:
            if exc.provider is None:
                exc.provider = provider.name
            raise
        finally:
            flow.close()

    async def submit(
        self,
        provider: VideoProvider,
        request: object,
        *,
        idempotency_key: str,
        before_create: BeforeCreate | None = None,
        on_event: OnJobEvent | None = None,
    ) -> tuple[JobHandle, ...]:
        """One paid create. The request is validated before anything is sent.

        A :class:`~prism_async._events.JobSubmitted` per job goes to the listeners and to
        ``on_event``.

        ``before_create`` is awaited once, when the create's bytes are about to leave (a
        connection is in hand); it may raise to stop the create (a journal that cannot
        write). Uploads and lookups before the create do not call it.

        A 429 that says the plan's concurrency limit is reached was refused, not charged:
        the submit waits for a slot (one of this provider's jobs ending) and tries again,
        one waiter at a time, instead of hammering the API.

        Raises:
            SubmissionOutcomeUnknown: The create may have been received and no definitive
                answer came: a job may exist. Never send it again under a new key.
        """
        create = CreateWatch(
            provider=provider.name,
            idempotency_key=idempotency_key if provider.idempotent_submits else None,
            before_create=before_create,
        )

        def attempt() -> Awaitable[tuple[JobHandle, ...]]:
            flow = provider.submit_flow(request, idempotency_key=idempotency_key)
            return self.run(provider, flow, create=create)

        try:
            try:
                handles = await attempt()
            except ConcurrencyLimitError:
                handles = await self._slots.submit_when_free(
                    provider, attempt, give_up_after=self.config.default_timeout
                )
        except PrismAsyncError as exc:
            verdict = create.verdict(exc)
            if verdict is exc:
                raise
            raise verdict from exc
        now = self.clock.monotonic()
        for handle in handles:
            self._fresh[handle] = now
        if on_event is not None or self.events.active:
            for handle in handles:
                self.events.emit(JobSubmitted(handle=handle, at=now), on_event)
        return handles

    async def cancel(self, provider: VideoProvider, handle: JobHandle) -> GenerationResult:
        """Ask the API to cancel the job; its state as the API then reports it. A
        terminal answer ends the job's waits here (they get the canceled result).

        Raises:
            CancelNotSupported: The provider's API has no cancel; nothing is sent.
            APIStatusError: The API refused (lipsync: 400, the job is no longer PENDING).
        """
        if not isinstance(provider, SupportsCancel):
            raise CancelNotSupported(provider=provider.name, job_id=handle.id)
        result = await self.run(provider, provider.cancel_flow(handle))
        # A terminal answer ends the job's waits here; with nobody waiting, its slot is
        # freed and its listeners told here.
        if result.is_terminal and not self.scheduler.deliver(provider.name, handle.id, result):
            self._job_ended(provider, result)
            if self.events.wants(handle):  # the status before is not known here
                now = self.clock.monotonic()
                changed = JobStatusChanged(handle=handle, previous=None, result=result, at=now)
                self.events.emit(changed)
                self.events.emit(JobFinished(handle=handle, result=result, at=now))
        return result

    async def fetch(self, provider: VideoProvider, handle: JobHandle) -> GenerationResult:
        """The job's current state, in one status exchange."""
        result = await self._fetch_status(provider, handle, False)
        if result.is_terminal:
            self._slots.freed(provider.name)
        return result

    async def wait(
        self, provider: VideoProvider, handle: JobHandle, *, timeout: float | None = None
    ) -> GenerationResult:
        """Wait for the job's terminal result (failed and canceled results included)."""
        limit = self.config.default_timeout if timeout is None else timeout
        delay, long_poll, webhook = self._first_poll(provider, handle)
        return await self.scheduler.wait(
            provider,
            handle,
            timeout=limit,
            first_delay=delay,
            long_poll=long_poll,
            webhook=webhook,
        )

    def _watch(
        self,
        provider: VideoProvider,
        handle: JobHandle,
        timeout: float | None,
        on_done: Callable[[Watch], None],
    ) -> Watch:
        limit = self.config.default_timeout if timeout is None else timeout
        delay, long_poll, webhook = self._first_poll(provider, handle)
        return self.scheduler.watch(
            provider,
            handle,
            timeout=limit,
            first_delay=delay,
            long_poll=long_poll,
            webhook=webhook,
            on_done=on_done,
        )

    def _first_poll(self, provider: VideoProvider, handle: JobHandle) -> tuple[float, bool, bool]:
        """When a job is first polled, whether as a long poll, and whether a webhook will
        announce its end: as the provider advises for a job just submitted (its
        ``poll_hint`` for a queued result with no raw status). A job submitted here is
        polled that long after its submission (a webhook job: the safety net's time); one
        submitted elsewhere (a handle read back) at once."""
        queued = GenerationResult(provider=provider.name, id=handle.id, status=JobStatus.QUEUED)
        hint = provider.poll_hint(handle, queued)
        webhook = (provider.name, handle.id) in self._webhooked
        submitted = self._fresh.pop(handle, None)
        if submitted is None:
            return 0.0, hint.long_poll and not webhook, webhook
        policy = self.config.poll
        first = max(policy.safety_net, hint.floor or 0.0) if webhook else policy.first(hint)
        due = submitted + first
        return max(0.0, due - self.clock.monotonic()), hint.long_poll and not webhook, webhook

    def expect_webhook(self, provider: VideoProvider, handles: Iterable[JobHandle]) -> None:
        """A webhook will announce these jobs' ends: wait on them with a safety-net poll
        only (:attr:`PollPolicy.safety_net`), and let :meth:`webhook` end them."""
        self._webhooked.update((provider.name, handle.id) for handle in handles)

    def webhook(self, provider: str, call: WebhookCall) -> bool:
        """A verified webhook delivery: ends the job's waits (a signed result), or makes
        the job due now for one confirming status fetch (an unsigned one). Whether anyone
        here waits on the job."""
        expected = (provider, call.job_id) in self._webhooked
        return self.scheduler.deliver(provider, call.job_id, call.result, expected=expected)

    async def as_completed(
        self,
        jobs: Iterable[tuple[VideoProvider, JobHandle]],
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[JobOutcome]:
        """Yield each job's outcome as it ends, in the order they end.

        The jobs are watched without a task each: the scheduler hands each ended wait to
        a stream as it ends, so ten thousand jobs cost ten thousand small records, not ten
        thousand tasks. A consumer may stop iterating at any point: the waits it leaves
        are given up (and their jobs no longer polled, unless someone else waits on them).
        """
        pending = list(jobs)
        self._require_running()
        send, receive = anyio.create_memory_object_stream[Watch](max(1, len(pending)))
        watches = [
            self._watch(provider, handle, timeout, send.send_nowait)  # one slot per job
            for provider, handle in pending
        ]
        try:
            for _ in pending:
                watch = await receive.receive()
                self.scheduler.leave(watch)
                handle = watch.tracked.handle
                if watch.error is None:
                    yield JobOutcome(handle=handle, result=watch.result)
                elif isinstance(watch.error, PrismAsyncError):
                    yield JobOutcome(handle=handle, error=watch.error)
                else:  # a provider bug, not an outcome
                    raise watch.error
        finally:
            for watch in watches:
                self.scheduler.leave(watch)
            receive.close()
            send.close()

    def fan_out(
        self, source: Iterable[ItemT] | AsyncIterable[ItemT], plan: FanOutPlan[ItemT, OutT]
    ) -> AsyncIterator[OutT]:
        """Run ``plan.work`` on every item of ``source`` under per-provider slots, pulled
        lazily; outputs as they complete (see :mod:`prism_async._engine._fanout`)."""
        return fan_out(self._require_running(), source, plan)

    def _job_ended(self, provider: VideoProvider, result: GenerationResult) -> None:
        self._slots.freed(provider.name)
        self._webhooked.discard((provider.name, result.id))

    def _require_running(self) -> anyio.abc.TaskGroup:
        if self._tasks is None:
            raise RuntimeError("the engine is not running: use the Client as 'async with'")
        return self._tasks

    def _fetch_status(
        self, provider: VideoProvider, handle: JobHandle, wait: bool
    ) -> Awaitable[GenerationResult]:
        # Not a coroutine of its own: the flow's coroutine is awaited directly (one frame
        # fewer on every step of every poll).
        return self.run(provider, provider.status_flow(handle, wait=wait))

    async def _perform(
        self, provider: VideoProvider, effect: object, create: CreateWatch | None
    ) -> object:
        if isinstance(effect, HttpRequest):
            return await self._send(provider, effect, create if effect.charges else None)
        if isinstance(effect, ReadFile):
            return await _effects.read_file(effect, provider.name)
        if isinstance(effect, StatFile):
            return await _effects.stat_file(effect, provider.name)
        raise TypeError(f"{provider.name} flow yielded {type(effect).__name__}, not an effect")

    def share_budgets(self, shared: SharedBudget | None) -> None:
        """Also take every paid call's budget from ``shared`` (a batch journal that many
        workers share: together they keep to the provider's budget); None: stop."""
        self._shared = shared

    async def _send(
        self, provider: VideoProvider, request: HttpRequest, create: CreateWatch | None
    ) -> HttpResponse:
        budget = self._budget(provider, request.kind)
        stamp = await budget.acquire() if budget is not None else 0.0
        shared = self._shared if request.charges and budget is not None else None
        token: object = None
        if shared is not None and budget is not None:
            try:
                limit = (
                    provider.max_jobs_in_flight if isinstance(provider, SupportsJobLimit) else None
                )
                token = await shared.take(provider.name, request.kind, budget.rate, limit)
            except BaseException:
                budget.settle(stamp)
                raise
        try:
            async with self._limiter(provider.name, request.long_poll):
                self.requests[provider.name] += 1
                if create is None:
                    response = await self.transport.send(request)
                else:
                    create.attempted(request)
                    response = await self.transport.send(request, before_send=create.before_send)
                    create.answer(response)
        finally:
            if budget is not None:
                budget.settle(stamp)
            if shared is not None:
                with anyio.CancelScope(shield=True):
                    await shared.settle(token)
        if response.received_at is None:  # a transport that does not date its answers
            response = attrs.evolve(response, received_at=self.clock.now())
        if response.status == 429 and budget is not None:
            # The server's own count disagrees with ours: hold this kind back as it asks.
            wait = parse_retry_after(response.headers.get("retry-after"))
            if wait is not None and math.isfinite(wait):
                budget.defer(wait)
        return response

    def _budget(self, provider: VideoProvider, kind: str) -> RateBudget | None:
        rate = provider.rates.get(kind)
        if rate is None:
            return None
        key = (provider.name, kind)
        if key not in self._budgets:
            self._budgets[key] = RateBudget(rate, self.clock)
        return self._budgets[key]

    def _limiter(self, name: str, long_poll: bool) -> asyncio.Semaphore:
        # asyncio's semaphore, not anyio's CapacityLimiter: taking a free one costs no trip
        # through the event loop (the limiter's checkpoint was one per request), and the
        # engine runs on asyncio anyway (aiohttp does).
        limiter = self._limiters.get((name, long_poll))
        if limiter is None:
            cfg = self.config
            slots = cfg.max_long_polls if long_poll else cfg.max_concurrent_requests
            limiter = self._limiters[name, long_poll] = asyncio.Semaphore(max(1, slots))
        return limiter
