"""The official lipsync SDK (``syncsdk`` on PyPI, ``sync.AsyncSync``) driving the lipsync
workload: one task per job, ``generations.create`` then ``generations.get`` until the
generation is terminal.

``generations.get`` has no ``wait`` parameter; the SDK's per-request
``additional_query_parameters`` adds the API's long poll (``wait=true&timeout=10``), so
each ``get`` is held by the server until the job ends or ten seconds pass: the loop a
user of the SDK who wants prompt results writes. Run as
``python -m benchmarks.client_sdk SPEC_JSON``; the same warm-up as the other clients (one
create, one ``get``) comes before the measured window.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sync import AsyncSync
from sync.common import Audio, Generation, Input, Video
from sync.core.request_options import RequestOptions

from benchmarks.meter import WARMUP, Meter, Yields, read_spec, report

__all__ = ["run"]

_TERMINAL = frozenset({"COMPLETED", "FAILED", "REJECTED", "CANCELED", "CANCELLED", "TIMED_OUT"})
_LONG_POLL: RequestOptions = {
    "additional_query_parameters": {"wait": "true", "timeout": "10"},
    "timeout_in_seconds": 15,
}


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    jobs = int(spec["jobs"])
    yields, meter = Yields(), Meter()
    # The SDK's own default client (60 s timeout, redirects followed), passed in so that
    # it can be closed at the end.
    http = httpx.AsyncClient(timeout=60, follow_redirects=True)
    client = AsyncSync(base_url=spec["base_url"], api_key=spec["api_key"], httpx_client=http)
    inputs: list[Input] = [
        Video(url="https://media.example/face.mp4"),
        Audio(url="https://media.example/voice.wav"),
    ]

    async def create(index: int) -> Generation:
        return await client.generations.create(
            model="lipsync-2", input=inputs, output_file_name=f"bench-{index}"
        )

    async def one(index: int) -> None:
        generation = await create(index)
        while generation.status not in _TERMINAL:
            generation = await client.generations.get(generation.id, request_options=_LONG_POLL)
        yields.done(generation.id, generation.status == "COMPLETED")

    async with http:
        await client.generations.get((await create(jobs)).id)  # the warm-up
        meter.start()
        await asyncio.gather(*(one(i) for i in range(jobs)))
        meter.stop()
    return {**meter.as_dict(), "warmup": WARMUP, "yields": yields.at, "failed": yields.failed}


def main() -> None:
    report(asyncio.run(run(read_spec())))


if __name__ == "__main__":
    main()
