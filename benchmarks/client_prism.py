"""prism-async driving one workload: submit every job (concurrently), then
``Client.as_completed`` over them all.

Run as ``python -m benchmarks.client_prism SPEC_JSON``. The spec names the provider, its
base URL and key, the number of jobs, optionally a fixed poll cadence (``interval``,
``first_delay``; see :func:`benchmarks.workloads.engine_config`) and the budgets to lift.
With ``stats_url`` it takes the memory probes of :mod:`benchmarks.probes`;
``tracemalloc: true`` traces Python memory as well (slow: for memory only), and
``stop_after_probes: true`` ends the run after the last probe, abandoning the jobs.
With ``webhook_secret``, the client is given a ``webhook_base_url`` on a loopback port and
serves its receiver there, in this process (``aiohttp_app`` mounted at ``/hooks``), so that
its jobs' waits end on the emulator's signed callbacks.

One warm-up job is submitted and its status fetched once before the measured window, so
that one-time costs (lazily built converters, the first connection) are not counted; with
webhooks, the warm-up also waits for its job's callback (a first delivery through the
receiver), which makes no request. The window ends when the last result is out, before
the client closes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
from aiohttp import web

from benchmarks.meter import WARMUP, LoopLag, Meter, Yields, read_spec, report
from benchmarks.probes import Probes
from benchmarks.stats import summary_ms
from benchmarks.workloads import engine_config, provider_for, request_for
from prism_async import Client, JobHandle, VideoProvider
from prism_async.webhooks import aiohttp_app

__all__ = ["run"]


async def _submit_all(client: Client, provider: str, jobs: int) -> list[JobHandle]:
    # asyncio.gather, as the plain loop starts its jobs: the fan-out is the caller's code,
    # so both clients pay the same for it (an anyio task group costs ~20 us a task more).
    submitted = await asyncio.gather(
        *(client.submit(request_for(provider, index)) for index in range(jobs))
    )
    return [handle for handles in submitted for handle in handles]


@asynccontextmanager
async def _client(spec: dict[str, Any], provider: VideoProvider) -> AsyncIterator[Client]:
    """The client; with ``webhook_secret``, its receiver served on a loopback port (the
    socket bound first, to know the port its ``webhook_base_url`` names)."""
    secret = spec.get("webhook_secret")
    if not secret:
        os.environ.pop("PRISM_ASYNC_WEBHOOK_URL", None)  # no callback URL from the env
        async with Client(provider, config=engine_config(spec)) as client:
            yield client
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    client = Client(
        provider,
        config=engine_config(spec),
        webhook_base_url=f"http://127.0.0.1:{port}/hooks",
        webhook_secret=secret,
    )
    assert client.webhooks is not None
    app = web.Application()
    app.add_subapp("/hooks", aiohttp_app(client.webhooks))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        async with client:
            yield client
    finally:
        await runner.cleanup()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    jobs, name = int(spec["jobs"]), spec["provider"]
    provider = provider_for(spec)
    yields, meter, lag = Yields(), Meter(), LoopLag()
    async with aiohttp.ClientSession() as side:  # the probes' own session
        probes = Probes(spec["stats_url"], side) if spec.get("stats_url") else None

        async def probe(run: anyio.CancelScope) -> None:
            assert probes is not None
            await probes.watch(jobs)
            if spec.get("stop_after_probes"):
                run.cancel()

        if spec.get("tracemalloc"):
            tracemalloc.start()
        async with _client(spec, provider) as client:
            (warm,) = await client.submit(request_for(name, jobs))
            await client.get(warm)
            if client.webhooks is not None:
                await client.wait(warm, timeout=60)  # its callback ends it
            if probes is not None:
                await probes.base()
            lag.start()
            meter.start()
            handles = await _submit_all(client, name, jobs)
            submitted, submitted_at = meter.elapsed(), time.monotonic()
            async with anyio.create_task_group() as tasks:
                if probes is not None:
                    tasks.start_soon(probe, tasks.cancel_scope)
                async for outcome in client.as_completed(handles):
                    yields.done(outcome.handle.id, outcome.ok)
                tasks.cancel_scope.cancel()
            meter.stop()
            await lag.stop()
    return {
        **meter.as_dict(),
        "submit_s": submitted,
        "submitted_at": submitted_at,  # time.monotonic(), the servers' clock
        "warmup": WARMUP,
        "yields": yields.at if spec.get("want_yields", True) else {},
        "failed": yields.failed,
        "lag_ms": summary_ms(lag.late),
        "memory": probes.readings if probes is not None else {},
    }


def main() -> None:
    report(asyncio.run(run(read_spec())))


if __name__ == "__main__":
    main()
