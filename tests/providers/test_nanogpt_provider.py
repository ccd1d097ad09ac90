"""The NanoGPT provider, sans-IO: flows driven by hand with HttpResponse values, no loop."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Generator, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_async._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    ProviderResponseError,
    RateLimitedError,
    RequestValidationError,
    ServerError,
    ServiceUnavailableError,
    UnsupportedRequestError,
)
from prism_async._http import HttpRequest, HttpResponse, ReadFile, RetryMode
from prism_async._media import Media
from prism_async._provider import PollHint
from prism_async._requests import VideoRequest
from prism_async._results import CostUnit, FailureKind, GenerationResult, JobHandle, JobStatus
from prism_async._secrets import Secret
from prism_async.providers import (
    SupportsCancel,
    SupportsCostEstimate,
    SupportsJobLimit,
    SupportsList,
    SupportsModels,
    VideoProvider,
)
from prism_async.providers.nanogpt import (
    DEFAULT_BASE_URL,
    ExtendRequest,
    NanoGPTProvider,
    NanoGPTVideoRequest,
)

KEY = "ngpt-test-key"
BASE = "https://nano.test/api"
PROVIDER = NanoGPTProvider(api_key=KEY, base_url=BASE + "/")
MIB4 = 4 * 1024 * 1024
ASPECT_RATIOS = {"16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "auto"}  # reference §3.2

Effect = HttpRequest | ReadFile
Responder = Callable[[Any], Any]


def drive(flow: Generator[Any, Any, Any], respond: Responder) -> tuple[list[Any], Any]:
    """Run a flow to its end, answering each effect; the effects seen and the value."""
    effects: list[Any] = []
    try:
        effect = next(flow)
        while True:
            effects.append(effect)
            effect = flow.send(respond(effect))
    except StopIteration as stop:
        return effects, stop.value


def answer(
    status: int = 200, body: object = None, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
    # The transport hands providers lower-case header names.
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    return HttpResponse(status=status, headers=lowered, body=raw)


ACCEPTED = answer(
    202,
    {
        "runId": "vid_m1abc",
        "id": "vid_m1abc",
        "status": "pending",
        "model": "veo2-video",
        "cost": 0.35,
        "paymentSource": "XNO",
        "remainingBalance": 12.5,
        "prechargeLabel": "x",
    },
)


def submit(request: object, files: Mapping[Path, bytes] | None = None) -> tuple[list[Any], Any]:
    def respond(effect: Any) -> Any:
        if isinstance(effect, ReadFile):
            return (files or {})[effect.path]
        return ACCEPTED

    return drive(PROVIDER.submit_flow(request, idempotency_key="k"), respond)


def body_of(request: object, files: Mapping[Path, bytes] | None = None) -> dict[str, Any]:
    effects, _ = submit(request, files)
    http = effects[-1]
    assert isinstance(http, HttpRequest)
    return dict(http.json)


def refusal(request: object) -> RequestValidationError:
    flow = PROVIDER.submit_flow(request, idempotency_key="k")
    with pytest.raises(RequestValidationError) as caught:
        next(flow)  # refused before the flow yields anything: no byte is sent
    return caught.value


# ---------------------------------------------------------------------------------------
# Submit: the request and its body


def test_submit_is_one_refused_only_post_with_the_key_header() -> None:
    effects, handles = submit(VideoRequest(model="veo2-video", prompt="a lighthouse"))
    (request,) = effects
    assert request.method == "POST"
    assert request.url == f"{BASE}/generate-video"
    assert request.kind == "submit"
    assert request.retry is RetryMode.REFUSED_ONLY
    key = request.header("x-api-key")
    assert isinstance(key, Secret)
    assert key.reveal() == KEY
    assert KEY not in repr(request)
    assert request.json == {"model": "veo2-video", "prompt": "a lighthouse"}
    assert handles == (
        JobHandle(
            provider="nanogpt",
            id="vid_m1abc",
            extra={"model": "veo2-video", "unit": "XNO", "precharge": "0.35"},
        ),
    )


def test_text_to_video_body_from_the_neutral_request() -> None:
    request = VideoRequest(
        model="veo2-video",
        prompt="fog",
        negative_prompt="people",
        duration=5,
        aspect_ratio="9:16",
        resolution="720p",
        audio=True,
        seed=42,
    )
    assert body_of(request) == {
        "model": "veo2-video",
        "prompt": "fog",
        "negative_prompt": "people",
        "duration": "5s",  # Veo's documented form
        "aspect_ratio": "9:16",
        "resolution": "720p",
        "generateAudio": True,
        "seed": 42,
    }


def test_image_url_goes_as_image_url() -> None:
    request = VideoRequest(
        model="kling", prompt="p", image=Media.from_url("https://cdn.test/frame.png")
    )
    body = body_of(request)
    assert body["imageUrl"] == "https://cdn.test/frame.png"
    assert "imageDataUrl" not in body


def test_image_data_uri_goes_inline_as_is() -> None:
    uri = "data:image/png;base64," + base64.b64encode(b"\x89PNG....").decode()
    body = body_of(VideoRequest(model="kling", prompt="p", image=Media.from_data_uri(uri)))
    assert body["imageDataUrl"] == uri


def test_image_bytes_go_inline_as_a_data_uri() -> None:
    media = Media.from_bytes(b"\x89PNG-bytes", "image/png")
    body = body_of(VideoRequest(model="kling", prompt="p", image=media))
    assert body["imageDataUrl"] == "data:image/png;base64," + base64.b64encode(
        b"\x89PNG-bytes"
    ).decode("ascii")


def test_image_path_is_read_through_a_read_file_effect(tmp_path: Path) -> None:
    path = tmp_path / "frame.png"  # never created: the flow only asks for it
    effects, _ = submit(
        VideoRequest(model="kling", prompt="p", image=Media.from_path(path)),
        files={path: b"PNGDATA"},
    )
    read, post = effects
    assert read == ReadFile(path=path, max_bytes=MIB4, field="image")
    assert post.json["imageDataUrl"] == "data:image/png;base64," + base64.b64encode(
        b"PNGDATA"
    ).decode("ascii")


def test_image_storage_key_goes_as_attachment_id() -> None:
    body = body_of(VideoRequest(model="kling", prompt="p", image=Media.from_key("att_1")))
    assert body["imageAttachmentId"] == "att_1"


def test_video_to_video_sends_the_source_video(tmp_path: Path) -> None:
    url = body_of(
        VideoRequest(model="veo3-1-extend", prompt="go on", video=Media.from_url("https://v/1.mp4"))
    )
    assert url["videoUrl"] == "https://v/1.mp4"
    path = tmp_path / "in.mp4"
    effects, _ = submit(
        VideoRequest(model="veo3-1-extend", prompt="go on", video=Media.from_path(path)),
        files={path: b"MP4"},
    )
    assert effects[0] == ReadFile(path=path, max_bytes=MIB4, field="video")
    assert effects[1].json["videoDataUrl"] == "data:video/mp4;base64,TVA0"


def test_video_to_video_without_a_prompt_is_accepted() -> None:
    body = body_of(NanoGPTVideoRequest(model="video-upscaler", video=Media.from_url("https://v")))
    assert body == {"model": "video-upscaler", "videoUrl": "https://v"}


# Every typed field of NanoGPTVideoRequest and the wire key the reference (§3.2) gives it.
WIRE_NAMES: list[tuple[str, object, str]] = [
    ("negative_prompt", "blur", "negative_prompt"),
    ("script", "Once upon a time", "script"),
    ("story_config", {"scenes": 3}, "storyConfig"),
    ("duration", "8", "duration"),
    ("seconds", "12", "seconds"),
    ("aspect_ratio", "21:9", "aspect_ratio"),
    ("resolution", "1080p", "resolution"),
    ("orientation", "portrait", "orientation"),
    ("size", "1280x720", "size"),
    ("mode", "image-to-video", "mode"),
    ("generate_audio", True, "generateAudio"),
    ("enhance_prompt", False, "enhancePrompt"),
    ("pro_mode", True, "pro_mode"),
    ("enable_prompt_expansion", True, "enable_prompt_expansion"),
    ("enable_safety_checker", False, "enable_safety_checker"),
    ("camera_fixed", True, "camera_fixed"),
    ("seed", "1234", "seed"),
    ("cfg_scale", 0.5, "cfg_scale"),
    ("conversation_uuid", "c-1", "conversationUUID"),
    ("audio_duration", 4.5, "audioDuration"),
    ("target_face_index", 0, "targetFaceIndex"),
    ("voice_id", "v-1", "voice_id"),
    ("voice_language", "zh", "voice_language"),
    ("voice_speed", 1.25, "voice_speed"),
]
MEDIA_WIRE_NAMES: list[tuple[str, str, str]] = [
    ("image", "https://m/i.png", "imageUrl"),
    ("video", "https://m/v.mp4", "videoUrl"),
    ("audio", "https://m/a.mp3", "audioUrl"),
    ("swap_image", "https://m/face.png", "swapImage"),
    ("target_video", "https://m/t.mp4", "targetVideo"),
]


@pytest.mark.parametrize(("field", "value", "key"), WIRE_NAMES)
def test_every_typed_field_has_its_wire_name(field: str, value: object, key: str) -> None:
    body = body_of(NanoGPTVideoRequest(model="m", prompt="p", **{field: value}))  # type: ignore[arg-type]
    assert body == {"model": "m", "prompt": "p", key: value}


@pytest.mark.parametrize(("field", "url", "key"), MEDIA_WIRE_NAMES)
def test_every_media_field_has_its_wire_name(field: str, url: str, key: str) -> None:
    body = body_of(NanoGPTVideoRequest(model="m", prompt="p", **{field: Media.from_url(url)}))  # type: ignore[arg-type]
    assert body == {"model": "m", "prompt": "p", key: url}


def test_inline_media_fields_have_their_wire_names() -> None:
    data = Media.from_bytes(b"x", "audio/mpeg")
    body = body_of(NanoGPTVideoRequest(model="m", prompt="p", audio=data, video=data))
    assert body["audioDataUrl"].startswith("data:audio/mpeg;base64,")
    assert body["videoDataUrl"].startswith("data:audio/mpeg;base64,")


def test_reference_media_go_as_lists() -> None:
    request = NanoGPTVideoRequest(
        model="kling-video-o1",
        prompt="p",
        reference_images=[Media.from_url("https://r/1.png"), Media.from_bytes(b"2", "image/png")],
        reference_videos=[Media.from_url("https://r/v.mp4")],
    )
    body = body_of(request)
    assert body["referenceImages"] == ["https://r/1.png", "data:image/png;base64,Mg=="]
    assert body["referenceVideos"] == ["https://r/v.mp4"]


def test_extra_fields_pass_through_and_win_over_typed_ones() -> None:
    request = NanoGPTVideoRequest(
        model="wan",
        prompt="typed",
        aspect_ratio="16:9",
        extra={"prompt": "raw", "num_frames": 81, "movementAmplitude": "auto"},
    )
    body = body_of(request)
    assert body["prompt"] == "raw"
    assert body["num_frames"] == 81
    assert body["movementAmplitude"] == "auto"
    assert body["aspect_ratio"] == "16:9"
    neutral = VideoRequest(model="wan", prompt="p", extra={"aspect_ratio": "9:16", "x": [1]})
    assert body_of(neutral) == {"model": "wan", "prompt": "p", "aspect_ratio": "9:16", "x": [1]}
    # A documented field given through extra is checked as its typed attribute (issue 13).
    weird = VideoRequest(model="wan", prompt="p", extra={"aspect_ratio": "weird"})
    assert refusal(weird).field == "aspect_ratio"


# ---------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (NanoGPTVideoRequest(model="", prompt="p"), "model"),
        (NanoGPTVideoRequest(model="  ", prompt="p"), "model"),
        (NanoGPTVideoRequest(model="m"), "prompt"),
        (
            NanoGPTVideoRequest(model="m", mode="text-to-video", image=Media.from_url("https://i")),
            "prompt",
        ),
        (NanoGPTVideoRequest(model="m", prompt="p", seconds="5"), "seconds"),
        (NanoGPTVideoRequest(model="m", prompt="p", orientation="square"), "orientation"),
        (NanoGPTVideoRequest(model="m", prompt="p", mode="dance"), "mode"),
        (NanoGPTVideoRequest(model="m", prompt="p", voice_language="fr"), "voice_language"),
        (NanoGPTVideoRequest(model="m", prompt="p", voice_speed=2.5), "voice_speed"),
        (NanoGPTVideoRequest(model="m", prompt="p", voice_speed=0.5), "voice_speed"),
        (NanoGPTVideoRequest(model="m", prompt="p", cfg_scale=21), "cfg_scale"),
        (NanoGPTVideoRequest(model="m", prompt="p", duration="five"), "duration"),
        (NanoGPTVideoRequest(model="m", prompt="p", target_face_index=-1), "target_face_index"),
        (NanoGPTVideoRequest(model="m", prompt="p", audio_duration=0), "audio_duration"),
        (
            NanoGPTVideoRequest(model="m", prompt="p", image=Media.from_url("ftp://x/i.png")),
            "image",
        ),
        (VideoRequest(model="m", prompt="p", count=2), "count"),
        (VideoRequest(model="m", prompt="p", end_image=Media.from_url("https://e")), "end_image"),
        (NanoGPTVideoRequest(model="m", prompt="p", audio=Media.from_key("k")), "audio"),
        (
            NanoGPTVideoRequest(model="m", prompt="p", image=Media.from_path("frame.unknownext")),
            "image",
        ),
        ("just a string", "request"),
    ],
)
def test_invalid_requests_are_refused_naming_the_field(request_: object, field: str) -> None:
    error = refusal(request_)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "request_",
    [
        VideoRequest(model="m", prompt="p", count=3),
        VideoRequest(model="m", prompt="p", end_image=Media.from_url("https://e")),
        NanoGPTVideoRequest(model="m", prompt="p", audio=Media.from_key("k")),
    ],
)
def test_what_nanogpt_cannot_express_is_unsupported(request_: object) -> None:
    assert isinstance(refusal(request_), UnsupportedRequestError)


@given(st.text().filter(lambda ratio: ratio not in ASPECT_RATIOS))
def test_aspect_ratios_outside_the_documented_set_are_refused(ratio: str) -> None:
    error = refusal(NanoGPTVideoRequest(model="m", prompt="p", aspect_ratio=ratio))
    assert error.field == "aspect_ratio"


@given(st.sampled_from(sorted(ASPECT_RATIOS)))
def test_documented_aspect_ratios_are_accepted(ratio: str) -> None:
    assert (
        body_of(NanoGPTVideoRequest(model="m", prompt="p", aspect_ratio=ratio))["aspect_ratio"]
        == ratio
    )


@given(st.integers().filter(lambda index: not 0 <= index <= 3))
def test_extend_index_outside_0_to_3_is_refused(index: int) -> None:
    assert refusal(ExtendRequest(run_id="vid_1", index=index)).field == "index"


@pytest.mark.parametrize("index", [True, 1.0, "1", None])
def test_extend_index_must_be_a_whole_number(index: object) -> None:
    assert refusal(ExtendRequest(run_id="vid_1", index=index)).field == "index"  # type: ignore[arg-type]


def test_extend_needs_a_run_id() -> None:
    assert refusal(ExtendRequest(run_id=" ", index=0)).field == "run_id"


@given(st.integers(min_value=0, max_value=3))
def test_extend_index_inside_0_to_3_is_sent(index: int) -> None:
    effects, handles = drive(
        PROVIDER.submit_flow(ExtendRequest(run_id="vid_1", index=index), idempotency_key="k"),
        lambda effect: answer(202, {"runId": "vid_2", "model": "midjourney-video"}),
    )
    (request,) = effects
    assert request.url == f"{BASE}/generate-video/extend"
    assert request.kind == "extend"
    assert request.retry is RetryMode.REFUSED_ONLY
    assert request.json == {"runId": "vid_1", "taskId": "vid_1", "index": index}
    assert handles[0].id == "vid_2"


def _data_uri(size: int) -> str:
    return "data:video/mp4;base64," + base64.b64encode(bytes(size)).decode("ascii")


@settings(max_examples=12, deadline=None)
@given(st.integers(min_value=MIB4 - 3, max_value=MIB4 + 3))
def test_inline_data_over_4_mib_is_refused_without_reading(size: int) -> None:
    uri = Media.from_data_uri(_data_uri(size))
    request = NanoGPTVideoRequest(model="m", prompt="p", video=uri)
    if size > MIB4:
        error = refusal(request)
        assert error.field == "video"
        assert str(size) in error.reason
    else:
        assert body_of(request)["videoDataUrl"] == uri.value


def test_bytes_over_4_mib_are_refused() -> None:
    media = Media.from_bytes(bytes(MIB4 + 1), "image/png")
    assert refusal(NanoGPTVideoRequest(model="m", prompt="p", image=media)).field == "image"


# ---------------------------------------------------------------------------------------
# Status


HANDLE = JobHandle(provider="nanogpt", id="vid_1", extra={"model": "sora-2", "unit": "XNO"})


def status(
    payload: object,
    handle: JobHandle = HANDLE,
    *,
    legacy: object = None,
    first: int = 200,
) -> tuple[list[HttpRequest], GenerationResult]:
    def respond(effect: HttpRequest) -> HttpResponse:
        if effect.url.endswith("/video/status"):
            return answer(first, payload)
        return answer(200, legacy)

    return drive(PROVIDER.status_flow(handle), respond)


def test_status_uses_the_unified_route() -> None:
    (request,), _ = status({"status": "queued"})
    assert request.method == "GET"
    assert request.url == f"{BASE}/video/status"
    assert request.params == (("requestId", "vid_1"),)
    assert request.kind == "status"
    assert request.retry is RetryMode.SAFE


def test_nested_shape_a_completed() -> None:
    payload = {
        "requestId": "vid_1",
        "model": "sora-2",
        "data": {
            "status": "COMPLETED",
            "requestId": "vid_1",
            "details": "done",
            "output": {"video": {"url": "https://cdn/vid_1.mp4"}},
            "cost": 0.35,
        },
    }
    _, result = status(payload)
    assert result.status is JobStatus.SUCCEEDED
    assert result.raw_status == "COMPLETED"
    assert [o.url for o in result.outputs] == ["https://cdn/vid_1.mp4"]
    assert result.outputs[0].content_type == "video/mp4"
    assert result.progress == 100.0
    assert result.cost is not None
    assert result.cost.amount == Decimal("0.35")
    assert result.cost.unit is CostUnit.XNO
    assert not result.cost.estimated
    assert result.failure is None
    assert result.raw == payload


def test_flat_shape_b_running_with_progress_and_eta() -> None:
    payload = {
        "requestId": "vid_1",
        "status": "processing",
        "progress": 40,
        "estimatedTimeRemaining": 30,
        "videoUrl": None,
        "error": None,
        "createdAt": "2026-01-02T03:04:05.123Z",
        "completedAt": None,
    }
    _, result = status(payload)
    assert result.status is JobStatus.RUNNING
    assert result.progress == 40
    assert result.eta_seconds == 30
    assert result.outputs == ()
    assert result.created_at == datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=timezone.utc)
    assert result.completed_at is None
    assert PROVIDER.poll_hint(HANDLE, result) == PollHint(delay=15.0)


def test_without_an_eta_the_engine_chooses_the_pause() -> None:
    _, result = status({"status": "queued", "estimatedTimeRemaining": None})
    assert PROVIDER.poll_hint(HANDLE, result) == PollHint()


def test_flat_shape_b_completed_uses_the_precharge_as_an_estimate() -> None:
    handle = JobHandle(provider="nanogpt", id="vid_1", extra={"precharge": "0.35"})
    _, result = status(
        {"status": "completed", "videoUrl": "https://cdn/v.mp4", "completedAt": 1767225600000},
        handle,
    )
    assert result.status is JobStatus.SUCCEEDED
    assert result.outputs[0].url == "https://cdn/v.mp4"
    assert result.cost is not None
    assert result.cost.amount == Decimal("0.35")
    assert result.cost.unit is CostUnit.USD  # no payment source on the handle
    assert result.cost.estimated
    assert result.completed_at == datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_no_cost_at_all_gives_none() -> None:
    _, result = status(
        {"status": "completed", "videoUrl": "https://v"}, JobHandle(provider="nanogpt", id="x")
    )
    assert result.cost is None


def test_legacy_route_when_the_unified_one_does_not_know_the_job() -> None:
    legacy = {"data": {"status": "IN_PROGRESS", "request_id": "vid_1"}}
    requests, result = status({"error": 404, "message": "not found"}, first=404, legacy=legacy)
    unified, old = requests
    assert unified.url == f"{BASE}/video/status"
    assert old.url == f"{BASE}/generate-video/status"
    assert old.params == (("runId", "vid_1"), ("model", "sora-2"))
    assert result.status is JobStatus.RUNNING
    assert result.raw_status == "IN_PROGRESS"


def test_legacy_route_completed_with_the_nested_shape() -> None:
    legacy = {
        "data": {"status": "COMPLETED", "output": {"video": {"url": "https://l/v.mp4"}}, "cost": 1}
    }
    _, result = status({}, first=405, legacy=legacy)
    assert result.outputs[0].url == "https://l/v.mp4"
    assert result.cost is not None and result.cost.amount == Decimal(1)


def test_404_without_a_model_in_the_handle_is_not_found() -> None:
    handle = JobHandle(provider="nanogpt", id="vid_9")
    flow = PROVIDER.status_flow(handle)
    assert isinstance(next(flow), HttpRequest)
    with pytest.raises(NotFoundError) as caught:
        flow.send(answer(404, {"error": 404, "message": "Job not found"}, {"X-Request-ID": "r1"}))
    assert caught.value.job_id == "vid_9"
    assert caught.value.request_id == "r1"
    assert caught.value.message == "Job not found"


def test_legacy_route_error_is_raised_too() -> None:
    def respond(effect: HttpRequest) -> HttpResponse:
        return answer(404, {"error": "no such run"})

    with pytest.raises(NotFoundError, match="no such run"):
        drive(PROVIDER.status_flow(HANDLE), respond)


# Section 4 of the reference: every NanoGPT raw value and what it means.
STATUS_TABLE = [
    ("pending", JobStatus.QUEUED),
    ("IN_QUEUE", JobStatus.QUEUED),
    ("queued", JobStatus.QUEUED),
    ("IN_PROGRESS", JobStatus.RUNNING),
    ("processing", JobStatus.RUNNING),
    ("generating", JobStatus.RUNNING),
    ("delivering", JobStatus.RUNNING),
    ("unknown", JobStatus.RUNNING),
    ("COMPLETED", JobStatus.SUCCEEDED),
    ("completed", JobStatus.SUCCEEDED),
    ("FAILED", JobStatus.FAILED),
    ("failed", JobStatus.FAILED),
    ("CANCELED", JobStatus.CANCELED),
    ("cancelled", JobStatus.CANCELED),
]


@pytest.mark.parametrize("shape", ["nested", "flat"])
@pytest.mark.parametrize(("raw", "expected"), STATUS_TABLE)
def test_every_documented_status_value_is_normalized(
    raw: str, expected: JobStatus, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload: dict[str, Any] = {"data": {"status": raw}} if shape == "nested" else {"status": raw}
    if expected is JobStatus.SUCCEEDED:  # a success names its video
        if shape == "nested":
            payload["data"]["output"] = {"video": {"url": "https://cdn/v.mp4"}}
        else:
            payload["videoUrl"] = "https://cdn/v.mp4"
    with caplog.at_level(logging.WARNING):
        _, result = status(payload)
    assert result.status is expected
    assert result.raw_status == raw
    assert result.is_terminal is expected.is_terminal
    assert not caplog.records  # documented values are known


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Completed", JobStatus.SUCCEEDED),
        ("in_queue", JobStatus.QUEUED),
        ("CANCELLED", JobStatus.CANCELED),
        ("Failed", JobStatus.FAILED),
    ],
)
def test_statuses_are_compared_case_insensitively(raw: str, expected: JobStatus) -> None:
    _, result = status({"status": raw, "videoUrl": "https://cdn/v.mp4"})
    assert result.status is expected


def test_an_undocumented_status_is_running_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _, result = status({"status": "REFUNDING"})
    assert result.status is JobStatus.RUNNING
    assert "REFUNDING" in caplog.text


def test_nested_failure_flagged_nsfw_is_moderation() -> None:
    payload = {
        "data": {
            "status": "FAILED",
            "error": "Content policy violation",
            "isNSFWError": True,
            "userFriendlyError": "Content flagged as inappropriate. Please modify your prompt.",
        }
    }
    _, result = status(payload)
    assert result.status is JobStatus.FAILED
    failure = result.failure
    assert failure is not None
    assert failure.kind is FailureKind.MODERATION
    assert failure.code == "content_policy_violation"
    assert failure.message == "Content flagged as inappropriate. Please modify your prompt."
    assert not failure.retryable


def test_nested_plain_failure_is_an_error_that_may_be_retried() -> None:
    _, result = status(
        {"data": {"status": "FAILED", "error": "GPU fell over", "isNSFWError": False}}
    )
    failure = result.failure
    assert failure is not None
    assert failure.kind is FailureKind.ERROR
    assert failure.message == "GPU fell over"
    assert failure.code is None
    assert failure.retryable


def test_nsfw_false_wins_over_policy_words() -> None:
    payload = {
        "data": {"status": "FAILED", "error": "nsfw classifier crashed", "isNSFWError": False}
    }
    _, result = status(payload)
    assert result.failure is not None and result.failure.kind is FailureKind.ERROR


def test_flat_failure_is_told_moderation_by_its_text() -> None:
    _, result = status({"status": "failed", "error": "Content policy violation"})
    assert result.failure is not None
    assert result.failure.kind is FailureKind.MODERATION
    _, plain = status({"status": "failed", "error": "timeout upstream"})
    assert plain.failure is not None
    assert plain.failure.kind is FailureKind.ERROR


def test_failure_error_object_gives_message_and_code() -> None:
    _, result = status(
        {
            "status": "failed",
            "error": {"message": "bad frame", "type": "invalid_input", "code": "E42"},
        }
    )
    assert result.failure is not None
    assert result.failure.message == "bad frame"
    assert result.failure.code == "E42"


def test_canceled_job_has_a_canceled_failure() -> None:
    _, result = status({"data": {"status": "CANCELED"}})
    assert result.failure is not None
    assert result.failure.kind is FailureKind.CANCELED


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"data": {"status": "COMPLETED", "cost": "lots"}}, "data.cost"),
        ({"status": "processing", "createdAt": "someday"}, "createdAt"),
        ({"status": "processing", "progress": "half"}, "progress"),
        ({"data": {"output": {}}}, "data.status"),
    ],
)
def test_a_malformed_status_names_the_field(payload: object, path: str) -> None:
    with pytest.raises(ProviderResponseError) as caught:
        status(payload)
    assert path in str(caught.value)
    assert caught.value.job_id == "vid_1"
    assert caught.value.provider == "nanogpt"


@pytest.mark.parametrize("payload", [{}, {"requestId": "vid_1"}, {"status": None}])
def test_a_status_response_without_a_status_is_refused(payload: object) -> None:
    with pytest.raises(ProviderResponseError, match="status"):
        status(payload)


def test_a_non_json_status_body_is_a_provider_response_error() -> None:
    flow = PROVIDER.status_flow(HANDLE)
    next(flow)
    with pytest.raises(ProviderResponseError, match="not JSON"):
        flow.send(answer(200, b"<html>oops</html>"))


# ---------------------------------------------------------------------------------------
# Error envelopes


def submit_error(response: HttpResponse) -> APIStatusError:
    flow = PROVIDER.submit_flow(VideoRequest(model="m", prompt="p"), idempotency_key="k")
    next(flow)
    with pytest.raises(APIStatusError) as caught:
        flow.send(response)
    return caught.value


@pytest.mark.parametrize(
    ("status_code", "body", "cls", "message", "code"),
    [
        (
            429,
            {"error": "Rate limit exceeded. Please wait.", "status": 429},
            RateLimitedError,
            "Rate limit exceeded. Please wait.",
            None,
        ),
        (
            402,
            {"error": {"message": "Insufficient balance", "type": "INSUFFICIENT_BALANCE"}},
            InsufficientCreditsError,
            "Insufficient balance",
            "INSUFFICIENT_BALANCE",
        ),
        (
            400,
            {
                "error": {
                    "message": "flagged",
                    "type": "invalid_request_error",
                    "code": "content_policy_violation",
                    "param": None,
                },
                "refundMessage": "refunded",
            },
            BadRequestError,
            "flagged",
            "content_policy_violation",
        ),
        (
            403,
            {"error": 403, "message": "Not your job"},
            PermissionDeniedError,
            "Not your job",
            None,
        ),
        (401, {"error": "Invalid API key"}, AuthenticationError, "Invalid API key", None),
        (500, b"<html>Internal error</html>", ServerError, "<html>Internal error</html>", None),
        (503, b"", ServiceUnavailableError, "HTTP 503", None),
        (502, b"upstream down", ServerError, "upstream down", None),
    ],
)
def test_error_envelopes_map_to_their_exception(
    status_code: int, body: object, cls: type[APIStatusError], message: str, code: str | None
) -> None:
    error = submit_error(answer(status_code, body, {"X-Request-ID": "req-7"}))
    assert type(error) is cls
    assert error.status_code == status_code
    assert error.message == message
    assert error.code == code
    assert error.request_id == "req-7"
    assert error.provider == "nanogpt"
    assert "req-7" in str(error)


def test_rate_limit_error_carries_retry_after() -> None:
    error = submit_error(answer(429, {"error": "slow"}, {"Retry-After": "17"}))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 17.0


def test_status_errors_name_the_job() -> None:
    flow = PROVIDER.status_flow(JobHandle(provider="nanogpt", id="vid_3"))
    next(flow)
    with pytest.raises(PermissionDeniedError) as caught:
        flow.send(answer(403, {"error": 403, "message": "Forbidden"}))
    assert caught.value.job_id == "vid_3"
    assert "job=vid_3" in str(caught.value)


def test_an_accepted_submit_without_a_run_id_is_refused() -> None:
    flow = PROVIDER.submit_flow(VideoRequest(model="m", prompt="p"), idempotency_key="k")
    next(flow)
    with pytest.raises(ProviderResponseError, match="runId"):
        flow.send(answer(202, {"id": "vid_1", "status": "pending"}))


# ---------------------------------------------------------------------------------------
# Model catalog and configuration


def test_models_catalog_keeps_only_video_models() -> None:
    catalog = {
        "object": "list",
        "data": [
            {
                "id": "veo2-video",
                "name": "Veo 2",
                "description": "Google",
                "architecture": {
                    "modality": "video",
                    "input_modalities": ["text", "image"],
                    "output_modalities": ["video"],
                },
                "capabilities": {"video_generation": True, "image_to_video": True},
            },
            {"id": "by-capability", "capabilities": {"video_generation": True}},
            {
                "id": "gpt-text",
                "architecture": {"output_modalities": ["text"]},
                "capabilities": {"video_input": True},
            },
            {"name": "no id", "architecture": {"output_modalities": ["video"]}},
            "not an object",
        ],
        "meta": {"count": 5},
    }
    effects, models = drive(PROVIDER.models_flow(), lambda effect: answer(200, catalog))
    (request,) = effects
    assert request.url == f"{BASE}/v1/video-models"
    assert request.params == (("detailed", "true"),)
    assert [m.id for m in models] == ["veo2-video", "by-capability"]
    assert models[0].name == "Veo 2"
    assert models[0].input_modalities == ("text", "image")
    assert models[0].capabilities["image_to_video"] is True


def test_models_catalog_error_is_raised() -> None:
    with pytest.raises(AuthenticationError):
        drive(PROVIDER.models_flow(), lambda effect: answer(401, {"error": "bad key"}))


def test_the_model_catalog_is_a_declared_capability() -> None:
    for declared in (VideoProvider, SupportsModels):  # declared, not merely matching
        assert isinstance(PROVIDER, declared) and declared in NanoGPTProvider.__mro__
    for absent in (SupportsCancel, SupportsList, SupportsCostEstimate, SupportsJobLimit):
        assert not isinstance(PROVIDER, absent), absent.__name__


def test_provider_needs_a_key_and_never_shows_it() -> None:
    with pytest.raises(RequestValidationError) as caught:
        NanoGPTProvider(api_key="")
    assert caught.value.field == "api_key"
    assert KEY not in repr(PROVIDER)
    assert PROVIDER.base_url == BASE


def test_provider_from_env() -> None:
    provider = NanoGPTProvider.from_env({"NANOGPT_API_KEY": "k1"})
    assert provider.base_url == DEFAULT_BASE_URL
    other = NanoGPTProvider.from_env({"NANOGPT_API_KEY": "k1", "NANOGPT_BASE_URL": "http://h/api"})
    assert other.base_url == "http://h/api"
    with pytest.raises(RequestValidationError, match="NANOGPT_API_KEY"):
        NanoGPTProvider.from_env({})
