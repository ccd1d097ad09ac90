"""Lipsync request fidelity: only documented forms are sent, every documented create field
has a home (a typed attribute, or ``options``), ``extra`` carries the rest, and the
emulator refuses what the documents refuse.

Sources: ``shared/reference/provider-apis.md`` §2.2.1-2.2.2 and
``shared/specs/lipsync-openapi-2025-03.json`` (CreateGenerationDto, GenerationOptions).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from prism_async import JobStatus, Media, RequestValidationError
from prism_async._cli._lipsync import lipsync_request
from prism_async._cli._parser import build_parser
from prism_async._http import Multipart, StatFile
from prism_async.providers.lipsync import (
    AudioTrack,
    LipsyncProvider,
    LipsyncRequest,
    LipsyncSegment,
)
from prism_async.providers.lipsync._body import OPTION_KEYS, payload_flow, wire_body
from prism_async.providers.lipsync._validate import validate
from prism_async.testing import VirtualClock
from prism_async.testing._lipsync_validate import validate_create
from prism_async.testing.lipsync import LipsyncEmulator
from tests.conftest import Env, serve

VIDEO_URL = "https://media.example/face.mp4"
VIDEO = Media.from_url(VIDEO_URL)
IDEM = "fidelity-0001"


def url_track(name: str, ref_id: str | None = None) -> AudioTrack:
    return AudioTrack(audio=Media.from_url(f"https://media.example/{name}"), ref_id=ref_id)


def provider() -> LipsyncProvider:
    return LipsyncProvider(api_key="sk-test", base_url="https://sync.test")


class CountingLipsync(LipsyncEmulator):
    """The lipsync emulator counting every HTTP request that reaches it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests_seen = 0

    def build_app(self) -> web.Application:
        app = super().build_app()

        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            self.requests_seen += 1
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.insert(0, count)
        return app


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    emulator = CountingLipsync(clock=clock, queue_seconds=1, run_seconds=5)
    async with serve(clock, emulator) as env:
        yield env


def counted(env: Env) -> int:
    emulator = env.lipsync
    assert isinstance(emulator, CountingLipsync)
    return emulator.requests_seen


# -- 1. local audio placed by segments ----------------------------------------------------


def old_form() -> aiohttp.FormData:
    """What the client used to send: a url-less audio item "for the file to fill in"."""
    form = aiohttp.FormData()
    form.add_field("model", "lipsync-2")
    form.add_field(
        "input",
        json.dumps(
            [
                {"type": "video", "url": VIDEO_URL},
                {"type": "audio", "refId": "file"},
                {"type": "audio", "url": "https://media.example/other.wav", "refId": "url"},
            ]
        ),
    )
    form.add_field(
        "segments",
        json.dumps(
            [
                {"startTime": 0, "endTime": 2, "audioInput": {"refId": "url"}},
                {"startTime": 2, "endTime": 4, "audioInput": {"refId": "file"}},
            ]
        ),
    )
    form.add_field("audio", b"RIFF" + b"\x01" * 1000, filename="voice.wav")
    return form


@pytest.mark.anyio
async def test_the_strict_emulator_refuses_the_old_url_less_audio_item(env: Env) -> None:
    key = env.lipsync.api_key
    url = f"{env.server.base_url('lipsync')}/v2/generate"
    async with env.http.post(url, data=old_form(), headers={"x-api-key": key}) as response:
        assert response.status == 400
        message = " | ".join((await response.json())["message"])
    assert "input.1.url should not be empty" in message
    assert "segments.1.audioInput.refId 'file' names no audio or text item in input" in message
    assert env.lipsync.generations == {}


def test_the_emulator_refuses_a_url_less_audio_item_in_json_too() -> None:
    body = {
        "model": "lipsync-2",
        "input": [{"type": "video", "url": VIDEO_URL}, {"type": "audio", "refId": "a"}],
        "segments": [{"startTime": 0, "endTime": 2, "audioInput": {"refId": "a"}}],
    }
    errors = validate_create(body)
    assert "input.1.url should not be empty" in errors
    assert any("refId 'a' names no audio or text item" in e for e in errors)


@st.composite
def segmented_with_a_local_track(draw: st.DrawFn) -> tuple[LipsyncRequest, int]:
    count = draw(st.integers(min_value=1, max_value=4))
    local = draw(st.integers(min_value=0, max_value=count - 1))
    tracks = [
        AudioTrack(audio=Media.from_path(f"/data/voice{n}.wav"), ref_id=f"r{n}")
        if n == local
        else url_track(f"voice{n}.wav", f"r{n}")
        for n in range(count)
    ]
    segments = [LipsyncSegment(start=2 * n, end=2 * n + 2, ref_id=f"r{n}") for n in range(count)]
    local_video = draw(st.booleans())
    video = Media.from_path("/data/face.mp4") if local_video else VIDEO
    request = LipsyncRequest(model="lipsync-2", video=video, audio=tracks, segments=segments)
    return request, local


@given(segmented_with_a_local_track())
def test_local_audio_placed_by_segments_is_refused_at_the_call(
    case: tuple[LipsyncRequest, int],
) -> None:
    request, local = case
    for call in (
        lambda: provider().submit_flow(request, idempotency_key=IDEM),
        lambda: provider().estimate_cost_flow(request),
    ):
        with pytest.raises(RequestValidationError) as caught:
            call()  # refused before the flow exists: no effect, no byte
        assert caught.value.field == f"audio[{local}].audio"
        assert "URL" in str(caught.value)


@pytest.mark.anyio
async def test_the_client_refuses_it_before_any_request_reaches_the_emulator(
    env: Env, tmp_path: Path
) -> None:
    voice = tmp_path / "voice.wav"
    voice.write_bytes(b"RIFF" + b"\x01" * 1000)
    request = LipsyncRequest(
        model="lipsync-2",
        video=VIDEO,
        audio=[url_track("other.wav", "url"), AudioTrack(audio=Media.from_path(voice), ref_id="f")],
        segments=[
            LipsyncSegment(start=0, end=2, ref_id="url"),
            LipsyncSegment(start=2, end=4, ref_id="f"),
        ],
    )
    async with env.client() as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.submit(request)
        with pytest.raises(RequestValidationError):
            await client.generate(request)
    assert caught.value.field == "audio[1].audio"
    assert "URL" in str(caught.value)
    assert counted(env) == 0
    assert env.lipsync.generations == {}


@pytest.mark.anyio
async def test_url_audio_with_ref_ids_in_segments_still_completes(env: Env) -> None:
    request = LipsyncRequest(
        model="lipsync-2",
        video=VIDEO,
        audio=[url_track("one.wav", "one"), url_track("two.wav", "two")],
        segments=[
            LipsyncSegment(start=0, end=2, ref_id="one"),
            LipsyncSegment(start=2, end=4, ref_id="two", audio_start=0, audio_end=2),
        ],
    )
    async with env.client() as client:
        result = await client.generate(request)
    assert result.status is JobStatus.SUCCEEDED
    sent = env.lipsync.generations[result.id].body
    assert [i.get("refId") for i in sent["input"]] == [None, "one", "two"]
    assert all("url" in item for item in sent["input"])


@pytest.mark.anyio
@pytest.mark.parametrize("ref_id", [None, "unused"])
async def test_a_single_local_audio_file_without_segments_goes_as_multipart(
    env: Env, tmp_path: Path, ref_id: str | None
) -> None:
    voice = tmp_path / "voice.wav"
    voice.write_bytes(b"RIFF" + b"\x01" * 2000)
    request = LipsyncRequest(
        model="lipsync-2",
        video=VIDEO,
        audio=[AudioTrack(audio=Media.from_path(voice), ref_id=ref_id)],
        project_id="proj-1",
        dub_params={"targetLanguage": "fr"},
    )
    async with env.client() as client:
        result = await client.generate(request)
    assert result.status is JobStatus.SUCCEEDED
    generation = env.lipsync.generations[result.id]
    assert generation.uploads == {"audio": 2004}
    items = generation.body["input"]
    assert [i["type"] for i in items] == ["video", "audio"]
    assert items[1]["url"].endswith("/voice.wav") and "refId" not in items[1]
    assert generation.body["projectId"] == "proj-1"
    assert generation.body["dubParams"] == {"targetLanguage": "fr"}


def test_the_multipart_form_carries_no_url_less_item() -> None:
    request = LipsyncRequest(
        model="lipsync-2",
        video=VIDEO,
        audio=[AudioTrack(audio=Media.from_path("/data/voice.wav"), ref_id="x")],
    )
    flow = payload_flow(request)
    assert isinstance(next(flow), StatFile)
    with pytest.raises(StopIteration) as done:
        flow.send(100)
    form = done.value.value
    assert isinstance(form, Multipart)
    fields = dict(form.fields)
    assert json.loads(str(fields["input"])) == [{"type": "video", "url": VIDEO_URL}]


# -- 2. documented fields with a home, and extra -------------------------------------------


def base(**fields: Any) -> LipsyncRequest:
    return LipsyncRequest(model="lipsync-2", video=VIDEO, audio=[url_track("v.wav")], **fields)


def test_typed_fields_are_sent_in_their_wire_spelling() -> None:
    request = base(
        project_id="proj-9",
        dub_params={"targetLanguage": "de", "voices": [1, 2]},
        dialogue_edit={"lines": [{"from": "a", "to": "b"}]},
    )
    validate(request)
    body = wire_body(request)
    assert body["projectId"] == "proj-9"
    assert body["dubParams"] == {"targetLanguage": "de", "voices": [1, 2]}
    assert body["dialogueEdit"] == {"lines": [{"from": "a", "to": "b"}]}
    assert validate_create(json.loads(json.dumps(body))) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"project_id": ""}, "project_id"),
        ({"project_id": 7}, "project_id"),
        ({"dub_params": "fr"}, "dub_params"),
        ({"dialogue_edit": [1]}, "dialogue_edit"),
        ({"extra": {"projectId": " "}}, "project_id"),
        ({"extra": {"outputFileName": "a.mp4"}}, "output_file_name"),
        ({"extra": {"webhookUrl": "ftp://x"}}, "webhook_url"),
        ({"extra": {"sync_mode": "wobble"}}, "options.sync_mode"),
        ({"extra": {"speedup": 5}}, "options.speedup"),
        ({"extra": {"input": []}}, "extra.input"),
        ({"extra": {"segments": []}}, "extra.segments"),
        ({"extra": {"options": {}}}, "extra.options"),
        ({"extra": {"projectId": "a", "project_id": "b"}}, "project_id"),
    ],
)
def test_documented_fields_are_checked_wherever_they_are_given(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        provider().submit_flow(base(**fields), idempotency_key=IDEM)
    assert caught.value.field == field


def test_documented_extra_keys_go_through_their_attribute() -> None:
    request = base(
        options={"temperature": 0.3},
        extra={
            "projectId": "p-1",
            "outputFileName": "take_2",
            "sync_mode": "cut_off",
            "dubParams": {"targetLanguage": "es"},
            "webhookUrl": None,  # dropped, never sent as null
        },
    )
    validate(request)
    body = wire_body(request)
    assert body["projectId"] == "p-1"
    assert body["outputFileName"] == "take_2"
    assert body["options"] == {"temperature": 0.3, "sync_mode": "cut_off"}
    assert body["dubParams"] == {"targetLanguage": "es"}
    assert "webhookUrl" not in body and "sync_mode" not in body


_DOCUMENTED = {
    "model",
    "input",
    "options",
    "segments",
    "webhookUrl",
    "outputFileName",
    "projectId",
    "dubParams",
    "dialogueEdit",
    "webhook_url",
    "output_file_name",
    "project_id",
    "dub_params",
    "dialogue_edit",
}
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


@given(
    extra=st.dictionaries(
        st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8).filter(
            lambda k: k not in _DOCUMENTED and k not in OPTION_KEYS
        ),
        _json_values,
        max_size=5,
    )
)
def test_unknown_extra_keys_pass_raw_and_none_is_dropped(extra: dict[str, Any]) -> None:
    request = base(extra=extra)
    validate(request)
    body = wire_body(request)
    expected = {k: v for k, v in extra.items() if v is not None}
    assert {k: body[k] for k in expected} == expected
    assert not set(extra) - set(expected) & set(body)
    assert body["model"] == "lipsync-2" and body["input"][0]["type"] == "video"


def test_an_unknown_extra_key_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="prism_async.providers"):
        wire_body(base(extra={"zzUnlikelyFidelityKey": 1}))
        wire_body(base(extra={"zzUnlikelyFidelityKey": 2}))
    warned = [r for r in caplog.records if "zzUnlikelyFidelityKey" in r.getMessage()]
    assert len(warned) == 1


@pytest.mark.anyio
async def test_every_documented_field_reaches_the_emulator_as_json(env: Env) -> None:
    request = base(
        options={"sync_mode": "bounce", "temperature": 0.7, "speedup": 2, "output_format": "mov"},
        output_file_name="full_take",
        project_id="proj-7",
        dub_params={"targetLanguage": "it"},
        dialogue_edit={"lines": []},
        extra={"experimentalFlag": True, "ignored": None},
    )
    async with env.client() as client:
        result = await client.generate(request)
    assert result.status is JobStatus.SUCCEEDED
    sent = env.lipsync.generations[result.id].body
    assert sent["projectId"] == "proj-7"
    assert sent["dubParams"] == {"targetLanguage": "it"}
    assert sent["dialogueEdit"] == {"lines": []}
    assert sent["outputFileName"] == "full_take"
    assert sent["experimentalFlag"] is True and "ignored" not in sent


# -- the spec's option sets: the client and the emulator agree ----------------------------

_option_values = st.one_of(
    st.integers(min_value=-2, max_value=8),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=120),
    st.sampled_from(["mp4", "mov", "avi", "", "25"]),
    st.booleans(),
    st.lists(st.integers(min_value=-1, max_value=2000), max_size=4),
)


@given(
    st.sampled_from(["speedup", "output_format", "fps", "pads", "output_resolution"]),
    _option_values,
)
def test_legacy_options_are_checked_as_the_emulator_checks_them(key: str, value: Any) -> None:
    request = base(options={key: value})
    field = None
    try:
        validate(request)
    except RequestValidationError as error:
        field = error.field
    assert field in (None, f"options.{key}")
    local_ok = field is None
    emulator_errors = validate_create(json.loads(json.dumps(wire_body(request))))
    assert local_ok == (emulator_errors == []), emulator_errors


# -- the CLI's --set ---------------------------------------------------------------------


def cli(*sets: str, output_name: str | None = None) -> LipsyncRequest:
    argv = ["generate", "--provider", "lipsync", "--video", VIDEO_URL, "--audio", "x.wav"]
    for text in sets:
        argv += ["--set", text]
    if output_name is not None:
        argv += ["--output-name", output_name]
    return lipsync_request(build_parser().parse_args(argv))


def test_cli_set_routes_documented_keys_to_their_attribute() -> None:
    request = cli(
        "projectId=123",
        'dub_params={"targetLanguage": "fr"}',
        "webhookUrl=https://hooks.example/x",
        "sync_mode=cut_off",
        "pads=[0,5,0,0]",
        "customKnob=3",
    )
    assert request.project_id == "123"  # read as a number, sent as the text it was
    assert request.dub_params == {"targetLanguage": "fr"}
    assert request.webhook_url == "https://hooks.example/x"
    assert request.options == {"sync_mode": "cut_off", "pads": [0, 5, 0, 0], "customKnob": 3}
    assert request.model == "lipsync-2"


def test_cli_set_output_file_name_agrees_with_output_name() -> None:
    assert cli("outputFileName=take", output_name="take").output_file_name == "take"
    with pytest.raises(RequestValidationError) as caught:
        cli("outputFileName=take", output_name="other")
    assert "output_file_name" in str(caught.value)


def test_cli_set_value_still_goes_through_the_check() -> None:
    with pytest.raises(RequestValidationError) as caught:
        validate(cli("outputFileName=bad.name"))
    assert caught.value.field == "output_file_name"


def test_a_callback_url_given_through_extra_is_the_users_own() -> None:
    from prism_async import LipsyncRequest
    from prism_async.providers.lipsync import LipsyncProvider

    provider = LipsyncProvider(api_key="k", base_url="http://127.0.0.1:9")
    plain = LipsyncRequest(model="lipsync-2")
    named = LipsyncRequest(model="lipsync-2", extra={"webhookUrl": "https://mine.example/h"})
    assert provider.with_webhook(named, "https://hooks.example/lipsync") is None
    given = provider.with_webhook(plain, "https://hooks.example/lipsync")
    assert isinstance(given, LipsyncRequest)
    assert given.webhook_url == "https://hooks.example/lipsync"
