"""Batch downloads: checked, put in place whole, retried on their own, never regenerated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from prism_async import VideoRequest
from prism_async._downloads import looks_like_media
from prism_async.batch import BatchItem, BatchOutcome, SQLiteJournal, run_batch
from prism_async.testing import FAKE_MP4, Fault, FaultKind, VirtualClock
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests.conftest import Env, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(clock: VirtualClock) -> AsyncIterator[Env]:
    nano = NanoGPTEmulator(clock=clock, queue_seconds=1, run_seconds=5, balance=Decimal(100))
    prism = PrismEmulator(clock=clock, run_seconds=5)
    async with serve(clock, nano, prism) as env:
        yield env


def items(provider: str = "nanogpt", n: int = 3) -> list[BatchItem]:
    model = {"nanogpt": "veo2-video", "prism": "veo-3.1"}[provider]
    return [
        BatchItem(key=f"v{i}", provider=provider, request=VideoRequest(model=model, prompt=f"v{i}"))
        for i in range(n)
    ]


async def collect(batch: AsyncIterator[BatchOutcome]) -> dict[str, BatchOutcome]:
    return {outcome.key: outcome async for outcome in batch}


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


async def test_a_download_cut_off_mid_stream_is_retried_without_a_new_generation(
    env: Env, tmp_path: Path
) -> None:
    env.nano.faults.inject("file", Fault(kind=FaultKind.TRUNCATE), times=2)
    async with env.client() as client:
        outcomes = await collect(run_batch(client, items(), download_dir=tmp_path))

    assert all(o.ok for o in outcomes.values())
    assert env.nano.creates == 3  # no generation was made again
    assert env.nano.counts.by_route["file"] == 3 + 2
    on_disk = files_in(tmp_path)
    assert sorted(on_disk) == sorted(p.name for o in outcomes.values() for p in o.paths)
    assert set(on_disk.values()) == {FAKE_MP4}  # whole files only, no temporary left over


async def test_a_second_run_of_the_same_batch_downloads_nothing_new(
    env: Env, tmp_path: Path
) -> None:
    out = tmp_path / "videos"
    async with SQLiteJournal(tmp_path / "batch.sqlite") as journal:
        async with env.client() as client:
            first = await collect(run_batch(client, items(), journal=journal, download_dir=out))
        downloads, creates = env.nano.counts.by_route["file"], env.nano.creates
        async with env.client() as client:
            second = await collect(run_batch(client, items(), journal=journal, download_dir=out))

    assert all(o.ok for o in (*first.values(), *second.values()))
    assert env.nano.counts.by_route["file"] == downloads == 3
    assert env.nano.creates == creates == 3
    assert all(f.skipped for o in second.values() for f in o.files)
    assert {k: o.paths for k, o in second.items()} == {k: o.paths for k, o in first.items()}


async def test_an_expired_presigned_url_is_renewed_before_downloading(
    env: Env, tmp_path: Path
) -> None:
    async with SQLiteJournal(tmp_path / "batch.sqlite") as journal:
        async with env.client() as client:
            await collect(run_batch(client, items("prism", 2), journal=journal))
        env.clock.advance(timedelta(hours=2).total_seconds())  # the 1-hour URLs expire
        polls = env.prism.counts.by_route["generation"]
        async with env.client() as client:
            outcomes = await collect(
                run_batch(client, items("prism", 2), journal=journal, download_dir=tmp_path / "v")
            )

    assert all(o.ok and o.resumed for o in outcomes.values())
    assert env.prism.creates == 2
    assert env.prism.counts.by_route["generation"] == polls + 2  # one fresh URL each
    assert env.prism.counts.by_status[403] == 0  # renewed before, not after, the refusal
    assert set(files_in(tmp_path / "v").values()) == {FAKE_MP4}


async def test_a_download_refused_with_403_fetches_a_fresh_url(env: Env, tmp_path: Path) -> None:
    env.nano.faults.inject("file", Fault(kind=FaultKind.STATUS, status=403))
    async with env.client() as client:
        (outcome,) = (await collect(run_batch(client, items(n=1), download_dir=tmp_path))).values()
    assert outcome.ok and outcome.paths
    assert env.nano.counts.by_route["file"] == 2
    assert env.nano.creates == 1


async def test_an_error_page_instead_of_a_video_is_never_kept(env: Env, tmp_path: Path) -> None:
    env.nano.faults.inject("file", Fault(kind=FaultKind.MALFORMED), times=10)
    async with env.client() as client:
        (outcome,) = (await collect(run_batch(client, items(n=1), download_dir=tmp_path))).values()
    assert not outcome.ok
    assert outcome.result is not None and outcome.result.status.value == "succeeded"
    assert outcome.error is not None and "not a video" in str(outcome.error)
    assert list(tmp_path.iterdir()) == []  # nothing half-checked carries a name
    assert env.nano.creates == 1


def test_media_check_accepts_video_containers_and_refuses_error_bodies() -> None:
    assert looks_like_media(FAKE_MP4[:16], "video/mp4")
    assert looks_like_media(b"\x1aE\xdf\xa3" + bytes(12), None)
    assert not looks_like_media(b"", "video/mp4")
    assert not looks_like_media(b'{"error": "expired"}', None)
    assert not looks_like_media(b"<?xml version='1.0'?>", "video/mp4")
    assert looks_like_media(b"ID3\x04\x00", "audio/mpeg")
