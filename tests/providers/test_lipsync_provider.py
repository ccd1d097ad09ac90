"""The lipsync provider, sans-IO: flows driven by hand with tables of JSON, no event loop."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from prism_async import (
    BadRequestError,
    FailureKind,
    GenerationResult,
    JobHandle,
    JobStatus,
    Media,
    ProviderResponseError,
    RateLimitedError,
    RequestValidationError,
    Secret,
    ServiceUnavailableError,
    UnsupportedRequestError,
    VideoRequest,
    WebhookVerificationError,
)
from prism_async._http import FilePart, HttpRequest, HttpResponse, Multipart, RetryMode, StatFile
from prism_async._registry import load
from prism_async.providers import (
    ConcurrencyLimitError,
    SupportsCancel,
    SupportsCostEstimate,
    SupportsJobLimit,
    SupportsList,
    SupportsModels,
    VideoProvider,
)
from prism_async.providers.lipsync import (
    AudioTrack,
    LipsyncProvider,
    LipsyncRequest,
    LipsyncSegment,
    Speech,
    parse_webhook,
    sign,
    verify_signature,
)
from prism_async.providers.lipsync._body import MAX_UPLOAD_BYTES
from prism_async.providers.lipsync._wire import result_from

BASE = "https://sync.test"
KEY = "sk-sync-secret-123"
IDEM = "submission-0001"
GID = "6f2c53c5-7b0e-4a3b-9d1e-111111111111"
VIDEO = Media.from_url("https://media.example/face.mp4")
AUDIO = Media.from_url("https://media.example/voice.wav")
SIMPLE = LipsyncRequest(model="lipsync-2", video=VIDEO, audio=[AudioTrack(audio=AUDIO)])


def provider() -> LipsyncProvider:
    return LipsyncProvider(api_key=KEY, base_url=BASE)


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status=status, body=raw, headers=headers or {})


def generation(status: str = "PENDING", **fields: Any) -> dict[str, Any]:
    return {
        "id": GID,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "status": status,
        "model": "lipsync-2",
        "input": [],
        **fields,
    }


#: What a submit's cost estimate (``POST /v2/analyze/cost``, before the create) is answered
#: with by default: a refusal, which leaves the estimate unknown.
NO_ESTIMATE = HttpResponse(status=404, body=b'{"statusCode":404,"message":"no"}', headers={})


def drive(
    flow: Any, *answers: object, estimate: HttpResponse | None = NO_ESTIMATE
) -> tuple[Any, list[object]]:
    """Run a flow, answering its effects in turn; return (its value, the effects). A
    submit's cost estimate is answered with ``estimate`` and left out of the effects
    (``estimate=None``: answered in turn like any other)."""
    effects: list[object] = []
    try:
        effect = next(flow)
        while True:
            if (
                estimate is not None
                and isinstance(effect, HttpRequest)
                and effect.url.endswith("/v2/analyze/cost")
            ):
                effect = flow.send(estimate)
                continue
            effects.append(effect)
            if len(effects) > len(answers):
                raise AssertionError(f"flow yielded more effects than answered: {effects}")
            effect = flow.send(answers[len(effects) - 1])
    except StopIteration as stop:
        return stop.value, effects


def only_request(effects: Sequence[object]) -> HttpRequest:
    requests = [e for e in effects if isinstance(e, HttpRequest)]
    assert len(requests) == 1
    return requests[0]


# -- create -----------------------------------------------------------------------------


def test_create_sends_every_documented_field_in_its_current_spelling() -> None:
    request = LipsyncRequest(
        model="react-1",
        video=VIDEO,
        audio=[
            AudioTrack(audio=AUDIO, ref_id="a1"),
            AudioTrack(
                speech=Speech(
                    script="Hello there.", voice_id="v-9", stability=0.4, similarity_boost=0.8
                ),
                ref_id="t1",
            ),
        ],
        segments=[
            LipsyncSegment(start=0, end=4, ref_id="a1", audio_start=1.5, audio_end=5.5),
            LipsyncSegment(start=4, end=9, ref_id="t1", options_override={"sync_mode": "silence"}),
        ],
        options={
            "sync_mode": "bounce",
            "temperature": 0.7,
            "active_speaker_detection": {"auto_detect": True},
            "occlusion_detection_enabled": True,
            "model_mode": "head",
            "prompt": "happy",
        },
        webhook_url="https://hooks.example/sync",
        output_file_name="take_1-final",
    )
    handles, effects = drive(
        provider().submit_flow(request, idempotency_key=IDEM), answer(201, generation())
    )
    sent = only_request(effects)
    assert handles == (JobHandle(provider="lipsync", id=GID),)
    assert (sent.method, sent.url, sent.kind) == ("POST", f"{BASE}/v2/generate", "submit")
    assert sent.header("Idempotency-Key") == IDEM
    assert sent.header("x-api-key") == Secret(KEY)
    assert sent.retry is RetryMode.SAFE
    assert sent.json == {
        "model": "react-1",
        "input": [
            {"type": "video", "url": "https://media.example/face.mp4"},
            {"type": "audio", "url": "https://media.example/voice.wav", "refId": "a1"},
            {
                "type": "text",
                "provider": {
                    "name": "elevenlabs",
                    "voiceId": "v-9",
                    "script": "Hello there.",
                    "stability": 0.4,
                    "similarityBoost": 0.8,
                },
                "refId": "t1",
            },
        ],
        "options": {
            "sync_mode": "bounce",
            "temperature": 0.7,
            "active_speaker_detection": {"auto_detect": True},
            "occlusion_detection_enabled": True,
            "model_mode": "head",
            "prompt": "happy",
        },
        "segments": [
            {
                "startTime": 0,
                "endTime": 4,
                "audioInput": {"refId": "a1", "startTime": 1.5, "endTime": 5.5},
            },
            {
                "startTime": 4,
                "endTime": 9,
                "audioInput": {"refId": "t1"},
                "optionsOverride": {"sync_mode": "silence"},
            },
        ],
        "webhookUrl": "https://hooks.example/sync",
        "outputFileName": "take_1-final",
    }


def test_a_storage_key_is_sent_as_an_asset_id() -> None:
    request = LipsyncRequest(
        model="lipsync-2", video=Media.from_key("asset-1"), audio=[AudioTrack(audio=AUDIO)]
    )
    _, effects = drive(
        provider().submit_flow(request, idempotency_key=IDEM), answer(201, generation())
    )
    assert only_request(effects).json["input"][0] == {"type": "video", "assetId": "asset-1"}


def test_local_files_go_through_the_multipart_form_streamed() -> None:
    # A local video with segments over URL tracks: the form carries the URL items (refIds
    # kept) as JSON strings. A local audio file cannot be placed by segments (the
    # documents have no url-less input item): see test_lipsync_fidelity.py.
    other = Media.parse("https://media.example/other.wav")
    request = LipsyncRequest(
        model="lipsync-2",
        video=Media.from_path("/data/face.mp4"),
        audio=[
            AudioTrack(audio=AUDIO, ref_id="url"),
            AudioTrack(audio=other, ref_id="other"),
        ],
        segments=[
            LipsyncSegment(start=0, end=2, ref_id="url"),
            LipsyncSegment(start=2, end=4, ref_id="other"),
        ],
        options={"sync_mode": "loop"},
    )
    handles, effects = drive(
        provider().submit_flow(request, idempotency_key=IDEM),
        1000,
        answer(201, generation()),
    )
    assert handles[0].id == GID
    assert effects[:1] == [StatFile(path=Path("/data/face.mp4"), field="video")]
    sent = only_request(effects)
    assert sent.json is None and sent.header("Idempotency-Key") == IDEM
    assert isinstance(sent.body, Multipart)
    fields = dict(sent.body.fields)
    assert json.loads(str(fields["input"])) == [
        {"type": "audio", "url": "https://media.example/voice.wav", "refId": "url"},
        {"type": "audio", "url": "https://media.example/other.wav", "refId": "other"},
    ]
    assert json.loads(str(fields["options"])) == {"sync_mode": "loop"}
    assert json.loads(str(fields["segments"]))[1]["audioInput"] == {"refId": "other"}
    assert fields["model"] == "lipsync-2"
    assert fields["video"] == FilePart(
        path=Path("/data/face.mp4"), content_type="video/mp4", filename="face.mp4"
    )
    assert "audio" not in fields


def test_a_form_whose_inputs_are_all_files_carries_no_input_field() -> None:
    request = LipsyncRequest(
        model="lipsync-2",
        video=Media.from_path("/data/face.mov"),
        audio=[AudioTrack(audio=Media.from_path("/data/voice.unknownext"))],
    )
    _, effects = drive(
        provider().submit_flow(request, idempotency_key=IDEM), 10, 20, answer(201, generation())
    )
    body = only_request(effects).body
    assert isinstance(body, Multipart)
    assert [name for name, _ in body.fields] == ["model", "video", "audio"]
    audio_part = dict(body.fields)["audio"]
    assert isinstance(audio_part, FilePart) and audio_part.content_type == "audio/mpeg"


def test_a_local_file_over_the_upload_limit_is_refused_before_sending() -> None:
    request = LipsyncRequest(
        model="lipsync-2", video=Media.from_path("/data/face.mp4"), audio=[AudioTrack(audio=AUDIO)]
    )
    flow = provider().submit_flow(request, idempotency_key=IDEM)
    assert isinstance(next(flow), StatFile)
    with pytest.raises(RequestValidationError, match="upload limit") as info:
        flow.send(MAX_UPLOAD_BYTES + 1)
    assert info.value.field == "video"


def test_outcome_unknown_with_a_generation_id_polls_that_job_instead_of_resubmitting() -> None:
    unknown = answer(
        503,
        {
            "statusCode": 503,
            "message": "The outcome of this request is unknown.",
            "error": "Service Unavailable",
            "errorCode": "IDEMPOTENCY_OUTCOME_UNKNOWN",
            "generationId": GID,
        },
    )
    handles, effects = drive(provider().submit_flow(SIMPLE, idempotency_key=IDEM), unknown)
    assert handles == (JobHandle(provider="lipsync", id=GID),)
    assert len(effects) == 1


UNKNOWN_NO_ID = answer(
    503,
    {
        "statusCode": 503,
        "message": "unknown",
        "error": "Service Unavailable",
        "errorCode": "IDEMPOTENCY_OUTCOME_UNKNOWN",
    },
)


def test_outcome_unknown_without_an_id_is_reported_not_replayed_by_the_provider() -> None:
    # Retries are the transport's (same key, bounded); a provider never loops.
    flow = provider().submit_flow(SIMPLE, idempotency_key=IDEM)
    with pytest.raises(ServiceUnavailableError) as info:
        drive(flow, UNKNOWN_NO_ID)  # a second create would be an effect not answered
    assert info.value.code == "IDEMPOTENCY_OUTCOME_UNKNOWN"


@pytest.mark.parametrize(
    ("body", "headers", "code", "retry_after"),
    [
        (
            {
                "statusCode": 429,
                "message": "Concurrency limit reached for your plan",
                "error": "Too Many Requests",
                "errorCode": "concurrency_limit_reached",
            },
            {},
            "concurrency_limit_reached",
            None,
        ),
        (  # an older body with no code, only the message
            {
                "statusCode": 429,
                "message": "Concurrency limit reached",
                "error": "Too Many Requests",
            },
            {},
            "concurrency_limit_reached",
            None,
        ),
        (
            {
                "statusCode": 429,
                "message": "Rate limit exceeded. Please try again later.",
                "error": "Too Many Requests",
            },
            {"retry-after": "7"},
            None,
            7.0,
        ),
    ],
)
def test_a_429_says_whether_it_is_the_concurrency_or_the_rate_limit(
    body: dict[str, Any], headers: dict[str, str], code: str | None, retry_after: float | None
) -> None:
    with pytest.raises(RateLimitedError) as info:
        drive(provider().submit_flow(SIMPLE, idempotency_key=IDEM), answer(429, body, headers))
    assert info.value.code == code
    assert info.value.retry_after == retry_after
    assert info.value.provider == "lipsync"
    # The concurrency limit is a class of its own (the engine waits it out); a rate limit
    # is not one.
    assert isinstance(info.value, ConcurrencyLimitError) == (code == ConcurrencyLimitError.CODE)


def test_a_validation_error_body_lists_every_message_and_its_code() -> None:
    body = {
        "statusCode": 400,
        "message": ["model must be one of ...", "input.1.url should not be empty"],
        "error": "Bad Request",
        "error_code": "validation_failed",
    }
    with pytest.raises(BadRequestError) as info:
        drive(provider().submit_flow(SIMPLE, idempotency_key=IDEM), answer(400, body))
    assert info.value.code == "validation_failed"
    assert "input.1.url should not be empty" in str(info.value)


def test_a_text_to_video_request_is_refused_as_unsupported() -> None:
    with pytest.raises(UnsupportedRequestError, match="text-to-video"):
        provider().submit_flow(VideoRequest(model="x", prompt="a cat"), idempotency_key=IDEM)


# -- validation -------------------------------------------------------------------------


def track(ref: str | None = None) -> AudioTrack:
    return AudioTrack(audio=AUDIO, ref_id=ref)


def seg(start: float, end: float, ref: str = "a", **kw: Any) -> LipsyncSegment:
    return LipsyncSegment(start=start, end=end, ref_id=ref, **kw)


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no video", {"video": None}, "video"),
    ("no audio or text", {"audio": []}, "audio"),
    ("a bytes video", {"video": Media.from_bytes(b"x", "video/mp4")}, "video"),
    ("an ftp url", {"video": Media.from_url("ftp://x/y.mp4")}, "video"),
    ("two tracks, no segments", {"audio": [track("a"), track("b")]}, "audio"),
    ("a track with neither", {"audio": [AudioTrack(ref_id="a")]}, "audio[0]"),
    (
        "a track with both",
        {"audio": [AudioTrack(audio=AUDIO, speech=Speech(script="s", voice_id="v"))]},
        "audio[0]",
    ),
    (
        "an empty script",
        {"audio": [AudioTrack(speech=Speech(script=" ", voice_id="v"))]},
        "audio[0].speech.script",
    ),
    (
        "stability over 1",
        {"audio": [AudioTrack(speech=Speech(script="s", voice_id="v", stability=1.5))]},
        "audio[0].speech.stability",
    ),
    (
        "segments without refIds",
        {"audio": [track()], "segments": [seg(0, 1)]},
        "audio[0].ref_id",
    ),
    (
        "a segment naming no input",
        {"audio": [track("a")], "segments": [seg(0, 1, "b")]},
        "segments[0].ref_id",
    ),
    ("reversed times", {"audio": [track("a")], "segments": [seg(5, 3)]}, "segments[0].end"),
    (
        "overlapping segments",
        {"audio": [track("a")], "segments": [seg(0, 5), seg(4, 8)]},
        "segments[1]",
    ),
    (
        "a crop with one end",
        {"audio": [track("a")], "segments": [seg(0, 5, audio_start=1.0)]},
        "segments[0].audio_end",
    ),
    (
        "a reversed crop",
        {"audio": [track("a")], "segments": [seg(0, 5, audio_start=3.0, audio_end=2.0)]},
        "segments[0].audio_end",
    ),
    ("a bad file name", {"output_file_name": "take 1.mp4"}, "output_file_name"),
    ("a long file name", {"output_file_name": "a" * 256}, "output_file_name"),
    ("temperature over 1", {"options": {"temperature": 1.2}}, "options.temperature"),
    ("an unknown sync_mode", {"options": {"sync_mode": "stretch"}}, "options.sync_mode"),
    (
        "an override's sync_mode",
        {
            "audio": [track("a")],
            "segments": [seg(0, 5, options_override={"sync_mode": "zoom"})],
        },
        "segments[0].options_override.sync_mode",
    ),
    ("model_mode off react-1", {"options": {"model_mode": "face"}}, "options.model_mode"),
    ("prompt off react-1", {"options": {"prompt": "happy"}}, "options.prompt"),
    (
        "an unknown emotion",
        {"model": "react-1", "options": {"prompt": "bored"}},
        "options.prompt",
    ),
    ("a webhook that is no URL", {"webhook_url": "hooks.example"}, "webhook_url"),
    (
        "two local audio files",
        {
            "audio": [
                AudioTrack(audio=Media.from_path("a.wav"), ref_id="a"),
                AudioTrack(audio=Media.from_path("b.wav"), ref_id="b"),
            ],
            "segments": [seg(0, 1, "a"), seg(1, 2, "b")],
        },
        "audio",
    ),
]


@pytest.mark.parametrize(("case", "changes", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_requests_are_refused_before_any_request_naming_the_field(
    case: str, changes: dict[str, Any], field: str
) -> None:
    fields = {"model": "lipsync-2", "video": VIDEO, "audio": [track()], **changes}
    with pytest.raises(RequestValidationError) as info:
        provider().submit_flow(LipsyncRequest(**fields), idempotency_key=IDEM)
    assert info.value.field.startswith(field)
    assert info.value.provider == "lipsync"


_KEY_CHARS = st.characters(
    codec="ascii", categories=("L", "N"), exclude_characters="\x00"
) | st.sampled_from("._~-")


@given(st.text(_KEY_CHARS, min_size=1, max_size=128))
def test_a_well_formed_idempotency_key_is_accepted(key: str) -> None:
    provider().submit_flow(SIMPLE, idempotency_key=key)


@given(st.text(max_size=200))
@example("")
@example("a" * 129)
@example("key with space")
def test_a_malformed_idempotency_key_is_refused(key: str) -> None:
    if re.fullmatch(r"[A-Za-z0-9._~-]{1,128}", key):
        return
    with pytest.raises(RequestValidationError) as info:
        provider().submit_flow(SIMPLE, idempotency_key=key)
    assert info.value.field == "idempotency_key"


@given(st.text(max_size=300))
@example("a" * 255)
@example("a" * 256)
def test_output_file_name_is_refused_exactly_outside_the_documented_set(name: str) -> None:
    request = LipsyncRequest(model="lipsync-2", video=VIDEO, audio=[track()], output_file_name=name)
    if re.fullmatch(r"[A-Za-z0-9_-]{1,255}", name):
        provider().submit_flow(request, idempotency_key=IDEM)
        return
    with pytest.raises(RequestValidationError) as info:
        provider().submit_flow(request, idempotency_key=IDEM)
    assert info.value.field == "output_file_name"


@given(st.floats(allow_nan=True, allow_infinity=True))
@example(0.0)
@example(1.0)
def test_temperature_is_refused_exactly_outside_0_to_1(value: float) -> None:
    request = LipsyncRequest(
        model="lipsync-2", video=VIDEO, audio=[track()], options={"temperature": value}
    )
    if 0 <= value <= 1:
        provider().submit_flow(request, idempotency_key=IDEM)
        return
    with pytest.raises(RequestValidationError, match=r"options\.temperature"):
        provider().submit_flow(request, idempotency_key=IDEM)


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=100, allow_nan=False),
            st.floats(min_value=0, max_value=100, allow_nan=False),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_segments_pass_exactly_when_each_is_forward_and_none_overlap(
    spans: list[tuple[float, float]],
) -> None:
    request = LipsyncRequest(
        model="lipsync-2",
        video=VIDEO,
        audio=[track("a")],
        segments=[seg(start, end) for start, end in spans],
    )
    disjoint = all(
        a_end <= b_start or b_end <= a_start
        for i, (a_start, a_end) in enumerate(spans)
        for b_start, b_end in spans[i + 1 :]
    )
    valid = all(s < e for s, e in spans) and disjoint
    if valid:
        provider().submit_flow(request, idempotency_key=IDEM)
        return
    with pytest.raises(RequestValidationError) as info:
        provider().submit_flow(request, idempotency_key=IDEM)
    assert info.value.field.startswith("segments[")


@given(
    st.one_of(st.none(), st.floats(min_value=0, max_value=50)),
    st.one_of(st.none(), st.floats(min_value=0, max_value=50)),
)
def test_an_audio_crop_needs_both_ends_in_order(start: float | None, end: float | None) -> None:
    request = LipsyncRequest(
        model="lipsync-2",
        video=VIDEO,
        audio=[track("a")],
        segments=[seg(0, 5, audio_start=start, audio_end=end)],
    )
    if (start is None and end is None) or (start is not None and end is not None and start < end):
        provider().submit_flow(request, idempotency_key=IDEM)
        return
    with pytest.raises(RequestValidationError, match=r"segments\[0\]\.audio_"):
        provider().submit_flow(request, idempotency_key=IDEM)


# -- status -----------------------------------------------------------------------------

STATUS_TABLE: list[tuple[str, JobStatus, FailureKind | None]] = [
    ("PENDING", JobStatus.QUEUED, None),
    ("PROCESSING", JobStatus.RUNNING, None),
    ("COMPLETED", JobStatus.SUCCEEDED, None),
    ("FAILED", JobStatus.FAILED, FailureKind.ERROR),
    ("REJECTED", JobStatus.FAILED, FailureKind.MODERATION),
    ("CANCELED", JobStatus.CANCELED, FailureKind.CANCELED),
    ("CANCELLED", JobStatus.CANCELED, FailureKind.CANCELED),
    ("TIMED_OUT", JobStatus.FAILED, FailureKind.TIMEOUT),
]


def _any_case(text: str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.sampled_from((c.lower(), c.upper())) for c in text)).map("".join)


@given(
    st.sampled_from(STATUS_TABLE).flatmap(lambda row: st.tuples(_any_case(row[0]), st.just(row)))
)
def test_every_documented_status_maps_case_insensitively(
    case: tuple[str, tuple[str, JobStatus, FailureKind | None]],
) -> None:
    raw, (_, status, kind) = case
    output = {"outputUrl": "https://x/o.mp4"} if status is JobStatus.SUCCEEDED else {}
    result = result_from(generation(raw, error="boom", error_code="x", **output))
    assert result.status is status
    assert result.raw_status == raw
    assert (result.failure.kind if result.failure else None) is kind


@given(
    st.text(min_size=1).filter(
        lambda s: s.strip().lower() not in {r[0].lower() for r in STATUS_TABLE}
    )
)
def test_an_unknown_status_is_kept_running_never_terminal(raw: str) -> None:
    result = result_from(generation(raw))
    assert result.status is JobStatus.RUNNING and not result.is_terminal


@pytest.mark.parametrize("url_key", ["outputUrl", "outputMediaUrl"])
def test_a_completed_generation_gives_its_output_under_either_spelling(url_key: str) -> None:
    body = generation(
        "COMPLETED",
        **{url_key: "https://cdn.example/out.mp4"},
        outputDuration=12.5,
        segmentOutputUrl="https://cdn.example/seg.mp4",
    )
    result, effects = drive(
        provider().status_flow(JobHandle(provider="lipsync", id=GID)), answer(200, body)
    )
    sent = only_request(effects)
    # A plain poll asks for the progress (include=progress; a long poll cannot).
    assert (sent.method, sent.url, sent.params) == (
        "GET",
        f"{BASE}/v2/generate/{GID}",
        (("include", "progress"),),
    )
    assert result.status is JobStatus.SUCCEEDED
    assert result.outputs[0].url == "https://cdn.example/out.mp4"
    assert result.outputs[0].duration_s == 12.5
    assert result.outputs[0].mime_type == "video/mp4"
    assert result.segment_output is not None
    assert result.segment_output.url == "https://cdn.example/seg.mp4"
    assert result.progress == 100.0


@pytest.mark.parametrize("code_key", ["error_code", "errorCode"])
def test_a_failure_keeps_its_message_and_code_under_either_spelling(code_key: str) -> None:
    body = generation("FAILED", error="pipeline broke", **{code_key: "generation_pipeline_failed"})
    result = result_from(body)
    assert result.failure is not None
    assert result.failure.code == "generation_pipeline_failed"
    assert result.failure.message == "pipeline broke"
    assert result.failure.retryable


def test_a_rejection_is_a_moderation_failure_not_worth_retrying() -> None:
    result = result_from(generation("REJECTED", error="policy", errorCode="content_rejected"))
    assert result.failure is not None
    assert result.failure.kind is FailureKind.MODERATION and not result.failure.retryable


def test_a_status_body_without_an_id_names_the_field() -> None:
    flow = provider().status_flow(JobHandle(provider="lipsync", id=GID))
    with pytest.raises(ProviderResponseError, match=r"required field missing @ \.id"):
        drive(flow, answer(200, {"status": "PENDING"}))


def test_a_malformed_duration_names_its_wire_key() -> None:
    with pytest.raises(ProviderResponseError, match="outputDuration"):
        result_from(generation("COMPLETED", outputDuration="long"))


# -- long poll --------------------------------------------------------------------------

HANDLE = JobHandle(provider="lipsync", id=GID)
LONG_POLL_HEADERS = {"x-sync-wait-mode": "long_poll", "retry-after": "2"}


def test_the_first_poll_probes_long_poll_and_keeps_it_while_honoured() -> None:
    sync = provider()
    pending = result_from(generation("PROCESSING"))
    assert sync.poll_hint(HANDLE, pending).long_poll  # not tried yet: try it
    _, effects = drive(
        sync.status_flow(HANDLE, wait=True),
        answer(200, generation("PROCESSING"), LONG_POLL_HEADERS),
    )
    sent = only_request(effects)
    assert sent.params == (("wait", "true"), ("timeout", "10"))
    assert sent.timeout is not None and sent.timeout > 10
    assert sync.long_poll_honoured is True
    assert sync.poll_hint(HANDLE, pending).long_poll


def test_a_server_that_ignores_wait_gets_plain_polling_then_a_new_probe() -> None:
    sync = provider()
    pending = result_from(generation("PROCESSING"))
    drive(sync.status_flow(HANDLE, wait=True), answer(200, generation("PROCESSING")))
    assert sync.long_poll_honoured is False
    hint = sync.poll_hint(HANDLE, pending)
    assert not hint.long_poll and hint.delay == 10.0
    for _ in range(10):
        drive(sync.status_flow(HANDLE), answer(200, generation("PROCESSING")))
    probe = sync.poll_hint(HANDLE, pending)
    assert probe.long_poll  # asked again after ten plain polls...
    assert probe.delay == 10.0  # ...at the plain cadence: a probe costs no extra request
    drive(sync.status_flow(HANDLE, wait=True), answer(200, generation("PROCESSING")))
    assert sync.poll_hint(HANDLE, pending) == hint  # still ignored: plain again


def test_a_long_poll_is_marked_for_the_engines_long_poll_slots() -> None:
    _, effects = drive(
        provider().status_flow(HANDLE, wait=True),
        answer(200, generation("PROCESSING"), LONG_POLL_HEADERS),
    )
    assert only_request(effects).long_poll
    _, effects = drive(provider().status_flow(HANDLE), answer(200, generation("PROCESSING")))
    assert not only_request(effects).long_poll


# -- list, cost, cancel -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_status", "sent_status"), [("completed", "COMPLETED"), ("CANCELLED", "CANCELED")]
)
def test_generations_are_listed_by_status(given_status: str, sent_status: str) -> None:
    results, effects = drive(
        provider().list_flow(given_status),
        answer(200, [generation("COMPLETED", outputUrl="https://x/o.mp4"), generation("PENDING")]),
    )
    sent = only_request(effects)
    assert (sent.url, sent.params) == (f"{BASE}/v2/generations", (("status", sent_status),))
    assert [r.status for r in results] == [JobStatus.SUCCEEDED, JobStatus.QUEUED]


def test_an_unknown_list_status_is_refused() -> None:
    with pytest.raises(RequestValidationError, match="status"):
        provider().list_flow("DONE")


def test_cost_is_estimated_in_usd_from_the_create_body() -> None:
    cost, effects = drive(
        provider().estimate_cost_flow(SIMPLE),
        answer(
            200,
            [
                {"estimatedFrameCount": 250, "estimatedGenerationCost": 0.5},
                {"estimatedFrameCount": 25, "estimatedGenerationCost": 0.05},
            ],
        ),
        estimate=None,
    )
    sent = only_request(effects)
    assert (sent.method, sent.url) == ("POST", f"{BASE}/v2/analyze/cost")
    assert sent.json["input"][0] == {"type": "video", "url": "https://media.example/face.mp4"}
    assert sent.header("Idempotency-Key") is None
    assert cost.amount == Decimal("0.55") and cost.unit.value == "USD" and cost.estimated


def test_cancel_posts_to_the_cancel_route_and_reads_the_generation() -> None:
    result, effects = drive(provider().cancel_flow(HANDLE), answer(200, generation("CANCELED")))
    assert only_request(effects).url == f"{BASE}/v2/generate/{GID}/cancel"
    assert result.status is JobStatus.CANCELED


def test_cancelling_a_running_job_raises_bad_request() -> None:
    body = {"statusCode": 400, "message": "not cancelable", "error": "Bad Request"}
    with pytest.raises(BadRequestError) as info:
        drive(provider().cancel_flow(HANDLE), answer(400, body))
    assert info.value.job_id == GID


# -- configuration ----------------------------------------------------------------------


def test_from_env_reads_the_key_and_base_url_and_never_shows_the_key() -> None:
    sync = load("lipsync").from_env(
        {"SYNC_API_KEY": KEY, "SYNC_BASE_URL": "http://127.0.0.1:9/lipsync"}
    )
    assert isinstance(sync, LipsyncProvider)
    assert sync.base_url == "http://127.0.0.1:9/lipsync"
    assert KEY not in repr(sync) and KEY not in repr(vars(sync))
    assert LipsyncProvider.from_env({"SYNC_API_KEY": KEY}).base_url == "https://api.sync.so"
    with pytest.raises(RequestValidationError, match="SYNC_API_KEY"):
        LipsyncProvider.from_env({})


def test_the_plan_concurrency_is_exposed_for_the_batch_runner() -> None:
    assert LipsyncProvider(api_key=KEY, max_jobs_in_flight=3).max_jobs_in_flight == 3
    assert provider().max_jobs_in_flight is None
    assert provider().idempotent_submits is True


def test_the_optional_capabilities_are_declared() -> None:
    sync = provider()
    for capability in (
        VideoProvider,
        SupportsCancel,
        SupportsList,
        SupportsCostEstimate,
        SupportsJobLimit,
    ):
        assert isinstance(sync, capability), capability.__name__
        assert capability in LipsyncProvider.__mro__  # declared, not merely matching
    assert not isinstance(sync, SupportsModels)


# -- webhooks ---------------------------------------------------------------------------

SECRET = "whsec_c2VjcmV0LWZvci10ZXN0cw"
NOW = 1_767_225_600


def reference_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The docs' own recipe, written out independently of the library."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@given(st.binary(max_size=512), st.text(min_size=1, max_size=40), st.integers(0, 2**33))
def test_a_signature_made_by_the_documented_recipe_verifies(
    body: bytes, secret: str, timestamp: int
) -> None:
    header = reference_signature(secret, timestamp, body)
    assert sign(body, secret, timestamp=timestamp) == header
    assert verify_signature(body, header, secret, now=timestamp) == timestamp


@given(st.binary(min_size=1, max_size=512), st.data())
def test_any_flipped_byte_of_the_body_fails_verification(body: bytes, data: st.DataObject) -> None:
    header = reference_signature(SECRET, NOW, body)
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(WebhookVerificationError, match="signature does not match") as info:
        verify_signature(tampered, header, SECRET, now=NOW)
    assert SECRET not in str(info.value)


@given(st.data())
def test_any_flipped_character_of_the_signature_fails_verification(data: st.DataObject) -> None:
    header = reference_signature(SECRET, NOW, b"{}")
    digest = header.split("v1=")[1]
    index = data.draw(st.integers(0, len(digest) - 1))
    other = data.draw(st.sampled_from([c for c in "0123456789abcdef" if c != digest[index]]))
    forged = f"t={NOW},v1={digest[:index]}{other}{digest[index + 1 :]}"
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_signature(b"{}", forged, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("header", "secret", "now", "reason"),
    [
        (None, SECRET, NOW, "no Sync-Signature header"),
        ("v1=abcd", SECRET, NOW, "t=<unix seconds>"),
        (f"t={NOW}", SECRET, NOW, "no v1"),
        (reference_signature("whsec_other", NOW, b"{}"), SECRET, NOW, "does not match"),
        (reference_signature(SECRET, NOW - 301, b"{}"), SECRET, NOW, "301 s old"),
        (reference_signature(SECRET, NOW + 400, b"{}"), SECRET, NOW, "in the future"),
    ],
)
def test_a_delivery_failing_a_check_is_rejected_saying_which(
    header: str | None, secret: str, now: int, reason: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=re.escape(reason)) as info:
        verify_signature(b"{}", header, secret, now=now)
    assert SECRET not in str(info.value) and "whsec_other" not in str(info.value)


def test_a_verified_delivery_parses_into_the_result_polling_gives() -> None:
    body = json.dumps(
        generation("COMPLETED", outputUrl="https://cdn.example/o.mp4", outputDuration=3.0),
        separators=(",", ":"),
    ).encode()
    header = reference_signature(SECRET, NOW, body)
    from_webhook = parse_webhook(body, {"sync-signature": header}, Secret(SECRET), now=NOW)
    polled, _ = drive(provider().status_flow(HANDLE), answer(200, json.loads(body)))
    assert isinstance(from_webhook, GenerationResult)
    assert from_webhook == polled
    assert from_webhook.outputs[0].url == "https://cdn.example/o.mp4"


def test_a_signed_body_that_is_not_a_generation_is_rejected() -> None:
    body = b'{"hello":"world"}'
    with pytest.raises(WebhookVerificationError, match="not a generation"):
        parse_webhook(body, reference_signature(SECRET, NOW, body), SECRET, now=NOW)
