"""Downloads on real links: slower than the API's total timeout, cut off mid-file, larger
than allowed. The emulators' file-serving knobs (:class:`prism_async.testing._files.FileServing`)
play the slow link, the dropped connection and the server without ranges."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from prism_async import (
    Client,
    DownloadTooLarge,
    EngineConfig,
    PollPolicy,
    TransportConfig,
    VideoRequest,
)
from prism_async._downloads import Downloader
from prism_async._results import GenerationResult
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.testing import FAKE_MP4, EmulatorServer
from prism_async.testing.nanogpt import NanoGPTEmulator

pytestmark = pytest.mark.anyio

QUICK = EngineConfig(poll=PollPolicy(first_delay=0.02, min_interval=0.02, max_interval=0.05))
FAST = TransportConfig(wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)
#: A video of 200 kB: the MP4 header, then bytes that differ everywhere (so a misplaced
#: range shows).
BIG = FAKE_MP4 + os.urandom(200_000)


@pytest.fixture
async def nano() -> AsyncIterator[tuple[NanoGPTEmulator, EmulatorServer]]:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.05, balance=Decimal(100))
    emulator.files.body = BIG
    async with EmulatorServer([emulator]) as server:
        yield emulator, server


def client_of(server: EmulatorServer, emulator: NanoGPTEmulator, **options: object) -> Client:
    provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
    options.setdefault("transport_config", FAST)
    return Client(provider, config=QUICK, **options)  # type: ignore[arg-type]


async def generated(client: Client) -> GenerationResult:
    return await client.generate(VideoRequest(model="veo2-video", prompt="a long take"))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


async def test_a_download_slower_than_the_api_total_timeout_finishes(
    nano: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nano
    emulator.files.body = FAKE_MP4 + os.urandom(28_000)  # 30 kB at 20 kB/s: 1.5 s
    emulator.files.bytes_per_second = 20_000
    emulator.files.chunk_size = 2_000
    config = TransportConfig(total_timeout=0.5, read_timeout=5.0, attempts=1)
    async with client_of(server, emulator, transport_config=config) as client:
        result = await generated(client)
        started = time.monotonic()
        (path,) = await client.download(result, tmp_path)
        took = time.monotonic() - started

    assert took > 1.0  # longer than the API's total timeout, in one try
    assert emulator.counts.by_route["file"] == 1
    assert path.read_bytes() == emulator.files.body


async def test_a_download_cut_off_goes_on_from_where_it_stopped(
    nano: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nano
    emulator.files.drop(after=80_000)
    async with client_of(server, emulator) as client:
        result = await generated(client)
        (path,) = await client.download(result, tmp_path)

    assert path.read_bytes() == BIG  # whole and in order
    assert leftovers(tmp_path) == []
    (asked,) = emulator.files.range_headers
    first = int(asked.removeprefix("bytes=").removesuffix("-"))
    assert 0 < first <= 80_000  # the rest only: what arrived was kept
    assert emulator.files.bytes_sent == 80_000 + len(BIG) - first
    assert emulator.creates == 1


async def test_a_server_without_ranges_sends_it_whole_again_and_the_file_is_right(
    nano: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nano
    emulator.files.ranges = False
    emulator.files.drop(after=80_000)
    async with client_of(server, emulator) as client:
        result = await generated(client)
        (path,) = await client.download(result, tmp_path)

    assert path.read_bytes() == BIG  # the 200 replaced the partial file, not appended
    assert len(emulator.files.range_headers) == 1  # it was asked for the rest
    assert emulator.files.bytes_sent == 80_000 + len(BIG)


def capped(client: Client, folder: Path, *, max_bytes: int | None) -> Downloader:
    """A downloader of the client's results into ``folder`` that takes at most
    ``max_bytes`` per file (None: any size)."""
    return Downloader(
        client.transport, folder, refresh=client.get, clock=client.engine.clock, max_bytes=max_bytes
    )


async def test_a_download_dropped_several_times_still_completes(
    nano: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nano
    emulator.files.drop(after=50_000, times=3)
    async with client_of(server, emulator) as client:
        result = await generated(client)
        downloader = capped(client, tmp_path, max_bytes=None)
        (done,) = await downloader.fetch(result)

    assert done.path.read_bytes() == BIG
    assert downloader.resumed == 3
    assert len(emulator.files.range_headers) == 3


async def test_a_file_announced_larger_than_max_bytes_is_refused_and_not_retried(
    nano: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nano
    config = TransportConfig(max_download_bytes=100_000, wait_initial=0.001)
    async with client_of(server, emulator, transport_config=config) as client:
        result = await generated(client)
        with pytest.raises(DownloadTooLarge) as caught:
            await client.download(result, tmp_path)

    assert caught.value.size == len(BIG) and caught.value.limit == 100_000
    assert emulator.counts.by_route["file"] == 1  # refused on the Content-Length, once
    assert list(tmp_path.iterdir()) == []


async def test_a_file_of_unknown_length_is_cut_off_once_it_passes_max_bytes(
    nano: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nano
    emulator.files.announce_length = False
    async with client_of(server, emulator) as client:
        result = await generated(client)
        downloader = capped(client, tmp_path, max_bytes=100_000)
        with pytest.raises(DownloadTooLarge) as caught:
            await downloader.fetch(result)

    assert caught.value.size is None  # counted, not announced
    assert emulator.counts.by_route["file"] == 1
    assert list(tmp_path.iterdir()) == []


async def test_a_file_within_max_bytes_is_downloaded(
    nano: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nano
    emulator.files.announce_length = False
    async with client_of(server, emulator) as client:
        result = await generated(client)
        downloader = capped(client, tmp_path, max_bytes=len(BIG))
        (done,) = await downloader.fetch(result)
    assert done.path.read_bytes() == BIG
