"""The real Client against the real Prism emulator over loopback, in virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from prism_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    Client,
    CostUnit,
    EngineConfig,
    FailureKind,
    GenerationFailed,
    InsufficientCreditsError,
    JobStatus,
    Media,
    NotFoundError,
    PermissionDeniedError,
    PollPolicy,
    RequestValidationError,
    ServerError,
    ServiceUnavailableError,
    UnprocessableError,
    VideoRequest,
)
from prism_async._http import Flow
from prism_async.providers.prism import (
    CharacterRequest,
    PrismProvider,
    PrismVideoRequest,
    Template,
    TemplateRequest,
)
from prism_async.testing import FAKE_MP4, Fault, FaultKind, VirtualClock
from prism_async.testing.prism import PrismEmulator
from tests.conftest import Env, serve

pytestmark = pytest.mark.anyio

T2V = VideoRequest(model="veo-3.1", prompt="A lighthouse in fog", duration=8, aspect_ratio="9:16")
AVA = "5d0c4c2e-1f0a-4b8e-9a51-0c7e5f1a0001"  # a public character of the emulator
PNG = b"\x89PNG\r\n\x1a\n" + bytes(500)


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    async with serve(clock, PrismEmulator(clock=clock, run_seconds=45)) as env:
        yield env


def received(env: Env, gen_id: str) -> dict[str, Any]:
    """What the emulator received for a generation."""
    return env.prism.generations[gen_id].job.request


def png_file(tmp_path: Path, name: str = "frame.png") -> Path:
    path = tmp_path / name
    path.write_bytes(PNG)
    return path


# -- generations ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["documented", "template_analogue"])
async def test_text_to_video_completes_with_its_cost_in_credits(env: Env, shape: Any) -> None:
    env.prism.create_response = shape
    async with env.client() as client:
        result = await client.generate(T2V)
    assert result.status is JobStatus.SUCCEEDED
    assert result.cost is not None
    assert (result.cost.amount, result.cost.unit) == (Decimal(50), CostUnit.CREDITS)
    (output,) = result.outputs
    assert output.expires_at is not None and output.expires_at > env.clock.now()
    assert result.raw["share_url"].startswith("http")
    assert result.created_at is not None and result.completed_at is not None
    sent = received(env, result.id)
    assert (sent["duration"], sent["aspectRatio"], sent["modelName"]) == ("8s", "9:16", "veo-3.1")


async def test_image_to_video_from_a_local_file_uploads_then_sends_the_key(
    env: Env, tmp_path: Path
) -> None:
    request = VideoRequest(
        model="veo-3.1", prompt="wake up", image=Media.from_path(png_file(tmp_path))
    )
    async with env.client() as client:
        result = await client.generate(request)
    key = received(env, result.id)["startFrameKey"]
    assert env.prism.uploads[key] == PNG
    assert env.prism.counts.by_route["presign"] == 1
    assert env.prism.counts.by_route["upload_put"] == 1


async def test_image_to_video_from_a_storage_key_sends_it_without_uploading(env: Env) -> None:
    provider = env.provider()
    async with env.client(provider) as client:
        page = await client.run(provider.assets_flow("sneaker", asset_type="image"))
        request = VideoRequest(model="veo-3.1", prompt="spin it", image=page.items[0].media)
        result = await client.generate(request)
    assert received(env, result.id)["startFrameKey"] == "community/posts/post_001/sneaker.png"
    assert env.prism.counts.by_route["presign"] == 0


async def test_every_reference_field_reaches_the_api_as_keys(env: Env, tmp_path: Path) -> None:
    clip, voice = tmp_path / "clip.mp4", tmp_path / "voice.mp3"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    voice.write_bytes(b"ID3" + bytes(100))
    request = PrismVideoRequest(
        model="veo-3.1",
        prompt="edit",
        start_frame=Media.from_path(png_file(tmp_path)),
        end_frame=Media.from_bytes(PNG, "image/png"),
        ingredient_images=(Media.from_key("community/posts/post_003/portrait.png"),),
        character_reference_images=(Media.from_path(png_file(tmp_path)),),
        source_video=Media.from_path(clip),
        reference_videos=(Media.from_key("community/posts/post_004/city.mp4"),),
        audio=Media.from_path(voice),
        has_audio=True,
        resolution="720p",
        template_id="featured-ugc-pitch",
    )
    async with env.client() as client:
        (handle,) = await client.submit(request)
    sent = received(env, handle.id)
    assert sent["startFrameKey"] == sent["characterReferenceImageKeys"][0]  # one upload, reused
    assert env.prism.uploads[sent["sourceVideoKey"]] == clip.read_bytes()
    assert env.prism.uploads[sent["audioKey"]] == voice.read_bytes()
    assert env.prism.counts.by_route["upload_put"] == 4


async def test_count_3_gives_three_jobs_that_each_complete(env: Env) -> None:
    async with env.client() as client:
        handles = await client.submit(attrs.evolve(T2V, count=3))
        outcomes = [o async for o in client.as_completed(handles)]
    assert len(handles) == 3 and env.prism.creates == 3
    assert all(o.ok for o in outcomes)
    assert {o.result.cost.amount for o in outcomes if o.result and o.result.cost} == {Decimal(50)}


async def test_a_failed_generation_raises_with_its_error(env: Env) -> None:
    async with env.client() as client:
        with pytest.raises(GenerationFailed) as caught:
            await client.generate(VideoRequest(model="veo-3.1", prompt="storm [fail]"))
    failure = caught.value.result.failure
    assert failure is not None and failure.kind is FailureKind.ERROR
    assert failure.message == "Generation timed out" and failure.retryable


async def test_a_moderation_failure_is_told_apart(env: Env) -> None:
    async with env.client() as client:
        (handle,) = await client.submit(VideoRequest(model="veo-3.1", prompt="x [moderation]"))
        result = await client.wait(handle, raise_on_failure=False)
    assert result.failure is not None and result.failure.kind is FailureKind.MODERATION


async def test_an_unknown_status_keeps_the_job_running_until_it_ends(env: Env) -> None:
    env.prism.unknown_status = "rendering"
    async with env.client() as client:
        (handle,) = await client.submit(T2V)
        running = await client.get(handle)
        result = await client.wait(handle)
    assert (running.status, running.raw_status) == (JobStatus.RUNNING, "rendering")
    assert result.status is JobStatus.SUCCEEDED


async def test_a_402_mid_batch_leaves_the_other_jobs_running_to_the_end(env: Env) -> None:
    env.prism.credits = 100  # two videos' worth
    async with env.client() as client:
        first = await client.submit(T2V)
        second = await client.submit(T2V)
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.submit(T2V)
        outcomes = [o async for o in client.as_completed(first + second)]
    assert caught.value.code == "insufficient_credits"
    assert all(o.ok for o in outcomes) and len(outcomes) == 2
    assert env.prism.creates == 2


async def test_an_expired_video_url_is_fetched_afresh_before_downloading(
    env: Env, tmp_path: Path
) -> None:
    async with env.client() as client:
        result = await client.generate(T2V)
        env.clock.advance(2 * 3600)
        polls = env.prism.counts.by_route["generation"]
        (path,) = await client.download(result, tmp_path)
    assert path.read_bytes() == FAKE_MP4
    assert env.prism.counts.by_route["generation"] == polls + 1
    assert env.prism.counts.by_route["file"] == 1  # the stale URL was never tried


async def test_a_download_refused_403_is_retried_once_with_a_fresh_url(
    env: Env, tmp_path: Path
) -> None:
    async with env.client() as client:
        result = await client.generate(T2V)
        undated = attrs.evolve(result, outputs=(attrs.evolve(result.outputs[0], expires_at=None),))
        env.clock.advance(2 * 3600)
        (path,) = await client.download(undated, tmp_path)
    assert path.read_bytes() == FAKE_MP4
    assert env.prism.counts.by_route["file"] == 2
    assert env.prism.counts.by_status[403] == 1


# -- templates, characters, assets ---------------------------------------------------------


async def test_a_template_with_a_local_image_and_a_character_goes_as_multipart(
    env: Env, tmp_path: Path
) -> None:
    request = TemplateRequest(
        template_id="featured-character-story",
        variables={
            "scene": "A chef tastes soup",
            "product_image": Media.from_path(png_file(tmp_path)),
        },
        character_variables={"person_image": AVA},
        webhook_url="http://127.0.0.1:9/hook",
    )
    async with env.client() as client:
        (handle,) = await client.submit(request)
        result = await client.wait(handle)
    sent = received(env, result.id)["variables"]
    assert sent["person_image"] == f"character:{AVA}"
    assert env.prism.uploads[sent["product_image"]] == PNG
    assert env.prism.generations[result.id].webhook_url == "http://127.0.0.1:9/hook"
    assert handle.extra["typical"] == "120"


async def test_a_created_character_from_local_files_can_fill_a_template(
    env: Env, tmp_path: Path
) -> None:
    provider = env.provider()
    files = tuple(Media.from_path(png_file(tmp_path, f"{n}.png")) for n in range(3))
    async with env.client(provider) as client:
        character = await client.run(
            provider.create_character_flow(CharacterRequest(name="Chef Lu", images=files))
        )
        mine = await client.run(provider.characters_flow(q="chef lu"))
        (handle,) = await client.submit(
            TemplateRequest(
                template_id="featured-character-story",
                variables={"scene": "Lu cooks"},
                character_variables={"person_image": character.id},
            )
        )
    assert [c.id for c in mine.items] == [character.id]
    assert character.created_at is not None
    assert env.prism.characters[character.id].image_count == 3
    assert received(env, handle.id)["variables"]["person_image"] == f"character:{character.id}"


async def test_a_character_from_image_urls_is_created(env: Env) -> None:
    provider = env.provider()
    images = (
        Media.from_url("https://img.test/front.jpg"),
        Media.from_url("https://img.test/side.jpg"),
    )
    async with Client(provider, clock=env.clock) as client:
        character = await client.run(
            provider.create_character_flow(
                CharacterRequest(name="Presenter", description="warm", images=images)
            )
        )
    assert (character.name, character.description) == ("Presenter", "warm")


async def test_templates_are_listed_page_by_page(env: Env) -> None:
    provider = env.provider()
    seen: list[str] = []
    async with Client(provider, clock=env.clock) as client:
        offset, more = 0, True
        while more:
            page = await client.run(provider.templates_flow(limit=4, offset=offset))
            seen += [t.id for t in page.items]
            offset, more = page.next_offset, page.has_more
        found = await client.run(provider.templates_flow(q="restyle"))
        one = await client.run(provider.template_flow("featured-ugc-pitch"))
    assert len(seen) == len(set(seen)) == 11
    assert [t.id for t in found.items] == ["featured-video-restyle"]
    assert one.variable("product_image") is not None
    assert one.model_name == "veo-3.1"


async def test_assets_search_filters_by_type_and_source(env: Env) -> None:
    provider = env.provider()
    async with Client(provider, clock=env.clock) as client:
        videos = await client.run(
            provider.assets_flow("neon", asset_type="video", source="community")
        )
    assert [a.asset_s3_key for a in videos.items] == ["community/posts/post_004/city.mp4"]
    assert videos.items[0].published_at is not None


async def test_the_client_is_built_from_the_environment(env: Env) -> None:
    environ = {"PRISM_API_KEY": env.prism.api_key, "PRISM_BASE_URL": env.server.base_url("prism")}
    async with Client.from_env("prism", environ=environ, clock=env.clock) as client:
        result = await client.generate(T2V)
    assert result.status is JobStatus.SUCCEEDED


# -- errors --------------------------------------------------------------------------------


def _inject(route: str, status: int, code: str) -> Callable[[Env], None]:
    def setup(env: Env) -> None:
        env.prism.error_codes[status] = code
        env.prism.faults.inject(route, Fault(kind=FaultKind.STATUS, status=status))

    return setup


def _noop(env: Env) -> None:
    return None


def _set(**values: Any) -> Callable[[Env], None]:
    def setup(env: Env) -> None:
        for name, value in values.items():
            setattr(env.prism, name, value)

    return setup


T2V_FLOW: Callable[[PrismProvider], Flow[Any]] = lambda p: p.submit_flow(T2V, idempotency_key="k")  # noqa: E731


@pytest.mark.parametrize(
    ("setup", "key", "flow", "cls", "code"),
    [
        (
            _noop,
            None,
            lambda p: p.submit_flow(attrs.evolve(T2V, extra={"bogus": 1}), idempotency_key="k"),
            BadRequestError,
            "validation_error",
        ),
        (
            _noop,
            None,
            lambda p: p.submit_flow(attrs.evolve(T2V, model="no-such-model"), idempotency_key="k"),
            BadRequestError,
            "pricing_error",
        ),
        (_noop, "prism_sk_wrong", T2V_FLOW, AuthenticationError, "unauthorized"),
        (_set(credits=0), None, T2V_FLOW, InsufficientCreditsError, "insufficient_credits"),
        (_noop, "prism_sk_noscope", T2V_FLOW, PermissionDeniedError, "forbidden"),
        (_noop, None, lambda p: p.template_flow("no-such-template"), NotFoundError, "not_found"),
        (
            _noop,
            None,
            lambda p: p.submit_flow(
                TemplateRequest(template_id="broken-template"), idempotency_key="k"
            ),
            UnprocessableError,
            "invalid_template",
        ),
        (
            _inject("create", 500, "generation_error"),
            None,
            T2V_FLOW,
            ServerError,
            "generation_error",
        ),
        (
            _inject("characters_create", 500, "server_error"),
            None,
            lambda p: p.create_character_flow(
                CharacterRequest(name="Ava", images=(Media.from_url("https://i.test/a.png"),))
            ),
            ServerError,
            "server_error",
        ),
        (_set(paused=True), None, T2V_FLOW, ServiceUnavailableError, "free_tier_paused"),
    ],
)
async def test_every_documented_error_code_raises_its_exception(
    env: Env,
    setup: Callable[[Env], None],
    key: str | None,
    flow: Callable[[PrismProvider], Flow[Any]],
    cls: type[APIStatusError],
    code: str,
) -> None:
    setup(env)
    provider = env.provider(api_key=key)
    async with env.client(provider) as client:
        with pytest.raises(cls) as caught:
            await client.run(flow(provider))
    assert caught.value.code == code
    assert caught.value.provider == "prism"
    assert caught.value.request_id
    assert env.prism.creates == 0


async def test_an_unknown_generation_is_not_found_naming_the_job(env: Env) -> None:
    async with env.client() as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get("prism:gen_missing")
    assert (caught.value.code, caught.value.job_id) == ("not_found", "gen_missing")


async def test_a_failed_create_is_not_retried_so_never_paid_twice(env: Env) -> None:
    env.prism.faults.inject("create", Fault(kind=FaultKind.LOSE_RESPONSE))
    async with env.client() as client:
        with pytest.raises(Exception, match="failed"):
            await client.submit(T2V)
    assert env.prism.counts.by_route["create"] == 1


async def test_status_polling_rides_out_5xx_bursts(env: Env) -> None:
    env.prism.faults.inject("generation", Fault(kind=FaultKind.STATUS, status=503), times=6)
    async with env.client() as client:
        result = await client.generate(T2V)
    assert result.status is JobStatus.SUCCEEDED


# -- refused before any request ------------------------------------------------------------


def _big_image(tmp_path: Path) -> Media:
    path = tmp_path / "huge.png"
    with path.open("wb") as out:
        out.truncate(20 * 1024 * 1024 + 1)  # sparse: no 20 MB actually written
    return Media.from_path(path)


def _urls(n: int) -> tuple[Media, ...]:
    return tuple(Media.from_url(f"https://img.test/{i}.png") for i in range(n))


def _submit(request: object) -> Callable[[PrismProvider, Path], Flow[Any]]:
    return lambda p, _: p.submit_flow(request, idempotency_key="k")


@pytest.mark.parametrize(
    ("make_flow", "field"),
    [
        (_submit(attrs.evolve(T2V, count=5)), "count"),
        (_submit(attrs.evolve(T2V, aspect_ratio="2:1")), "aspect_ratio"),
        (
            lambda p, tmp: p.submit_flow(
                attrs.evolve(T2V, image=_big_image(tmp)), idempotency_key="k"
            ),
            "image",
        ),
        (_submit(attrs.evolve(T2V, image=Media.from_url("https://x.test/a.png"))), "image"),
        (_submit(attrs.evolve(T2V, negative_prompt="blur")), "negative_prompt"),
        (_submit(attrs.evolve(T2V, seed=1)), "seed"),
        (
            lambda p, _: p.create_character_flow(CharacterRequest(name="Ava", images=_urls(11))),
            "images",
        ),
        (
            lambda p, _: p.create_character_flow(CharacterRequest(name="A" * 61, images=_urls(1))),
            "name",
        ),
        (lambda p, _: p.characters_flow(q="a"), "q"),
        (lambda p, _: p.assets_flow("cat", limit=61), "limit"),
    ],
)
async def test_invalid_input_is_refused_before_any_request(
    env: Env, tmp_path: Path, make_flow: Callable[[PrismProvider, Path], Flow[Any]], field: str
) -> None:
    provider = env.provider()
    async with Client(provider, clock=env.clock) as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.run(make_flow(provider, tmp_path))
    assert caught.value.field == field
    assert env.prism.counts.total == 0


async def test_a_template_missing_a_required_variable_is_refused_before_generating(
    env: Env,
) -> None:
    provider = env.provider()
    request = TemplateRequest(template_id="featured-ugc-pitch", variables={"product": "Mug"})
    async with Client(provider, clock=env.clock) as client:
        template: Template = await client.run(provider.template_flow("featured-ugc-pitch"))
        seen = env.prism.counts.total
        with pytest.raises(RequestValidationError) as known:
            await client.submit(attrs.evolve(request, template=template))
        assert env.prism.counts.total == seen  # a known template: no request at all
        with pytest.raises(RequestValidationError) as fetched:
            await client.submit(request)
    assert known.value.field == fetched.value.field == "variables.product_image"
    assert env.prism.counts.by_route["template"] == 2  # the free GET, never the paid POST
    assert env.prism.counts.by_route["template_generate"] == 0


async def test_a_file_over_the_presigned_limit_is_refused_before_the_put(
    env: Env, tmp_path: Path
) -> None:
    env.prism.max_upload_bytes = 100
    request = PrismVideoRequest(
        model="veo-3.1", prompt="p", start_frame=Media.from_path(png_file(tmp_path))
    )
    async with env.client() as client:
        with pytest.raises(RequestValidationError, match="upload limit of 100 bytes"):
            await client.submit(request)
    assert env.prism.counts.by_route["presign"] == 1
    assert env.prism.counts.by_route["upload_put"] == 0
    assert env.prism.counts.by_route["create"] == 0


async def test_the_documented_10_s_floor_wins_over_a_shorter_engine_clamp(env: Env) -> None:
    # PollPolicy(max_interval=5) would poll every 5 s; Prism documents 10 s as the least.
    config = EngineConfig(poll=PollPolicy(max_interval=5.0, first_delay=10.0))
    async with env.client(config=config) as client:
        start = env.clock.monotonic()
        result = await client.generate(VideoRequest(model="veo-3.1", prompt="x", duration=8))
        took = env.clock.monotonic() - start
    assert result.status is JobStatus.SUCCEEDED
    polls = env.prism.counts.by_route["generation"]
    assert polls >= 2
    assert took / polls >= 10.0 - 1e-9  # never more often than every 10 s
