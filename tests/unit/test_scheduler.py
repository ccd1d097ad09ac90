"""The engine's one scheduler, against an in-memory transport and a tiny sans-IO provider.

The transport here is the injectable seam (``Transport``: ``send`` and ``download``),
answering scripted responses; nothing of aiohttp is mocked. Time is virtual.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from prism_async._engine import Engine, EngineConfig, PollPolicy
from prism_async._errors import (
    AuthenticationError,
    NotFoundError,
    PollTimeout,
    ProviderResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from prism_async._http import Flow, HttpRequest, HttpResponse, send
from prism_async._provider import PollHint, Rate, WebhookCall
from prism_async._results import GenerationResult, JobHandle, JobStatus
from prism_async.providers._common import api_error
from prism_async.testing import VirtualClock

pytestmark = pytest.mark.anyio

NAME = "fake"
BASE = "https://fake.test"

# ---------------------------------------------------------------------------------------
# A tiny provider (sans-IO flows) and an in-memory transport.


def reply(
    status: int = 200, body: object = None, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers=dict(headers or {}),
        body=json.dumps(body if body is not None else {}).encode(),
    )


def job(
    state: str = "running", *, delay: float | None = None, long_poll: bool = False
) -> HttpResponse:
    """A status response of the fake API."""
    return reply(body={"status": state, "delay": delay, "long_poll": long_poll})


def failure(status: int, code: str | None = None, retry_after: str | None = None) -> HttpResponse:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return reply(status, {"error": f"HTTP {status}", "code": code}, headers)


class FakeProvider:
    """Submits with ``POST /jobs``, reads ``GET /jobs/<id>``; hints come from the body."""

    name = NAME
    idempotent_submits = False

    def __init__(self, rates: Mapping[str, Rate] | None = None) -> None:
        self.rates: Mapping[str, Rate] = rates or {}

    def _check(self, response: HttpResponse, job_id: str | None = None) -> Any:
        body = response.json()
        if not isinstance(body, dict):
            raise ProviderResponseError("not an object", provider=NAME, job_id=job_id)
        if not response.ok:
            raise api_error(
                NAME, response, message=body["error"], code=body.get("code"), job_id=job_id
            )
        return body

    def submit_flow(self, request: object, *, idempotency_key: str) -> Flow[tuple[JobHandle, ...]]:
        response = yield from send(
            HttpRequest(method="POST", url=f"{BASE}/jobs", kind="submit", json={"r": request})
        )
        body = self._check(response)
        return (JobHandle(provider=NAME, id=body["id"]),)

    def status_flow(self, handle: JobHandle, *, wait: bool = False) -> Flow[GenerationResult]:
        params = (("wait", "true"),) if wait else ()
        response = yield from send(
            HttpRequest(
                method="GET",
                url=f"{BASE}/jobs/{handle.id}",
                kind="status",
                params=params,
                long_poll=wait,
            )
        )
        body = self._check(response, handle.id)
        return GenerationResult(
            provider=NAME, id=handle.id, status=JobStatus(body["status"]), raw=body
        )

    def poll_hint(self, handle: JobHandle, result: GenerationResult) -> PollHint:
        return PollHint(delay=result.raw.get("delay"), long_poll=bool(result.raw.get("long_poll")))


class LongPollProvider(FakeProvider):
    """Long polls every job from its first poll on (as the lipsync provider does)."""

    def poll_hint(self, handle: JobHandle, result: GenerationResult) -> PollHint:
        return PollHint(long_poll=True)


class FloorProvider(FakeProvider):
    """Documents a minimum pause of 10 s between polls (as Prism does)."""

    def poll_hint(self, handle: JobHandle, result: GenerationResult) -> PollHint:
        return PollHint(delay=10.0, floor=10.0)


@attrs.frozen
class Call:
    time: float
    method: str
    job: str
    wait: bool


class Hang:
    """A script entry: the status request is held until it is cancelled."""


HANG = Hang()

#: A job's status answers, in order: a response, an error to raise, or HANG.
Script = list[HttpResponse | Exception | Hang]


class FakeTransport:
    """Answers each job's status requests from a script (the last entry repeats)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.scripts: dict[str, Script] = {}
        self.submit: Callable[[], HttpResponse] = lambda: reply(202, {"id": "new"})
        self.calls: list[Call] = []
        self.on_call: Callable[[Call], None] = lambda call: None

    def script(self, job_id: str, *items: HttpResponse | Exception | Hang) -> JobHandle:
        self.scripts[job_id] = list(items)
        return JobHandle(provider=NAME, id=job_id)

    def status_calls(self, job_id: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == "GET" and job_id in (None, c.job)]

    async def send(
        self, request: HttpRequest, *, before_send: Callable[[], Awaitable[None]] | None = None
    ) -> HttpResponse:
        await anyio.lowlevel.checkpoint()  # a real exchange yields to the loop
        if before_send is not None:
            await before_send()
        job_id = request.url.rsplit("/", 1)[-1]
        call = Call(
            self.clock.monotonic(), request.method, job_id, ("wait", "true") in request.params
        )
        self.calls.append(call)
        self.on_call(call)
        if request.method == "POST":
            return self.submit()
        script = self.scripts[job_id]
        item = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(item, Hang):
            await anyio.sleep_forever()
            raise AssertionError("a held request ends only when it is cancelled")
        if isinstance(item, Exception):
            raise item
        return item

    async def download(
        self,
        url: str,
        destination: Path,
        *,
        chunk_size: int = 1 << 16,
        offset: int = 0,
        max_bytes: int | None = None,
    ) -> int:
        raise NotImplementedError


POLICY = PollPolicy(
    first_delay=2.0, min_interval=1.0, max_interval=30.0, backoff=2.0, jitter=0.0, error_budget=3
)


@contextlib.asynccontextmanager
async def make_engine(
    clock: Any, transport: FakeTransport, policy: PollPolicy = POLICY, **config: Any
) -> AsyncIterator[Engine]:
    # A guard, not a timing assertion: a lost wake-up fails the test instead of hanging it.
    with anyio.fail_after(10):
        async with Engine(
            transport, clock=clock, config=EngineConfig(poll=policy, **config)
        ) as engine:
            yield engine


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await anyio.lowlevel.checkpoint()


def intervals(calls: list[Call]) -> list[float]:
    return [round(b.time - a.time, 6) for a, b in itertools.pairwise(calls)]


PROVIDER = FakeProvider()

# ---------------------------------------------------------------------------------------
# Cadence


async def test_cadence_follows_the_providers_hints_clamped_by_the_policy() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script(
        "a",
        job(delay=7),
        job(delay=7),
        job(delay=0.01),  # below min_interval
        job(delay=500),  # above max_interval
        job("succeeded"),
    )
    async with make_engine(clock, transport) as engine:
        result = await engine.wait(PROVIDER, handle)
    assert result.status is JobStatus.SUCCEEDED
    assert intervals(transport.status_calls()) == [7.0, 7.0, 1.0, 30.0]


async def test_without_hints_the_pause_grows_and_is_capped() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    policy = attrs.evolve(POLICY, max_interval=20.0)
    handle = transport.script("a", *[job()] * 7, job("succeeded"))
    async with make_engine(clock, transport, policy) as engine:
        await engine.wait(PROVIDER, handle)
    assert intervals(transport.status_calls()) == [2.0, 4.0, 8.0, 16.0, 20.0, 20.0, 20.0]


async def test_first_poll_of_a_fresh_submission_waits_first_delay() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job("succeeded"))
    async with make_engine(clock, transport) as engine:
        (handle,) = await engine.submit(PROVIDER, "req", idempotency_key="k")
        await engine.wait(PROVIDER, handle)
    (call,) = transport.status_calls()
    assert call.time == pytest.approx(POLICY.first_delay)


async def test_a_long_polling_provider_is_long_polled_at_once_from_the_first_poll() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job(), job("succeeded"))
    async with make_engine(clock, transport) as engine:
        (handle,) = await engine.submit(LongPollProvider(), "req", idempotency_key="k")
        await engine.wait(LongPollProvider(), handle)
    calls = transport.status_calls()
    assert [c.time for c in calls] == [0.0, 0.0]  # not first_delay: the server holds it
    assert [c.wait for c in calls] == [True, True]


async def test_a_documented_floor_holds_back_the_first_poll_too() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job(), job("succeeded"))
    async with make_engine(clock, transport) as engine:
        (handle,) = await engine.submit(FloorProvider(), "req", idempotency_key="k")
        await engine.wait(FloorProvider(), handle)
    assert [c.time for c in transport.status_calls()] == [10.0, 20.0]  # first_delay is 2


async def test_jitter_stays_within_its_bounds() -> None:
    policy = PollPolicy(min_interval=1.0, max_interval=100.0, jitter=0.1)
    for polls in range(1, 50):
        assert 9.0 <= policy.delay(PollHint(delay=10.0), polls) <= 11.0
    assert policy.delay(PollHint(long_poll=True), 3) == 0.0


async def test_long_poll_hint_polls_again_at_once_asking_to_wait() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script(
        "a", job(long_poll=True), job(long_poll=True), job(long_poll=True), job("succeeded")
    )
    async with make_engine(clock, transport) as engine:
        await engine.wait(PROVIDER, handle)
    calls = transport.status_calls()
    assert [c.time for c in calls] == [0.0] * 4
    assert [c.wait for c in calls] == [False, True, True, True]


# ---------------------------------------------------------------------------------------
# Many jobs, one scheduler


async def test_many_waits_share_one_scheduler_and_poll_only_as_needed() -> None:
    clock = VirtualClock(autojump_threshold=None)  # time moves only when the test says
    transport = FakeTransport(clock)
    jobs, polls = 200, 4
    handles = [
        transport.script(f"j{i}", *[job(delay=10)] * (polls - 1), job("succeeded"))
        for i in range(jobs)
    ]
    results: list[GenerationResult] = []

    async def waiter(handle: JobHandle) -> None:
        results.append(await engine.wait(PROVIDER, handle))

    async with make_engine(clock, transport) as engine, anyio.create_task_group() as tasks:
        baseline = len(asyncio.all_tasks())
        for handle in handles:
            tasks.start_soon(waiter, handle)
        for _ in range(polls):
            await settle(50)
            # Every job is between two polls: besides the waiters themselves, only the
            # scheduler (and its sleep) is alive, and only one thing sleeps.
            if len(results) < jobs:
                assert len(asyncio.all_tasks()) - baseline - jobs <= 3
                assert clock.sleepers == 1
                clock.jump()
        await settle(50)
        assert len(results) == jobs
    assert len(transport.status_calls()) == jobs * polls
    assert engine.scheduler.tracked == 0


# ---------------------------------------------------------------------------------------
# Errors


async def test_transient_errors_within_the_budget_are_retried() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script(
        "a",
        failure(503),
        TransportError("connection reset"),
        reply(200, "not an object"),
        job(),
        failure(500),
        failure(502),
        failure(429),
        job("succeeded"),
    )
    async with make_engine(clock, transport) as engine:
        result = await engine.wait(PROVIDER, handle)
    assert result.status is JobStatus.SUCCEEDED
    assert len(transport.status_calls()) == 8
    assert engine.scheduler.tracked == 0


async def test_errors_back_off_and_honour_retry_after() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script(
        "a", failure(503), failure(503), failure(429, retry_after="12"), job("succeeded")
    )
    async with make_engine(clock, transport) as engine:
        await engine.wait(PROVIDER, handle)
    # min_interval * 2**errors, then the server's Retry-After.
    assert intervals(transport.status_calls()) == [2.0, 4.0, 12.0]


async def test_errors_over_the_budget_reach_the_waiter() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script("a", job(), failure(500))
    async with make_engine(clock, transport) as engine:
        with pytest.raises(ServerError) as caught:
            await engine.wait(PROVIDER, handle)
        assert engine.scheduler.tracked == 0
    assert caught.value.provider == NAME
    assert caught.value.job_id == "a"
    # One good poll, then error_budget tolerated failures, then the one that ends it.
    assert len(transport.status_calls()) == 1 + POLICY.error_budget + 1


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (404, NotFoundError)])
async def test_a_non_transient_error_ends_the_wait_at_once(
    status: int, error: type[Exception]
) -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script("a", job(delay=5), failure(status), job("succeeded"))
    async with make_engine(clock, transport) as engine:
        with pytest.raises(error):
            await engine.wait(PROVIDER, handle)
    assert len(transport.status_calls()) == 2
    assert clock.monotonic() == pytest.approx(5.0)


# ---------------------------------------------------------------------------------------
# Deadlines


async def test_deadline_raises_poll_timeout_with_the_last_result() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script("a", job("queued", delay=10), job("running", delay=10))
    async with make_engine(clock, transport) as engine:
        with pytest.raises(PollTimeout) as caught:
            await engine.wait(PROVIDER, handle, timeout=35)
        assert engine.scheduler.tracked == 0
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert error.last_result is not None
    assert error.last_result.status is JobStatus.RUNNING
    assert error.job_id == "a"
    assert error.provider == NAME
    assert clock.monotonic() == pytest.approx(35.0)
    assert [c.time for c in transport.status_calls()] == [0.0, 10.0, 20.0, 30.0]


async def test_a_deadline_passes_on_time_while_a_status_fetch_hangs() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script("a", job(delay=10), HANG)
    async with make_engine(clock, transport) as engine:
        with pytest.raises(PollTimeout) as caught:
            await engine.wait(PROVIDER, handle, timeout=25)
        assert clock.monotonic() == 25.0  # not when the request gives up: it never does
        await settle()
        assert engine.scheduler.tracked == 0
        assert engine.scheduler.fetching == 0  # nobody waits for it any more: cancelled
    assert caught.value.last_result is not None
    assert [c.time for c in transport.status_calls()] == [0.0, 10.0]


async def test_a_hanging_fetch_does_not_hold_back_the_other_jobs_polls() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    stuck = transport.script("stuck", HANG)
    moving = transport.script("moving", job(delay=5), job(delay=5), job("succeeded"))
    async with make_engine(clock, transport) as engine:
        outcomes = [
            o
            async for o in engine.as_completed([(PROVIDER, stuck), (PROVIDER, moving)], timeout=60)
        ]
    assert [o.handle for o in outcomes] == [moving, stuck]
    assert isinstance(outcomes[1].error, PollTimeout)
    assert [c.time for c in transport.status_calls("moving")] == [0.0, 5.0, 10.0]
    assert clock.monotonic() == 60.0


async def test_long_polls_have_slots_of_their_own_and_never_hold_up_short_requests() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    held = [transport.script(f"held{i}", HANG) for i in range(3)]
    short = transport.script("short", job("succeeded"))
    engine_context = make_engine(clock, transport, max_concurrent_requests=1, max_long_polls=2)
    async with engine_context as engine, anyio.create_task_group() as waits:
        for handle in held:
            waits.start_soon(functools.partial(engine.wait, LongPollProvider(), handle))
        await settle()
        result = await engine.wait(PROVIDER, short)  # its one slot is free
        assert result.status is JobStatus.SUCCEEDED
        (handle,) = await engine.submit(PROVIDER, "req", idempotency_key="k")
        assert handle.id == "new"
        assert [c.job for c in transport.status_calls() if c.wait] == ["held0", "held1"]
        waits.cancel_scope.cancel()


async def test_deadline_before_any_poll_gives_no_last_result() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job())
    async with make_engine(clock, transport) as engine:
        (handle,) = await engine.submit(PROVIDER, "req", idempotency_key="k")
        with pytest.raises(PollTimeout) as caught:
            await engine.wait(PROVIDER, handle, timeout=1.0)  # first poll due at 2 s
    assert caught.value.last_result is None
    assert transport.status_calls() == []


# ---------------------------------------------------------------------------------------
# Several waiters


async def test_two_waiters_on_one_job_share_its_polls() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script("a", job(delay=5), job(delay=5), job("succeeded"))
    results: list[GenerationResult] = []

    async def waiter() -> None:
        results.append(await engine.wait(PROVIDER, handle))

    async with make_engine(clock, transport) as engine, anyio.create_task_group() as tasks:
        tasks.start_soon(waiter)
        tasks.start_soon(waiter)
    assert len(transport.status_calls()) == 3
    assert [r.status for r in results] == [JobStatus.SUCCEEDED] * 2


async def test_cancelling_one_of_two_waiters_keeps_polling_for_the_other() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script("a", job(delay=5), job(delay=5), job(delay=5), job("succeeded"))
    first = anyio.CancelScope()
    results: list[GenerationResult | str] = []

    def on_call(call: Call) -> None:
        if len(transport.status_calls()) == 2:
            first.cancel()

    transport.on_call = on_call

    async def cancelled_waiter() -> None:
        with first:
            await engine.wait(PROVIDER, handle)
        results.append("cancelled")

    async def waiter() -> None:
        results.append(await engine.wait(PROVIDER, handle))

    async with make_engine(clock, transport) as engine, anyio.create_task_group() as tasks:
        tasks.start_soon(cancelled_waiter)
        tasks.start_soon(waiter)
    assert first.cancelled_caught
    assert len(transport.status_calls()) == 4
    assert results[0] == "cancelled"
    assert isinstance(results[1], GenerationResult)
    assert results[1].status is JobStatus.SUCCEEDED
    assert engine.scheduler.tracked == 0


async def test_cancelling_the_only_waiter_stops_polling() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handle = transport.script("a", job(delay=5))
    async with make_engine(clock, transport) as engine:
        with anyio.CancelScope() as scope:
            transport.on_call = lambda call: scope.cancel() if len(transport.calls) == 3 else None
            await engine.wait(PROVIDER, handle)
        await settle()
        assert engine.scheduler.tracked == 0
        assert engine.scheduler.fetching == 0
        polled = len(transport.status_calls())
        await clock.sleep(60)
        await settle()
    assert polled == 3
    assert len(transport.status_calls()) == 3


# ---------------------------------------------------------------------------------------
# as_completed


async def test_as_completed_yields_in_completion_order() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    slow = transport.script("slow", job(delay=10), job(delay=10), job("succeeded"))
    fast = transport.script("fast", job("failed"))
    middle = transport.script("middle", job(delay=10), job("succeeded"))
    missing = transport.script("missing", job(delay=3), failure(404))
    async with make_engine(clock, transport) as engine:
        outcomes = [
            o
            async for o in engine.as_completed(
                [(PROVIDER, h) for h in (slow, fast, middle, missing)]
            )
        ]
        assert engine.scheduler.tracked == 0
    assert [o.handle for o in outcomes] == [fast, missing, middle, slow]
    assert outcomes[0].result is not None and outcomes[0].result.status is JobStatus.FAILED
    assert not outcomes[0].ok
    assert isinstance(outcomes[1].error, NotFoundError)
    assert outcomes[2].ok and outcomes[3].ok


async def test_as_completed_reports_a_timeout_as_an_outcome() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    done = transport.script("done", job("succeeded"))
    stuck = transport.script("stuck", job(delay=10))
    async with make_engine(clock, transport) as engine:
        outcomes = [
            o async for o in engine.as_completed([(PROVIDER, done), (PROVIDER, stuck)], timeout=25)
        ]
    assert outcomes[0].ok
    assert isinstance(outcomes[1].error, PollTimeout)


async def test_breaking_out_of_as_completed_early_leaves_no_tracked_jobs() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handles = [transport.script("first", job("succeeded"))]
    handles += [transport.script(f"j{i}", job(delay=10)) for i in range(20)]
    async with make_engine(clock, transport) as engine:
        async for outcome in engine.as_completed([(PROVIDER, h) for h in handles]):
            assert outcome.handle.id == "first"
            break
        await settle()
        assert engine.scheduler.tracked == 0
        assert engine.scheduler.fetching == 0
        before = len(transport.calls)
        await clock.sleep(100)
        await settle()
        assert len(transport.calls) == before


async def test_waits_given_up_early_never_end_when_their_deadlines_pass() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    first = transport.script("first", job("succeeded"))
    slow = [transport.script(f"slow{i}", job(delay=10)) for i in range(5)]
    later = transport.script("later", job(delay=30), job("succeeded"))
    async with make_engine(clock, transport) as engine:
        jobs = [(PROVIDER, h) for h in (first, *slow)]
        async for outcome in engine.as_completed(jobs, timeout=5):
            assert outcome.handle == first
            break
        # The abandoned waits' deadlines (5 s) pass while another job is waited on.
        result = await engine.wait(PROVIDER, later)
        assert result.status is JobStatus.SUCCEEDED
        assert clock.monotonic() == 30.0
        assert engine.scheduler.tracked == 0


async def test_waits_that_end_early_do_not_keep_their_deadlines() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    handles = [transport.script(f"j{i}", job("succeeded")) for i in range(600)]
    async with make_engine(clock, transport) as engine:
        outcomes = [
            o async for o in engine.as_completed([(PROVIDER, h) for h in handles], timeout=3600)
        ]
        assert all(o.ok for o in outcomes)
        # 600 deadlines an hour away, all moot: compacted, not kept for an hour.
        assert engine.scheduler.timers < 300


# ---------------------------------------------------------------------------------------
# Submitting against a plan's concurrency limit


async def test_concurrency_limit_waits_for_a_job_end_and_resubmits_once_per_slot() -> None:
    clock = VirtualClock(autojump_threshold=None)
    transport = FakeTransport(clock)
    running = {"a", "b"}
    capacity = 2
    created: list[str] = []

    def submit() -> HttpResponse:
        if len(running) >= capacity:
            return failure(429, "concurrency_limit_reached")
        created.append(f"new{len(created)}")
        running.add(created[-1])
        return reply(202, {"id": created[-1]})

    def on_call(call: Call) -> None:
        if call.method != "GET":
            return
        answer = transport.scripts[call.job][0]
        if isinstance(answer, HttpResponse) and answer.json()["status"] != "running":
            running.discard(call.job)

    transport.submit = submit
    transport.on_call = on_call
    a = transport.script("a", job(delay=5), job("succeeded"))
    b = transport.script("b", job(delay=5), job(delay=5), job("succeeded"))
    handles: list[tuple[JobHandle, ...]] = []

    async def submitter() -> None:
        handles.append(await engine.submit(PROVIDER, "req", idempotency_key="k"))

    async def waiter(handle: JobHandle) -> None:
        await engine.wait(PROVIDER, handle)

    async with make_engine(clock, transport) as engine, anyio.create_task_group() as tasks:
        tasks.start_soon(waiter, a)
        tasks.start_soon(waiter, b)
        await settle()
        tasks.start_soon(submitter)
        tasks.start_soon(submitter)
        for _ in range(10):
            await settle(50)
            if len(handles) == 2:
                break
            clock.jump()
    posts = [c.time for c in transport.calls if c.method == "POST"]
    # Two refused at once; then one resubmission as each job ends (a at 5 s, b at 10 s).
    assert posts == [0.0, 0.0, 5.0, 10.0]
    assert sorted(h.id for (h,) in handles) == ["new0", "new1"]


async def test_a_rate_limit_that_is_not_the_concurrency_limit_is_raised() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.submit = lambda: failure(429, "rate_limited", retry_after="3")
    async with make_engine(clock, transport) as engine:
        with pytest.raises(RateLimitedError) as caught:
            await engine.submit(PROVIDER, "req", idempotency_key="k")
    assert caught.value.retry_after == 3.0
    assert caught.value.provider == NAME
    assert len(transport.calls) == 1


async def test_submit_budget_spaces_out_a_burst() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    provider = FakeProvider(rates={"submit": Rate(requests=2, per_seconds=60.0)})
    async with make_engine(clock, transport) as engine:
        for _ in range(5):
            await engine.submit(provider, "req", idempotency_key="k")
    assert [c.time for c in transport.calls] == [0.0, 0.0, 60.0, 60.0, 120.0]


# ---------------------------------------------------------------------------------------
# Webhook deliveries race the safety-net poll


NET = attrs.evolve(POLICY, safety_net=300.0)


def ended(job_id: str, state: str = "succeeded") -> GenerationResult:
    return GenerationResult(provider=NAME, id=job_id, status=JobStatus(state))


async def submit_expecting_a_callback(engine: Engine) -> JobHandle:
    (handle,) = await engine.submit(PROVIDER, "req", idempotency_key="k")
    engine.expect_webhook(PROVIDER, [handle])
    return handle


async def test_a_signed_delivery_ends_the_wait_with_no_status_request() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job())
    async with make_engine(clock, transport, NET) as engine:
        handle = await submit_expecting_a_callback(engine)
        async with anyio.create_task_group() as tasks:
            results: list[GenerationResult] = []

            async def wait() -> None:
                results.append(await engine.wait(PROVIDER, handle))

            tasks.start_soon(wait)
            await clock.sleep(42)  # long after first_delay: only the safety net polls
            assert engine.webhook(NAME, WebhookCall(job_id="new", result=ended("new")))
    assert results[0].status is JobStatus.SUCCEEDED
    assert transport.status_calls() == []


async def test_without_its_callback_a_job_is_polled_only_by_the_safety_net() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job(), job("succeeded"))
    async with make_engine(clock, transport, NET) as engine:
        handle = await submit_expecting_a_callback(engine)
        result = await engine.wait(PROVIDER, handle)
    assert result.status is JobStatus.SUCCEEDED
    assert [c.time for c in transport.status_calls()] == [300.0, 600.0]


async def test_a_callback_before_the_wait_begins_is_kept_for_it() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job())
    async with make_engine(clock, transport, NET) as engine:
        handle = await submit_expecting_a_callback(engine)
        assert engine.webhook(NAME, WebhookCall(job_id="new", result=ended("new", "failed")))
        result = await engine.wait(PROVIDER, handle)
    assert result.status is JobStatus.FAILED
    assert transport.status_calls() == []


async def test_late_duplicate_and_backward_callbacks_change_nothing() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job())
    async with make_engine(clock, transport, NET) as engine:
        handle = await submit_expecting_a_callback(engine)
        async with anyio.create_task_group() as tasks:
            results: list[GenerationResult] = []

            async def wait() -> None:
                results.append(await engine.wait(PROVIDER, handle))

            tasks.start_soon(wait)
            await settle()
            running = GenerationResult(provider=NAME, id="new", status=JobStatus.RUNNING)
            assert engine.webhook(NAME, WebhookCall(job_id="new", result=running))
            await settle()
            assert results == []  # a non-terminal callback never ends (or rewinds) a wait
            assert engine.webhook(NAME, WebhookCall(job_id="new", result=ended("new")))
            # The same callback again, and a stale one after it: nobody waits any more.
            assert not engine.webhook(NAME, WebhookCall(job_id="new", result=ended("new")))
            assert not engine.webhook(NAME, WebhookCall(job_id="new", result=running))
        assert engine.webhook(NAME, WebhookCall(job_id="stranger")) is False
    assert [r.status for r in results] == [JobStatus.SUCCEEDED]


async def test_an_unsigned_delivery_is_confirmed_by_one_status_fetch() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job("succeeded"))
    async with make_engine(clock, transport, NET) as engine:
        handle = await submit_expecting_a_callback(engine)
        async with anyio.create_task_group() as tasks:
            results: list[GenerationResult] = []

            async def wait() -> None:
                results.append(await engine.wait(PROVIDER, handle))

            tasks.start_soon(wait)
            await clock.sleep(7)
            assert engine.webhook(NAME, WebhookCall(job_id="new"))  # unsigned: no result
    assert results[0].status is JobStatus.SUCCEEDED
    assert [c.time for c in transport.status_calls()] == [7.0]


async def test_an_unsigned_delivery_during_a_fetch_fetches_again_once_it_ends() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", job(), job("succeeded"))
    calls: list[Call] = []

    def on_call(call: Call) -> None:
        if call.method == "GET":
            calls.append(call)
        if len(calls) == 1 and call.method == "GET":  # the safety-net poll is on its way
            assert engine.webhook(NAME, WebhookCall(job_id="new"))

    transport.on_call = on_call
    async with make_engine(clock, transport, NET) as engine:
        handle = await submit_expecting_a_callback(engine)
        result = await engine.wait(PROVIDER, handle)
    assert result.status is JobStatus.SUCCEEDED
    # The poll in flight may have left before the job ended: one more, at once.
    assert [c.time for c in transport.status_calls()] == [300.0, 300.0]


async def test_a_signed_delivery_during_a_fetch_ends_the_wait_once() -> None:
    clock = VirtualClock()
    transport = FakeTransport(clock)
    transport.script("new", HANG)
    async with make_engine(clock, transport, NET) as engine:
        handle = await submit_expecting_a_callback(engine)

        def on_call(call: Call) -> None:
            # As the receiver does: on the event loop, outside the fetch's own task.
            deliver = functools.partial(
                engine.webhook, NAME, WebhookCall(job_id="new", result=ended("new"))
            )
            asyncio.get_running_loop().call_soon(deliver)

        transport.on_call = on_call
        result = await engine.wait(PROVIDER, handle)
        await settle()
        assert engine.scheduler.fetching == 0  # the held fetch was cancelled
    assert result.status is JobStatus.SUCCEEDED
