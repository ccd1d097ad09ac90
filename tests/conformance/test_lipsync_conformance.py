"""Lipsync conformance: every documented create field, through the public API (Client +
LipsyncRequest) against the emulator, arrives in its documented wire form; every documented
set or range is refused locally, before any request.

The documented fields are read from a copy of the OpenAPI (specs/lipsync-openapi-2025-03.json)
plus the fields the create page adds (seed lipsync-create-generation: ``segments``,
``outputFileName``), so a field the documents add and the library lacks fails here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async import (
    AudioTrack,
    LipsyncRequest,
    LipsyncSegment,
    Media,
    RequestValidationError,
    Speech,
)
from prism_async.providers.lipsync._body import OPTION_KEYS
from prism_async.providers.lipsync._validate import validate
from prism_async.testing import VirtualClock
from prism_async.testing.lipsync import LipsyncEmulator
from tests.conftest import Env, serve

pytestmark = pytest.mark.anyio

SPEC = json.loads((Path(__file__).parent / "specs" / "lipsync-openapi-2025-03.json").read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
CREATE: dict[str, Any] = SCHEMAS["CreateGenerationDto"]["properties"]
OPTIONS: dict[str, Any] = SCHEMAS["GenerationOptions"]["properties"]
# The create page (seed lipsync-create-generation) documents two more top-level fields.
CREATE_PAGE_FIELDS = ("segments", "outputFileName")

# Where each documented field is typed: (class, attribute). ``input`` is built from the
# request's video and audio tracks; each item's own fields are typed below.
TOP_LEVEL = {
    "model": (LipsyncRequest, "model"),
    "input": (LipsyncRequest, "audio"),
    "options": (LipsyncRequest, "options"),
    "webhookUrl": (LipsyncRequest, "webhook_url"),
    "segments": (LipsyncRequest, "segments"),
    "outputFileName": (LipsyncRequest, "output_file_name"),
}
ITEMS = {
    ("VideoInputItem", "type"): (LipsyncRequest, "video"),  # "video" on the video's item
    ("VideoInputItem", "url"): (LipsyncRequest, "video"),
    ("VideoInputItem", "segments_secs"): (LipsyncRequest, "video_segments_secs"),
    ("VideoInputItem", "segments_frames"): (LipsyncRequest, "video_segments_frames"),
    ("AudioInputItem", "type"): (AudioTrack, "audio"),
    ("AudioInputItem", "url"): (AudioTrack, "audio"),
    ("TextInputItem", "type"): (AudioTrack, "speech"),
    ("TextInputItem", "provider"): (AudioTrack, "speech"),
    ("ProviderItem", "name"): (Speech, "provider"),
    ("ProviderItem", "voiceId"): (Speech, "voice_id"),
    ("ProviderItem", "script"): (Speech, "script"),
}

VIDEO = "https://media.test/face.mp4"
AUDIO = "https://media.test/voice.wav"
BASE = LipsyncRequest(
    model="lipsync-2", video=Media.from_url(VIDEO), audio=(AudioTrack(audio=Media.from_url(AUDIO)),)
)
BASE_INPUT = [{"type": "video", "url": VIDEO}, {"type": "audio", "url": AUDIO}]


def _has(cls: type, attribute: str) -> bool:
    return attribute in attrs.fields_dict(cls)


# --- every documented field has a typed home ------------------------------------------------


@pytest.mark.parametrize("key", sorted({*CREATE, *CREATE_PAGE_FIELDS}))
def test_every_documented_create_field_has_a_typed_attribute(key: str) -> None:
    cls, attribute = TOP_LEVEL[key]
    assert _has(cls, attribute)


@pytest.mark.parametrize(
    ("schema", "key"),
    [
        (schema, key)
        for schema in ("VideoInputItem", "AudioInputItem", "TextInputItem", "ProviderItem")
        for key in SCHEMAS[schema]["properties"]
    ],
)
def test_every_documented_input_item_field_has_a_typed_attribute(schema: str, key: str) -> None:
    cls, attribute = ITEMS[schema, key]
    assert _has(cls, attribute)


@pytest.mark.parametrize("key", sorted(OPTIONS))
def test_every_documented_option_is_a_known_checked_option(key: str) -> None:
    assert key in OPTION_KEYS


# --- every field reaches the emulator in its documented form --------------------------------


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    async with serve(clock, LipsyncEmulator(clock=clock, queue_seconds=1, run_seconds=2)) as env:
        yield env


async def _received(env: Env, request: LipsyncRequest) -> dict[str, Any]:
    async with env.client() as client:
        (handle,) = await client.submit(request)
    return dict(env.lipsync.generations[handle.id].body)


OPTION_SAMPLES: dict[str, Any] = {
    # GenerationOptions (OpenAPI), each a documented value
    "pads": [0, 5, 0, 0],
    "speedup": 2,
    "output_format": "mov",
    "sync_mode": "bounce",
    "fps": 25,
    "output_resolution": [1280, 720],
    "active_speaker": True,
    # SDK 0.2.7 options (reference §2.2.1)
    "temperature": 0.7,
    "active_speaker_detection": {"auto_detect": False, "frame_number": 3, "coordinates": [1, 2]},
    "occlusion_detection_enabled": True,
}


def test_every_documented_option_has_a_sample() -> None:
    assert set(OPTIONS) <= set(OPTION_SAMPLES)


@pytest.mark.parametrize(("key", "value"), sorted(OPTION_SAMPLES.items()))
async def test_each_documented_option_arrives_as_documented(env: Env, key: str, value: Any) -> None:
    received = await _received(env, attrs.evolve(BASE, options={key: value}))
    assert received == {"model": "lipsync-2", "input": BASE_INPUT, "options": {key: value}}


@pytest.mark.parametrize(("key", "value"), [("model_mode", "head"), ("prompt", "happy")])
async def test_react_1_options_arrive_as_documented(env: Env, key: str, value: str) -> None:
    request = attrs.evolve(BASE, model="react-1", options={key: value})
    received = await _received(env, request)
    assert received == {"model": "react-1", "input": BASE_INPUT, "options": {key: value}}


@pytest.mark.parametrize(
    ("attribute", "value", "key", "wire"),
    [
        ("webhook_url", "https://hooks.test/sync", "webhookUrl", "https://hooks.test/sync"),
        ("output_file_name", "take_2-final", "outputFileName", "take_2-final"),
        ("project_id", "proj_1", "projectId", "proj_1"),
        ("dub_params", {"language": "fr"}, "dubParams", {"language": "fr"}),
        ("dialogue_edit", {"script": "hi"}, "dialogueEdit", {"script": "hi"}),
    ],
)
async def test_each_top_level_field_arrives_as_documented(
    env: Env, attribute: str, value: Any, key: str, wire: Any
) -> None:
    received = await _received(env, attrs.evolve(BASE, **{attribute: value}))
    assert received == {"model": "lipsync-2", "input": BASE_INPUT, key: wire}


@pytest.mark.parametrize(
    ("attribute", "spans", "key"),
    [
        ("video_segments_secs", ((5, 10), (12.5, 14)), "segments_secs"),
        ("video_segments_frames", ((0, 25),), "segments_frames"),
    ],
)
async def test_deprecated_video_spans_arrive_on_the_video_item(
    env: Env, attribute: str, spans: tuple[tuple[float, float], ...], key: str
) -> None:
    received = await _received(env, attrs.evolve(BASE, **{attribute: spans}))  # type: ignore[arg-type]
    video = {"type": "video", "url": VIDEO, key: [list(span) for span in spans]}
    assert received["input"] == [video, BASE_INPUT[1]]


async def test_a_speech_input_arrives_as_the_documented_text_item(env: Env) -> None:
    speech = Speech(script="hello", voice_id="v1", stability=0.4, similarity_boost=0.9)
    received = await _received(env, attrs.evolve(BASE, audio=(AudioTrack(speech=speech),)))
    provider = {
        "name": "elevenlabs", "voiceId": "v1", "script": "hello", "stability": 0.4,
        "similarityBoost": 0.9,
    }  # fmt: skip
    assert received["input"] == [BASE_INPUT[0], {"type": "text", "provider": provider}]


async def test_asset_inputs_arrive_as_asset_ids(env: Env) -> None:
    request = attrs.evolve(
        BASE, video=Media.from_key("asset_v"), audio=(AudioTrack(audio=Media.from_key("asset_a")),)
    )
    received = await _received(env, request)
    assert received["input"] == [
        {"type": "video", "assetId": "asset_v"},
        {"type": "audio", "assetId": "asset_a"},
    ]


async def test_segments_with_crops_and_overrides_arrive_as_documented(env: Env) -> None:
    tracks = (
        AudioTrack(audio=Media.from_url(AUDIO), ref_id="a"),
        AudioTrack(speech=Speech(script="hi", voice_id="v"), ref_id="b"),
    )
    segments = (
        LipsyncSegment(start=0, end=2.5, ref_id="a", audio_start=1, audio_end=3.5),
        LipsyncSegment(start=3, end=4, ref_id="b", options_override={"sync_mode": "silence"}),
    )
    received = await _received(env, attrs.evolve(BASE, audio=tracks, segments=segments))
    assert received["input"][1:] == [
        {"type": "audio", "url": AUDIO, "refId": "a"},
        {"type": "text", "provider": {"name": "elevenlabs", "voiceId": "v", "script": "hi"},
         "refId": "b"},
    ]  # fmt: skip
    assert received["segments"] == [
        {"startTime": 0, "endTime": 2.5, "audioInput": {"refId": "a", "startTime": 1,
                                                        "endTime": 3.5}},
        {"startTime": 3, "endTime": 4, "audioInput": {"refId": "b"},
         "optionsOverride": {"sync_mode": "silence"}},
    ]  # fmt: skip


# --- every documented set and range is refused locally, naming the field --------------------


def _enum_refusals() -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = []
    for key, rule in OPTIONS.items():
        if "enum" in rule:
            cases.append((key, "nope" if rule["type"] == "string" else 7))
    return cases


@pytest.mark.parametrize(
    ("options", "field"),
    [
        *[({key: bad}, f"options.{key}") for key, bad in _enum_refusals()],
        ({"temperature": 1.5}, "options.temperature"),
        ({"fps": 0}, "options.fps"),
        ({"pads": ["a"]}, "options.pads"),
        ({"output_resolution": [1280]}, "options.output_resolution"),
        ({"active_speaker": "yes"}, "options.active_speaker"),
        ({"occlusion_detection_enabled": 1}, "options.occlusion_detection_enabled"),
        ({"model_mode": "lips"}, "options.model_mode"),  # react-1 only
    ],
)
async def test_out_of_range_options_are_refused_before_any_request(
    env: Env, options: dict[str, Any], field: str
) -> None:
    async with env.client() as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.submit(attrs.evolve(BASE, options=options))
    assert caught.value.field == field
    assert env.lipsync.counts.total == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"output_file_name": "bad name.mp4"}, "output_file_name"),
        ({"output_file_name": "x" * 256}, "output_file_name"),
        ({"webhook_url": "ftp://hooks.test"}, "webhook_url"),
        ({"video_segments_secs": ((10, 5),)}, "video_segments_secs[0]"),
        ({"video_segments_secs": ((1, 2, 3),)}, "video_segments_secs[0]"),
        ({"video_segments_frames": ((0.5, 25),)}, "video_segments_frames[0]"),
        ({"audio": (AudioTrack(speech=Speech(script="x", voice_id="v", stability=2)),)},
         "audio[0].speech.stability"),
    ],
)  # fmt: skip
async def test_out_of_range_fields_are_refused_before_any_request(
    env: Env, change: dict[str, Any], field: str
) -> None:
    async with env.client() as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.submit(attrs.evolve(BASE, **change))
    assert caught.value.field == field
    assert env.lipsync.counts.total == 0


def _refused(request: LipsyncRequest) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        validate(request)
    return caught.value


@given(
    key=st.sampled_from([k for k, rule in OPTIONS.items() if "enum" in rule]),
    value=st.one_of(st.text(max_size=8), st.integers()),
)
def test_any_value_outside_a_documented_option_set_is_refused(key: str, value: object) -> None:
    if value in OPTIONS[key]["enum"] and not isinstance(value, bool):
        return
    error = _refused(attrs.evolve(BASE, options={key: value}))
    assert error.field == f"options.{key}"


@given(value=st.floats(allow_nan=False).filter(lambda v: not 0 <= v <= 1))
def test_any_temperature_outside_0_to_1_is_refused(value: float) -> None:
    assert _refused(attrs.evolve(BASE, options={"temperature": value})).field == (
        "options.temperature"
    )


@given(name=st.text(min_size=1, max_size=300))
def test_output_file_names_follow_the_documented_rule(name: str) -> None:
    allowed = len(name) <= 255 and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    request = attrs.evolve(BASE, output_file_name=name)
    if allowed:
        validate(request)
    else:
        assert _refused(request).field == "output_file_name"


# --- the emulator refuses what the document refuses -----------------------------------------


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"options": {"speedup": 5}}, "options.speedup"),
        ({"options": {"output_format": "avi"}}, "options.output_format"),
        ({"options": {"sync_mode": "stretch"}}, "options.sync_mode"),
        ({"input": [{"type": "video", "url": VIDEO, "segments_secs": [[1, 2, 3]]},
                    BASE_INPUT[1]]}, "input.0.segments_secs"),
        ({"input": [{"type": "video", "url": VIDEO, "segments_frames": "0-25"},
                    BASE_INPUT[1]]}, "input.0.segments_frames"),
        ({"model": "lipsync-0"}, "model"),
    ],
)  # fmt: skip
async def test_the_emulator_answers_400_naming_a_field_outside_its_documents(
    env: Env, change: dict[str, Any], named: str
) -> None:
    body = {"model": "lipsync-2", "input": BASE_INPUT, **change}
    url = env.server.base_url("lipsync") + "/v2/generate"
    headers = {"x-api-key": env.lipsync.api_key}
    async with env.http.post(url, json=body, headers=headers) as response:
        text = await response.text()
    assert response.status == 400
    assert named in text
    assert not env.lipsync.generations


@pytest.mark.parametrize("model", SCHEMAS["CreateGenerationDto"]["properties"]["model"]["enum"])
async def test_the_emulator_takes_every_model_the_openapi_lists(env: Env, model: str) -> None:
    received = await _received(env, attrs.evolve(BASE, model=model))
    assert received["model"] == model
