"""The real Client against the real NanoGPT emulator over loopback, in virtual time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from prism_async import (
    AuthenticationError,
    Client,
    FailureKind,
    GenerationFailed,
    InsufficientCreditsError,
    JobHandle,
    JobStatus,
    Media,
    PollTimeout,
    RequestValidationError,
    VideoRequest,
)
from prism_async.providers.nanogpt import ExtendRequest, NanoGPTVideoRequest
from prism_async.testing import Fault, FaultKind, VirtualClock
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests.conftest import Env, serve

pytestmark = pytest.mark.anyio

T2V = VideoRequest(model="veo2-video", prompt="A lighthouse in fog")


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    async with serve(clock, NanoGPTEmulator(clock=clock, queue_seconds=5, run_seconds=40)) as env:
        yield env


@pytest.mark.parametrize("shape", ["nested", "flat"])
async def test_text_to_video_completes_in_either_status_shape(env: Env, shape: str) -> None:
    env.nano.status_shape = shape  # type: ignore[assignment]
    async with env.client() as client:
        result = await client.generate(T2V)
    assert result.status is JobStatus.SUCCEEDED
    assert result.outputs[0].url.endswith(f"{result.id}.mp4")
    assert result.cost is not None and result.cost.amount == Decimal("0.35")
    assert result.cost.unit.value == "USD"


@pytest.mark.parametrize("shape", ["nested", "flat"])
async def test_image_to_video_from_a_local_file_goes_inline(
    env: Env, shape: str, tmp_path: Path
) -> None:
    env.nano.status_shape = shape  # type: ignore[assignment]
    image = tmp_path / "frame.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(1000))
    request = VideoRequest(
        model="kling-v21-standard", prompt="wake up", image=Media.from_path(image)
    )
    async with env.client() as client:
        result = await client.generate(request)
    assert result.status is JobStatus.SUCCEEDED
    sent = env.nano.jobs[result.id].sim.request
    assert str(sent["imageDataUrl"]).startswith("data:image/png;base64,")


async def test_image_to_video_from_a_url_is_sent_as_image_url(env: Env) -> None:
    request = VideoRequest(
        model="kling-v21-standard", image=Media.from_url("https://example.com/cat.jpg")
    )
    async with env.client() as client:
        result = await client.generate(request)
    assert env.nano.jobs[result.id].sim.request["imageUrl"] == "https://example.com/cat.jpg"


async def test_failed_generation_raises_with_the_result(env: Env) -> None:
    async with env.client() as client:
        with pytest.raises(GenerationFailed) as caught:
            await client.generate(VideoRequest(model="veo2-video", prompt="storm [fail]"))
    failure = caught.value.result.failure
    assert caught.value.result.status is JobStatus.FAILED
    assert failure is not None and failure.kind is FailureKind.ERROR and failure.retryable
    assert caught.value.job_id == caught.value.result.id


@pytest.mark.parametrize("shape", ["nested", "flat"])
async def test_moderation_failure_is_told_apart(env: Env, shape: str) -> None:
    env.nano.status_shape = shape  # type: ignore[assignment]
    async with env.client() as client:
        handle = (await client.submit(VideoRequest(model="veo2-video", prompt="x [moderation]")))[0]
        result = await client.wait(handle, raise_on_failure=False)
    assert result.failure is not None
    assert result.failure.kind is FailureKind.MODERATION
    assert not result.failure.retryable


async def test_wrong_key_raises_authentication_error(env: Env) -> None:
    async with env.client(api_key="not-a-key") as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.submit(T2V)
    assert caught.value.status_code == 401
    assert caught.value.provider == "nanogpt"
    assert caught.value.request_id


async def test_insufficient_balance_raises_402_and_charges_nothing(env: Env) -> None:
    env.nano.balance = Decimal("0.10")
    async with env.client() as client:
        with pytest.raises(InsufficientCreditsError):
            await client.submit(T2V)
    assert env.nano.creates == 0


async def test_refused_create_429_is_retried_once_and_charged_once(env: Env) -> None:
    env.nano.faults.inject("generate", Fault(kind=FaultKind.STATUS, status=429, retry_after="0"))
    async with env.client() as client:
        result = await client.generate(T2V)
    assert result.status is JobStatus.SUCCEEDED
    assert env.nano.counts.by_route["generate"] == 2
    assert env.nano.creates == 1


async def test_a_burst_over_the_submit_limit_is_paced_without_any_429(env: Env) -> None:
    env.nano.balance = Decimal(1000)
    async with env.client() as client:
        handles = [h for _ in range(60) for h in await client.submit(T2V)]
    assert len(handles) == 60
    assert env.nano.counts.by_status[429] == 0
    assert env.clock.monotonic() >= 60  # the last ten waited for the window to move on


async def test_a_create_that_times_out_after_sending_is_not_retried(env: Env) -> None:
    env.nano.faults.inject("generate", Fault(kind=FaultKind.LOSE_RESPONSE))
    async with env.client() as client:
        with pytest.raises(Exception, match="failed"):
            await client.submit(T2V)
    # The job may exist and be paid for: a blind retry could pay twice.
    assert env.nano.counts.by_route["generate"] == 1
    assert env.nano.creates == 1


async def test_5xx_bursts_and_resets_while_polling_are_tolerated(env: Env) -> None:
    # Eight failures: more than the transport's four attempts, within the poll error budget.
    for kind in (FaultKind.STATUS, FaultKind.RESET, FaultKind.MALFORMED, FaultKind.TRUNCATE):
        env.nano.faults.inject("status", Fault(kind=kind, status=503), times=2)
    async with env.client() as client:
        result = await client.generate(T2V)
    assert result.status is JobStatus.SUCCEEDED
    assert env.nano.counts.by_status[503] >= 2


async def test_wait_reaches_its_deadline_with_the_last_result(env: Env) -> None:
    async with env.client() as client:
        handle = (await client.submit(VideoRequest(model="veo2-video", prompt="x [never]")))[0]
        with pytest.raises(PollTimeout) as caught:
            await client.wait(handle, timeout=300)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.last_result is not None
    assert caught.value.last_result.status is JobStatus.RUNNING
    assert caught.value.job_id == handle.id


async def test_an_unknown_status_is_kept_running_until_the_deadline(env: Env) -> None:
    env.nano.unknown_status = "REVIEWING"
    async with env.client() as client:
        handle = (await client.submit(VideoRequest(model="veo2-video", prompt="x [never]")))[0]
        with pytest.raises(PollTimeout) as caught:
            await client.wait(handle, timeout=120)
    last = caught.value.last_result
    assert last is not None and last.status is JobStatus.RUNNING
    assert last.raw_status == "REVIEWING"


async def test_cancelled_wait_leaves_no_task_and_no_connection(env: Env) -> None:
    async with env.client() as client:
        handle = (await client.submit(T2V))[0]
        env.nano.faults.inject("status", Fault(kind=FaultKind.SLOW, delay=5.0))
        # The slow answer holds the loop idle in real time, so an autojumping clock would
        # carry the wait on to its deadline: here time moves by hand, to the first poll only.
        env.clock.autojump_threshold = None
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(client.wait, handle)
            with anyio.fail_after(5):  # real-time guard: the slow poll must be in flight
                while env.nano.counts.by_route["status"] == 0:
                    if client.engine.scheduler.fetching == 0:
                        env.clock.jump()
                    await anyio.sleep(0.01)
            assert client.engine.scheduler.fetching == 1
            tasks.cancel_scope.cancel()
        assert client.engine.scheduler.tracked == 0
        assert client.engine.scheduler.fetching == 0
        assert client.transport.connections_in_use == 0  # type: ignore[attr-defined]


async def test_a_handle_saved_as_text_is_waited_on_from_a_fresh_client(env: Env) -> None:
    async with env.client() as first:
        saved = str((await first.submit(T2V))[0])
    async with env.client() as second:
        result = await second.wait(saved)
    assert result.status is JobStatus.SUCCEEDED
    assert JobHandle.parse(saved).id == result.id


async def test_status_falls_back_to_the_legacy_route(env: Env) -> None:
    async with env.client() as client:
        handle = (await client.submit(T2V))[0]
        env.clock.advance(100)
        env.nano.faults.inject("status", Fault(kind=FaultKind.STATUS, status=404))
        result = await client.get(handle)
    assert result.status is JobStatus.SUCCEEDED
    assert env.nano.counts.by_route["legacy_status"] == 1


async def test_many_jobs_come_back_as_they_complete(env: Env) -> None:
    prompts = ["a [slow]", "b", "c [fail]", "d"]
    async with env.client() as client:
        handles = [
            (await client.submit(VideoRequest(model="veo2-video", prompt=p)))[0] for p in prompts
        ]
        outcomes = [o async for o in client.as_completed(handles)]
    assert {o.handle for o in outcomes} == set(handles)
    assert outcomes[-1].handle == handles[0]  # the slow one ends last
    assert sum(o.ok for o in outcomes) == 3


async def test_extend_runs_on_a_finished_midjourney_job(env: Env) -> None:
    async with env.client() as client:
        source = await client.generate(VideoRequest(model="midjourney-video", prompt="a fox"))
        extended = (await client.submit(ExtendRequest(run_id=source.id, index=2)))[0]
        result = await client.wait(extended)
    assert result.status is JobStatus.SUCCEEDED


async def test_video_models_are_discovered(env: Env) -> None:
    provider = env.provider()
    async with Client(provider, clock=env.clock) as client:
        models = await client.run(provider.models_flow())
    by_id = {m.id: m for m in models}
    assert {"veo2-video", "kling-v21-standard", "video-upscaler"} <= set(by_id)
    assert by_id["video-upscaler"].input_modalities == ("video",)
    assert "openai/gpt-4o-mini" not in by_id  # the text catalog is a different route


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (VideoRequest(model="veo2-video", prompt="x", aspect_ratio="5:4"), "aspect_ratio"),
        (ExtendRequest(run_id="vid_abc", index=5), "index"),
        (VideoRequest(model="veo2-video"), "prompt"),
        (
            VideoRequest(
                model="kling-v21-standard",
                image=Media.from_bytes(bytes(4 * 1024 * 1024 + 1), "image/png"),
            ),
            "image",
        ),
        (VideoRequest(model="veo2-video", prompt="x", count=2), "count"),
        (NanoGPTVideoRequest(model="sora-2", prompt="x", seconds="5"), "seconds"),
    ],
)
async def test_invalid_input_is_refused_before_any_request(
    env: Env, request_: object, field: str
) -> None:
    async with env.client() as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.submit(request_)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert env.nano.counts.total == 0


async def test_an_inline_file_over_4_mb_is_refused_before_any_request(
    env: Env, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(bytes(4 * 1024 * 1024 + 1))
    request = VideoRequest(model="kling-v21-standard", image=Media.from_path(big))
    async with env.client() as client:
        with pytest.raises(RequestValidationError, match="over the limit") as caught:
            await client.submit(request)
    assert caught.value.field == "image"
    assert env.nano.counts.total == 0


async def test_the_api_key_never_appears_in_reprs_logs_or_errors(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "nano-emulator-key"
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    provider = env.provider()
    async with env.client(provider) as client:
        texts += [repr(client), repr(provider), repr(client.providers)]
        result = await client.generate(T2V)
        texts += [repr(result), str(result.to_dict())]
        request = next(provider.status_flow(result.handle))
        texts.append(repr(request))
    env.nano.api_key = "rotated"  # our key is now refused: the 401 must not echo it
    async with env.client(provider) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.submit(T2V)
    texts += [str(caught.value), repr(caught.value), repr(caught.value.body)]
    texts += [r.getMessage() for r in caplog.records]
    assert texts
    assert not [t for t in texts if secret in t]


async def test_an_error_inside_the_client_block_is_not_wrapped_in_a_group(env: Env) -> None:
    with pytest.raises(RequestValidationError):
        async with env.client() as client:
            await client.submit(VideoRequest(model="veo2-video"))
