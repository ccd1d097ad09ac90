"""Cancel: the real Client against the real emulators over loopback, in virtual time. The
emulators' request counts say whether a cancel was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from prism_async import (
    BadRequestError,
    CancelNotSupported,
    GenerationFailed,
    JobHandle,
    JobStatus,
    Media,
    PollTimeout,
    RequestValidationError,
    VideoRequest,
)
from prism_async.batch import BatchItem, ItemState, SQLiteJournal, run_batch
from prism_async.providers.lipsync import AudioTrack, LipsyncRequest
from prism_async.testing import VirtualClock
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests.conftest import FAST_RETRIES, Env, serve
from tests.integration._batches import collect

pytestmark = pytest.mark.anyio

#: A lipsync job stays PENDING this long (virtual seconds), then runs this long.
QUEUED = 100.0
RUNNING = 100.0


def lipsync() -> LipsyncRequest:
    return LipsyncRequest(
        model="lipsync-2",
        video=Media.from_url("https://media.example/face.mp4"),
        audio=[AudioTrack(audio=Media.from_url("https://media.example/voice.wav"))],
    )


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    emulators = (
        LipsyncEmulator(clock=clock, queue_seconds=QUEUED, run_seconds=RUNNING),
        NanoGPTEmulator(clock=clock, queue_seconds=1, run_seconds=5),
        PrismEmulator(clock=clock, run_seconds=5),
    )
    async with serve(clock, *emulators) as env:
        yield env


def cancels(env: Env) -> int:
    return env.lipsync.counts.by_route["cancel"]


async def test_a_pending_lipsync_job_is_canceled_with_one_request(env: Env) -> None:
    async with env.client(transport_config=FAST_RETRIES) as client:
        (handle,) = await client.submit(lipsync(), provider="lipsync")
        result = await client.cancel(handle)
        again = await client.get(handle)
    assert result.status is JobStatus.CANCELED
    assert again.status is JobStatus.CANCELED
    assert cancels(env) == 1


async def test_a_cancel_ends_the_waits_on_the_job(env: Env) -> None:
    async with env.client(transport_config=FAST_RETRIES) as client:
        (handle,) = await client.submit(lipsync(), provider="lipsync")
        ended: list[object] = []

        async def waiter() -> None:
            ended.append(await client.wait(handle, raise_on_failure=False))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(waiter)
            await env.clock.sleep(5)
            await client.cancel(handle)
    (result,) = ended
    assert getattr(result, "status", None) is JobStatus.CANCELED
    assert cancels(env) == 1


async def test_a_job_no_longer_pending_is_not_cancelable(env: Env) -> None:
    async with env.client(transport_config=FAST_RETRIES) as client:
        (handle,) = await client.submit(lipsync(), provider="lipsync")
        await env.clock.sleep(QUEUED + 1)  # PROCESSING now
        with pytest.raises(BadRequestError, match="only a PENDING generation"):
            await client.cancel(handle)
        assert (await client.get(handle)).status is JobStatus.RUNNING
    assert cancels(env) == 1


@pytest.mark.parametrize("name", ["nanogpt", "prism"])
async def test_providers_without_cancel_raise_and_send_nothing(env: Env, name: str) -> None:
    emulator = env.server.emulators[name]
    async with env.client(transport_config=FAST_RETRIES) as client:
        if name == "nanogpt":  # a real job; Prism's handle need not exist: nothing is sent
            request = VideoRequest(model="veo2-video", prompt="fog")
            (handle,) = await client.submit(request, provider=name)
        else:
            handle = JobHandle(provider=name, id="job-1")
        before = emulator.counts.total  # type: ignore[attr-defined]
        with pytest.raises(CancelNotSupported, match=f"the {name} API has no way to cancel"):
            await client.cancel(handle)
        with pytest.raises(CancelNotSupported):
            await client.wait(handle, timeout=5, cancel_on_timeout=True)
        assert emulator.counts.total == before  # type: ignore[attr-defined]
    error = CancelNotSupported(provider=name)
    assert isinstance(error, RequestValidationError) and error.provider == name


async def test_generate_with_cancel_on_timeout_is_refused_before_paying(env: Env) -> None:
    request = VideoRequest(model="veo2-video", prompt="fog")
    async with env.client(transport_config=FAST_RETRIES) as client:
        with pytest.raises(CancelNotSupported):
            await client.generate(request, provider="nanogpt", timeout=5, cancel_on_timeout=True)
    assert env.nano.counts.total == 0


async def test_cancel_on_timeout_sends_exactly_one_cancel(env: Env) -> None:
    async with env.client(transport_config=FAST_RETRIES) as client:
        (handle,) = await client.submit(lipsync(), provider="lipsync")
        with pytest.raises(GenerationFailed) as failed:
            await client.wait(handle, timeout=10, cancel_on_timeout=True)
        assert isinstance(failed.value.__cause__, PollTimeout)
        assert failed.value.result.status is JobStatus.CANCELED
        result = await client.wait(handle, raise_on_failure=False)
    assert result.status is JobStatus.CANCELED
    assert cancels(env) == 1


async def test_a_timeout_sends_no_cancel_by_default(env: Env) -> None:
    async with env.client(transport_config=FAST_RETRIES) as client:
        (handle,) = await client.submit(lipsync(), provider="lipsync")
        with pytest.raises(PollTimeout):
            await client.wait(handle, timeout=10)
        assert (await client.get(handle)).status is JobStatus.QUEUED
        with pytest.raises(PollTimeout):  # the plan's one slot is taken: it waits for it
            await client.generate(lipsync(), provider="lipsync", timeout=10)
    assert cancels(env) == 0


async def test_generate_cancels_on_timeout_with_the_opt_in(env: Env) -> None:
    async with env.client(transport_config=FAST_RETRIES) as client:
        with pytest.raises(GenerationFailed) as failed:
            await client.generate(lipsync(), provider="lipsync", timeout=10, cancel_on_timeout=True)
    assert failed.value.result.status is JobStatus.CANCELED
    assert cancels(env) == 1


async def test_a_refused_cancel_on_timeout_raises_the_timeout_and_the_job_goes_on(
    env: Env,
) -> None:
    async with env.client(transport_config=FAST_RETRIES) as client:
        (handle,) = await client.submit(lipsync(), provider="lipsync")
        with pytest.raises(PollTimeout):
            await client.wait(handle, timeout=QUEUED + 10, cancel_on_timeout=True)
        assert (await client.get(handle)).status is JobStatus.RUNNING
    assert cancels(env) == 1


@pytest.mark.parametrize("opt_in", [True, False])
async def test_a_cancelled_waiting_task_cancels_the_job_only_with_the_opt_in(
    env: Env, opt_in: bool
) -> None:
    async with env.client(transport_config=FAST_RETRIES) as client:
        (handle,) = await client.submit(lipsync(), provider="lipsync")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lambda: client.wait(handle, cancel_on_timeout=opt_in))
            await env.clock.sleep(5)
            tasks.cancel_scope.cancel()
        status = (await client.get(handle)).status
    assert status is (JobStatus.CANCELED if opt_in else JobStatus.QUEUED)
    assert cancels(env) == (1 if opt_in else 0)


@pytest.mark.parametrize("opt_in", [True, False])
async def test_a_batch_cancels_the_jobs_that_time_out_only_with_the_flag(
    env: Env, tmp_path: Path, opt_in: bool
) -> None:
    items = [
        BatchItem(key="lip", provider="lipsync", request=lipsync()),
        BatchItem(
            key="nano", provider="nanogpt", request=VideoRequest(model="veo2-video", prompt="fog")
        ),
    ]
    async with (
        SQLiteJournal(tmp_path / "batch.sqlite") as journal,
        env.client(transport_config=FAST_RETRIES) as client,
    ):
        outcomes = await collect(
            run_batch(client, items, journal=journal, timeout=30, cancel_on_timeout=opt_in)
        )
        entry = await journal.lookup("lip")
    lip = outcomes["lip"]
    assert isinstance(lip.error, PollTimeout)
    assert outcomes["nano"].ok
    assert entry is not None
    if opt_in:
        assert lip.result is not None and lip.result.status is JobStatus.CANCELED
        assert entry.state is ItemState.FINISHED
        assert entry.results[str(lip.handle)]["status"] == "canceled"
        assert cancels(env) == 1
    else:
        assert lip.result is None
        assert entry.state is ItemState.SUBMITTED
        assert cancels(env) == 0
