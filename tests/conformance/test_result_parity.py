"""The three providers report a job alike: the same kind of job on each emulator, its
normalized result compared field by field (timestamps, cost or why not, outputs with their
metadata, progress, failure kinds), and what each create answered (the submit receipt)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async import (
    CostUnit,
    FailureKind,
    GenerationResult,
    JobHandle,
    JobStatus,
    LipsyncRequest,
    Media,
    RedirectError,
    SubmitReceipt,
    VideoRequest,
)
from prism_async.providers.lipsync import AudioTrack, LipsyncProvider
from prism_async.providers.lipsync._wire import FAILURE_CODES, failure_kind_of, result_from
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.testing import VirtualClock
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests.conftest import Env, serve

pytestmark = pytest.mark.anyio

PROVIDERS = ("nanogpt", "prism", "lipsync")
#: The documented keys of a result's JSON (``prism-async ... --json``).
DOCUMENTED_KEYS = {
    "provider", "id", "status", "outputs", "error", "progress", "cost", "created_at",
    "completed_at",
}  # fmt: skip


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    emulators = (
        # The flat (OpenAPI) status shape: the one that documents timestamps and progress.
        NanoGPTEmulator(clock=clock, status_shape="flat", queue_seconds=1, run_seconds=5),
        PrismEmulator(clock=clock, queue_seconds=1, run_seconds=5),
        LipsyncEmulator(clock=clock, queue_seconds=1, run_seconds=5),
    )
    async with serve(clock, *emulators) as env:
        yield env


def request_for(provider: str, marker: str = "") -> object:
    """Text-to-video on NanoGPT and Prism; lipsync's nearest equivalent (a video and a
    voice by URL). ``marker`` (``fail``, ``moderation``) picks the emulators' ending."""
    prompt = f"a lighthouse in fog [{marker}]" if marker else "a lighthouse in fog"
    if provider == "nanogpt":
        return VideoRequest(model="veo2-video", prompt=prompt, duration=5)
    if provider == "prism":
        return VideoRequest(model="veo-3.1", prompt=prompt, duration=8)
    voice = f"https://media.example/voice-{marker}.wav" if marker else "https://media.example/v.wav"
    return LipsyncRequest(
        model="lipsync-2",
        video=Media.from_url("https://media.example/face.mp4"),
        audio=[AudioTrack(audio=Media.from_url(f"{voice}?[{marker}]" if marker else voice))],
    )


async def run_one(
    env: Env, provider: str, marker: str = ""
) -> tuple[SubmitReceipt, GenerationResult]:
    async with env.client() as client:
        receipt = await client.submit(request_for(provider, marker), provider=provider)
        result = await client.wait(receipt[0], raise_on_failure=False)
    return receipt, result


def has_cost_or_reason(result: GenerationResult) -> bool:
    return result.cost is not None or bool(result.cost_note)


# -- success ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_finished_job_reports_the_same_fields_on_every_provider(
    env: Env, provider: str
) -> None:
    _, result = await run_one(env, provider)
    assert result.status is JobStatus.SUCCEEDED
    assert result.provider == provider
    assert result.created_at is not None
    # completed_at where the API says it: Prism and NanoGPT do; lipsync's Generation
    # object documents createdAt only.
    assert (result.completed_at is not None) is (provider != "lipsync")
    if result.completed_at is not None:
        assert result.completed_at >= result.created_at
    assert result.progress == 100.0
    assert result.failure is None
    assert result.cost is not None and result.cost.amount > 0
    assert result.cost.unit is (CostUnit.CREDITS if provider == "prism" else CostUnit.USD)
    (output,) = result.outputs
    assert output.url.startswith("http")
    assert output.mime_type == "video/mp4"
    assert output.content_type == "video/mp4"  # the older name still reads
    data = result.to_dict()
    assert set(data) >= DOCUMENTED_KEYS
    assert json.loads(json.dumps(data)) == data
    assert GenerationResult.from_dict(data) == result


async def test_each_provider_adds_the_output_facts_its_api_documents(env: Env) -> None:
    _, nano = await run_one(env, "nanogpt")
    _, prism = await run_one(env, "prism")
    _, sync = await run_one(env, "lipsync")
    # Prism: a presigned URL good for an hour, and the public share page.
    assert prism.outputs[0].expires_at is not None
    assert prism.share_url is not None and prism.share_url.startswith("http")
    assert "share_url" in prism.to_dict()
    # lipsync: the output's duration (outputDuration).
    assert sync.outputs[0].duration_s is not None and sync.outputs[0].duration_s > 0
    # NanoGPT's flat shape documents no cost: the submit's pre-charge, marked estimated
    # (the nested shape's final cost is settled: see the nested test below).
    assert nano.cost is not None and nano.cost.estimated
    # lipsync: its cost is the /v2/analyze/cost estimate, marked as one.
    assert sync.cost is not None and sync.cost.estimated


async def test_lipsync_segments_give_the_segment_output_as_a_field(env: Env) -> None:
    from prism_async.providers.lipsync import LipsyncSegment

    request = LipsyncRequest(
        model="lipsync-2",
        video=Media.from_url("https://media.example/face.mp4"),
        audio=[AudioTrack(audio=Media.from_url("https://media.example/v.wav"), ref_id="a")],
        segments=[LipsyncSegment(start=0, end=4, ref_id="a")],
    )
    async with env.client() as client:
        handle = (await client.submit(request, provider="lipsync"))[0]
        result = await client.wait(handle)
    assert result.segment_output is not None
    assert result.segment_output.mime_type == "video/mp4"
    assert result.segment_output.url != result.outputs[0].url
    assert result.to_dict()["segment_output"]["url"] == result.segment_output.url


# -- receipts ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_every_submit_returns_a_receipt_that_is_also_its_handles(
    env: Env, provider: str
) -> None:
    async with env.client() as client:
        receipt = await client.submit(request_for(provider), provider=provider)
    assert isinstance(receipt, SubmitReceipt)
    assert receipt.provider == provider
    assert receipt == receipt.handles and isinstance(receipt.handles, tuple)
    assert all(isinstance(h, JobHandle) for h in receipt)
    assert receipt.cost is not None or receipt.cost_note
    assert receipt.cost is not None  # every emulator answers with a cost or an estimate
    assert SubmitReceipt.from_dict(json.loads(json.dumps(receipt.to_dict()))) == receipt


async def test_receipts_keep_what_each_create_answered(env: Env) -> None:
    async with env.client() as client:
        nano = await client.submit(request_for("nanogpt"), provider="nanogpt")
        prism = await client.submit(request_for("prism"), provider="prism")
        sync = await client.submit(request_for("lipsync"), provider="lipsync")
    # NanoGPT: the pre-charge (an estimate until it settles) and the remaining balance.
    assert nano.cost is not None and nano.cost.estimated
    assert nano.cost.amount == env.nano.price
    assert nano.balance is not None and nano.balance.amount == env.nano.balance
    # Prism: the credits charged, the asset reserved and the upstream request per job.
    assert prism.cost is not None and prism.cost.unit is CostUnit.CREDITS
    assert prism.cost.amount == env.prism.credits_per_video
    assert set(prism.asset_ids) == {h.id for h in prism}
    assert set(prism.request_ids) == {h.id for h in prism}
    # lipsync: the free estimate asked before the create.
    assert sync.cost is not None and sync.cost.estimated and sync.cost.unit is CostUnit.USD


async def test_a_prism_template_receipt_has_the_template_and_both_latencies(env: Env) -> None:
    from prism_async.providers.prism import TemplateRequest
    from prism_async.testing._prism_catalog import TEMPLATES

    template_id = "featured-ugc-pitch"
    variables: dict[str, object] = {
        v["key"]: "a calm voice"
        if v["type"] == "text"
        else Media.from_url(f"https://media.example/p.{'png' if v['type'] == 'image' else 'mp4'}")
        for v in TEMPLATES[template_id].get("input_variables", [])
        if v.get("required")
    }
    async with env.client() as client:
        receipt = await client.submit(
            TemplateRequest(template_id=template_id, variables=variables), provider="prism"
        )
    assert receipt.template_id == template_id
    assert receipt.latency_typical_s is not None and receipt.latency_busy_s is not None
    assert receipt.latency_busy_s >= receipt.latency_typical_s


# -- failures and moderation -----------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_failed_job_is_an_error_with_a_cost_or_a_reason(env: Env, provider: str) -> None:
    _, result = await run_one(env, provider, "fail")
    assert result.status is JobStatus.FAILED
    assert result.failure is not None
    assert result.failure.kind is FailureKind.ERROR
    assert result.failure.message
    assert result.outputs == ()
    assert result.created_at is not None
    assert has_cost_or_reason(result)
    assert set(result.to_dict()) >= DOCUMENTED_KEYS


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_job_is_moderation_on_every_provider(env: Env, provider: str) -> None:
    _, result = await run_one(env, provider, "moderation")
    assert result.status is JobStatus.FAILED
    assert result.failure is not None
    assert result.failure.kind is FailureKind.MODERATION
    assert not result.failure.retryable
    assert has_cost_or_reason(result)


async def test_a_failed_nanogpt_job_costs_nothing_not_its_precharge(env: Env) -> None:
    receipt, result = await run_one(env, "nanogpt", "fail")
    assert receipt.cost is not None and receipt.cost.amount > 0  # pre-charged at submit
    assert result.cost is not None
    assert result.cost.amount == 0 and not result.cost.estimated  # refunded
    assert result.cost_note and "refund" in result.cost_note


async def test_the_nested_nanogpt_shape_reports_progress_and_refunds_too(
    clock: VirtualClock,
) -> None:
    emulator = NanoGPTEmulator(clock=clock, status_shape="nested", queue_seconds=1, run_seconds=5)
    async with serve(clock, emulator) as env, env.client() as client:
        handle = (await client.submit(request_for("nanogpt")))[0]
        queued = await client.get(handle)
        assert queued.status is JobStatus.QUEUED and queued.progress == 0.0
        done = await client.wait(handle)
        assert done.progress == 100.0
        assert done.cost is not None and not done.cost.estimated  # the final cost
        failed = await client.wait(
            (await client.submit(request_for("nanogpt", "fail")))[0], raise_on_failure=False
        )
    assert failed.cost is not None and failed.cost.amount == 0


# -- progress ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["nanogpt", "lipsync"])
async def test_a_running_job_reports_its_progress(
    env: Env, clock: VirtualClock, provider: str
) -> None:
    async with env.client() as client:
        handle = (await client.submit(request_for(provider), provider=provider))[0]
        await clock.sleep(3.5)  # queued 1 s, then 2.5 s of a 5 s run
        running = await client.get(handle)
    assert running.status is JobStatus.RUNNING
    assert running.progress is not None and 0 < running.progress < 100


# -- lookups by bare id ----------------------------------------------------------------


async def test_a_prism_lookup_by_bare_id_says_why_it_has_no_cost(env: Env) -> None:
    async with env.client() as client:
        receipt = await client.submit(request_for("prism"), provider="prism")
        with_handle = await client.wait(receipt[0])
        bare = await client.get(f"prism:{receipt[0].id}")
    assert with_handle.cost is not None  # the handle submit returned keeps the credits
    assert bare.cost is None
    assert bare.cost_note and "unknown" in bare.cost_note


# -- the lipsync table of failure codes ------------------------------------------------


@given(code=st.sampled_from(sorted(FAILURE_CODES)) | st.text(max_size=30), rejected=st.booleans())
def test_lipsync_failure_kinds_come_from_the_code_table(code: str, rejected: bool) -> None:
    body: dict[str, object] = {
        "id": "g-1",
        "createdAt": "2026-01-01T00:00:00Z",
        "status": "REJECTED" if rejected else "FAILED",
        "model": "lipsync-2",
        "input": [],
        "error": "no",
        "error_code": code,
    }
    failure = result_from(body).failure
    assert failure is not None
    if rejected:  # moderation whatever the code says
        assert failure.kind is FailureKind.MODERATION and not failure.retryable
    else:
        assert (failure.kind, failure.retryable) == failure_kind_of(code)
        expected = FAILURE_CODES.get(code.strip().lower(), (FailureKind.ERROR, False))
        assert (failure.kind, failure.retryable) == expected


def test_missing_media_metadata_is_an_input_error_not_moderation() -> None:
    body = {
        "id": "g-1",
        "createdAt": "2026-01-01T00:00:00Z",
        "status": "FAILED",
        "model": "lipsync-2",
        "input": [],
        "error_code": "generation_media_metadata_missing",
    }
    failure = result_from(body).failure
    assert failure is not None
    assert (failure.kind, failure.retryable) == (FailureKind.ERROR, False)


# -- the other endpoints ---------------------------------------------------------------


async def test_lipsync_healthcheck_download_and_result_routes(env: Env) -> None:
    provider = env.provider("lipsync")
    assert isinstance(provider, LipsyncProvider)
    async with env.client(provider) as client:
        assert await client.run(provider.healthcheck_flow()) is True
        handle = (await client.submit(request_for("lipsync")))[0]
        result = await client.wait(handle)
        url = await client.run(provider.download_url_flow(handle))
        assert url == result.outputs[0].url
        token = env.lipsync.result_token(handle.id)
        with pytest.raises(RedirectError) as redirected:  # the documented 302, not followed
            await client.run(provider.result_flow(handle, token=token))
        assert redirected.value.location == result.outputs[0].url


async def test_nanogpt_models_carry_their_pricing(env: Env) -> None:
    provider = env.provider("nanogpt")
    assert isinstance(provider, NanoGPTProvider)
    async with env.client(provider) as client:
        models = await client.run(provider.models_flow())
    veo = next(m for m in models if m.id == "veo2-video")
    assert veo.pricing["currency"] == "USD"
    assert veo.price is not None and veo.price.amount == Decimal(str(env.nano.price))
    assert veo.price_text == f"{veo.price.amount} USD per video"


# -- webhooks ----------------------------------------------------------------------------


def test_a_lipsync_delivery_reports_the_cost_a_poll_would() -> None:
    from prism_async import Secret
    from prism_async._http import HttpRequest, HttpResponse
    from prism_async.providers.lipsync import sign

    provider = LipsyncProvider(api_key="k", base_url="https://sync.test")
    generation = {
        "id": "g-1",
        "createdAt": "2026-01-01T00:00:00Z",
        "status": "PENDING",
        "model": "lipsync-2",
        "input": [],
    }
    answers = {
        "/v2/analyze/cost": [{"estimatedFrameCount": 250, "estimatedGenerationCost": 0.5}],
        "/v2/generate": generation,
    }
    flow = provider.submit_flow(request_for("lipsync"), idempotency_key="key-1")
    try:
        effect = next(flow)
        while True:
            assert isinstance(effect, HttpRequest)
            path = effect.url.removeprefix("https://sync.test")
            body = json.dumps(answers[path]).encode()
            effect = flow.send(HttpResponse(status=201, body=body, headers={}))
    except StopIteration as stop:
        receipt = stop.value
    assert receipt.cost is not None and receipt.cost.amount == Decimal("0.5")

    done = {**generation, "status": "COMPLETED", "outputUrl": "https://cdn.example/g-1.mp4"}
    body = json.dumps(done, separators=(",", ":")).encode()
    headers = {"Sync-Signature": sign(body, "whsec_x", timestamp=1_000)}
    call = provider.read_webhook(
        headers, body, secret=Secret("whsec_x"), tolerance=300, now=1_000.0
    )
    polled = result_from(done, handle=receipt[0])
    assert call.result == polled
    assert call.result is not None and call.result.cost == receipt.cost
