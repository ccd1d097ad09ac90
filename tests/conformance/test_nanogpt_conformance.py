"""NanoGPT conformance: every documented generate-video and extend field, through the public
API (Client + request classes) against the emulator, arrives in its documented wire form;
every documented set or range is refused locally, before any request.

The documented fields are read from a copy of the OpenAPI (specs/nanogpt-video-requests.json),
so a field the document adds and the library lacks fails here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async import Media, RequestValidationError, VideoRequest
from prism_async._cli import main
from prism_async.providers.nanogpt import ExtendRequest, NanoGPTVideoRequest
from prism_async.providers.nanogpt._body import (
    EXTEND_WIRE_ATTRIBUTES,
    EXTRA_FIELDS,
    WIRE_ATTRIBUTES,
    video_body_flow,
)
from prism_async.testing import EmulatorServer, VirtualClock
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests.conftest import Env, serve

SPEC = json.loads((Path(__file__).parent / "specs" / "nanogpt-video-requests.json").read_text())
BODY: dict[str, Any] = SPEC["VideoGenerationRequest"]["properties"]
EXTEND: dict[str, Any] = SPEC["VideoExtendRequest"]["properties"]
# Media inputs: a typed Media attribute sends them (a URL, inline data or a library key).
MEDIA_KEYS = {
    "imageDataUrl", "imageUrl", "imageAttachmentId", "videoUrl", "videoDataUrl",
    "videoAttachmentId", "video",
}  # fmt: skip
# Where the guide (reference §3.2) documents a wider set than the OpenAPI enum, the wider
# one is what the API takes, so only a value outside it is refused.
GUIDE_SETS = {
    "aspect_ratio": ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "auto"],
    "resolution": ["480p", "540p", "580p", "720p", "1080p", "1792x1024", "2k", "4k"],
}
MODEL = "veo2-video"


def _attribute_names() -> set[str]:
    return set(attrs.fields_dict(NanoGPTVideoRequest))


def _sample(rule: dict[str, Any]) -> Any:
    """A documented value for a schema: the last of its set, its minimum, or a plain one."""
    if "enum" in rule:
        return rule["enum"][-1]
    kind = rule.get("type") or rule["oneOf"][0]["type"]
    if kind == "object":
        return {key: _sample(child) for key, child in rule.get("properties", {}).items()}
    if "minimum" in rule:
        return rule["minimum"]
    return {"string": "text", "integer": 3, "number": 0.5, "boolean": True}[kind]


def _plain_fields() -> Iterator[tuple[str, Any]]:
    for key, rule in BODY.items():
        if key not in MEDIA_KEYS and key not in ("model", "duration"):
            yield key, _sample(rule)


# --- every documented field has a typed attribute -------------------------------------------


@pytest.mark.parametrize("key", sorted(BODY))
def test_every_documented_generate_video_field_has_a_typed_attribute(key: str) -> None:
    assert key in WIRE_ATTRIBUTES, f"{key} has no typed attribute"
    assert WIRE_ATTRIBUTES[key] in _attribute_names()


@pytest.mark.parametrize("key", sorted(EXTEND))
def test_every_documented_extend_field_has_a_typed_attribute(key: str) -> None:
    assert EXTEND_WIRE_ATTRIBUTES[key] in set(attrs.fields_dict(ExtendRequest))


@pytest.mark.parametrize("key", sorted(set(BODY) - MEDIA_KEYS - {"model"}))
def test_extra_knows_every_documented_field_as_its_typed_attribute(key: str) -> None:
    assert EXTRA_FIELDS.typed[key] == WIRE_ATTRIBUTES[key]


# --- every field reaches the emulator in its documented form --------------------------------


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    async with serve(clock, NanoGPTEmulator(clock=clock, queue_seconds=1, run_seconds=2)) as env:
        yield env


async def _received(env: Env, request: object) -> dict[str, Any]:
    async with env.client() as client:
        (handle,) = await client.submit(request)
    return dict(env.nano.jobs[handle.id].sim.request)


@pytest.mark.anyio
@pytest.mark.parametrize(("key", "value"), list(_plain_fields()))
async def test_each_documented_field_arrives_as_documented(env: Env, key: str, value: Any) -> None:
    attribute = WIRE_ATTRIBUTES[key]
    prompt = {} if key == "prompt" else {"prompt": "fog"}
    request = NanoGPTVideoRequest(model=MODEL, **prompt, **{attribute: value})  # type: ignore[arg-type]
    received = await _received(env, request)
    assert received == {"model": MODEL, "prompt": "fog", key: value}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("attribute", "media", "key", "value"),
    [
        ("image", Media.from_url("https://x.test/a.png"), "imageUrl", "https://x.test/a.png"),
        ("image", Media.from_bytes(b"\x89PNG", "image/png"), "imageDataUrl",
         "data:image/png;base64,<8 base64 characters>"),
        ("image", Media.from_key("att_1"), "imageAttachmentId", "att_1"),
        ("video", Media.from_url("https://x.test/a.mp4"), "videoUrl", "https://x.test/a.mp4"),
        ("video", Media.from_bytes(b"\x00\x00", "video/mp4"), "videoDataUrl",
         "data:video/mp4;base64,<4 base64 characters>"),
        ("video", Media.from_key("att_2"), "videoAttachmentId", "att_2"),
        ("alternate_video", Media.from_url("https://x.test/b.mp4"), "video",
         "https://x.test/b.mp4"),
    ],
)  # fmt: skip
async def test_each_documented_media_field_arrives_as_documented(
    env: Env, attribute: str, media: Media, key: str, value: str
) -> None:
    request = NanoGPTVideoRequest(model=MODEL, prompt="fog", **{attribute: media})  # type: ignore[arg-type]
    received = await _received(env, request)
    assert received == {"model": MODEL, "prompt": "fog", key: value}
    assert WIRE_ATTRIBUTES[key] == attribute


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "seconds", "wire"),
    [
        ("sora-2", 8, {"seconds": "8"}),  # Sora's selector is `seconds` ("4", "8", "12")
        ("veo2-video", 6, {"duration": "6s"}),  # OpenAPI: "'5s' for Veo2"
        ("veo3-video", 8, {"duration": "8s"}),
        ("kling-v21-standard", 10, {"duration": "10"}),  # OpenAPI: "'5' for Kling"
        ("midjourney-video", 60, {"duration": "60"}),  # guide: seconds as text ("5", "60")
    ],
)
async def test_duration_goes_in_each_model_familys_documented_field(
    env: Env, model: str, seconds: int, wire: dict[str, str]
) -> None:
    image = Media.from_url("https://x.test/a.png")
    request = VideoRequest(model=model, prompt="fog", duration=seconds, image=image)
    received = await _received(env, request)
    assert received == {"model": model, "prompt": "fog", "imageUrl": image.value, **wire}


@pytest.mark.anyio
async def test_extend_arrives_as_documented(env: Env) -> None:
    async with env.client() as client:
        parent = await client.generate(NanoGPTVideoRequest(model="midjourney-video", prompt="x"))
        (handle,) = await client.submit(ExtendRequest(run_id=parent.id, index=3))
    received = env.nano.jobs[handle.id].sim.request
    assert received == {"runId": parent.id, "taskId": parent.id, "index": 3}


# --- every documented set and range is refused locally, naming the field --------------------


def _refusals() -> Iterator[tuple[str, str, Any]]:
    """(attribute, named field, a request value outside the documented set or range)."""
    for key, rule in BODY.items():
        if key in MEDIA_KEYS or key == "model":
            continue
        attribute = WIRE_ATTRIBUTES[key]
        for bad in _outside(rule, GUIDE_SETS.get(key)):
            yield attribute, attribute, bad
        for child_key, child in rule.get("properties", {}).items():
            for bad in _outside(child, None):
                yield attribute, f"{attribute}.{child_key}", {child_key: bad}
            for grandchild_key, grandchild in child.get("properties", {}).items():
                for bad in _outside(grandchild, None):
                    named = f"{attribute}.{child_key}.{grandchild_key}"
                    yield attribute, named, {child_key: {grandchild_key: bad}}


def _outside(rule: dict[str, Any], wider: list[str] | None) -> Iterator[Any]:
    if "enum" in rule:
        yield "not-" + "-".join(wider or rule["enum"])[:40]
    if "minimum" in rule:
        yield rule["minimum"] - 1
    if "maximum" in rule:
        yield rule["maximum"] + 1


REFUSALS = list(_refusals())


def test_the_refusal_table_covers_the_documented_examples() -> None:
    named = {name for _, name, _ in REFUSALS}
    assert {"resolution", "frames_per_second", "num_inference_steps", "age_slider"} <= named
    assert "script_config.targetLengthInSeconds" in named


@pytest.mark.anyio
@pytest.mark.parametrize(("attribute", "named", "bad"), REFUSALS)
async def test_out_of_range_is_refused_before_any_request(
    env: Env, attribute: str, named: str, bad: Any
) -> None:
    request = NanoGPTVideoRequest(model=MODEL, prompt="fog", **{attribute: bad})
    async with env.client() as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.submit(request)
    assert caught.value.field == named
    assert env.nano.counts.total == 0


def _ranged() -> list[tuple[str, dict[str, Any]]]:
    return [
        (WIRE_ATTRIBUTES[key], rule)
        for key, rule in BODY.items()
        if "minimum" in rule or "maximum" in rule
    ]


def _refused_flow(request: NanoGPTVideoRequest) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        next(video_body_flow(request))  # refused before the first step: nothing sent
    return caught.value


@given(data=st.data(), case=st.sampled_from(_ranged()))
def test_any_number_outside_a_documented_range_is_refused(
    data: st.DataObject, case: tuple[str, dict[str, Any]]
) -> None:
    attribute, rule = case
    kinds = rule.get("type")
    outside: st.SearchStrategy[float] = st.one_of(
        st.integers(max_value=int(rule["minimum"]) - 1),
        st.integers(min_value=int(rule["maximum"]) + 1),
    )
    if kinds == "number":
        outside = outside | st.floats(min_value=rule["maximum"], exclude_min=True)
    value = data.draw(outside)
    error = _refused_flow(NanoGPTVideoRequest(model=MODEL, prompt="p", **{attribute: value}))  # type: ignore[arg-type]
    assert error.field == attribute


@given(data=st.data(), case=st.sampled_from(_ranged()))
def test_any_number_inside_a_documented_range_is_sent(
    data: st.DataObject, case: tuple[str, dict[str, Any]]
) -> None:
    attribute, rule = case
    low, high = rule["minimum"], rule["maximum"]
    value = data.draw(st.integers(min_value=int(low), max_value=int(high)))
    request = NanoGPTVideoRequest(model=MODEL, prompt="p", **{attribute: value})  # type: ignore[arg-type]
    flow = video_body_flow(request)
    with pytest.raises(StopIteration) as done:
        next(flow)
    key = next(k for k, a in WIRE_ATTRIBUTES.items() if a == attribute)
    assert done.value.value[key] == value


def _sets() -> list[tuple[str, frozenset[str]]]:
    return [
        (WIRE_ATTRIBUTES[key], frozenset(GUIDE_SETS.get(key, rule["enum"])))
        for key, rule in BODY.items()
        if "enum" in rule
    ]


@given(data=st.data(), case=st.sampled_from(_sets()))
def test_any_text_outside_a_documented_set_is_refused(
    data: st.DataObject, case: tuple[str, frozenset[str]]
) -> None:
    attribute, allowed = case
    value = data.draw(st.text(max_size=12).filter(lambda text: text not in allowed))
    error = _refused_flow(NanoGPTVideoRequest(model=MODEL, prompt="p", **{attribute: value}))  # type: ignore[arg-type]
    assert error.field == attribute


@pytest.mark.anyio
@pytest.mark.parametrize("index", [-1, 4, 99])
async def test_extend_index_outside_0_to_3_is_refused_before_any_request(
    env: Env, index: int
) -> None:
    async with env.client() as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.submit(ExtendRequest(run_id="vid_1", index=index))
    assert caught.value.field == "index"
    assert env.nano.counts.total == 0


# --- the emulator refuses what the document refuses -----------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("frames_per_second", 30, "frames_per_second"),
        ("num_inference_steps", 51, "num_inference_steps"),
        ("resolution", "9999p", "resolution"),
        ("aspect", "Wide", "aspect"),
        ("seconds", "5", "seconds"),
        ("cfg_scale", "high", "cfg_scale"),
        ("musicConfig", {"volume": 2}, "musicConfig.volume"),
        ("shortRequestEnhancer", "yes", "shortRequestEnhancer"),
    ],
)
async def test_the_emulator_answers_400_naming_a_field_outside_its_documents(
    env: Env, field: str, value: Any, named: str
) -> None:
    url = env.server.base_url("nanogpt") + "/generate-video"
    body = {"model": MODEL, "prompt": "fog", field: value}
    headers = {"x-api-key": env.nano.api_key}
    async with env.http.post(url, json=body, headers=headers) as response:
        answer = await response.json()
    assert response.status == 400
    assert named in answer["error"]
    assert not env.nano.jobs


@pytest.mark.anyio
async def test_the_emulator_refuses_duration_for_sora(env: Env) -> None:
    url = env.server.base_url("nanogpt") + "/generate-video"
    body = {"model": "sora-2", "prompt": "fog", "duration": "8"}
    async with env.http.post(url, json=body, headers={"x-api-key": env.nano.api_key}) as answer:
        assert answer.status == 400
        assert "seconds" in (await answer.json())["error"]


# --- the command line: --set goes through the same typed fields -----------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("assignment", "field"),
    [
        ("frames_per_second=30", "frames_per_second"),
        ("num_inference_steps=51", "num_inference_steps"),
        ("resolution=9999p", "resolution"),
        ('scriptConfig={"targetLengthInSeconds": 4}', "script_config.targetLengthInSeconds"),
    ],
)
async def test_cli_set_outside_the_documents_exits_2_naming_the_field_before_any_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], assignment: str, field: str
) -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.1, run_seconds=0.2)
    async with EmulatorServer([emulator]) as server:
        monkeypatch.setenv("NANOGPT_BASE_URL", server.base_url("nanogpt"))
        monkeypatch.setenv("NANOGPT_API_KEY", server.api_key("nanogpt"))
        argv = ["generate", "--provider", "nanogpt", "--model", MODEL, "--prompt", "fog"]
        code = await anyio.to_thread.run_sync(main, [*argv, "--set", assignment])
    err = capsys.readouterr().err
    assert code == 2
    assert field in err
    assert "Traceback" not in err
    assert emulator.counts.total == 0


def test_sora_refuses_a_duration_and_seconds_both_given() -> None:
    request = NanoGPTVideoRequest(model="sora-2", prompt="p", duration="8", seconds="8")
    assert _refused_flow(request).field == "duration"


@pytest.mark.anyio
@pytest.mark.parametrize("field", ["runId", "taskId"])
async def test_the_emulator_refuses_an_extend_run_id_that_is_not_a_string(
    env: Env, field: str
) -> None:
    url = env.server.base_url("nanogpt") + "/generate-video/extend"
    body = {field: 7, "index": 0}
    async with env.http.post(url, json=body, headers={"x-api-key": env.nano.api_key}) as answer:
        assert answer.status == 400
        assert field in (await answer.json())["error"]


@pytest.mark.parametrize(
    ("model", "given", "wire"),
    [
        ("kling-v21-standard", {"duration": 10}, {"duration": "10"}),
        ("veo2-video", {"duration": 5}, {"duration": "5s"}),
        ("sora-2", {"seconds": 12}, {"seconds": "12"}),
    ],
)
def test_a_whole_number_duration_attribute_is_sent_as_its_wire_text(
    model: str, given: dict[str, int], wire: dict[str, str]
) -> None:
    flow = video_body_flow(NanoGPTVideoRequest(model=model, prompt="p", **given))  # type: ignore[arg-type]
    with pytest.raises(StopIteration) as done:
        next(flow)
    assert done.value.value == {"model": model, "prompt": "p", **wire}


@pytest.mark.parametrize(
    ("given", "field", "reason"),
    [
        ({"frames_per_second": 30}, "frames_per_second", "above the documented maximum 24"),
        ({"num_inference_steps": 0}, "num_inference_steps", "below the documented minimum 1"),
        ({"resolution": "8k"}, "resolution", "is not one of"),
        ({"frames_per_second": "24"}, "frames_per_second", "is not an integer (it is a string)"),
        ({"music_config": {"volume": 1.5}}, "music_config.volume", "maximum 1"),
    ],
)
def test_a_refusal_names_the_field_and_the_reason(
    given: dict[str, Any], field: str, reason: str
) -> None:
    error = _refused_flow(NanoGPTVideoRequest(model=MODEL, prompt="p", **given))
    assert error.field == field
    assert reason in str(error)
