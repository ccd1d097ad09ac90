"""An emulator of the NanoGPT video API (nano-gpt.com/api), as an aiohttp.web app."""

from __future__ import annotations

import collections
import json
import math
import secrets
import string
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Literal

import attrs
from aiohttp import web

from prism_async._clock import Clock, SystemClock
from prism_async.testing import _nanogpt_wire as wire
from prism_async.testing._faults import Faults, RequestCounts, middleware
from prism_async.testing._files import FileServing
from prism_async.testing._jobs import Outcome, SimJob, outcome_for
from prism_async.testing._nanogpt_catalog import text_model_list, video_model_list
from prism_async.testing._nanogpt_wire import NanoJob, State

__all__ = ["NanoGPTEmulator", "NanoJob"]

# Bodies larger than this are refused with 413 (room for a few 4 MB inline uploads).
_MAX_BODY = 32 * 1024 * 1024
_WINDOW = 60.0
_ID_ALPHABET = string.ascii_lowercase + string.digits
_EXTEND_REJECTS = ("video", "videoUrl", "videoDataUrl", "videoAttachmentId")
_EXTEND_MODEL = "midjourney-video"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


@attrs.define
class _SlidingWindow:
    """Accepted request times per API key over the last 60 clock seconds."""

    _hits: dict[str, collections.deque[float]] = attrs.field(factory=dict)

    def take(self, key: str, now: float, limit: int) -> float | None:
        """Record a hit and return None, or return the seconds until a slot frees."""
        hits = self._hits.setdefault(key, collections.deque())
        while hits and hits[0] + _WINDOW <= now:  # the sum a client budget tests, too
            hits.popleft()
        if len(hits) >= limit:
            return hits[0] + _WINDOW - now
        hits.append(now)
        return None


@web.middleware
async def _request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tag every response with an ``X-Request-ID`` header."""
    request_id = _new_id("req_")
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-ID"] = request_id
        raise
    if not response.prepared:
        response.headers["X-Request-ID"] = request_id
    return response


class NanoGPTEmulator:
    """The NanoGPT video API: submit, unified and legacy status, extend, models, balance.

    Jobs advance with ``clock`` (computed at read time). Prompt markers choose outcomes
    (see :mod:`prism_async.testing._jobs`); ``[blocked]`` is refused at submit. The account
    starts with ``balance`` dollars ($1,000,000 by default, so that a demo never runs dry;
    give a small one to test a 402).
    """

    prefix = "nanogpt"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        api_key: str = "nano-emulator-key",
        other_api_keys: tuple[str, ...] = ("nano-other-key",),
        status_shape: Literal["nested", "flat"] = "nested",
        queue_seconds: float = 2.0,
        run_seconds: float = 8.0,
        balance: Decimal = Decimal(1_000_000),
        price: Decimal = Decimal("0.35"),
        payment_source: Literal["USD", "XNO"] = "USD",
        submit_limit_per_minute: int = 50,
        extend_limit_per_minute: int = 20,
        default_outcome: Outcome = Outcome.SUCCEED,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.api_key = api_key
        self.other_api_keys = tuple(other_api_keys)
        self.status_shape: Literal["nested", "flat"] = status_shape
        self.queue_seconds = queue_seconds
        self.run_seconds = run_seconds
        self.price = price
        self.payment_source: Literal["USD", "XNO"] = payment_source
        self.submit_limit_per_minute = submit_limit_per_minute
        self.extend_limit_per_minute = extend_limit_per_minute
        self.default_outcome = default_outcome
        self.faults = Faults()
        #: How output files are served (ranges, a dropped connection, a slow link).
        self.files = FileServing()
        self.counts = RequestCounts()
        self.jobs: dict[str, NanoJob] = {}
        #: Jobs made, each one charged: accepted generates and extends. Refused requests
        #: (auth, rate limit, validation, content policy, balance) make none.
        self.creates = 0
        self.unknown_status: str | None = None
        self.deposit_address = "nano_1emu1atorde9osit4ddress0000000000000000000000000000000000"
        self._balance = balance
        self._may_refund: set[str] = set()  # jobs whose outcome fails, not yet refunded
        self._submits = _SlidingWindow()
        self._extends = _SlidingWindow()

    # --- state ------------------------------------------------------------------------------

    @property
    def balance(self) -> Decimal:
        """The account balance, after refunding every job that has ended FAILED."""
        for job_id in list(self._may_refund):
            job = self.jobs[job_id]
            if job.state is State.FAILED:
                self._balance += job.cost
                job.refunded = True
                self._may_refund.discard(job_id)
        return self._balance

    @balance.setter
    def balance(self, value: Decimal) -> None:
        self._balance = value

    @property
    def create_requests(self) -> int:
        """Requests that made a job: each generate or extend makes one, so ``creates``."""
        return self.creates

    @property
    def job_count(self) -> int:
        """The number of distinct jobs the emulator holds."""
        return len(self.jobs)

    def base_url(self, root: str) -> str:
        return root.rstrip("/") + f"/{self.prefix}/api"

    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                _request_id,
                middleware(self.faults, self.counts, wire.error_response),
            ],
            client_max_size=_MAX_BODY,
        )
        add = app.router
        add.add_post("/api/generate-video", self._generate, name="generate")
        add.add_post("/api/generate-video/extend", self._extend, name="extend")
        add.add_get("/api/video/status", self._status, name="status")
        add.add_get("/api/generate-video/status", self._legacy_status, name="legacy_status")
        add.add_get("/api/v1/video-models", self._video_models, name="video_models")
        add.add_get("/api/v1/models", self._models, name="models")
        add.add_post("/api/check-balance", self._check_balance, name="balance")
        add.add_get("/files/{run_id}.mp4", self._file, name="file")
        return app

    # --- helpers ----------------------------------------------------------------------------

    def _caller(self, request: web.Request) -> str | None:
        """The valid API key the request carries (x-api-key or Bearer), if any."""
        keys = (self.api_key, *self.other_api_keys)
        candidates = [request.headers.get("x-api-key", "").strip()]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(token.strip())
        return next((c for c in candidates if c and c in keys), None)

    def _limit(self, window: _SlidingWindow, key: str, limit: int) -> web.Response | None:
        wait = window.take(key, self.clock.monotonic(), limit)
        if wait is None:
            return None
        return wire.rate_limited(max(1, math.ceil(wait)))

    async def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > _MAX_BODY:
                return wire.legacy_error(413, "Request body too large")
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks) or b"null")
        except ValueError:
            return wire.legacy_error(400, "Invalid JSON body")
        if not isinstance(body, dict):
            return wire.legacy_error(400, "Request body must be a JSON object")
        return body

    def _start(self, owner: str, model: str, text: str | None, request: dict[str, Any]) -> NanoJob:
        """Charge for and register a new job."""
        slow = 10.0 if "[slow]" in (text or "").lower() else 1.0
        sim = SimJob(
            id=_new_id("vid_"),
            owner=owner,
            clock=self.clock,
            queue_seconds=self.queue_seconds * slow,
            run_seconds=self.run_seconds * slow,
            outcome=outcome_for(text, self.default_outcome),
            request={k: _summary(v) if _is_data_url(v) else v for k, v in request.items()},
        )
        job = NanoJob(sim=sim, model=model, cost=self.price)
        self._balance -= self.price
        self.jobs[job.id] = job
        self.creates += 1
        if sim.outcome in (Outcome.FAIL, Outcome.MODERATION):
            self._may_refund.add(job.id)
        return job

    def _owned(self, job_id: str | None, key: str) -> NanoJob | web.Response:
        job = self.jobs.get(job_id or "")
        if job is None:
            return wire.openapi_error(404, "Video generation request not found")
        if job.owner != key:
            return wire.openapi_error(403, "You do not have access to this video")
        return job

    def _video_url(self, request: web.Request, job: NanoJob) -> str:
        path = request.app.router["file"].url_for(run_id=job.id)
        return str(request.url.origin()) + str(path)

    # --- routes -----------------------------------------------------------------------------

    async def _generate(self, request: web.Request) -> web.Response:
        key = self._caller(request)
        if key is None:
            return wire.unauthorized()
        limited = self._limit(self._submits, key, self.submit_limit_per_minute)
        if limited is not None:
            return limited
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        invalid = wire.validate_generate(body)
        if invalid is not None:
            return invalid
        text = body.get("prompt") or body.get("script")
        if "[blocked]" in (text or "").lower():
            return wire.content_policy()
        if self.balance < self.price:
            return wire.insufficient_balance(self.price)
        job = self._start(key, body["model"], text, body)
        answer = {
            "runId": job.id,
            "id": job.id,
            "status": "pending",
            "model": job.model,
            "cost": float(job.cost),
            "paymentSource": self.payment_source,
            "remainingBalance": float(self._balance),
            "prechargeLabel": f"{job.model} video generation",
        }
        return web.json_response(answer, status=202)

    async def _extend(self, request: web.Request) -> web.Response:
        key = self._caller(request)
        if key is None:
            return wire.unauthorized()
        limited = self._limit(self._extends, key, self.extend_limit_per_minute)
        if limited is not None:
            return limited
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        for field in _EXTEND_REJECTS:
            if field in body:
                return wire.legacy_error(
                    400, f"{field} is not accepted by this endpoint; send runId and index"
                )
        for field in ("runId", "taskId"):  # OpenAPI VideoExtendRequest: strings
            if field in body and not isinstance(body[field], str):
                return wire.legacy_error(400, f"{field} must be a string")
        run_id = body.get("runId") or body.get("taskId")
        if not isinstance(run_id, str) or not run_id:
            return wire.legacy_error(400, "runId (or taskId) is required")
        index = body.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 3:
            return wire.legacy_error(400, "index must be an integer from 0 to 3")
        parent = self._owned(run_id, key)
        if isinstance(parent, web.Response):
            return parent
        if parent.model != _EXTEND_MODEL:
            return wire.legacy_error(400, f"Extend is only supported for {_EXTEND_MODEL} runs")
        if parent.state is not State.COMPLETED:
            return wire.legacy_error(400, "Only a completed Midjourney video can be extended")
        if self.balance < self.price:
            return wire.insufficient_balance(self.price)
        job = self._start(key, _EXTEND_MODEL, None, body)
        job.extends, job.index = parent.id, index
        answer = {
            "success": True,
            "runId": job.id,
            "id": job.id,
            "taskId": job.id,
            "status": "pending",
            "model": _EXTEND_MODEL,
            "message": f"Extending video {index + 1} by 5 seconds...",
            "eta": round(job.sim.remaining),
        }
        return web.json_response(answer, status=202)

    async def _status(self, request: web.Request) -> web.Response:
        key = self._caller(request)
        if key is None:
            return wire.unauthorized()
        job_id = request.query.get("requestId") or request.query.get("runId")
        if not job_id:
            return wire.openapi_error(400, "Missing requestId parameter")
        job = self._owned(job_id, key)
        if isinstance(job, web.Response):
            return job
        render = wire.flat_status if self.status_shape == "flat" else wire.nested_status
        return web.json_response(render(job, self._video_url(request, job), self.unknown_status))

    async def _legacy_status(self, request: web.Request) -> web.Response:
        key = self._caller(request)
        if key is None:
            return wire.unauthorized()
        run_id = request.query.get("runId")
        if not run_id:
            return wire.openapi_error(400, "Missing runId parameter")
        job = self._owned(run_id, key)
        if isinstance(job, web.Response):
            return job
        model = request.query.get("model") or request.query.get("modelSlug")
        if model and model != job.model:
            return wire.openapi_error(400, f"runId {run_id} was not generated with {model}")
        body = wire.legacy_status(job, self._video_url(request, job), self.unknown_status)
        return web.json_response(body)

    async def _video_models(self, request: web.Request) -> web.Response:
        detailed = request.query.get("detailed", "true").lower() != "false"
        generated_at = wire.iso(self.clock.now()) or ""
        body = video_model_list(detailed=detailed, price=self.price, generated_at=generated_at)
        return web.json_response(body)

    async def _models(self, request: web.Request) -> web.Response:
        if self._caller(request) is None:
            return wire.unauthorized()
        detailed = request.query.get("detailed", "false").lower() == "true"
        return web.json_response(text_model_list(detailed=detailed))

    async def _check_balance(self, request: web.Request) -> web.Response:
        if self._caller(request) is None:
            return wire.unauthorized()
        balance = f"{self.balance:.8f}"
        zero = f"{Decimal(0):.8f}"
        usd, nano = (balance, zero) if self.payment_source == "USD" else (zero, balance)
        address = self.deposit_address
        body = {"usd_balance": usd, "nano_balance": nano, "nanoDepositAddress": address}
        return web.json_response(body)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["run_id"])
        if job is None or job.state is not State.COMPLETED:
            return wire.openapi_error(404, "Video not found")
        return await self.files.serve(request, "video/mp4")


def _is_data_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith("data:")


def _summary(data_url: str) -> str:
    """A data URL's header and size, kept instead of its megabytes of payload."""
    header, _, payload = data_url.partition(",")
    return f"{header},<{len(payload)} base64 characters>"
