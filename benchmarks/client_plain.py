"""The baseline: the NanoGPT loop people write by hand with aiohttp.

One task per job, one shared ``ClientSession``: POST the create, then sleep a fixed
interval and GET the status until the job is terminal. No retries, no budgets, no
validation. Run as ``python -m benchmarks.client_plain SPEC_JSON`` (``base_url``,
``api_key``, ``jobs``, ``interval``; ``stats_url``, ``tracemalloc`` and
``stop_after_probes`` as for :mod:`benchmarks.client_prism`, and the same warm-up: one
create and one status request before the measured window).
"""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc
from typing import Any

import aiohttp

from benchmarks.meter import WARMUP, LoopLag, Meter, Yields, read_spec, report
from benchmarks.probes import Probes
from benchmarks.stats import summary_ms

__all__ = ["run"]

_TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED"})


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    base, jobs, interval = spec["base_url"], int(spec["jobs"]), float(spec["interval"])
    headers = {"x-api-key": spec["api_key"]}
    yields, meter, lag = Yields(), Meter(), LoopLag()
    async with aiohttp.ClientSession() as side:  # the probes' own session
        probes = Probes(spec["stats_url"], side) if spec.get("stats_url") else None
        if spec.get("tracemalloc"):
            tracemalloc.start()
        async with aiohttp.ClientSession(headers=headers) as session:

            async def create() -> str:
                body = {"model": "veo2-video", "prompt": "bench"}
                async with session.post(f"{base}/generate-video", json=body) as resp:
                    run_id: str = (await resp.json())["runId"]
                return run_id

            async def status(run_id: str) -> str:
                params = {"requestId": run_id}
                async with session.get(f"{base}/video/status", params=params) as resp:
                    state: str = (await resp.json())["data"]["status"]
                return state

            async def one() -> None:
                run_id = await create()
                while True:
                    await asyncio.sleep(interval)
                    state = await status(run_id)
                    if state in _TERMINAL:
                        yields.done(run_id, state == "COMPLETED")
                        return

            await status(await create())  # the warm-up
            if probes is not None:
                await probes.base()
            lag.start()
            meter.start()
            work = asyncio.gather(*(one() for _ in range(jobs)))
            probing = asyncio.ensure_future(probes.watch(jobs)) if probes else None
            if probing is not None and spec.get("stop_after_probes"):
                await probing  # a memory-only run: the jobs are abandoned
            else:
                await work
            meter.stop()
            await lag.stop()
            for task in (work, probing):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
    return {
        **meter.as_dict(),
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
