"""The lipsync emulator speaks the documented Sync.so v2 API, over loopback, in virtual time."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import string
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import attrs
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from prism_async.testing import FAKE_MP4, EmulatorServer, Fault, FaultKind, VirtualClock
from prism_async.testing._lipsync_validate import (
    valid_idempotency_key,
    valid_output_file_name,
    validate_create,
)
from prism_async.testing.lipsync import LipsyncEmulator

pytestmark = pytest.mark.anyio

VIDEO = {"type": "video", "url": "https://media.example/face.mp4"}
AUDIO = {"type": "audio", "url": "https://media.example/voice.wav"}
TEXT: dict[str, Any] = {
    "type": "text",
    "provider": {"name": "elevenlabs", "voiceId": "v-1", "script": "Hello there."},
}


def request_body(**overrides: Any) -> dict[str, Any]:
    return {"model": "lipsync-2", "input": [VIDEO, AUDIO], **overrides}


@attrs.define
class Harness:
    emu: LipsyncEmulator
    clock: VirtualClock
    http: aiohttp.ClientSession
    url: str

    async def create(
        self, body: dict[str, Any], key: str | None = None
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {"Idempotency-Key": key} if key is not None else {}
        async with self.http.post(f"{self.url}/v2/generate", json=body, headers=headers) as r:
            return r.status, await r.json(), r

    async def get(self, gid: str, **params: str) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.http.get(f"{self.url}/v2/generate/{gid}", params=params) as r:
            return r.status, await r.json(), r


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[Harness]:
    clock = VirtualClock()
    emu = LipsyncEmulator(clock=clock, **options)
    async with (
        EmulatorServer([emu]) as server,
        aiohttp.ClientSession(headers={"x-api-key": emu.api_key}) as http,
    ):
        yield Harness(emu, clock, http, server.base_url("lipsync"))


async def test_requests_without_the_right_api_key_get_401() -> None:
    async with running() as h, aiohttp.ClientSession() as anonymous:
        for headers in ({}, {"x-api-key": "wrong"}):
            async with anonymous.post(
                f"{h.url}/v2/generate", json=request_body(), headers=headers
            ) as r:
                assert r.status == 401
                assert await r.json() == {
                    "statusCode": 401,
                    "message": "Unauthorized",
                    "error": "Unauthorized",
                }
                assert r.headers["X-Request-ID"]
        assert h.emu.creates == 0


async def test_error_catalog_needs_no_key() -> None:
    async with (
        running() as h,
        aiohttp.ClientSession() as anonymous,
        anonymous.get(f"{h.url}/v2/errors") as r,
    ):
        assert r.status == 200
        catalog = await r.json()
    codes = {entry["code"] for entry in catalog}
    assert {"generation_pipeline_failed", "concurrency_limit_reached"} <= codes
    assert all(set(entry) == {"code", "message", "fix"} for entry in catalog)


async def test_create_answers_201_with_a_pending_generation() -> None:
    async with running() as h:
        body = request_body(options={"sync_mode": "bounce"}, webhookUrl="https://hook.example/x")
        status, gen, response = await h.create(body)
    assert status == 201
    assert response.headers["X-Request-ID"]
    uuid.UUID(gen["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", gen["createdAt"])
    assert gen["status"] == "PENDING"
    assert gen["model"] == "lipsync-2"
    assert gen["input"] == [VIDEO, AUDIO]
    assert gen["options"] == {"sync_mode": "bounce"}
    assert gen["webhookUrl"] == "https://hook.example/x"
    for key in ("segments", "outputUrl", "outputMediaUrl", "outputDuration"):
        assert gen[key] is None
    for key in ("segmentOutputUrl", "error", "error_code"):
        assert gen[key] is None
    assert h.emu.creates == 1


def _segmented(segments: list[dict[str, Any]], refs: tuple[str, ...] = ("a", "b")) -> Any:
    items = [VIDEO] + [{**AUDIO, "refId": ref} for ref in refs]
    return request_body(input=items, segments=segments)


def _seg(start: float, end: float, ref: str = "a", **audio: float) -> dict[str, Any]:
    return {"startTime": start, "endTime": end, "audioInput": {"refId": ref, **audio}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (request_body(input=[AUDIO]), "input must include one video item"),
        (request_body(input=[VIDEO]), "input must include at least one audio or text item"),
        (request_body(input=[VIDEO, VIDEO, AUDIO]), "input must include only one video item"),
        (request_body(input=[VIDEO, AUDIO, AUDIO]), "unless segments are used"),
        (_segmented([_seg(0, 2, "zzz")]), "segments.0.audioInput.refId 'zzz' names no"),
        (
            request_body(input=[VIDEO, AUDIO], segments=[_seg(0, 2)]),
            "input.1.refId is required when segments are used",
        ),
        (_segmented([_seg(3, 2)]), "segments.0.startTime must be less than"),
        (_segmented([_seg(0, 3), _seg(2, 4, "b")]), "segments.1 overlaps segments.0"),
        (_segmented([_seg(0, 2, startTime=1)]), "must be given together"),
        (request_body(outputFileName="my file.mp4"), "outputFileName"),
        (request_body(outputFileName="x" * 256), "outputFileName"),
        (request_body(options={"temperature": 1.5}), "options.temperature"),
        (request_body(options={"sync_mode": "wiggle"}), "options.sync_mode"),
        (request_body(model="lipsync-9"), "model must be one of"),
        (request_body(options={"model_mode": "head"}), "options.model_mode"),
        (
            request_body(input=[VIDEO, {"type": "text", "provider": {"name": "elevenlabs"}}]),
            "input.1.provider.voiceId",
        ),
    ],
)
async def test_invalid_create_is_400_naming_the_field(body: Any, field: str) -> None:
    async with running() as h:
        status, error, _ = await h.create(body)
        async with h.http.post(f"{h.url}/v2/analyze/cost", json=body) as r:
            assert r.status == 400
    assert status == 400
    assert error["statusCode"] == 400
    assert error["error"] == "Bad Request"
    assert error["errorCode"] == "validation_failed"
    assert any(field in message for message in error["message"]), error["message"]
    assert h.emu.creates == 0


async def test_tts_input_and_three_segments_with_crops_complete() -> None:
    items = [VIDEO, {**AUDIO, "refId": "a"}, {**TEXT, "refId": "t"}]
    segments = [
        _seg(0, 2, "a", startTime=0.5, endTime=2.5),
        {**_seg(2, 4, "t"), "optionsOverride": {"temperature": 0.2}},
        _seg(5, 12, "a"),
    ]
    options = {"active_speaker_detection": {"auto_detect": True}, "temperature": 0.7}
    async with running() as h:
        status, gen, _ = await h.create(
            request_body(input=items, segments=segments, options=options)
        )
        assert status == 201, gen
        assert gen["segments"] == segments
        h.clock.advance(6)
        _, done, _ = await h.get(gen["id"])
    assert done["status"] == "COMPLETED"
    assert done["outputDuration"] == 12.0
    assert done["segmentOutputUrl"].endswith("_segments.mp4")


async def test_react_model_accepts_its_own_options() -> None:
    async with running() as h:
        options = {"model_mode": "head", "prompt": "happy"}
        status, _, _ = await h.create(request_body(model="react-1", options=options))
    assert status == 201


async def test_generation_walks_pending_processing_completed_and_serves_the_file() -> None:
    async with running() as h:
        _, gen, _ = await h.create(request_body())
        assert (await h.get(gen["id"]))[1]["status"] == "PENDING"
        h.clock.advance(1.5)
        _, running_gen, _ = await h.get(gen["id"], include="progress")
        assert running_gen["status"] == "PROCESSING"
        assert 0 < running_gen["progress_percent"] < 100
        h.clock.advance(5)
        _, done, _ = await h.get(gen["id"])
        assert done["status"] == "COMPLETED"
        assert done["outputUrl"] == done["outputMediaUrl"]
        assert done["outputUrl"].startswith(f"{h.url}/files/")
        assert done["outputDuration"] == 10.0
        assert done["error"] is None
        async with aiohttp.ClientSession() as anonymous, anonymous.get(done["outputUrl"]) as r:
            assert r.status == 200
            assert r.content_type == "video/mp4"
            assert await r.read() == FAKE_MP4


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            request_body(input=[VIDEO, {**AUDIO, "url": "https://m.example/a%5Bfail%5D.wav"}]),
            "FAILED",
            "generation_pipeline_failed",
        ),
        (request_body(outputFileName="take1_fail"), "FAILED", "generation_pipeline_failed"),
        (
            request_body(
                input=[VIDEO, {**TEXT, "provider": {**TEXT["provider"], "script": "[moderation]"}}]
            ),
            "REJECTED",
            "content_moderation_rejected",
        ),
    ],
)
async def test_markers_end_a_generation_failed_or_rejected(
    body: dict[str, Any], status: str, code: str
) -> None:
    async with running() as h:
        _, gen, _ = await h.create(body)
        h.clock.advance(7)
        _, done, _ = await h.get(gen["id"])
    assert done["status"] == status
    assert done["error_code"] == done["errorCode"] == code
    assert done["error"]
    assert done["outputUrl"] is None


async def test_one_slot_plan_refuses_a_second_job_until_the_first_ends() -> None:
    async with running(concurrency_limit=1) as h:
        assert (await h.create(request_body()))[0] == 201
        status, error, response = await h.create(request_body())
        assert status == 429
        assert error["errorCode"] == "concurrency_limit_reached"
        assert error["error"] == "Too Many Requests"
        assert error["message"].startswith("Concurrency limit reached")
        assert "Retry-After" not in response.headers
        h.clock.advance(6)
        assert (await h.create(request_body()))[0] == 201
    assert h.emu.creates == 2
    assert h.emu.max_running_seen == 1


async def test_rate_limit_answers_429_with_retry_after() -> None:
    async with running(create_limit_per_minute=2, concurrency_limit=10) as h:
        for _ in range(2):
            assert (await h.create(request_body()))[0] == 201
        h.clock.advance(20)
        status, error, response = await h.create(request_body())
        assert status == 429
        assert error["message"] == "Rate limit exceeded. Please try again later."
        assert error["errorCode"] == "rate_limit_exceeded"
        assert response.headers["Retry-After"] == "40"
        h.clock.advance(40)
        assert (await h.create(request_body()))[0] == 201


async def test_same_idempotency_key_replays_and_creates_once() -> None:
    async with running(concurrency_limit=5) as h:
        first = await h.create(request_body(), key="order-1")
        again = await h.create(request_body(), key="order-1")
        assert first[0] == again[0] == 201
        assert first[1] == again[1]
        assert h.emu.creates == 1
        status, error, _ = await h.create(request_body(outputFileName="other"), key="order-1")
        assert status == 409
        assert error["errorCode"] == "IDEMPOTENCY_KEY_REUSED"
        status, error, _ = await h.create(request_body(), key="bad key!")
        assert status == 400
        assert error["errorCode"] == "INVALID_IDEMPOTENCY_KEY"
    assert h.emu.creates == 1


async def test_response_lost_on_the_wire_then_replayed_is_charged_once() -> None:
    async with running() as h:
        h.emu.faults.inject("create", Fault(kind=FaultKind.LOSE_RESPONSE))
        with pytest.raises(aiohttp.ClientError):
            await h.create(request_body(), key="lost-1")
        assert h.emu.creates == 1
        status, gen, _ = await h.create(request_body(), key="lost-1")
    assert status == 201
    assert list(h.emu.generations) == [gen["id"]]
    assert h.emu.creates == 1


async def test_outcome_unknown_gives_503_with_the_generation_to_poll() -> None:
    async with running() as h:
        h.emu.outcome_unknown_next = 1
        status, error, _ = await h.create(request_body(), key="unsure-1")
        assert status == 503
        assert error["errorCode"] == "IDEMPOTENCY_OUTCOME_UNKNOWN"
        assert error["error"] == "Service Unavailable"
        assert (await h.get(error["generationId"]))[0] == 200
        status, gen, _ = await h.create(request_body(), key="unsure-1")
    assert status == 201
    assert gen["id"] == error["generationId"]
    assert h.emu.creates == 1


async def test_long_poll_returns_when_the_job_ends_with_its_headers() -> None:
    async with running(queue_seconds=1, run_seconds=5) as h:
        _, gen, _ = await h.create(request_body())
        h.clock.advance(0.5)
        before = h.clock.monotonic()
        status, done, response = await h.get(gen["id"], wait="true", timeout="10")
        waited = h.clock.monotonic() - before
    assert status == 200
    assert done["status"] == "COMPLETED"
    assert 5.5 <= waited < 5.6
    assert response.headers["Retry-After"] == "2"
    assert response.headers["X-Sync-Wait-Mode"] == "long_poll"
    assert response.headers["X-Sync-Wait-Timeout-Seconds"] == "10"


async def test_long_poll_times_out_with_the_running_state() -> None:
    async with running() as h:
        _, gen, _ = await h.create(request_body(outputFileName="never"))
        status, state, response = await h.get(gen["id"], wait="true", timeout="2")
        assert status == 200
        assert state["status"] == "PROCESSING"
        assert h.clock.monotonic() == pytest.approx(2.0)
        assert response.headers["X-Sync-Wait-Timeout-Seconds"] == "2"
        for params in ({"timeout": "11"}, {"timeout": "0"}, {"include": "progress"}):
            assert (await h.get(gen["id"], wait="true", **params))[0] == 400


async def test_long_poll_disabled_answers_at_once_without_wait_headers() -> None:
    async with running(long_poll=False) as h:
        _, gen, _ = await h.create(request_body())
        status, state, response = await h.get(gen["id"], wait="true", timeout="10")
    assert status == 200
    assert state["status"] == "PENDING"
    assert "X-Sync-Wait-Mode" not in response.headers
    assert h.clock.monotonic() == 0


async def test_multipart_upload_streams_files_that_override_urls() -> None:
    video, audio = b"\x00video" * 40_000, b"RIFFaudio" * 30_000
    form = aiohttp.FormData()
    form.add_field("model", "lipsync-2")
    form.add_field("video", video, filename="face.mp4", content_type="video/mp4")
    form.add_field("audio", audio, filename="voice[fail].wav", content_type="audio/wav")
    form.add_field("input", json.dumps([VIDEO, AUDIO]))
    form.add_field("options", json.dumps({"sync_mode": "cut_off"}))
    form.add_field("outputFileName", "uploaded")
    async with running() as h:
        async with h.http.post(f"{h.url}/v2/generate", data=form) as r:
            assert r.status == 201
            gen = await r.json()
        kinds = [item["type"] for item in gen["input"]]
        assert kinds == ["video", "audio"]
        assert all(i["url"] not in (VIDEO["url"], AUDIO["url"]) for i in gen["input"])
        assert gen["options"] == {"sync_mode": "cut_off"}
        assert h.emu.uploaded_bytes == len(video) + len(audio)
        assert h.emu.generations[gen["id"]].uploads == {"video": len(video), "audio": len(audio)}
        h.clock.advance(7)
        assert (await h.get(gen["id"]))[1]["status"] == "FAILED"  # marker in the file name
        bad = aiohttp.FormData(default_to_multipart=True)
        bad.add_field("model", "lipsync-2")
        bad.add_field("options", "{not json")
        async with h.http.post(f"{h.url}/v2/generate", data=bad) as r:
            assert r.status == 400
            assert "options must be a valid JSON string" in (await r.json())["message"]


async def test_webhook_is_delivered_signed_over_the_exact_body() -> None:
    received: list[tuple[bytes, str]] = []
    arrived = anyio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.read(), request.headers["Sync-Signature"]))
        arrived.set()
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with running() as h:
            _, gen, _ = await h.create(request_body(webhookUrl=f"http://127.0.0.1:{port}/hook"))
            h.clock.advance(6)
            with anyio.fail_after(5):
                await arrived.wait()
    finally:
        await runner.cleanup()
    body, signature = received[0]
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", signature)
    assert match is not None
    expected = hmac.new(
        b"whsec_emulator", f"{match[1]}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, match[2])
    assert int(match[1]) == int(h.clock.now().timestamp())
    payload = json.loads(body)
    assert body == json.dumps(payload, separators=(",", ":")).encode()
    assert payload["id"] == gen["id"]
    assert payload["status"] == "COMPLETED"
    assert len(h.emu.webhooks_sent) == 1
    assert h.emu.webhooks_sent[0][1] == body


async def test_cancel_only_a_pending_generation() -> None:
    async with running(concurrency_limit=1) as h:
        _, gen, _ = await h.create(request_body())
        cancel = f"{h.url}/v2/generate/{gen['id']}/cancel"
        async with h.http.post(cancel) as r:
            assert r.status == 200
            assert (await r.json())["status"] == "CANCELED"
        async with h.http.post(cancel) as r:
            assert r.status == 400
        async with h.http.post(f"{h.url}/v2/generate/{uuid.uuid4()}/cancel") as r:
            assert r.status == 404
        _, second, _ = await h.create(request_body())  # the slot was freed
        h.clock.advance(2)
        async with h.http.post(f"{h.url}/v2/generate/{second['id']}/cancel") as r:
            assert r.status == 400
            assert (await r.json())["errorCode"] == "generation_not_cancelable"


async def test_list_filters_by_status_and_returns_a_bare_array() -> None:
    async with running(concurrency_limit=5) as h:
        _, first, _ = await h.create(request_body())
        h.clock.advance(10)
        _, second, _ = await h.create(request_body())
        async with h.http.get(f"{h.url}/v2/generations") as r:
            assert [g["id"] for g in await r.json()] == [second["id"], first["id"]]
        async with h.http.get(f"{h.url}/v2/generations", params={"status": "COMPLETED"}) as r:
            assert [g["id"] for g in await r.json()] == [first["id"]]
        async with h.http.get(f"{h.url}/v2/generations", params={"status": "DONE"}) as r:
            assert r.status == 400


async def test_cost_estimate_is_in_usd_for_a_notional_clip() -> None:
    async with (
        running(cost_per_second=0.05) as h,
        h.http.post(f"{h.url}/v2/analyze/cost", json=request_body()) as r,
    ):
        assert r.status == 200
        assert await r.json() == [{"estimatedFrameCount": 250, "estimatedGenerationCost": 0.5}]
    assert h.emu.creates == 0


async def test_unknown_generation_is_404_and_a_bad_id_400() -> None:
    async with running() as h:
        assert (await h.get(str(uuid.uuid4())))[0] == 404
        assert (await h.get("not-a-uuid"))[0] == 400


async def test_injected_500_carries_request_id_and_internal_error() -> None:
    async with running() as h:
        h.emu.faults.inject("generation", Fault(kind=FaultKind.STATUS, status=500))
        status, error, response = await h.get(str(uuid.uuid4()))
    assert status == 500
    assert error["errorCode"] == "internal_error"
    assert error["requestId"] == response.headers["X-Request-ID"]
    assert h.emu.counts.by_route["generation"] == 1


_NAME_ALPHABET = string.ascii_letters + string.digits + "_-"
_KEY_ALPHABET = _NAME_ALPHABET + ".~"


@given(st.text(alphabet=_NAME_ALPHABET, min_size=1, max_size=255))
def test_output_file_names_of_allowed_characters_are_accepted(name: str) -> None:
    assert valid_output_file_name(name)
    assert validate_create(request_body(outputFileName=name)) == []


@given(st.text(min_size=1, max_size=300))
def test_output_file_names_with_other_characters_or_too_long_are_refused(name: str) -> None:
    allowed = len(name) <= 255 and all(c in _NAME_ALPHABET for c in name)
    assert valid_output_file_name(name) is allowed
    problems = validate_create(request_body(outputFileName=name))
    assert (problems == []) is allowed
    assert all("outputFileName" in p for p in problems)


@given(st.text(alphabet=_KEY_ALPHABET, min_size=1, max_size=128))
def test_idempotency_keys_of_allowed_characters_are_accepted(key: str) -> None:
    assert valid_idempotency_key(key)


@given(st.text(max_size=200))
def test_idempotency_keys_are_checked_for_length_and_characters(key: str) -> None:
    allowed = 1 <= len(key) <= 128 and all(c in _KEY_ALPHABET for c in key)
    assert valid_idempotency_key(key) is allowed


async def test_webhooks_can_be_dropped_or_duplicated_and_delivery_errors_are_ignored() -> None:
    unreachable = "http://127.0.0.1:9/hook"  # the discard port: nothing listens
    async with running(concurrency_limit=5) as h:
        h.emu.drop_webhooks = True
        await h.create(request_body(webhookUrl=unreachable))
        h.clock.advance(6)
        await h.get(next(iter(h.emu.generations)))  # requests also check for finished jobs
        assert h.emu.webhooks_dropped == 1
        assert h.emu.webhooks_sent == []
        h.emu.drop_webhooks = False
        h.emu.duplicate_webhooks = True
        await h.create(request_body(webhookUrl=unreachable))
        h.clock.advance(6)
        for _ in range(500):  # the background checker ticks every 0.05 real seconds
            if len(h.emu.webhooks_sent) == 2:
                break
            await anyio.sleep(0.01)
        first, second = h.emu.webhooks_sent
        assert first[0] == unreachable
        assert first[1] == second[1]


async def test_long_poll_works_on_the_real_clock() -> None:
    emu = LipsyncEmulator(queue_seconds=0.05, run_seconds=0.1)
    async with (
        EmulatorServer([emu]) as server,
        aiohttp.ClientSession(headers={"x-api-key": emu.api_key}) as http,
    ):
        url = server.base_url("lipsync")
        async with http.post(f"{url}/v2/generate", json=request_body()) as r:
            gen = await r.json()
        with anyio.fail_after(1):
            async with http.get(
                f"{url}/v2/generate/{gen['id']}", params={"wait": "true", "timeout": "5"}
            ) as r:
                assert (await r.json())["status"] == "COMPLETED"
