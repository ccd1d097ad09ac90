"""A fast fake NanoGPT server: just the create and status shapes, nothing else.

Run as ``python -m benchmarks.fake_nanogpt --duration SECONDS``; it prints one JSON line
(``{"root": "http://127.0.0.1:PORT"}``) once it listens and serves until SIGTERM or SIGINT.

It answers ``POST /api/generate-video`` (202, the documented create answer) and
``GET /api/video/status?requestId=...`` (the documented nested shape: ``IN_PROGRESS`` until
the job's fixed duration has passed since its create, then ``COMPLETED`` with a video URL).
The nested shape carries no ``estimatedTimeRemaining``, so no client gets a poll hint from
it. ``GET /bench/stats`` reports the requests answered and the server's own CPU seconds;
``GET /bench/ends`` the moment (``time.monotonic()``, a system-wide clock on Linux) each job
ended. There is no routing table, middleware, validation or rate limit: a low-level
aiohttp server whose cost per request is a fraction of any client's, so that on two cores
the server is not what limits a run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import time

from aiohttp import web

from benchmarks.serving import announce, until_stopped

__all__ = ["FakeNanoGPT"]

_RUNNING = "IN_PROGRESS"
_DONE = "COMPLETED"


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json"
    )


class FakeNanoGPT:
    """The fake API's state: each job's end time, and the requests answered by kind."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.ends: dict[str, float] = {}
        self.requests: collections.Counter[str] = collections.Counter()
        self._ids = itertools.count(1)
        self.last_create = 0.0
        self.root = ""

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.endswith("/api/generate-video") and request.method == "POST":
            return await self._create(request)
        if path.endswith("/api/video/status"):
            return self._status(request)
        if path == "/bench/stats":
            return _json(self._stats())
        if path == "/bench/ends":
            return _json(self.ends)
        return _json({"error": 404, "message": "not found"}, 404)

    def _stats(self) -> dict[str, object]:
        first_end = min(self.ends.values(), default=None)
        return {
            "requests": dict(self.requests),
            "cpu_s": time.process_time(),
            # Every job was in flight at once if the last create came before the first end.
            "all_in_flight": first_end is not None and self.last_create < first_end,
        }

    async def _create(self, request: web.BaseRequest) -> web.Response:
        self.requests["create"] += 1
        await request.read()
        job_id = f"vid_{next(self._ids):016d}"
        self.last_create = time.monotonic()
        self.ends[job_id] = self.last_create + self.duration
        answer = {
            "runId": job_id,
            "status": "pending",
            "model": "veo2-video",
            "cost": 0.35,
            "paymentSource": "USD",
        }
        return _json(answer, 202)

    def _status(self, request: web.BaseRequest) -> web.Response:
        self.requests["status"] += 1
        job_id = request.query.get("requestId", "")
        end = self.ends.get(job_id)
        if end is None:
            return _json({"error": 404, "message": "Video generation request not found"}, 404)
        data: dict[str, object] = {"requestId": job_id}
        if time.monotonic() >= end:
            data |= {
                "status": _DONE,
                "output": {"video": {"url": f"{self.root}/files/{job_id}.mp4"}},
                "cost": 0.35,
            }
        else:
            data |= {"status": _RUNNING, "details": "Video is being generated"}
        return _json({"requestId": job_id, "model": "veo2-video", "data": data})


async def serve(duration: float) -> None:
    fake = FakeNanoGPT(duration)
    server = web.Server(fake.handle, access_log=None)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server, "127.0.0.1", 0, backlog=4096)
    port = listener.sockets[0].getsockname()[1]
    fake.root = f"http://127.0.0.1:{port}"
    announce({"root": fake.root, "base_url": f"{fake.root}/api", "api_key": "bench-key"})
    await until_stopped()
    listener.close()
    await server.shutdown(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fake_nanogpt")
    parser.add_argument("--duration", type=float, required=True, help="seconds each job runs")
    asyncio.run(serve(parser.parse_args().duration))


if __name__ == "__main__":
    main()
