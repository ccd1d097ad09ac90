"""Fan-out batches against the emulators over loopback, in virtual time."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import attrs
import pytest

from prism_async import (
    Client,
    EngineConfig,
    FailureKind,
    Media,
    PollPolicy,
    RequestValidationError,
    VideoRequest,
)
from prism_async.batch import (
    BatchEvent,
    BatchItem,
    ItemDropped,
    ItemFinished,
    ItemQueued,
    ItemSubmitted,
    run_batch,
)
from prism_async.providers.lipsync import AudioTrack, LipsyncRequest
from prism_async.providers.prism import TemplateRequest
from prism_async.testing import VirtualClock
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests.conftest import FAST_RETRIES, Env, serve
from tests.integration._batches import collect

pytestmark = pytest.mark.anyio

POLL = PollPolicy(first_delay=2.0, min_interval=1.0, max_interval=5.0)
FACE = "https://media.example/face.mp4"


def batch_client(env: Env, *, lipsync_slots: int = 1) -> Client:
    """The three providers, Lipsync with the plan's ``lipsync_slots``."""
    return env.client(
        env.provider("nanogpt"),
        env.provider("prism"),
        env.provider("lipsync", max_jobs_in_flight=lipsync_slots),
        transport_config=FAST_RETRIES,
        config=EngineConfig(poll=POLL),
    )


def nano_client(env: Env) -> Client:
    """NanoGPT alone: its slots are the only ones in the read-ahead bound."""
    return env.client(
        env.provider("nanogpt"), transport_config=FAST_RETRIES, config=EngineConfig(poll=POLL)
    )


def count_429s(env: Env) -> int:
    return sum(e.counts.by_status[429] for e in (env.nano, env.prism, env.lipsync))


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    nano = NanoGPTEmulator(
        clock=clock,
        queue_seconds=0.5,
        run_seconds=2.0,
        balance=Decimal(10**6),
        submit_limit_per_minute=50,  # NanoGPT's documented limit: tight for 200 creates
    )
    prism = PrismEmulator(clock=clock, queue_seconds=0.5, run_seconds=2.0, credits=10**6)
    lipsync = LipsyncEmulator(clock=clock, concurrency_limit=1, queue_seconds=0.5, run_seconds=2.0)
    async with serve(clock, nano, prism, lipsync) as env:
        yield env


def t2v(key: str, provider: str = "nanogpt", prompt: str | None = None) -> BatchItem:
    model = {"nanogpt": "veo2-video", "prism": "veo-3.1"}[provider]
    return BatchItem(
        key=key, provider=provider, request=VideoRequest(model=model, prompt=prompt or key)
    )


def lip(key: str) -> BatchItem:
    track = AudioTrack(audio=Media.from_url(f"https://a.example/{key}.wav"))
    request = LipsyncRequest(model="lipsync-2", video=Media.from_url(FACE), audio=[track])
    return BatchItem(key=key, provider="lipsync", request=request)


async def test_500_requests_under_a_one_slot_plan_and_tight_rates_meet_no_429(env: Env) -> None:
    def items() -> Iterator[BatchItem]:
        for n in range(500):
            if n % 5 == 0:
                yield lip(f"lip-{n}")
            elif n % 5 in (1, 3):
                yield t2v(f"nano-{n}")
            elif n % 10 == 2:
                yield t2v(f"prism-{n}", "prism")
            else:
                template = TemplateRequest(
                    template_id="featured-product-spin", variables={"product": f"p{n}"}
                )
                yield BatchItem(key=f"tpl-{n}", provider="prism", request=template)

    async with batch_client(env, lipsync_slots=1) as client:
        outcomes = await collect(run_batch(client, items(), concurrency=8))

    assert len(outcomes) == 500
    assert all(o.ok for o in outcomes.values()), [o for o in outcomes.values() if not o.ok][:3]
    counts = collections.Counter(o.provider for o in outcomes.values())
    assert counts == {"lipsync": 100, "nanogpt": 200, "prism": 200}
    assert count_429s(env) == 0
    assert env.lipsync.max_running_seen == 1  # the plan's one slot, never exceeded
    assert (env.nano.creates, env.prism.creates, env.lipsync.creates) == (200, 200, 100)


async def test_mixed_outcomes_are_all_reported(env: Env) -> None:
    items = [
        t2v("ok-1"),
        t2v("failed", prompt="storm [fail]"),
        t2v("moderated", prompt="x [moderation]"),
        t2v("blocked", prompt="x [blocked]"),  # refused by the API at create
        BatchItem(
            key="invalid",
            provider="nanogpt",
            request=VideoRequest(model="veo2-video", prompt="x", aspect_ratio="7:5"),
        ),
        t2v("unknown-provider", provider="nanogpt"),
        t2v("ok-2", "prism"),
        lip("ok-3"),
    ]
    items[5] = attrs.evolve(items[5], provider="runway")
    async with batch_client(env) as client:
        outcomes = await collect(run_batch(client, items))

    assert set(outcomes) == {i.key for i in items}
    assert {k for k, o in outcomes.items() if o.ok} == {"ok-1", "ok-2", "ok-3"}
    failed = outcomes["failed"].result
    assert failed is not None and failed.failure is not None
    assert failed.failure.kind is FailureKind.ERROR
    moderated = outcomes["moderated"].result
    assert moderated is not None and moderated.failure is not None
    assert moderated.failure.kind is FailureKind.MODERATION
    assert outcomes["blocked"].handle is None and outcomes["blocked"].error is not None
    assert isinstance(outcomes["invalid"].error, RequestValidationError)
    assert isinstance(outcomes["unknown-provider"].error, RequestValidationError)
    assert not any(o.uncertain for o in outcomes.values())
    assert env.nano.creates == 3  # the refused and invalid ones cost nothing


async def test_fail_fast_stops_submitting_after_the_first_failure(env: Env) -> None:
    items = [t2v("first"), t2v("second", prompt="storm [fail]")] + [
        t2v(f"later-{n}") for n in range(20)
    ]
    events: list[BatchEvent] = []
    async with nano_client(env) as client:
        batch = run_batch(
            client, items, concurrency=1, fail_fast=True, lookahead=3, on_event=events.append
        )
        outcomes = await collect(batch)

    assert list(outcomes) == ["first", "second"]
    assert env.nano.creates == 2
    dropped = [e.key for e in events if isinstance(e, ItemDropped)]
    queued = [e.key for e in events if isinstance(e, ItemQueued)]
    assert dropped and set(dropped) == set(queued) - {"first", "second"}
    assert len(queued) <= 2 + 1 + 3  # pulled no further than the slot and the lookahead


async def test_without_fail_fast_one_failure_does_not_stop_the_others(env: Env) -> None:
    items = [t2v("a", prompt="storm [fail]"), t2v("b"), t2v("c")]
    async with batch_client(env) as client:
        outcomes = await collect(run_batch(client, items, concurrency=1))
    assert {k: o.ok for k, o in outcomes.items()} == {"a": False, "b": True, "c": True}


async def test_a_lazy_input_of_100000_items_is_pulled_only_as_slots_free(env: Env) -> None:
    pulled = 0
    closed = False

    def endless() -> Iterator[BatchItem]:
        nonlocal pulled, closed
        try:
            for n in range(100_000):
                pulled += 1
                yield t2v(f"item-{n}")
        finally:
            closed = True

    concurrency, lookahead, seen = 3, 5, 0
    async with nano_client(env) as client:
        batch = run_batch(client, endless(), concurrency=concurrency, lookahead=lookahead)
        async for _ in batch:
            seen += 1
            # Items in progress never exceed the slots plus the lookahead.
            assert pulled - seen <= concurrency + lookahead
            if seen == 30:
                break
        await batch.aclose()  # type: ignore[attr-defined]
        pulled_at_stop = pulled
        assert env.nano.creates <= seen + concurrency
    assert closed  # the input is closed when the batch stops
    assert pulled == pulled_at_stop <= seen + concurrency + lookahead


async def test_progress_events_follow_each_item_from_queued_to_finished(env: Env) -> None:
    events: list[BatchEvent] = []
    items = [t2v("a"), t2v("b", prompt="x [fail]"), t2v("c", provider="prism")]
    async with batch_client(env) as client:
        await collect(run_batch(client, items, on_event=events.append))

    for key in ("a", "b", "c"):
        kinds = [type(e) for e in events if getattr(e, "key", None) == key] + [
            type(e) for e in events if isinstance(e, ItemFinished) and e.outcome.key == key
        ]
        assert kinds == [ItemQueued, ItemSubmitted, ItemFinished]
