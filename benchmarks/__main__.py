"""Benchmarks against the emulators: prism-async beside a plain-aiohttp baseline.

Run with ``python -m nox -s bench`` (or ``python -m benchmarks [--jobs N]``). Speed is
measured here and printed, never asserted in tests.

What is compared, for N text-to-video jobs on the NanoGPT emulator (real clock, short
emulated durations):

- ``prism-async``: one Client, submit all, ``as_completed`` (one scheduler for all jobs).
- ``plain aiohttp``: the loop people write by hand: one task per job that submits, then
  sleeps a fixed 1 s between status requests until the job ends.

Reported: wall time, HTTP requests made (counted by the emulator), requests per job.
No other async client for these APIs exists to compare with (the lipsync SDK is sync and
has no polling; NanoGPT's unofficial SDK has no status call).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable

import aiohttp
import anyio

from prism_async import Client, VideoRequest
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.testing import EmulatorServer
from prism_async.testing.nanogpt import NanoGPTEmulator

QUEUE, RUN = 0.5, 3.0


async def _with_emulator(
    jobs: int, body: Callable[[EmulatorServer, NanoGPTEmulator], Awaitable[None]]
) -> tuple[float, int]:
    emulator = NanoGPTEmulator(queue_seconds=QUEUE, run_seconds=RUN, submit_limit_per_minute=10_000)
    emulator.balance = emulator.price * (jobs + 1)
    async with EmulatorServer([emulator]) as server:
        started = time.perf_counter()
        await body(server, emulator)
        return time.perf_counter() - started, emulator.counts.total


async def _prism_async(server: EmulatorServer, emulator: NanoGPTEmulator, jobs: int) -> None:
    provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
    # The documented 50/min submit budget would dominate; lift it for a like-for-like run.
    provider.rates = {}
    async with Client(provider) as client:
        handles = []
        for _ in range(jobs):
            handles += await client.submit(VideoRequest(model="veo2-video", prompt="bench"))
        async for _ in client.as_completed(handles):
            pass


async def _plain(server: EmulatorServer, emulator: NanoGPTEmulator, jobs: int) -> None:
    base = server.base_url("nanogpt")
    headers = {"x-api-key": emulator.api_key}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one() -> None:
            body = {"model": "veo2-video", "prompt": "bench"}
            async with session.post(f"{base}/generate-video", json=body) as resp:
                run_id = (await resp.json())["runId"]
            while True:
                await anyio.sleep(1.0)
                params = {"requestId": run_id}
                async with session.get(f"{base}/video/status", params=params) as resp:
                    status = (await resp.json())["data"]["status"]
                if status in ("COMPLETED", "FAILED"):
                    return

        async with anyio.create_task_group() as tasks:
            for _ in range(jobs):
                tasks.start_soon(one)


async def main(jobs: int) -> None:
    print(f"{jobs} text-to-video jobs, each {QUEUE + RUN:g} s on the NanoGPT emulator\n")
    print(f"{'client':<14} {'wall s':>8} {'requests':>9} {'per job':>8}")
    for name, runner in (("prism-async", _prism_async), ("plain aiohttp", _plain)):
        wall, requests = await _with_emulator(
            jobs, lambda server, emu, run=runner: run(server, emu, jobs)
        )
        print(f"{name:<14} {wall:>8.2f} {requests:>9} {requests / jobs:>8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--jobs", type=int, default=200)
    anyio.run(main, parser.parse_args().jobs)
