"""``extra``, the raw wire fields of a request, read the same way by every provider
(:class:`prism_async.providers.ExtraFields`): ``None`` dropped, a documented field through its
typed attribute and that attribute's check, an unknown key sent as given and logged once."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from prism_async._cli import main
from prism_async.providers import ExtraFields, RequestValidationError, VideoRequest
from prism_async.providers.nanogpt import NanoGPTProvider, NanoGPTVideoRequest
from prism_async.providers.nanogpt._body import EXTRA_FIELDS as NANOGPT_FIELDS
from prism_async.providers.nanogpt._body import video_body_flow
from prism_async.providers.prism import PrismProvider, PrismVideoRequest
from prism_async.providers.prism._body import EXTRA_FIELDS as PRISM_FIELDS
from prism_async.providers.prism._body import create_body_flow
from prism_async.testing import EmulatorServer, drive
from prism_async.testing.nanogpt import NanoGPTEmulator

LOGGER = "prism_async.providers"
NANOGPT = NanoGPTProvider(api_key="ngpt-test", base_url="https://nano.test/api")
PRISM = PrismProvider(api_key="prism_sk_test", base_url="https://prism.test/api")

VALUES = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
KEYS = st.text(min_size=1, max_size=12)


def fields(name: str | None = None) -> ExtraFields:
    """A fresh provider name each time: the once-per-process warning starts anew."""
    return ExtraFields(
        provider=name or f"toy-{uuid.uuid4().hex}",
        typed={"size": "size", "sizeText": "size", "seed": "seed"},
        documented={"known"},
    )


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def refusal(provider: Any, request: object) -> RequestValidationError:
    flow = provider.submit_flow(request, idempotency_key="k")
    with pytest.raises(RequestValidationError) as caught:
        next(flow)  # refused before the flow yields anything: no byte is sent
    return caught.value


def nanogpt_body(request: NanoGPTVideoRequest) -> dict[str, Any]:
    return drive(video_body_flow(request))  # no media: no effect at all


def prism_body(request: PrismVideoRequest) -> dict[str, Any]:
    return drive(create_body_flow(PRISM._api, request))  # no media: no upload


# -- the shared reading -------------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.dictionaries(KEYS, VALUES, max_size=8))
@example(extra={"size": None, "known": None, "typo": None, "seed": 3, "x": "y"})
def test_split_drops_none_routes_typed_keys_and_passes_the_rest(
    extra: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    reader = fields()
    if "size" in extra and "sizeText" in extra and None not in (extra["size"], extra["sizeText"]):
        with pytest.raises(RequestValidationError, match="size: given twice"):
            reader.split(extra)
        return
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        typed, raw = reader.split(extra)
        reader.split(extra)  # a second time: no new warning
    present = {k: v for k, v in extra.items() if v is not None}
    assert None not in raw.values()
    assert None not in typed.values()
    assert raw == {k: v for k, v in present.items() if k not in reader.typed}
    assert typed == {reader.typed[k]: v for k, v in present.items() if k in reader.typed}
    unknown = [k for k in raw if k not in reader.documented]
    assert warnings_of(caplog) == [
        f"{reader.provider}: extra field {k!r} is not a documented field; it is sent as given"
        for k in unknown
    ]


def test_an_unknown_key_is_warned_once_per_provider(caplog: pytest.LogCaptureFixture) -> None:
    name = f"toy-{uuid.uuid4().hex}"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        fields(name).split({"stlye": "anime", "known": 1})
        fields(name).split({"stlye": "noir"})  # another instance, same provider
        fields().split({"stlye": "anime"})  # another provider: its own warning
    warned = warnings_of(caplog)
    assert len(warned) == 2
    assert all("'stlye'" in m and "not a documented field" in m for m in warned)


# -- NanoGPT ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["resolution"])
@pytest.mark.parametrize("through", ["neutral", "own"])
def test_nanogpt_documented_field_in_extra_is_checked_as_its_attribute(
    key: str, through: str
) -> None:
    extra = {key: "9999p"}
    request: object = (
        VideoRequest(model="veo2-video", prompt="fog", extra=extra)
        if through == "neutral"
        else NanoGPTVideoRequest(model="veo2-video", prompt="fog", extra=extra)
    )
    error = refusal(NANOGPT, request)
    assert error.field == "resolution"
    assert "9999p" in str(error)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"aspect_ratio": "5:4"}, "aspect_ratio"),
        ({"voice_speed": 9}, "voice_speed"),
        ({"cfg_scale": 99}, "cfg_scale"),
        ({"seconds": 5}, "seconds"),
        ({"duration": 7}, "duration"),  # veo3 is a fixed 8 s
        ({"targetFaceIndex": -1}, "target_face_index"),
        ({"generate_audio": True, "generateAudio": False}, "generate_audio"),
    ],
)
def test_nanogpt_extra_refusals_name_the_typed_field(extra: dict[str, Any], field: str) -> None:
    request = VideoRequest(model="veo3-video", prompt="fog", extra=extra)
    assert refusal(NANOGPT, request).field == field


def test_nanogpt_documented_fields_in_extra_reach_the_wire_under_their_wire_names() -> None:
    request = NanoGPTVideoRequest(
        model="veo2-video",
        prompt="fog",
        resolution="720p",
        extra={
            "resolution": "1080p",  # wins over the typed value, as a check passed
            "generate_audio": True,
            "enhancePrompt": True,
            "duration": 6,  # a number (``--set duration=6``) becomes the wire's text
            "num_frames": 81,  # documented: through its typed attribute
            "style": None,  # dropped, never sent as null
            "negative_prompt": None,
        },
    )
    body = nanogpt_body(request)
    assert body == {
        "model": "veo2-video",
        "prompt": "fog",
        "resolution": "1080p",
        "generateAudio": True,
        "enhancePrompt": True,
        "duration": "6s",  # Veo's documented form ("'5s' for Veo2")
        "num_frames": 81,
    }


@given(
    extra=st.dictionaries(KEYS.filter(lambda k: k not in NANOGPT_FIELDS.typed), VALUES, max_size=6)
)
def test_nanogpt_undocumented_keys_pass_through_raw_without_nulls(extra: dict[str, Any]) -> None:
    body = nanogpt_body(NanoGPTVideoRequest(model="veo2-video", prompt="fog", extra=extra))
    assert None not in body.values()
    assert body == {
        "model": "veo2-video",
        "prompt": "fog",
        **{k: v for k, v in extra.items() if v is not None},
    }


def test_nanogpt_typos_are_logged_and_documented_untyped_fields_are_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    typo = f"resolutoin_{uuid.uuid4().hex[:6]}"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        nanogpt_body(
            NanoGPTVideoRequest(
                model="veo2-video", prompt="fog", extra={typo: "720p", "num_frames": 81}
            )
        )
    warned = warnings_of(caplog)
    assert len(warned) == 1
    assert typo in warned[0] and warned[0].startswith("nanogpt:")


# -- Prism --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"aspectRatio": "5:4"}, "aspect_ratio"),
        ({"aspect_ratio": "5:4"}, "aspect_ratio"),
        ({"duration": 99}, "duration"),
        ({"count": 9}, "count"),
        ({"templateId": " "}, "template_id"),
        ({"modelName": ""}, "model"),
    ],
)
def test_prism_documented_field_in_extra_is_checked_as_its_attribute(
    extra: dict[str, Any], field: str
) -> None:
    request = VideoRequest(model="veo-3.1", prompt="fog", extra=extra)
    assert refusal(PRISM, request).field == field


def test_prism_extra_reaches_the_wire_under_wire_names_without_nulls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = PrismVideoRequest(
        model="veo-3.1",
        prompt="fog",
        extra={
            "duration": 8,
            "hasAudio": True,
            "aspect_ratio": "16:9",
            "startFrameKey": "uploads/a.png",  # documented media key: raw, silent
            "resolution": None,
        },
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        body = prism_body(request)
    assert body == {
        "prompt": "fog",
        "modelName": "veo-3.1",
        "duration": "8s",
        "hasAudio": True,
        "aspectRatio": "16:9",
        "count": 1,
        "startFrameKey": "uploads/a.png",
    }
    assert warnings_of(caplog) == []


@given(
    extra=st.dictionaries(KEYS.filter(lambda k: k not in PRISM_FIELDS.typed), VALUES, max_size=6)
)
def test_prism_undocumented_keys_pass_through_raw_without_nulls(extra: dict[str, Any]) -> None:
    body = prism_body(PrismVideoRequest(model="veo-3.1", prompt="fog", extra=extra))
    base = {"prompt": "fog", "modelName": "veo-3.1", "count": 1}
    assert body == {**base, **{k: v for k, v in extra.items() if v is not None}}


# -- the CLI's --set ----------------------------------------------------------------------


@pytest.fixture
async def nanogpt_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer([NanoGPTEmulator(queue_seconds=0.1, run_seconds=0.2)]) as server:
        monkeypatch.setenv("NANOGPT_BASE_URL", server.base_url("nanogpt"))
        monkeypatch.setenv("NANOGPT_API_KEY", server.api_key("nanogpt"))
        yield server


@pytest.mark.anyio
async def test_cli_set_of_a_documented_field_is_checked_before_any_request(
    nanogpt_server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "fog",
        "--set", "resolution=9999p",
    ]  # fmt: skip
    code = await anyio.to_thread.run_sync(main, argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "resolution" in err
    assert "Traceback" not in err
    assert nanogpt_server.emulators["nanogpt"].counts.total == 0  # type: ignore[attr-defined]
