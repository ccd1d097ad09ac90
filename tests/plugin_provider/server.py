"""The toy API on loopback: an ``aiohttp.web`` app with what
:class:`prism_async.testing.EmulatorServer` needs of an emulator (``prefix``, ``api_key``,
``build_app``, ``base_url``)."""

from __future__ import annotations

from collections import defaultdict

from aiohttp import web

__all__ = ["ToyApi"]

_CREATED = {"createdAt": "2026-01-02T03:04:05Z"}


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"error": {"message": message, "code": code}}, status=status)


class ToyApi:
    """Each job answers ``running`` to its first ``running_polls`` status reads, then
    ``done`` with a video URL and its cost.

    Attributes:
        created: The create bodies received, in order.
        served: Per job id, the states its status reads answered, in order.
    """

    prefix = "toy"
    api_key = "toy-key-0123456789"

    def __init__(self, *, running_polls: int = 1) -> None:
        self.running_polls = running_polls
        self.created: list[dict[str, object]] = []
        self.served: defaultdict[str, list[str]] = defaultdict(list)

    def base_url(self, root: str) -> str:
        return root.rstrip("/") + f"/{self.prefix}/v1"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/jobs", self._create)
        app.router.add_get("/v1/jobs/{id}", self._status)
        return app

    def _denied(self, request: web.Request) -> web.Response | None:
        if request.headers.get("x-toy-key") != self.api_key:
            return _error(401, "invalid API key", "unauthorized")
        return None

    async def _create(self, request: web.Request) -> web.Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        body = await request.json()
        if not isinstance(body, dict) or not body.get("prompt"):
            return _error(400, "prompt is required", "invalid_request")
        self.created.append(body)
        job_id = f"job-{len(self.created)}"
        return web.json_response({"id": job_id, "state": "queued", **_CREATED}, status=201)

    async def _status(self, request: web.Request) -> web.Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        job_id = request.match_info["id"]
        if not job_id.startswith("job-") or int(job_id[4:]) > len(self.created):
            return _error(404, f"no job {job_id}", "not_found")
        served = self.served[job_id]
        if len(served) < self.running_polls:
            served.append("running")
            running = {"id": job_id, "state": "running", "progress": 40, "eta": 0.01, **_CREATED}
            return web.json_response(running)
        served.append("done")
        video = request.url.with_path(f"/{self.prefix}/files/{job_id}.mp4").with_query(None)
        return web.json_response(
            {
                "id": job_id,
                "state": "done",
                "progress": 100,
                "videoUrl": str(video),
                "costUsd": "0.40",
                **_CREATED,
            }
        )
