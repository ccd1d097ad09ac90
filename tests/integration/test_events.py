"""Per-job events from the engine: the real Client against the real emulators over
loopback, in virtual time."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from prism_async import (
    Client,
    EngineConfig,
    JobEvent,
    JobFinished,
    JobPolled,
    JobStatus,
    JobStatusChanged,
    JobSubmitted,
    Media,
    PollPolicy,
    VideoRequest,
)
from prism_async._engine import _engine, _scheduler
from prism_async.batch import BatchEvent, BatchItem, ItemFinished, ItemQueued, run_batch
from prism_async.providers.lipsync import AudioTrack, LipsyncRequest
from prism_async.testing import VirtualClock
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests.conftest import FAST_RETRIES, Env, serve
from tests.integration._batches import collect

pytestmark = pytest.mark.anyio

POLL = PollPolicy(first_delay=1.0, min_interval=1.0, max_interval=2.0)
FOG = VideoRequest(model="veo2-video", prompt="fog")


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    emulators = (
        NanoGPTEmulator(clock=clock, queue_seconds=3, run_seconds=6),
        LipsyncEmulator(clock=clock, queue_seconds=50, run_seconds=50),
    )
    async with serve(clock, *emulators) as env:
        yield env


def client(env: Env, **options: Any) -> Client:
    return env.client(
        env.provider("nanogpt"),
        env.provider("lipsync"),
        transport_config=FAST_RETRIES,
        config=EngineConfig(poll=POLL),
        **options,
    )


def assert_one_jobs_story(events: list[JobEvent]) -> None:
    """submitted, then polls and status changes, then finished, each change following a
    poll that saw it and naming the status seen before it."""
    assert isinstance(events[0], JobSubmitted)
    assert isinstance(events[-1], JobFinished)
    assert isinstance(events[-2], JobStatusChanged)
    assert events[-2].result == events[-1].result
    assert events[-1].result.is_terminal
    middle = events[1:-1]
    assert all(isinstance(e, JobPolled | JobStatusChanged) for e in middle)
    previous = None
    for before, event in itertools.pairwise(events):
        if isinstance(event, JobStatusChanged):
            assert isinstance(before, JobPolled) and before.result is event.result
            assert event.previous is previous
            previous = event.status
    polls = [e.polls for e in middle if isinstance(e, JobPolled)]
    assert polls == list(range(1, len(polls) + 1))
    times = [e.at for e in events]
    assert times == sorted(times)
    assert len({e.handle for e in events}) == 1


async def test_a_job_tells_submitted_polled_status_changed_then_finished(env: Env) -> None:
    events: list[JobEvent] = []
    async with client(env) as c:
        result = await c.generate(FOG, provider="nanogpt", on_event=events.append)
    assert_one_jobs_story(events)
    changes = [e.status for e in events if isinstance(e, JobStatusChanged)]
    assert changes[0] in (JobStatus.QUEUED, JobStatus.RUNNING)
    assert changes[-1] is JobStatus.SUCCEEDED
    assert len(changes) == len(set(changes))
    assert sum(isinstance(e, JobPolled) for e in events) > len(changes)  # unchanged polls too
    assert isinstance(events[-1], JobFinished) and events[-1].result == result
    assert c.engine.events.active is False  # the call's listener left with the call


async def test_a_client_listener_hears_every_job_and_a_call_listener_only_its_own(
    env: Env,
) -> None:
    everything: list[JobEvent] = []
    mine: list[JobEvent] = []
    async with client(env, on_event=everything.append) as c:
        first, second = [(await c.submit(FOG, provider="nanogpt"))[0] for _ in range(2)]
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lambda: c.wait(first, on_event=mine.append))
            tasks.start_soon(c.wait, second)
    assert {e.handle for e in everything} == {first, second}
    assert {e.handle for e in mine} == {first}
    assert_one_jobs_story([e for e in everything if e.handle == first])
    assert_one_jobs_story([e for e in everything if e.handle == second])
    assert [e for e in everything if e.handle == first][1:] == mine


async def test_a_cancel_finishes_the_job_for_its_listeners(env: Env) -> None:
    events: list[JobEvent] = []
    request = LipsyncRequest(
        model="lipsync-2",
        video=Media.from_url("https://media.example/face.mp4"),
        audio=[AudioTrack(audio=Media.from_url("https://media.example/voice.wav"))],
    )
    async with client(env) as c:
        with pytest.raises(Exception, match="canceled"):
            await c.generate(
                request,
                provider="lipsync",
                timeout=5,
                cancel_on_timeout=True,
                on_event=events.append,
            )
    assert isinstance(events[0], JobSubmitted)
    assert isinstance(events[-1], JobFinished)
    assert events[-1].result.status is JobStatus.CANCELED
    assert isinstance(events[-2], JobStatusChanged)
    assert events[-2].status is JobStatus.CANCELED
    assert c.engine.events.active is False


async def test_a_failing_listener_does_not_disturb_the_job(env: Env) -> None:
    def broken(event: JobEvent) -> None:
        raise RuntimeError("listener bug")

    async with client(env, on_event=broken) as c:
        result = await c.generate(FOG, provider="nanogpt")
    assert result.status is JobStatus.SUCCEEDED


async def test_without_listeners_no_event_is_built(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(**fields: object) -> None:
        raise AssertionError("an event was built with nobody listening")

    for name in ("JobPolled", "JobStatusChanged", "JobFinished"):
        monkeypatch.setattr(_scheduler, name, forbidden)
    for name in ("JobSubmitted", "JobStatusChanged", "JobFinished"):
        monkeypatch.setattr(_engine, name, forbidden)
    async with client(env) as c:
        assert c.engine.events.active is False
        result = await c.generate(FOG, provider="nanogpt")
        outcomes = [o async for o in c.as_completed(await c.submit(FOG, provider="nanogpt"))]
    assert result.status is JobStatus.SUCCEEDED
    assert outcomes[0].result is not None and outcomes[0].result.status is JobStatus.SUCCEEDED


async def test_a_batch_hears_the_same_job_events_besides_its_own(env: Env) -> None:
    heard: list[BatchEvent] = []
    items = [BatchItem(key=f"k{n}", provider="nanogpt", request=FOG) for n in range(3)]
    async with client(env) as c:
        outcomes = await collect(run_batch(c, items, on_event=heard.append))
        assert c.engine.events.active is False  # the batch's listeners left with it
    assert all(o.ok for o in outcomes.values())
    assert sum(isinstance(e, ItemQueued) for e in heard) == 3
    assert sum(isinstance(e, ItemFinished) for e in heard) == 3
    for outcome in outcomes.values():
        story = [e for e in heard if isinstance(e, JobEvent) and e.handle == outcome.handle]
        assert_one_jobs_story(story)
