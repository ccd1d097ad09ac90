"""Prism conformance: every documented field of Create Generation, template generation,
Create Character and Upload Reference, through the public API (Client + request classes)
against the emulator, arrives in its documented wire form; every documented set or range is
refused locally, before any request.

Prism publishes no OpenAPI: the documented fields are read from copies of its endpoint pages
(specs/prism-*.txt, from shared/seeds), so a field a page adds and the library lacks fails.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async import Media, RequestValidationError
from prism_async.providers.prism import (
    CharacterRequest,
    PrismProvider,
    PrismVideoRequest,
    TemplateRequest,
)
from prism_async.providers.prism._body import ASPECT_RATIOS
from prism_async.testing import VirtualClock
from prism_async.testing.prism import PrismEmulator
from tests.conftest import Env, serve

pytestmark = pytest.mark.anyio

SPECS = Path(__file__).parent / "specs"


def _page_fields(name: str, pattern: str) -> list[str]:
    text = (SPECS / name).read_text()
    return [m[1] for m in re.finditer(pattern, text, re.M)]


# "promptstringYesPrompt for the generated video" (the page's table, flattened)
CREATE_FIELDS = _page_fields(
    "prism-create-generation.txt", r"^(\w+?)(?:string\[\]|string|integer|boolean)(?:Yes|No)"
)
# "variables | object | Yes | ..." (the path parameter's row has no Required column)
TEMPLATE_FIELDS = _page_fields(
    "prism-template-generate.txt", r"^(\w+) \| (?:object|string) \| (?:Yes|No) \|"
)
# "namestringYesCharacter name (1-60 chars)"
CHARACTER_FIELDS = _page_fields(
    "prism-create-character.txt", r"^(\w+?)(?:array<string>|string)(?:Yes|No)"
)

CREATE_ATTRIBUTES = {
    "prompt": "prompt",
    "modelName": "model",
    "aspectRatio": "aspect_ratio",
    "duration": "duration",
    "resolution": "resolution",
    "count": "count",
    "hasAudio": "has_audio",
    "startFrameKey": "start_frame",
    "endFrameKey": "end_frame",
    "ingredientImageKeys": "ingredient_images",
    "characterReferenceImageKeys": "character_reference_images",
    "sourceVideoKey": "source_video",
    "referenceVideoKeys": "reference_videos",
    "audioKey": "audio",
    "templateId": "template_id",
}
TEMPLATE_ATTRIBUTES = {
    "variables": "variables",
    "character_variables": "character_variables",
    "webhook_url": "webhook_url",
}
CHARACTER_ATTRIBUTES = {"name": "name", "description": "description", "images": "images"}

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(64)
MP3 = b"ID3" + bytes(64)
AVA = "5d0c4c2e-1f0a-4b8e-9a51-0c7e5f1a0001"  # a public character of the emulator
BASE = PrismVideoRequest(model="veo-3.1", prompt="a lighthouse")
BASE_WIRE = {"prompt": "a lighthouse", "modelName": "veo-3.1", "count": 1}


def test_the_pages_were_read() -> None:
    assert len(CREATE_FIELDS) == 15
    assert TEMPLATE_FIELDS == ["variables", "character_variables", "webhook_url"]
    assert CHARACTER_FIELDS == ["name", "description", "images"]


# --- every documented field has a typed attribute -------------------------------------------


@pytest.mark.parametrize(
    ("cls", "table", "key"),
    [
        *[(PrismVideoRequest, CREATE_ATTRIBUTES, key) for key in CREATE_FIELDS],
        *[(TemplateRequest, TEMPLATE_ATTRIBUTES, key) for key in TEMPLATE_FIELDS],
        *[(CharacterRequest, CHARACTER_ATTRIBUTES, key) for key in CHARACTER_FIELDS],
    ],
)
def test_every_documented_field_has_a_typed_attribute(
    cls: type, table: dict[str, str], key: str
) -> None:
    assert table[key] in attrs.fields_dict(cls)


# --- every field reaches the emulator in its documented form --------------------------------


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    async with serve(clock, PrismEmulator(clock=clock, run_seconds=2)) as env:
        yield env


async def _received(env: Env, request: object) -> list[dict[str, Any]]:
    async with env.client() as client:
        handles = await client.submit(request)
    return [dict(env.prism.generations[h.id].job.request) for h in handles]


@pytest.mark.parametrize(
    ("attribute", "value", "key", "wire"),
    [
        ("aspect_ratio", "21:9", "aspectRatio", "21:9"),
        ("duration", 8, "duration", "8s"),  # "5s, 8s, or 10s": a string with an s
        ("duration", "10s", "duration", "10s"),
        ("resolution", "1080p", "resolution", "1080p"),
        ("has_audio", True, "hasAudio", True),
        ("has_audio", False, "hasAudio", False),
        ("template_id", "featured-ugc-pitch", "templateId", "featured-ugc-pitch"),
    ],
)
async def test_each_plain_create_field_arrives_as_documented(
    env: Env, attribute: str, value: Any, key: str, wire: Any
) -> None:
    (received,) = await _received(env, attrs.evolve(BASE, **{attribute: value}))
    assert received == {**BASE_WIRE, key: wire}


async def test_count_queues_that_many_generations_from_one_documented_body(env: Env) -> None:
    received = await _received(env, attrs.evolve(BASE, count=3))
    assert received == [{**BASE_WIRE, "count": 3}] * 3  # the same body for each job


@pytest.mark.parametrize(
    ("attribute", "key", "data", "content_type", "many"),
    [
        ("start_frame", "startFrameKey", PNG, "image/png", False),
        ("end_frame", "endFrameKey", PNG, "image/png", False),
        ("ingredient_images", "ingredientImageKeys", PNG, "image/png", True),
        ("character_reference_images", "characterReferenceImageKeys", PNG, "image/png", True),
        ("source_video", "sourceVideoKey", MP4, "video/mp4", False),
        ("reference_videos", "referenceVideoKeys", MP4, "video/mp4", True),
        ("audio", "audioKey", MP3, "audio/mpeg", False),
    ],
)
async def test_each_media_field_is_uploaded_then_sent_as_its_documented_key(
    env: Env, attribute: str, key: str, data: bytes, content_type: str, many: bool
) -> None:
    media = Media.from_bytes(data, content_type, name="file")
    value: Any = (media,) if many else media
    (received,) = await _received(env, attrs.evolve(BASE, **{attribute: value}))
    assert set(received) == {*BASE_WIRE, key}
    (s3_key,) = received[key] if many else [received[key]]
    assert env.prism.uploads[s3_key] == data  # PUT to the presigned URL
    assert env.prism.media.types[s3_key] == content_type  # presigned with its contentType


async def test_a_storage_key_is_sent_as_it_is_without_uploading(env: Env) -> None:
    (first,) = await _received(
        env, attrs.evolve(BASE, start_frame=Media.from_bytes(PNG, "image/png"))
    )
    key = first["startFrameKey"]
    uploads = env.prism.counts.by_route["upload_put"]
    (received,) = await _received(
        env,
        attrs.evolve(BASE, end_frame=Media.from_key(key), ingredient_images=(Media.from_key(key),)),
    )
    assert received == {**BASE_WIRE, "endFrameKey": key, "ingredientImageKeys": [key]}
    assert env.prism.counts.by_route["upload_put"] == uploads


async def test_template_fields_arrive_as_documented(env: Env) -> None:
    request = TemplateRequest(
        template_id="featured-character-story",
        variables={
            "scene": "A chef tastes soup",
            "product_image": Media.from_url("https://img.test/p.png"),
        },
        character_variables={"person_image": AVA},
        webhook_url="https://hooks.test/prism",
    )
    (received,) = await _received(env, request)
    assert received["variables"] == {
        "scene": "A chef tastes soup",
        "product_image": "https://img.test/p.png",
        "person_image": f"character:{AVA}",  # character_variables wins for its key
    }
    (generation,) = env.prism.generations.values()
    assert generation.webhook_url == "https://hooks.test/prism"


async def test_a_template_data_uri_variable_arrives_as_an_image(env: Env) -> None:
    media = Media.from_data_uri("data:image/png;base64," + base64.b64encode(PNG).decode())
    request = TemplateRequest(
        template_id="featured-ugc-pitch", variables={"product": "Kettle", "product_image": media}
    )
    (received,) = await _received(env, request)
    assert env.prism.uploads[received["variables"]["product_image"]] == PNG


async def test_character_fields_arrive_as_documented(env: Env) -> None:
    provider = env.provider()
    images = (Media.from_url("https://img.test/a.jpg"), Media.from_url("https://img.test/b.jpg"))
    async with env.client(provider) as client:
        made = await client.run(
            provider.create_character_flow(
                CharacterRequest(name="Presenter", description="warm", images=images)
            )
        )
    stored = env.prism.characters[made.id]
    assert (stored.name, stored.description, stored.image_count) == ("Presenter", "warm", 2)


# --- every documented set and range is refused locally, naming the field --------------------


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (attrs.evolve(BASE, aspect_ratio="5:4"), "aspect_ratio"),
        (attrs.evolve(BASE, count=0), "count"),
        (attrs.evolve(BASE, count=5), "count"),
        (attrs.evolve(BASE, duration=11), "duration"),
        (attrs.evolve(BASE, duration="8"), "duration"),
        (attrs.evolve(BASE, start_frame=Media.from_url("https://img.test/a.png")), "start_frame"),
        (TemplateRequest(template_id="featured-ugc-pitch", variables={"product": "x"},
                         webhook_url="ftp://hooks.test"), "webhook_url"),
    ],
)  # fmt: skip
async def test_out_of_range_is_refused_before_any_request(
    env: Env, request_: object, field: str
) -> None:
    async with env.client() as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.submit(request_)
    assert caught.value.field == field
    assert env.prism.counts.total == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 61}, "name"),
        ({"description": "x" * 301}, "description"),
        ({"images": ()}, "images"),
        ({"images": tuple(Media.from_url(f"https://img.test/{n}.jpg") for n in range(11))},
         "images"),
        ({"images": (Media.from_bytes(PNG, "image/png"),)}, "images[0]"),
        ({"images": (Media.from_key("users/u/k.png"),)}, "images[0]"),
    ],
)  # fmt: skip
async def test_character_limits_are_refused_before_any_request(
    env: Env, change: dict[str, Any], field: str
) -> None:
    provider = env.provider()
    request = CharacterRequest(name="Presenter", images=(Media.from_url("https://img.test/a.jpg"),))
    async with env.client(provider) as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.run(provider.create_character_flow(attrs.evolve(request, **change)))
    assert caught.value.field == field
    assert env.prism.counts.total == 0


PROVIDER = PrismProvider(api_key="prism_sk_test", base_url="https://prism.test")


def _refused(request: PrismVideoRequest) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        next(PROVIDER.submit_flow(request, idempotency_key="k"))  # refused before any step
    return caught.value


@given(st.text(max_size=8).filter(lambda ratio: ratio not in ASPECT_RATIOS))
def test_any_aspect_ratio_outside_the_documented_seven_is_refused(ratio: str) -> None:
    assert _refused(attrs.evolve(BASE, aspect_ratio=ratio)).field == "aspect_ratio"


@given(st.integers().filter(lambda n: not 1 <= n <= 4))
def test_any_count_outside_1_to_4_is_refused(count: int) -> None:
    assert _refused(attrs.evolve(BASE, count=count)).field == "count"


# --- the emulator refuses what the documents refuse -----------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/api/generations", {**BASE_WIRE, "aspectRatio": "5:4"}, "aspectRatio"),
        ("/api/generations", {**BASE_WIRE, "count": 5}, "count"),
        ("/api/generations", {**BASE_WIRE, "duration": 8}, "duration"),
        ("/api/generations", {**BASE_WIRE, "hasAudio": "yes"}, "hasAudio"),
        ("/api/generations", {**BASE_WIRE, "ingredientImageKeys": "k"}, "ingredientImageKeys"),
        ("/api/generations", {"modelName": "veo-3.1", "count": 1}, "prompt"),
        ("/api/characters", {"name": "x" * 61, "images": ["https://img.test/a.jpg"]}, "name"),
        ("/api/characters", {"name": "x", "description": "d" * 301,
                             "images": ["https://img.test/a.jpg"]}, "description"),
        ("/api/characters", {"name": "x", "images": []}, "images"),
        ("/api/characters", {"name": "x", "images": ["data:image/png;base64,AA=="]}, "images"),
        ("/api/templates/featured-ugc-pitch/generate",
         {"variables": {"product": "x", "product_image": "https://img.test/p.png"},
          "webhook_url": "ftp://h"}, "webhook_url"),
        ("/api/templates/featured-ugc-pitch/generate", {"variables": {}}, "product"),
        ("/api/s3/presign-upload", {"kind": "other", "contentType": "image/png"}, "kind"),
        ("/api/s3/presign-upload", {"kind": "upload", "contentType": "text/plain"},
         "contentType"),
        ("/api/s3/presign-upload", {"kind": "upload", "contentType": "image/png",
                                    "fileName": 3}, "fileName"),
    ],
)  # fmt: skip
async def test_the_emulator_answers_400_naming_a_field_outside_its_documents(
    env: Env, path: str, body: dict[str, Any], named: str
) -> None:
    root = env.server.base_url("prism").rstrip("/").removesuffix("/api")
    headers = {"Authorization": f"Bearer {env.prism.api_key}"}
    async with env.http.post(root + path, json=body, headers=headers) as response:
        text = await response.text()
    assert response.status == 400, text
    assert named in text
    assert not env.prism.generations
