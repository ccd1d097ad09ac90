"""Refuse before paying: bad input never yields an HttpRequest, and a success without an
output is a failure. Flows are driven by hand, with no event loop."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from prism_async._errors import RequestValidationError
from prism_async._http import Flow, HttpRequest, HttpResponse, StatFile
from prism_async._media import Media
from prism_async._requests import VideoRequest
from prism_async._results import FailureKind, GenerationResult, JobHandle, JobOutcome, JobStatus
from prism_async.providers._limits import Seconds, check_duration, seconds_of
from prism_async.providers._outputs import NO_OUTPUT
from prism_async.providers.lipsync import (
    AudioTrack,
    LipsyncProvider,
    LipsyncRequest,
    LipsyncSegment,
    Speech,
)
from prism_async.providers.lipsync._body import MAX_UPLOAD_BYTES
from prism_async.providers.lipsync._validate import MAX_AUDIO_SECONDS
from prism_async.providers.lipsync._wire import result_from
from prism_async.providers.nanogpt import NanoGPTProvider, NanoGPTVideoRequest
from prism_async.providers.nanogpt._body import DEFAULT_DURATION, RESOLUTIONS, duration_rule
from prism_async.providers.prism import (
    PrismProvider,
    PrismVideoRequest,
    Template,
    TemplateRequest,
    TemplateVariable,
)
from prism_async.providers.prism._body import DURATION as PRISM_DURATION

IDEM = "k" * 32
PNG = Media.from_bytes(b"\x89PNG" + bytes(16), "image/png", name="frame.png")
VIDEO_URL = Media.from_url("https://media.example/face.mp4")
AUDIO_URL = Media.from_url("https://media.example/voice.wav")

PRISM = PrismProvider(api_key="prism_sk_test", base_url="https://prism.test/api")
NANOGPT = NanoGPTProvider(api_key="ngpt-test", base_url="https://nano.test/api")


def lipsync() -> LipsyncProvider:
    return LipsyncProvider(api_key="sk-sync-test", base_url="https://sync.test")


def answer(status: int, body: object) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode())


PRISM_CREATED = answer(200, {"data": {"generations": [{"id": "gen_1", "status": "queued"}]}})
NANOGPT_ACCEPTED = answer(202, {"runId": "vid_1", "id": "vid_1", "status": "pending"})
LIPSYNC_CREATED = answer(
    201,
    {"id": "g1", "createdAt": "2026-01-01T00:00:00Z", "status": "PENDING", "model": "lipsync-2"},
)

# The three ways whitespace shows up, plus the empty prompt.
_BLANK = st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003\u3000", max_size=8)


def refused(make_flow: Callable[[], Flow[Any]], size: int = 0) -> RequestValidationError:
    """Drive a submit flow, answering stats with ``size``; the refusal it raises. Fails the
    test if any HttpRequest is yielded first, or if the flow ends without refusing."""
    try:
        flow = make_flow()  # some providers validate at the call, before the flow exists
        effect = next(flow)
        while True:
            if isinstance(effect, HttpRequest):
                pytest.fail(f"{effect.method} {effect.url} was yielded before the refusal")
            assert isinstance(effect, StatFile), effect
            effect = flow.send(size)
    except RequestValidationError as exc:
        return exc
    except StopIteration:
        pytest.fail("the flow ended without refusing")


def sent(make_flow: Callable[[], Flow[Any]], reply: HttpResponse, size: int = 0) -> HttpRequest:
    """Drive a submit flow to its end; the one HttpRequest it sent (the create). A
    lipsync submit's free cost estimate before it is answered with a refusal."""
    requests: list[HttpRequest] = []
    flow = make_flow()
    try:
        effect = next(flow)
        while True:
            if isinstance(effect, HttpRequest) and effect.url.endswith("/v2/analyze/cost"):
                effect = flow.send(HttpResponse(status=404, body=b"{}", headers={}))
            elif isinstance(effect, HttpRequest):
                requests.append(effect)
                effect = flow.send(reply)
            else:
                effect = flow.send(size)
    except StopIteration:
        pass
    assert len(requests) == 1
    return requests[0]


def nanogpt_submit(request: object) -> Callable[[], Flow[Any]]:
    return lambda: NANOGPT.submit_flow(request, idempotency_key=IDEM)


def prism_submit(request: object) -> Callable[[], Flow[Any]]:
    return lambda: PRISM.submit_flow(request, idempotency_key=IDEM)


def lipsync_submit(request: object) -> Callable[[], Flow[Any]]:
    provider = lipsync()
    return lambda: provider.submit_flow(request, idempotency_key=IDEM)


# -- 1. durations ------------------------------------------------------------------------

# (model, the documented durations of its family) for NanoGPT, reference §3.2.
NANOGPT_FAMILIES = [
    ("veo2-video", Seconds(low=5, high=8)),
    ("veo3-video", Seconds(low=8, high=8, values=frozenset({8}))),
    ("veo3-1-video", Seconds(low=8, high=8, values=frozenset({8}))),
    ("kling-v21-standard", Seconds(low=5, high=10, values=frozenset({5, 10}))),
    ("sora-2", Seconds(low=4, high=12, values=frozenset({4, 8, 12}))),
    ("midjourney-video", Seconds(low=1, high=60)),
    ("some-future-model", Seconds(low=1, high=60)),
]
_ABSURD = [0, -1, -(10**9), 10**9, 10**30]
_NON_FINITE = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize(("model", "rule"), NANOGPT_FAMILIES)
def test_nanogpt_knows_each_documented_model_family(model: str, rule: Seconds) -> None:
    assert duration_rule(model) == rule


@pytest.mark.parametrize("value", [*_ABSURD, *_NON_FINITE])
@pytest.mark.parametrize(("model", "rule"), NANOGPT_FAMILIES)
def test_nanogpt_refuses_absurd_durations_before_sending(
    model: str, rule: Seconds, value: float
) -> None:
    error = refused(nanogpt_submit(VideoRequest(model=model, prompt="p", duration=value)))  # type: ignore[arg-type]
    assert error.field == "duration"
    assert error.provider == "nanogpt"
    assert str(rule) in error.reason and model in error.reason


def test_nanogpt_names_the_range_in_its_message() -> None:
    error = refused(nanogpt_submit(VideoRequest(model="veo2-video", prompt="p", duration=10**9)))
    assert error.message == (
        "duration: 1000000000 s is outside nanogpt's documented 5-8 s for model veo2-video"
    )


@given(
    st.sampled_from(NANOGPT_FAMILIES).flatmap(
        lambda family: st.tuples(
            st.just(family),
            st.integers(min_value=-100, max_value=10**6).filter(lambda s: not family[1].allows(s)),
        )
    )
)
def test_nanogpt_refuses_any_whole_duration_outside_the_family(
    case: tuple[tuple[str, Seconds], int],
) -> None:
    (model, _), seconds = case
    as_neutral = VideoRequest(model=model, prompt="p", duration=seconds)
    as_wire = NanoGPTVideoRequest(model=model, prompt="p", duration=f"{seconds}")
    assert refused(nanogpt_submit(as_neutral)).field == "duration"
    assert refused(nanogpt_submit(as_wire)).field == "duration"


@given(
    st.sampled_from(NANOGPT_FAMILIES).flatmap(
        lambda family: st.tuples(
            st.just(family),
            st.sampled_from(sorted(family[1].values))
            if family[1].values
            else st.integers(min_value=family[1].low, max_value=family[1].high),
        )
    )
)
def test_nanogpt_sends_every_documented_duration(case: tuple[tuple[str, Seconds], int]) -> None:
    (model, _), seconds = case
    request = sent(
        nanogpt_submit(VideoRequest(model=model, prompt="p", duration=seconds)), NANOGPT_ACCEPTED
    )
    if model.startswith("sora"):  # Sora's documented selector is `seconds`
        assert request.json["seconds"] == str(seconds)
        assert "duration" not in request.json
    else:  # Veo's documented form is "5s" (OpenAPI), the others' "5"
        suffix = "s" if model.startswith("veo") else ""
        assert request.json["duration"] == f"{seconds}{suffix}"


@pytest.mark.parametrize("text", ["0", "0s", "9s", "1000000000", "00"])
def test_nanogpt_refuses_wire_durations_outside_veo2s_documented_5_to_8(text: str) -> None:
    error = refused(
        nanogpt_submit(NanoGPTVideoRequest(model="veo2-video", prompt="p", duration=text))
    )
    assert error.field == "duration" and "5-8 s" in error.reason


def test_nanogpt_unknown_models_stop_at_the_largest_documented_example() -> None:
    assert (DEFAULT_DURATION.low, DEFAULT_DURATION.high) == (1, 60)
    assert refused(nanogpt_submit(VideoRequest(model="m", prompt="p", duration=61)))
    request = sent(
        nanogpt_submit(VideoRequest(model="m", prompt="p", duration=60)), NANOGPT_ACCEPTED
    )
    assert request.json["duration"] == "60"


@pytest.mark.parametrize("value", [*_ABSURD, *_NON_FINITE, 11, "11s", "0s", "1000000000s"])
def test_prism_refuses_durations_outside_its_documented_values(value: Any) -> None:
    request = VideoRequest(model="veo-3.1", prompt="p", duration=value)
    for make in (request, PrismVideoRequest(model="veo-3.1", prompt="p", duration=value)):
        error = refused(prism_submit(make))
        assert error.field == "duration"
        assert error.provider == "prism"
        assert "1-10 s" in error.reason


@given(st.integers(min_value=PRISM_DURATION.low, max_value=PRISM_DURATION.high))
def test_prism_sends_durations_within_its_documented_values(seconds: int) -> None:
    request = sent(
        prism_submit(VideoRequest(model="veo-3.1", prompt="p", duration=seconds)), PRISM_CREATED
    )
    assert request.json["duration"] == f"{seconds}s"


@given(st.integers(min_value=PRISM_DURATION.high + 1, max_value=10**12))
@example(10**9)
def test_prism_refuses_any_duration_past_its_documented_values(seconds: int) -> None:
    error = refused(prism_submit(VideoRequest(model="veo-3.1", prompt="p", duration=seconds)))
    assert error.message == f"duration: {seconds} s is outside prism's documented 1-10 s"


@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not 0 < x < math.inf))
def test_seconds_of_refuses_every_non_positive_or_non_finite_float(value: float) -> None:
    assert seconds_of(value) is None
    with pytest.raises(RequestValidationError, match="not a positive number of seconds"):
        check_duration(value, Seconds(low=1, high=60), provider="x", model="m")


@pytest.mark.parametrize("value", [True, None, b"8", "8 s", " 8", "eight", "1e9", "-5"])
def test_seconds_of_refuses_what_is_not_a_number_of_seconds(value: object) -> None:
    assert seconds_of(value) is None


def test_lipsync_refuses_an_audio_crop_past_the_documented_300_s() -> None:
    def request(end: float) -> LipsyncRequest:
        return LipsyncRequest(
            model="lipsync-2",
            video=VIDEO_URL,
            audio=[AudioTrack(audio=AUDIO_URL, ref_id="a")],
            segments=[LipsyncSegment(start=0, end=5, ref_id="a", audio_start=0, audio_end=end)],
        )

    error = refused(lipsync_submit(request(MAX_AUDIO_SECONDS + 0.5)))
    assert error.field == "segments[0].audio_end" and "300 s" in error.reason
    assert sent(lipsync_submit(request(MAX_AUDIO_SECONDS)), LIPSYNC_CREATED)


# -- 2. whitespace prompts ----------------------------------------------------------------


@given(_BLANK)
def test_nanogpt_refuses_a_blank_prompt_even_with_an_image(prompt: str) -> None:
    for request in (
        VideoRequest(model="veo2-video", prompt=prompt),
        VideoRequest(model="kling-v21-standard", prompt=prompt, image=PNG),
        NanoGPTVideoRequest(model="m", prompt=prompt, video=VIDEO_URL),
    ):
        assert refused(nanogpt_submit(request)).field == "prompt"


@given(_BLANK)
def test_nanogpt_refuses_a_blank_script_or_negative_prompt(text: str) -> None:
    script = NanoGPTVideoRequest(model="longstories-movie", script=text)
    negative = NanoGPTVideoRequest(model="m", prompt="p", negative_prompt=text)
    assert refused(nanogpt_submit(script)).field == "script"
    assert refused(nanogpt_submit(negative)).field == "negative_prompt"


def test_nanogpt_still_sends_image_to_video_with_no_prompt() -> None:
    request = VideoRequest(model="kling-v21-standard", image=Media.from_url("https://x/i.png"))
    body = sent(nanogpt_submit(request), NANOGPT_ACCEPTED).json
    assert "prompt" not in body and body["imageUrl"] == "https://x/i.png"


@given(_BLANK)
def test_prism_refuses_a_blank_prompt(prompt: str) -> None:
    for request in (
        VideoRequest(model="veo-3.1", prompt=prompt),
        PrismVideoRequest(model="veo-3.1", prompt=prompt),
    ):
        assert refused(prism_submit(request)).field == "prompt"


@given(_BLANK.filter(bool))
def test_prism_refuses_a_required_template_text_variable_given_only_whitespace(
    text: str,
) -> None:
    template = Template(
        id="t1", input_variables=(TemplateVariable(key="scene", type="text", required=True),)
    )
    request = TemplateRequest(template_id="t1", variables={"scene": text}, template=template)
    assert refused(prism_submit(request)).field == "variables.scene"


@given(_BLANK)
def test_lipsync_refuses_a_blank_speech_script(script: str) -> None:
    request = LipsyncRequest(
        model="lipsync-2",
        video=VIDEO_URL,
        audio=[AudioTrack(speech=Speech(script=script, voice_id="v1"))],
    )
    assert refused(lipsync_submit(request)).field == "audio[0].speech.script"


# -- 3. NanoGPT resolution ----------------------------------------------------------------


@given(st.text(max_size=12).filter(lambda t: t not in RESOLUTIONS))
@example("8k")
@example("1080P")
@example("1920x1080")
def test_nanogpt_refuses_an_undocumented_resolution(resolution: str) -> None:
    for request in (
        VideoRequest(model="veo2-video", prompt="p", resolution=resolution),
        NanoGPTVideoRequest(model="video-upscaler", video=VIDEO_URL, resolution=resolution),
    ):
        error = refused(nanogpt_submit(request))
        assert error.field == "resolution" and "720p" in error.reason


@pytest.mark.parametrize(
    "resolution", ["480p", "540p", "580p", "720p", "1080p", "1792x1024", "2k", "4k"]
)
def test_nanogpt_sends_every_documented_resolution(resolution: str) -> None:
    request = VideoRequest(model="veo2-video", prompt="p", resolution=resolution)
    assert sent(nanogpt_submit(request), NANOGPT_ACCEPTED).json["resolution"] == resolution


# -- 4. lipsync upload size ---------------------------------------------------------------


def _local_video() -> LipsyncRequest:
    return LipsyncRequest(
        model="lipsync-2",
        video=Media.from_path("/data/face.mp4"),
        audio=[AudioTrack(audio=AUDIO_URL)],
    )


def _local_audio() -> LipsyncRequest:
    return LipsyncRequest(
        model="lipsync-2",
        video=VIDEO_URL,
        audio=[AudioTrack(audio=Media.from_path("/data/voice.wav"))],
    )


@given(st.integers(min_value=MAX_UPLOAD_BYTES, max_value=10**13))
@example(5 * 1000**3)  # the 5 GB video streamed until the server said 413
@example(MAX_UPLOAD_BYTES)  # "under 20 MB": 20 MB itself is over
def test_lipsync_refuses_a_local_file_at_or_over_the_documented_20_mb(size: int) -> None:
    for request, field in ((_local_video(), "video"), (_local_audio(), "audio[0].audio")):
        error = refused(lipsync_submit(request), size=size)
        assert error.field == field
        assert f"{size} bytes" in error.reason and "20 MB" in error.reason


@given(st.integers(min_value=0, max_value=MAX_UPLOAD_BYTES - 1))
def test_lipsync_streams_a_local_file_under_20_mb(size: int) -> None:
    assert MAX_UPLOAD_BYTES == 20_000_000
    request = sent(lipsync_submit(_local_video()), LIPSYNC_CREATED, size=size)
    assert request.body is not None


def test_lipsync_estimates_refuse_an_oversized_file_too() -> None:
    provider = lipsync()
    error = refused(lambda: provider.estimate_cost_flow(_local_video()), size=5 * 1000**3)
    assert error.field == "video"


# -- 5. a success without an output is a failure ----------------------------------------


def _assert_no_output_failure(result: GenerationResult) -> None:
    assert result.status is JobStatus.FAILED
    assert result.is_terminal and not result.outputs
    assert result.failure is not None
    assert result.failure.kind is FailureKind.ERROR and result.failure.code == NO_OUTPUT
    assert "success" in (result.failure.message or "")
    assert "without an output" in (result.failure.message or "")
    assert not JobOutcome(handle=result.handle, result=result).ok


ABSENT = object()
# Every way a success can come without a usable URL: no key, null, empty, blank, not http(s).
MISSING_URLS = [ABSENT, None, "", "   ", "ftp://cdn/v.mp4", "https://"]


def url_field(key: str, value: object) -> dict[str, Any]:
    return {} if value is ABSENT else {key: value}


@pytest.mark.parametrize("url", MISSING_URLS)
@pytest.mark.parametrize("raw", ["completed", "COMPLETED"])
def test_prism_completed_without_a_video_url_is_failed(raw: str, url: object) -> None:
    body = {"id": "gen_1", "status": raw, "share_url": "https://s", **url_field("video_url", url)}
    result = _finish(PRISM.status_flow(JobHandle(provider="prism", id="gen_1")), body)
    _assert_no_output_failure(result)
    assert result.raw_status == raw


@pytest.mark.parametrize("url", MISSING_URLS)
@pytest.mark.parametrize(
    "shape",
    [
        lambda url: {"data": {"status": "COMPLETED", "output": {"video": url_field("url", url)}}},
        lambda url: {"data": {"status": "COMPLETED", "output": None, "cost": 0.35}},
        lambda url: {"status": "completed", "progress": 100, **url_field("videoUrl", url)},
    ],
    ids=["nested", "nested-null-output", "flat"],
)
def test_nanogpt_completed_without_a_video_url_is_failed(
    shape: Callable[[object], dict[str, Any]], url: object
) -> None:
    flow = NANOGPT.status_flow(JobHandle(provider="nanogpt", id="vid_1"))
    _assert_no_output_failure(_finish(flow, shape(url)))


@pytest.mark.parametrize("url", MISSING_URLS)
@pytest.mark.parametrize("key", ["outputUrl", "outputMediaUrl"])
def test_lipsync_completed_without_an_output_url_is_failed(key: str, url: object) -> None:
    generation = {
        "id": "g1",
        "createdAt": "2026-01-01T00:00:00Z",
        "status": "COMPLETED",
        "model": "lipsync-2",
        "input": [],
        **url_field(key, url),
    }
    _assert_no_output_failure(result_from(generation))  # also what a webhook is read with
    flow = lipsync().status_flow(JobHandle(provider="lipsync", id="g1"))
    _assert_no_output_failure(_finish(flow, generation))


def test_a_success_with_its_url_still_succeeds_everywhere() -> None:
    prism = _finish(
        PRISM.status_flow(JobHandle(provider="prism", id="g")),
        {"id": "g", "status": "completed", "video_url": "https://s3/v.mp4"},
    )
    nano = _finish(
        NANOGPT.status_flow(JobHandle(provider="nanogpt", id="v")),
        {"status": "completed", "videoUrl": "https://cdn/v.mp4"},
    )
    sync = result_from(
        {"id": "g1", "status": "COMPLETED", "model": "m", "input": [], "outputUrl": "https://o"}
    )
    for result in (prism, nano, sync):
        assert result.status is JobStatus.SUCCEEDED and result.failure is None
        assert len(result.outputs) == 1


def _finish(flow: Flow[GenerationResult], body: dict[str, Any]) -> GenerationResult:
    """Run a status flow whose every request is answered 200 with ``body``."""
    try:
        effect = next(flow)
        while True:
            assert isinstance(effect, HttpRequest)
            effect = flow.send(answer(200, body))
    except StopIteration as stop:
        result: GenerationResult = stop.value
        return result
