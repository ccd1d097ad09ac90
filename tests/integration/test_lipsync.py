"""The real Client against the real lipsync emulator over loopback, in virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import anyio
import attrs
import pytest
from aiohttp import web

from prism_async import (
    AiohttpTransport,
    BadRequestError,
    Client,
    FailureKind,
    GenerationFailed,
    JobStatus,
    Media,
    RequestValidationError,
    UnsupportedRequestError,
    VideoRequest,
    WebhookVerificationError,
)
from prism_async._http import HttpRequest, HttpResponse
from prism_async._transport import BeforeSend
from prism_async.providers.lipsync import (
    AudioTrack,
    LipsyncRequest,
    LipsyncSegment,
    Speech,
    parse_webhook,
    verify_signature,
)
from prism_async.testing import Fault, FaultKind, VirtualClock
from prism_async.testing.lipsync import LipsyncEmulator
from tests.conftest import FAST_RETRIES, Env, serve

pytestmark = pytest.mark.anyio

VIDEO = Media.from_url("https://media.example/face.mp4")


def lipsync(*tracks: AudioTrack, **fields: object) -> LipsyncRequest:
    return LipsyncRequest(model="lipsync-2", video=VIDEO, audio=tracks, **fields)  # type: ignore[arg-type]


def audio(name: str = "voice.wav", ref_id: str | None = None) -> AudioTrack:
    return AudioTrack(audio=Media.from_url(f"https://media.example/{name}"), ref_id=ref_id)


@attrs.define
class Recording:
    """A transport that keeps every exchange, to see which status requests were long polls."""

    inner: AiohttpTransport
    exchanges: list[tuple[HttpRequest, HttpResponse]] = attrs.field(factory=list)

    async def send(
        self, request: HttpRequest, *, before_send: BeforeSend | None = None
    ) -> HttpResponse:
        response = await self.inner.send(request, before_send=before_send)
        self.exchanges.append((request, response))
        return response

    async def download(
        self,
        url: str,
        destination: Path,
        *,
        chunk_size: int = 1 << 16,
        offset: int = 0,
        max_bytes: int | None = None,
    ) -> int:
        return await self.inner.download(
            url, destination, chunk_size=chunk_size, offset=offset, max_bytes=max_bytes
        )

    def status_exchanges(self) -> list[tuple[HttpRequest, HttpResponse]]:
        return [(q, r) for q, r in self.exchanges if q.kind == "status"]


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    async with serve(clock, LipsyncEmulator(clock=clock, queue_seconds=1, run_seconds=30)) as env:
        yield env


def status_requests(env: Env) -> int:
    return env.lipsync.counts.by_route["generation"]


async def test_an_audio_url_input_completes_with_its_output(env: Env) -> None:
    async with env.client() as client:
        result = await client.generate(lipsync(audio()))
    assert result.status is JobStatus.SUCCEEDED
    assert result.outputs[0].url.endswith(f"{result.id}.mp4")
    assert result.outputs[0].duration == 10.0
    sent = env.lipsync.generations[result.id].body
    assert sent["input"][1] == {"type": "audio", "url": "https://media.example/voice.wav"}


async def test_a_text_to_speech_input_completes(env: Env) -> None:
    speech = Speech(script="Hello there.", voice_id="voice-7", stability=0.5)
    async with env.client() as client:
        result = await client.generate(lipsync(AudioTrack(speech=speech)))
    assert result.status is JobStatus.SUCCEEDED
    sent = env.lipsync.generations[result.id].body["input"][1]
    assert sent["provider"] == {
        "name": "elevenlabs",
        "voiceId": "voice-7",
        "script": "Hello there.",
        "stability": 0.5,
    }


async def test_three_segments_with_audio_crops_complete(env: Env) -> None:
    request = lipsync(
        audio("intro.wav", "intro"),
        audio("outro.mp3", "outro"),
        AudioTrack(speech=Speech(script="In between.", voice_id="v-1"), ref_id="tts"),
        segments=[
            LipsyncSegment(start=0, end=3, ref_id="intro", audio_start=0.5, audio_end=3.5),
            LipsyncSegment(start=3, end=6, ref_id="tts"),
            LipsyncSegment(start=7, end=12.5, ref_id="outro", audio_start=1, audio_end=6.5),
        ],
        options={"sync_mode": "cut_off"},
    )
    async with env.client() as client:
        result = await client.generate(request)
    assert result.status is JobStatus.SUCCEEDED
    assert result.outputs[0].duration == 12.5
    assert str(result.raw["segmentOutputUrl"]).endswith("_segments.mp4")
    segments = env.lipsync.generations[result.id].body["segments"]
    assert [s["audioInput"] for s in segments] == [
        {"refId": "intro", "startTime": 0.5, "endTime": 3.5},
        {"refId": "tts"},
        {"refId": "outro", "startTime": 1, "endTime": 6.5},
    ]


async def test_local_files_are_streamed_through_the_multipart_form(
    env: Env, tmp_path: Path
) -> None:
    video = tmp_path / "face.mp4"
    video.write_bytes(b"\x00" * 300_000)
    voice = tmp_path / "voice.wav"
    voice.write_bytes(b"RIFF" + b"\x01" * 50_000)
    # One local track, no segments: the documented multipart form. (A local track placed
    # by segments is refused before sending: see tests/providers/test_lipsync_fidelity.py.)
    request = LipsyncRequest(
        model="lipsync-2",
        video=Media.from_path(video),
        audio=[AudioTrack(audio=Media.from_path(voice))],
    )
    async with env.client() as client:
        result = await client.generate(request)
    assert result.status is JobStatus.SUCCEEDED
    generation = env.lipsync.generations[result.id]
    assert generation.uploads == {"video": 300_000, "audio": 50_004}
    uploaded = [i for i in generation.body["input"] if i.get("type") == "audio"]
    assert uploaded[0]["url"].endswith("/voice.wav")  # the file made the audio item


async def test_a_failed_generation_raises_with_its_code(env: Env) -> None:
    async with env.client() as client:
        with pytest.raises(GenerationFailed) as caught:
            await client.generate(lipsync(audio("clip[fail].wav")))
    result = caught.value.result
    assert result.status is JobStatus.FAILED and result.raw_status == "FAILED"
    assert result.failure is not None and result.failure.kind is FailureKind.ERROR
    assert result.failure.code == "generation_pipeline_failed"
    assert result.failure.retryable


async def test_a_rejected_generation_is_a_moderation_failure(env: Env) -> None:
    async with env.client() as client:
        handle = (await client.submit(lipsync(audio(), output_file_name="take1_moderation")))[0]
        result = await client.wait(handle, raise_on_failure=False)
    assert result.raw_status == "REJECTED"
    assert result.failure is not None and result.failure.kind is FailureKind.MODERATION
    assert not result.failure.retryable


async def test_a_create_whose_response_is_lost_is_retried_with_its_key_and_charged_once(
    env: Env,
) -> None:
    env.lipsync.faults.inject("create", Fault(kind=FaultKind.LOSE_RESPONSE))
    async with env.client() as client:
        handles = await client.submit(lipsync(audio()), idempotency_key="order-42.take-1")
        result = await client.wait(handles[0])
    assert env.lipsync.counts.by_route["create"] == 2
    assert env.lipsync.creates == 1
    assert result.status is JobStatus.SUCCEEDED


async def test_an_unknown_outcome_is_resolved_without_paying_twice(env: Env) -> None:
    env.lipsync.outcome_unknown_next = 1
    async with env.client() as client:
        handles = await client.submit(lipsync(audio()))
        result = await client.wait(handles[0])
    assert env.lipsync.creates == 1
    assert list(env.lipsync.generations) == [handles[0].id]
    assert result.status is JobStatus.SUCCEEDED


async def test_a_long_poll_notices_completion_as_the_server_releases_it(env: Env) -> None:
    transport = Recording(AiohttpTransport(FAST_RETRIES))
    provider = env.provider()
    async with transport.inner, Client(provider, transport=transport, clock=env.clock) as client:
        result = await client.generate(lipsync(audio()))
    assert result.status is JobStatus.SUCCEEDED
    # A 31-second job: long polls from the first poll on, sent as soon as the create was
    # answered, held 10 s each, the last one released by the completion itself.
    assert status_requests(env) <= 4
    exchanges = transport.status_exchanges()
    assert all(("wait", "true") in request.params for request, _ in exchanges)
    last_request, last_response = exchanges[-1]
    assert ("wait", "true") in last_request.params
    assert last_response.headers["x-sync-wait-mode"] == "long_poll"
    assert provider.long_poll_honoured is True


async def test_polling_falls_back_to_plain_when_long_poll_is_not_honoured(env: Env) -> None:
    env.lipsync.long_poll = False
    transport = Recording(AiohttpTransport(FAST_RETRIES))
    provider = env.provider()
    async with transport.inner, Client(provider, transport=transport, clock=env.clock) as client:
        result = await client.generate(lipsync(audio()))
    assert result.status is JobStatus.SUCCEEDED
    waits = [q for q, _ in transport.status_exchanges() if ("wait", "true") in q.params]
    assert len(waits) == 1  # one probe, then plain polls at the documented cadence
    assert provider.long_poll_honoured is False
    assert status_requests(env) <= 6


async def test_five_jobs_on_a_one_slot_plan_all_complete_one_at_a_time(env: Env) -> None:
    results = []
    async with env.client() as client:

        async def one(index: int) -> None:
            results.append(await client.generate(lipsync(audio(f"voice-{index}.wav"))))

        async with anyio.create_task_group() as tasks:
            for index in range(5):
                tasks.start_soon(one, index)
    assert [r.status for r in results] == [JobStatus.SUCCEEDED] * 5
    assert env.lipsync.creates == 5
    assert env.lipsync.max_running_seen == 1


async def test_list_cost_and_cancel_use_the_rest_of_the_api(env: Env) -> None:
    async with env.client() as client:
        done = await client.generate(lipsync(audio()))
        pending = (await client.submit(lipsync(audio("later.wav"))))[0]
        canceled = await client.run(env.provider().cancel_flow(pending))
        completed = await client.run(env.provider().list_flow("COMPLETED"))
        cost = await client.run(env.provider().estimate_cost_flow(lipsync(audio())))
        with pytest.raises(BadRequestError, match="only a PENDING generation"):
            await client.run(env.provider().cancel_flow(done.handle))
    assert canceled.status is JobStatus.CANCELED
    assert [r.id for r in completed] == [done.id]
    assert cost.amount == Decimal("0.5") and cost.unit.value == "USD" and cost.estimated


async def test_a_submit_asks_for_its_estimate_and_creates_once(env: Env) -> None:
    async with env.client() as client:
        result = await client.generate(lipsync(audio()))
    assert env.lipsync.counts.by_route["cost"] == 1 and env.lipsync.creates == 1
    assert result.cost is not None and result.cost.estimated and result.cost_note is None


async def test_without_estimates_a_submit_sends_only_the_create(env: Env) -> None:
    provider = env.provider(estimate_costs=False)
    async with env.client(provider) as client:
        receipt = await client.submit(lipsync(audio()))
        result = await client.wait(receipt.handles[0])
    assert env.lipsync.counts.by_route["cost"] == 0 and env.lipsync.creates == 1
    assert receipt.cost is None and "estimate_costs=False" in (receipt.cost_note or "")
    assert result.cost is None and "estimate_costs" in (result.cost_note or "")


async def test_a_create_sent_again_after_a_concurrency_429_reuses_its_estimate(
    env: Env,
) -> None:
    """The 1-job plan refuses the second create (429) until the first job ends; the
    submit then sends the create again, not the estimate."""
    async with env.client() as client:
        first = await client.submit(lipsync(audio("one.wav")))
        second = await client.submit(lipsync(audio("two.wav")))
    assert env.lipsync.counts.by_status[429] >= 1 and env.lipsync.creates == 2
    assert env.lipsync.counts.by_route["cost"] == 2
    assert first.cost is not None and second.cost is not None


async def test_an_estimate_route_the_api_lacks_is_asked_once(env: Env) -> None:
    """The estimate path differs between the documents: where the server has no such
    route (404), later creates no longer ask for it, and their results say why."""
    env.lipsync.faults.inject("cost", Fault(kind=FaultKind.STATUS, status=404))
    async with env.client() as client:
        first = await client.submit(lipsync(audio("one.wav")))
        second = await client.submit(lipsync(audio("two.wav")))
    assert env.lipsync.counts.by_route["cost"] == 1 and env.lipsync.creates == 2
    for receipt in (first, second):
        assert receipt.cost is None and "404" in (receipt.cost_note or "")


async def test_a_failed_estimate_leaves_the_cost_unknown_and_creates_once(env: Env) -> None:
    env.lipsync.faults.inject("cost", Fault(kind=FaultKind.STATUS, status=400))
    async with env.client() as client:
        first = await client.submit(lipsync(audio("one.wav")))
        second = await client.submit(lipsync(audio("two.wav")))
    assert env.lipsync.creates == 2 and env.lipsync.counts.by_route["cost"] == 2
    assert first.cost is None and first.cost_note
    assert second.cost is not None  # a refusal of one body is not a missing route


async def test_invalid_requests_are_refused_before_any_byte_is_sent(env: Env) -> None:
    bad = lipsync(
        audio(ref_id="a"),
        segments=[LipsyncSegment(start=0, end=2, ref_id="missing")],
    )
    async with env.client() as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.submit(bad)
        with pytest.raises(UnsupportedRequestError):
            await client.submit(VideoRequest(model="lipsync-2", prompt="a talking cat"))
    assert caught.value.field == "segments[0].ref_id"
    assert env.lipsync.counts.total == 0


@attrs.define
class Receiver:
    """A loopback webhook endpoint that keeps the raw deliveries."""

    deliveries: list[tuple[bytes, dict[str, str]]] = attrs.field(factory=list)
    arrived: anyio.Event = attrs.field(factory=anyio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.deliveries.append((await request.read(), dict(request.headers)))
        self.arrived.set()
        return web.Response(text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hooks = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/sync", hooks.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield hooks, f"http://127.0.0.1:{port}/hooks/sync"
    finally:
        await runner.cleanup()


async def test_a_signed_delivery_verifies_and_tampering_is_rejected(
    env: Env, receiver: tuple[Receiver, str]
) -> None:
    hooks, url = receiver
    secret = env.lipsync.webhook_secret
    async with env.client() as client:
        handle = (await client.submit(lipsync(audio(), webhook_url=url)))[0]
        polled = await client.wait(handle)
        with anyio.fail_after(10):  # a bound on the real delivery, not a timing assertion
            await hooks.arrived.wait()
    body, headers = hooks.deliveries[0]
    now = env.clock.now().timestamp()

    delivered = parse_webhook(body, headers, secret, now=now)
    # The delivery is the Generation object alone: the submit's cost estimate, which the
    # handle keeps, is not in it, and the result says so.
    assert polled.cost is not None and polled.cost.estimated
    assert delivered.cost is None and delivered.cost_note
    assert delivered == attrs.evolve(polled, cost=None, cost_note=delivered.cost_note)

    signature = headers["Sync-Signature"]
    tampered = body.replace(b"COMPLETED", b"COMPLETEX")
    with pytest.raises(WebhookVerificationError, match="signature does not match"):
        verify_signature(tampered, signature, secret, now=now)
    with pytest.raises(WebhookVerificationError, match="signature does not match"):
        verify_signature(body, signature, "whsec_not_the_secret", now=now)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_signature(body, signature, secret, now=now + 301)
