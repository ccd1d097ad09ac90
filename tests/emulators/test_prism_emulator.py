"""The Prism Videos emulator, driven over loopback with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from prism_async.testing._clock import VirtualClock
from prism_async.testing._faults import Fault, FaultKind
from prism_async.testing._jobs import FAKE_MP4
from prism_async.testing.prism import PrismEmulator
from tests.conftest import Env, serve

pytestmark = pytest.mark.anyio

KEY = "prism_sk_emulator"
OTHER = "prism_sk_other"
AUTH = {"Authorization": f"Bearer {KEY}"}
PUBLIC_CHARACTER = "5d0c4c2e-1f0a-4b8e-9a51-0c7e5f1a0001"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


async def call(
    env: Env, method: str, path: str, *, key: str | None = KEY, **kwargs: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = env.server.base_url("prism") + path
    async with env.http.request(method, url, headers=headers, **kwargs) as r:
        assert r.headers.get("X-Request-ID")
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, body


async def create(env: Env, **fields: Any) -> tuple[int, Any]:
    return await call(
        env, "POST", "/generations", json={"prompt": "a cat", "modelName": "veo-3.1", **fields}
    )


async def get_generation(env: Env, gen_id: str, key: str = KEY) -> dict[str, Any]:
    status, body = await call(env, "GET", f"/generations/{gen_id}", key=key)
    assert status == 200, body
    return dict(body)


async def upload(env: Env, data: bytes, content_type: str = "image/png") -> str:
    status, presigned = await call(
        env,
        "POST",
        "/s3/presign-upload",
        json={"kind": "upload", "contentType": content_type, "fileName": "a.png"},
    )
    assert status == 200, presigned
    async with env.http.put(
        presigned["upload_url"], data=data, headers={"Content-Type": content_type}
    ) as put:
        assert put.status == 200, await put.text()
    return str(presigned["s3_key"])


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[Env]:
    clock = VirtualClock()
    options.setdefault("credits", 1000)  # these tests count down from 1,000 credits
    async with serve(clock, PrismEmulator(clock=clock, **options)) as env:
        yield env


async def eventually(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    """Waits (in real time, a few checker ticks) until ``condition`` holds."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


def sent_variables(env: Env, answer: dict[str, Any]) -> dict[str, str]:
    """The variables the emulator resolved for a template generate answer."""
    job = env.prism.generations[answer["generations"][0]["generation_id"]].job
    variables = job.request["variables"]
    assert isinstance(variables, dict)
    return variables


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


# -- auth and errors -------------------------------------------------------------------


async def test_missing_wrong_or_unknown_keys_answer_401_with_the_documented_body() -> None:
    async with running() as env:
        expected = {"error": "unauthorized", "message": "Invalid or missing API key"}
        for key in (None, "sk_emulator", "prism_sk_revoked"):
            assert await call(env, "GET", "/templates", key=key) == (401, expected)
        assert env.prism.counts.by_status[401] == 3


async def test_a_key_without_the_scope_answers_403_forbidden() -> None:
    async with running() as env:
        status, body = await call(env, "GET", "/templates", key="prism_sk_noscope")
        assert (status, body["error"]) == (403, "forbidden")


async def test_paused_free_tier_answers_503_to_every_authenticated_request() -> None:
    async with running() as env:
        env.prism.paused = True
        status, body = await create(env)
        assert (status, body["error"]) == (503, "free_tier_paused")
        assert (await call(env, "GET", "/templates", key=None))[0] == 401


async def test_injected_faults_answer_with_the_error_envelope() -> None:
    async with running() as env:
        env.prism.error_codes[500] = "generation_error"
        env.prism.faults.inject("create", Fault(kind=FaultKind.STATUS, status=500))
        status, body = await create(env)
        assert (status, body["error"]) == (500, "generation_error")
        assert env.prism.creates == 0
        assert (await create(env))[0] == 200
        assert env.prism.counts.by_route["create"] == 2


async def test_an_unknown_path_answers_404_not_found() -> None:
    async with running() as env:
        status, body = await call(env, "GET", "/nothing/here")
        assert (status, body["error"]) == (404, "not_found")


# -- uploads ---------------------------------------------------------------------------


async def test_presigned_upload_then_create_with_the_returned_key() -> None:
    async with running() as env:
        status, presigned = await call(
            env, "POST", "/s3/presign-upload", json={"kind": "upload", "contentType": "image/png"}
        )
        assert status == 200
        assert presigned["content_type"] == "image/png"
        assert presigned["max_bytes"] == 20 * 1024 * 1024
        assert presigned["upload_url"].startswith(
            env.server.base_url("prism").removesuffix("/prism/api")
        )
        for expected in (200, 403):  # single use
            async with env.http.put(
                presigned["upload_url"], data=PNG, headers={"Content-Type": "image/png"}
            ) as put:
                assert put.status == expected
        assert env.prism.uploads[presigned["s3_key"]] == PNG

        status, created = await create(env, startFrameKey=presigned["s3_key"])
        assert status == 200, created
        assert created["data"]["variant"] == "image-to-video"
        status, body = await create(env, startFrameKey="users/someone/else.png")
        assert status == 400
        assert body["error"] == "validation_error"
        assert "startFrameKey" in body["message"]


async def test_upload_put_refuses_another_content_type_and_oversized_bodies() -> None:
    async with running(max_upload_bytes=1000) as env:
        for data, headers, expected in [
            (PNG, {"Content-Type": "image/jpeg"}, (403, b"SignatureDoesNotMatch")),
            (bytes(1001), {"Content-Type": "image/png"}, (400, b"EntityTooLarge")),
            (PNG, {"Content-Type": "image/png", **AUTH}, (400, b"InvalidArgument")),
        ]:
            _, presigned = await call(
                env,
                "POST",
                "/s3/presign-upload",
                json={"kind": "upload", "contentType": "image/png"},
            )
            async with env.http.put(presigned["upload_url"], data=data, headers=headers) as put:
                assert put.status == expected[0]
                assert expected[1] in await put.read()
        assert env.prism.uploads == {}


async def test_a_key_of_the_wrong_media_kind_is_refused() -> None:
    async with running() as env:
        audio = await upload(env, b"ID3", "audio/mpeg")
        status, body = await create(env, startFrameKey=audio)
        assert status == 400
        assert "startFrameKey" in body["message"]
        assert (await create(env, audioKey=audio))[0] == 200


# -- generations -----------------------------------------------------------------------


async def test_count_3_queues_three_generations_and_charges_for_each() -> None:
    async with running() as env:
        status, created = await create(env, count=3, aspectRatio="9:16", duration="8s")
        assert status == 200
        generations = created["data"]["generations"]
        assert len({g["id"] for g in generations}) == 3
        assert created["data"]["metadata"]["credits_charged"] == 150
        assert created["data"]["metadata"]["num_generations"] == 3
        assert env.prism.creates == 3
        assert env.prism.credits == 850


async def test_the_template_analogue_create_response_is_available() -> None:
    async with running(create_response="template_analogue") as env:
        status, created = await create(env, count=2)
        assert status == 200
        assert [g["status"] for g in created["generations"]] == ["generating"] * 2
        assert created["credits_charged"] == 100
        assert created["latency_estimate_sec"] == {"typical": 120, "busy": 240}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"prompt": None}, "prompt"),
        ({"modelName": ""}, "modelName"),
        ({"aspectRatio": "2:1"}, "aspectRatio"),
        ({"duration": "8"}, "duration"),
        ({"duration": 8}, "duration"),
        ({"count": 5}, "count"),
        ({"count": 0}, "count"),
        ({"hasAudio": "yes"}, "hasAudio"),
        ({"aspect_ratio": "16:9"}, "aspect_ratio"),
        ({"ingredientImageKeys": "one-key"}, "ingredientImageKeys"),
        ({"templateId": "no-such-template"}, "templateId"),
    ],
)
async def test_create_refuses_invalid_fields_naming_them(
    fields: dict[str, Any], named: str
) -> None:
    async with running() as env:
        status, body = await create(env, **fields)
        assert (status, body["error"]) == (400, "validation_error")
        assert named in body["message"]
        assert env.prism.creates == 0


async def test_an_unpriced_model_answers_pricing_error() -> None:
    async with running() as env:
        status, body = await create(env, modelName="unpriced-model")
        assert (status, body["error"]) == (400, "pricing_error")


async def test_insufficient_credits_answers_402_and_creates_nothing() -> None:
    async with running(credits=100) as env:
        status, body = await create(env, count=3)
        assert (status, body["error"]) == (402, "insufficient_credits")
        assert env.prism.creates == 0
        assert env.prism.credits == 100
        assert (await create(env, count=2))[0] == 200
        assert (await create(env))[0] == 402


async def test_a_generation_runs_to_completed_with_a_downloadable_video() -> None:
    async with running() as env:
        _, created = await create(env, templateId="featured-ugc-pitch")
        gen_id = created["data"]["generations"][0]["id"]
        running_ = await get_generation(env, gen_id)
        assert running_["status"] == "generating"
        assert running_["template_id"] == "featured-ugc-pitch"
        assert running_["video_url"] is running_["share_url"] is running_["completed_at"] is None
        assert ISO_MS.match(running_["created_at"])

        env.clock.advance(30)
        done = await get_generation(env, gen_id)
        assert done["status"] == "completed"
        assert done["error"] is None
        assert ISO_MS.match(done["completed_at"])
        assert done["share_url"]
        async with env.http.get(done["video_url"]) as video:
            assert video.status == 200
            assert video.content_type == "video/mp4"
            assert await video.read() == FAKE_MP4
        async with env.http.get(done["video_url"], headers=AUTH) as video:
            assert video.status == 400  # a presigned URL takes no Authorization header


async def test_failed_generations_report_their_error_and_refund_credits() -> None:
    async with running() as env:
        _, failed = await create(env, prompt="a cat [fail]")
        _, refused = await create(env, prompt="a cat [moderation]")
        assert env.prism.credits == 900
        env.clock.advance(31)
        failed_ = await get_generation(env, failed["data"]["generations"][0]["id"])
        refused_ = await get_generation(env, refused["data"]["generations"][0]["id"])
        assert (failed_["status"], failed_["error"]) == ("failed", "Generation timed out")
        assert refused_["error"] == "Content policy violation"
        assert failed_["video_url"] is failed_["completed_at"] is None
        assert env.prism.credits == 1000


async def test_slow_and_never_markers_stretch_the_lifecycle() -> None:
    async with running() as env:
        _, slow = await create(env, prompt="a cat [slow]")
        _, never = await create(env, prompt="a cat [never]")
        env.clock.advance(31)
        assert (await get_generation(env, slow["data"]["generations"][0]["id"]))["status"] == (
            "generating"
        )
        env.clock.advance(300)
        assert (await get_generation(env, slow["data"]["generations"][0]["id"]))["status"] == (
            "completed"
        )
        assert (await get_generation(env, never["data"]["generations"][0]["id"]))["status"] == (
            "generating"
        )


async def test_an_expired_video_url_answers_403_and_a_fresh_get_issues_a_new_one() -> None:
    async with running(run_seconds=10, video_url_ttl=3600) as env:
        _, created = await create(env)
        gen_id = created["data"]["generations"][0]["id"]
        env.clock.advance(10)
        old_url = (await get_generation(env, gen_id))["video_url"]
        env.clock.advance(3601)
        async with env.http.get(old_url) as expired:
            assert expired.status == 403
            assert b"expired" in await expired.read()
        new_url = (await get_generation(env, gen_id))["video_url"]
        assert new_url != old_url
        async with env.http.get(new_url) as fresh:
            assert fresh.status == 200
        async with env.http.get(new_url.replace("sig=", "sig=0")) as forged:
            assert forged.status == 403


async def test_another_owners_or_an_unknown_generation_answers_404() -> None:
    async with running() as env:
        _, created = await create(env)
        gen_id = created["data"]["generations"][0]["id"]
        for key, path in [(OTHER, gen_id), (KEY, "gen_unknown")]:
            status, body = await call(env, "GET", f"/generations/{path}", key=key)
            assert (status, body["error"]) == (404, "not_found")


async def test_unknown_status_replaces_generating_when_asked() -> None:
    async with running() as env:
        env.prism.unknown_status = "queued"
        _, created = await create(env)
        assert (await get_generation(env, created["data"]["generations"][0]["id"]))["status"] == (
            "queued"
        )


# -- templates -------------------------------------------------------------------------


async def test_templates_list_paginates_and_searches() -> None:
    async with running() as env:
        status, first = await call(env, "GET", "/templates", params={"limit": "5"})
        assert status == 200
        assert len(first["data"]) == 5
        assert first["pagination"] == {"offset": 0, "limit": 5, "has_more": True}
        _, last = await call(env, "GET", "/templates", params={"limit": "5", "offset": "10"})
        assert len(last["data"]) == 1
        assert last["pagination"]["has_more"] is False
        _, found = await call(env, "GET", "/templates", params={"q": "PITCH"})
        assert [t["id"] for t in found["data"]] == ["featured-ugc-pitch"]
        pitch = found["data"][0]
        assert {"kind", "model_name", "input_variables", "prompt_template", "category"} <= set(
            pitch
        )
        _, stock = await call(env, "GET", "/templates", params={"category": "stock"})
        assert len(stock["data"]) == 6
        for params in ({"q": "p"}, {"limit": "101"}, {"offset": "-1"}, {"limit": "x"}):
            status, body = await call(env, "GET", "/templates", params=params)
            assert (status, body["error"]) == (400, "validation_error")


async def test_get_template_wraps_it_in_data_or_answers_404() -> None:
    async with running() as env:
        status, body = await call(env, "GET", "/templates/featured-ugc-pitch")
        assert status == 200
        variables = {v["key"]: v for v in body["data"]["input_variables"]}
        assert variables["tone"]["default_value"] == "upbeat"
        assert variables["product_image"] == {
            "key": "product_image",
            "label": "Product image",
            "type": "image",
            "required": True,
        }
        status, body = await call(env, "GET", "/templates/nope")
        assert (status, body) == (404, {"error": "not_found", "message": "Template not found"})


async def test_template_generate_refuses_a_missing_required_variable() -> None:
    async with running() as env:
        status, body = await call(
            env,
            "POST",
            "/templates/featured-ugc-pitch/generate",
            json={"variables": {"product_image": "https://example.com/p.png"}},
        )
        assert (status, body["error"]) == (400, "validation_error")
        assert "product" in body["message"]
        assert env.prism.creates == 0


async def test_template_generate_fills_defaults_and_answers_as_documented() -> None:
    async with running() as env:
        key = await upload(env, PNG)
        status, body = await call(
            env,
            "POST",
            "/templates/featured-ugc-pitch/generate",
            json={"variables": {"product": "Fizz Cola", "product_image": key}},
        )
        assert status == 200, body
        assert body["template_id"] == "featured-ugc-pitch"
        assert body["credits_charged"] == 50
        assert body["latency_estimate_sec"] == {"typical": 120, "busy": 240}
        (generation,) = body["generations"]
        assert generation["status"] == "generating"
        job = env.prism.generations[generation["generation_id"]]
        assert job.prompt.endswith("pitching Fizz Cola in an upbeat tone.")
        assert job.job.request["variables"] == {
            "product": "Fizz Cola",
            "tone": "upbeat",
            "product_image": key,
        }


async def test_a_broken_template_answers_422_invalid_template() -> None:
    async with running() as env:
        status, body = await call(
            env, "POST", "/templates/broken-template/generate", json={"variables": {}}
        )
        assert (status, body["error"]) == (422, "invalid_template")


async def test_a_character_variable_takes_precedence_over_the_variable() -> None:
    async with running() as env:
        path = "/templates/featured-character-story/generate"
        status, body = await call(
            env,
            "POST",
            path,
            json={
                "variables": {"scene": "At the beach", "person_image": "https://x.test/a.png"},
                "character_variables": {"person_image": PUBLIC_CHARACTER},
            },
        )
        assert status == 200, body
        assert sent_variables(env, body)["person_image"] == f"character:{PUBLIC_CHARACTER}"

        # Another owner's private character, and a template that takes no characters.
        _, made = await call(
            env,
            "POST",
            "/characters",
            key=OTHER,
            json={"name": "Theirs", "images": ["https://x.test/a.png"]},
        )
        status, body = await call(
            env,
            "POST",
            path,
            json={
                "variables": {"scene": "At the beach"},
                "character_variables": {"person_image": made["data"]["id"]},
            },
        )
        assert (status, body["error"]) == (400, "validation_error")
        status, body = await call(
            env,
            "POST",
            "/templates/featured-ugc-pitch/generate",
            json={
                "variables": {"product": "Fizz", "product_image": "https://x.test/a.png"},
                "character_variables": {"product_image": PUBLIC_CHARACTER},
            },
        )
        assert (status, body["error"]) == (400, "validation_error")


async def test_template_generate_takes_multipart_files_and_data_uris() -> None:
    async with running() as env:
        form = aiohttp.FormData()
        form.add_field("variables", '{"product": "Fizz"}')
        form.add_field("variables[product_image]", PNG, filename="p.png", content_type="image/png")
        status, body = await call(env, "POST", "/templates/featured-ugc-pitch/generate", data=form)
        assert status == 200, body
        assert env.prism.uploads[sent_variables(env, body)["product_image"]] == PNG

        data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
        variables = {"product": "Fizz", "product_image": data_uri}
        status, body = await call(
            env, "POST", "/templates/featured-ugc-pitch/generate", json={"variables": variables}
        )
        assert status == 200, body
        variables["product_image"] = "data:image/png;base64,@@@"
        status, body = await call(
            env, "POST", "/templates/featured-ugc-pitch/generate", json={"variables": variables}
        )
        assert (status, body["error"]) == (400, "validation_error")
        assert "product_image" in body["message"]


async def test_the_webhook_is_posted_once_with_the_generation_object() -> None:
    async with running() as env, webhook_receiver() as (url, received):
        status, body = await call(
            env,
            "POST",
            "/templates/featured-stock-01/generate",
            json={"variables": {}, "webhook_url": url},
        )
        assert status == 200, body
        gen_id = body["generations"][0]["generation_id"]
        env.clock.advance(30)
        await eventually(lambda: len(received) == 1)
        assert received[0]["id"] == gen_id
        assert received[0]["status"] == "completed"
        assert received[0]["template_id"] == "featured-stock-01"
        assert received[0]["video_url"]
        await asyncio.sleep(0.15)  # a few more checker ticks
        assert len(received) == 1
        assert env.prism.webhooks_sent == [(url, received[0])]


async def test_webhooks_can_be_duplicated_or_dropped() -> None:
    async with running() as env, webhook_receiver() as (url, received):
        env.prism.duplicate_webhooks = True
        for prompt_var in ("one", "two"):
            status, _ = await call(
                env,
                "POST",
                "/templates/featured-stock-01/generate",
                json={"variables": {"subject": prompt_var}, "webhook_url": url},
            )
            assert status == 200
            env.clock.advance(30)
            await eventually(lambda: len(received) == 2)
            env.prism.duplicate_webhooks = False
            env.prism.drop_webhooks = True
        await asyncio.sleep(0.15)
        assert len(received) == 2
        assert received[0] == received[1]


# -- characters and assets -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"name": "x" * 61, "images": ["https://x.test/a.png"]}, "name"),
        ({"name": "", "images": ["https://x.test/a.png"]}, "name"),
        ({"name": "Ann", "images": ["https://x.test/a.png"] * 11}, "images"),
        ({"name": "Ann", "images": []}, "images"),
        ({"name": "Ann", "images": ["data:image/png;base64,AAAA"]}, "data URI"),
        ({"name": "Ann", "images": ["users/u/user-uploads/b/f.png"]}, "S3 keys"),
        ({"name": "Ann", "description": "d" * 301, "images": ["https://x.test/a"]}, "description"),
    ],
)
async def test_create_character_refuses_what_the_documents_refuse(
    body: dict[str, Any], named: str
) -> None:
    async with running() as env:
        status, answer = await call(env, "POST", "/characters", json=body)
        assert (status, answer["error"]) == (400, "validation_error")
        assert named in answer["message"]


async def test_created_characters_are_private_to_their_owner() -> None:
    async with running() as env:
        status, made = await call(
            env,
            "POST",
            "/characters",
            json={"name": "Spokes Person", "images": ["https://x.test/a.png"]},
        )
        assert status == 201
        assert set(made["data"]) == {"id", "name", "description", "created_at"}
        assert isinstance(made["data"]["created_at"], int)
        form = aiohttp.FormData()
        form.add_field("name", "From Files")
        for n in range(2):
            form.add_field("images[]", PNG, filename=f"{n}.png", content_type="image/png")
        assert (await call(env, "POST", "/characters", data=form))[0] == 201

        _, mine = await call(env, "GET", "/characters")
        _, theirs = await call(env, "GET", "/characters", key=OTHER)
        assert len(mine["data"]) == 5
        assert len(theirs["data"]) == 3
        assert mine["pagination"] == {"offset": 0, "limit": 24, "has_more": False}
        _, found = await call(env, "GET", "/characters", params={"q": "spokes"})
        assert [c["name"] for c in found["data"]] == ["Spokes Person"]
        status, body = await call(env, "GET", "/characters", params={"q": "s"})
        assert (status, body["error"]) == (400, "validation_error")


async def test_asset_search_finds_community_and_history_assets_usable_as_keys() -> None:
    async with running() as env:
        status, body = await call(env, "GET", "/assets/search")
        assert (status, body["error"]) == (400, "validation_error")
        _, found = await call(env, "GET", "/assets/search", params={"q": "sneaker"})
        (sneaker,) = found["data"]
        assert sneaker["source"] == "community"
        assert sneaker["asset_type"] == "image"
        assert isinstance(sneaker["published_at"], int)
        assert (await create(env, startFrameKey=sneaker["asset_s3_key"]))[0] == 200

        _, created = await create(env, prompt="a purple sneaker ad")
        env.clock.advance(30)
        _, history = await call(
            env, "GET", "/assets/search", params={"q": "purple", "source": "history"}
        )
        (video,) = history["data"]
        assert video["id"] == created["data"]["generations"][0]["id"]
        assert video["asset_type"] == "video"
        assert (await create(env, sourceVideoKey=video["asset_s3_key"]))[0] == 200
        _, videos = await call(
            env, "GET", "/assets/search", params={"q": "sneaker", "type": "video"}
        )
        assert [a["source"] for a in videos["data"]] == ["history"]
