"""A local emulator of the Sync.so-style lipsync API v2, as an aiohttp.web app.

Served at ``/lipsync`` by :class:`~prism_async.testing.EmulatorServer`; a client's base URL
is ``http://127.0.0.1:N/lipsync`` and its paths are ``/v2/...``.

A generation's ending comes from markers (see :mod:`prism_async.testing._jobs`) found in:

- the TTS scripts of its text items;
- its media URLs, URL-decoded (``.../clip%5Bfail%5D.wav`` counts as ``[fail]``), which
  includes the names of files uploaded through multipart;
- its ``outputFileName``, where brackets are not allowed: a word between ``_`` or ``-``
  equal to a marker's name counts (``take1_fail``, ``moderation-test``).

Webhooks: a generation created with a ``webhookUrl`` gets one POST the moment it ends
(COMPLETED, FAILED, REJECTED or CANCELED): the Generation object, exactly as
``GET /v2/generate/{id}`` shows it, as compact JSON, signed with ``webhook_secret`` in
``Sync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`` (t on the
emulator's clock). They are sent by the shared sender,
:class:`~prism_async.testing.WebhookSender` (``emulator.webhooks``), which records what
it sent and can drop, duplicate, delay, reorder (a stale, correctly signed ``PROCESSING``
delivery after the final one) or corrupt them (the body altered after signing); see
:mod:`prism_async.testing._webhooks`.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from prism_async._clock import Clock, SystemClock
from prism_async.testing._faults import Faults, RequestCounts, middleware
from prism_async.testing._files import FileServing
from prism_async.testing._jobs import Outcome, SimJob, outcome_for
from prism_async.testing._lipsync_multipart import BadRequest, read_create
from prism_async.testing._lipsync_store import (
    ERROR_CATALOG,
    FPS,
    IdempotencyRecord,
    LipsyncGeneration,
    SlidingWindow,
    error_body,
    notional_seconds,
    sign,
)
from prism_async.testing._lipsync_validate import (
    STATUSES,
    valid_idempotency_key,
    validate_create,
)
from prism_async.testing._webhooks import WebhookSender, WebhookSwitches

__all__ = ["LipsyncEmulator", "LipsyncGeneration"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("lipsync_request_id")
_UNAUTHENTICATED = frozenset({"errors", "file"})
_LONG_POLL_STEP = 0.05  # clock seconds between checks while holding a long poll


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(obj).encode(),
        content_type="application/json",
        headers=headers,
    )


def _error(status: int, message: str | list[str], **extra: Any) -> web.Response:
    """The documented error body, ``{statusCode, message, error}`` plus a code."""
    if status >= 500:
        extra.setdefault("errorCode", "internal_error")
        extra.setdefault("requestId", _REQUEST_ID.get(""))
    return _json(error_body(status, message, **extra), status)


class LipsyncEmulator(WebhookSwitches):
    """The lipsync API v2: create, status with long poll, list, cost, cancel, webhooks.

    Args:
        clock: The clock jobs age by (share a VirtualClock with the client in tests).
        api_key: The ``x-api-key`` accepted.
        webhook_secret: The ``whsec_`` secret that signs webhook deliveries.
        concurrency_limit: The plan's slots (PENDING + PROCESSING generations).
        create_limit_per_minute: Creates allowed in any sliding minute.
        read_limit_per_minute: Other authenticated requests allowed in any sliding minute.
        queue_seconds: How long a generation stays PENDING.
        run_seconds: How long it then stays PROCESSING.
        cost_per_second: USD per second of generated video, for cost estimates.
        long_poll: Whether ``wait=true`` is honoured (mutable).
        default_outcome: The ending of a generation with no marker.

    Webhooks: ``webhook_secret`` (mutable) signs each delivery; ``webhooks`` is the
    :class:`~prism_async.testing.WebhookSender` (``webhooks.sent``, ``webhooks.dropped``
    and its switches ``drop``, ``duplicate``, ``delay``, ``reorder``, ``corrupt``, each
    with a counted ``*_next``, and ``delay_seconds``). ``drop_webhooks`` and
    ``duplicate_webhooks`` are ``webhooks.drop`` and ``webhooks.duplicate``;
    ``webhooks_sent`` lists ``(url, body, headers)`` of ``webhooks.sent`` and
    ``webhooks_dropped`` counts ``webhooks.dropped``.
    """

    prefix = "lipsync"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        api_key: str = "sync-emulator-key",
        webhook_secret: str = "whsec_emulator",
        concurrency_limit: int = 1,
        create_limit_per_minute: int = 100,
        read_limit_per_minute: int = 600,
        queue_seconds: float = 1.0,
        run_seconds: float = 5.0,
        cost_per_second: float = 0.05,
        long_poll: bool = True,
        default_outcome: Outcome = Outcome.SUCCEED,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.concurrency_limit = concurrency_limit
        self.queue_seconds = queue_seconds
        self.run_seconds = run_seconds
        self.cost_per_second = cost_per_second
        self.long_poll = long_poll
        self.default_outcome = default_outcome
        self.faults = Faults()
        #: How output files are served (ranges, a dropped connection, a slow link).
        self.files = FileServing()
        self.counts = RequestCounts()
        self.generations: dict[str, LipsyncGeneration] = {}
        #: Generations actually created, each one a paid create. With an
        #: ``Idempotency-Key``, the first create that succeeds stores the key with the body's
        #: fingerprint and its answer; a later create with the same key and body is a replay
        #: (201 with the stored answer and ``Idempotent-Replayed: true``) and makes nothing,
        #: the same key with another body answers 409 IDEMPOTENCY_KEY_REUSED. Keys are
        #: stored even when ``outcome_unknown_next`` answers 503, so a retry replays. A
        #: create refused before it makes a generation (400, 401, 429) stores no key.
        self.creates = 0
        #: The most generations PENDING or PROCESSING at once.
        self.max_running_seen = 0
        #: The webhook sender (its switches and what it sent).
        self.webhooks = WebhookSender(clock=self.clock, sign=self._signature, tamper=_flip_status)
        #: The next N creates create the generation but answer 503 IDEMPOTENCY_OUTCOME_UNKNOWN.
        self.outcome_unknown_next = 0
        #: Bytes received in multipart file uploads.
        self.uploaded_bytes = 0
        self._create_window = SlidingWindow(create_limit_per_minute)
        self._read_window = SlidingWindow(read_limit_per_minute)
        self._idempotency: dict[str, IdempotencyRecord] = {}

    @property
    def create_requests(self) -> int:
        """Creates that made a generation (one each; replays excluded), so ``creates``."""
        return self.creates

    @property
    def job_count(self) -> int:
        """The number of distinct generations the emulator holds."""
        return len(self.generations)

    # -- webhooks (the shared sender; these names predate it) ---------------------------

    @property
    def webhooks_sent(self) -> list[tuple[str, bytes, dict[str, str]]]:
        """``(url, body, headers)`` of each delivery attempted (``webhooks.sent``)."""
        return [(d.url, d.body, d.headers) for d in self.webhooks.sent]

    @property
    def webhooks_dropped(self) -> int:
        """Deliveries ``drop`` swallowed (``len(webhooks.dropped)``)."""
        return len(self.webhooks.dropped)

    def _signature(self, body: bytes, timestamp: int) -> dict[str, str]:
        return {"Sync-Signature": sign(self.webhook_secret, timestamp, body)}

    @staticmethod
    def stale_json(generation: LipsyncGeneration) -> dict[str, Any]:
        """The Generation object as it was just before it ended (a reordered webhook):
        PROCESSING, or PENDING for a canceled one, with no output or error."""
        stale = generation.to_json()
        stale.update(
            status="PENDING" if generation.job.canceled else "PROCESSING",
            outputUrl=None,
            outputMediaUrl=None,
            outputDuration=None,
            segmentOutputUrl=None,
            error=None,
            error_code=None,
            errorCode=None,
        )
        return stale

    def base_url(self, root: str) -> str:
        return f"{root.rstrip('/')}/{self.prefix}"

    def build_app(self) -> web.Application:
        # The shared middleware's Callable type lacks the parameter names of aiohttp's protocol.
        faulty = middleware(self.faults, self.counts, _error)
        app = web.Application(middlewares=[self._outer, faulty, self._guard])
        app.router.add_post("/v2/generate", self._create, name="create")
        app.router.add_get("/v2/generate/{id}", self._get, name="generation")
        app.router.add_post("/v2/generate/{id}/cancel", self._cancel, name="cancel")
        app.router.add_get("/v2/generations", self._list, name="list")
        app.router.add_post("/v2/analyze/cost", self._cost, name="cost")
        app.router.add_get("/v2/errors", self._errors, name="errors")
        app.router.add_get("/v2/generations/{id}/result", self._result, name="result")
        app.router.add_get("/v2/generations/{id}/download", self._download, name="download")
        app.router.add_get("/v2/healthcheck", self._health, name="health")
        app.router.add_get("/files/{id}.mp4", self._file, name="file")
        self.webhooks.attach(app)
        return app

    # -- middlewares -------------------------------------------------------------------

    @web.middleware
    async def _outer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Request ids, JSON bodies for aiohttp's own errors, 500 for crashes, webhooks."""
        request_id = uuid.uuid4().hex
        _REQUEST_ID.set(request_id)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = _error(exc.status, exc.reason)
        except Exception:
            response = _error(500, "Internal server error")
        if not response.prepared:
            response.headers["X-Request-ID"] = request_id
        self.webhooks.check()
        return response

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """``x-api-key`` and the per-minute rate limits."""
        route = request.match_info.route.name
        if route is None or route in _UNAUTHENTICATED:
            return await handler(request)
        if request.headers.get("x-api-key") != self.api_key:
            return _json(error_body(401, "Unauthorized"), 401)
        # Every other route is authenticated and read-limited: create 100/min, the rest 600/min.
        window = self._create_window if route == "create" else self._read_window
        wait = window.hit(self.clock.monotonic())
        if wait is not None:
            response = _error(
                429,
                "Rate limit exceeded. Please try again later.",
                errorCode="rate_limit_exceeded",
            )
            response.headers["Retry-After"] = str(wait)
            return response
        return await handler(request)

    # -- create ------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        keys = request.headers.getall("Idempotency-Key", [])
        if keys and (len(keys) > 1 or not valid_idempotency_key(keys[0])):
            return _error(
                400,
                "Idempotency-Key must be one value of 1-128 characters from [A-Za-z0-9._~-]",
                errorCode="INVALID_IDEMPOTENCY_KEY",
            )
        key = keys[0] if keys else None
        try:
            create = await read_create(request)
        except BadRequest as exc:
            return _error(400, [str(exc)], errorCode="validation_failed")
        problems = validate_create(create.body)
        if problems:
            return _error(400, problems, errorCode="validation_failed")
        record = self._idempotency.get(key) if key is not None else None
        if record is not None:
            if record.fingerprint != create.fingerprint:
                return _error(
                    409,
                    "Idempotency-Key was already used with a different request body",
                    errorCode="IDEMPOTENCY_KEY_REUSED",
                )
            return web.Response(
                status=201,
                body=record.response,
                content_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        if self._active() >= self.concurrency_limit:
            return _error(
                429,
                f"Concurrency limit reached for your plan ({self.concurrency_limit} concurrent"
                " generations). Wait for a generation to finish before creating another.",
                errorCode="concurrency_limit_reached",
            )
        generation = self._new_generation(request, create.body)
        generation.uploads = {name: f.size for name, f in create.uploads.items()}
        self.uploaded_bytes += sum(generation.uploads.values())
        payload = json.dumps(generation.to_json()).encode()
        if key is not None:
            self._idempotency[key] = IdempotencyRecord(
                fingerprint=create.fingerprint, generation_id=generation.id, response=payload
            )
        if self.outcome_unknown_next > 0:
            self.outcome_unknown_next -= 1
            return _error(
                503,
                "The outcome of this request is unknown. Retry with the same Idempotency-Key"
                " or poll the generation.",
                errorCode="IDEMPOTENCY_OUTCOME_UNKNOWN",
                generationId=generation.id,
            )
        return web.Response(status=201, body=payload, content_type="application/json")

    def _new_generation(self, request: web.Request, body: dict[str, Any]) -> LipsyncGeneration:
        outcome, slow = self._ending(body)
        factor = 10.0 if slow else 1.0
        gid = str(uuid.uuid4())
        job = SimJob(
            id=gid,
            owner="organization",
            clock=self.clock,
            queue_seconds=self.queue_seconds * factor,
            run_seconds=self.run_seconds * factor,
            outcome=outcome,
            request=body,
        )
        path = request.app.router["file"].url_for(id=gid)
        generation = LipsyncGeneration(
            job=job, body=body, output_url=str(request.url.origin().join(path))
        )
        self.generations[gid] = generation
        webhook_url = body.get("webhookUrl")
        if webhook_url:
            self.webhooks.watch(
                job,
                str(webhook_url),
                payload=generation.to_json,
                stale=lambda: self.stale_json(generation),
            )
        self.creates += 1
        self.max_running_seen = max(self.max_running_seen, self._active())
        return generation

    def _ending(self, body: dict[str, Any]) -> tuple[Outcome, bool]:
        """The outcome the request's markers ask for, and whether it is slow."""
        texts: list[str] = []
        for item in body["input"]:
            if isinstance(item.get("url"), str):
                texts.append(unquote(item["url"]))
            provider = item.get("provider")
            if isinstance(provider, dict):
                texts.append(str(provider.get("script", "")))
        name = body.get("outputFileName") or ""
        texts.extend(f"[{word}]" for word in re.split(r"[-_]", name.lower()) if word)
        text = " ".join(texts)
        return outcome_for(text, self.default_outcome), "[slow]" in text.lower()

    def _active(self) -> int:
        return sum(1 for g in self.generations.values() if g.active)

    # -- reads -------------------------------------------------------------------------

    def _lookup(self, request: web.Request) -> LipsyncGeneration | web.Response:
        gid = request.match_info["id"]
        try:
            uuid.UUID(gid)
        except ValueError:
            return _error(400, "Validation failed (uuid is expected)", errorCode="invalid_id")
        generation = self.generations.get(gid)
        if generation is None:
            return _error(404, "Generation not found", errorCode="generation_not_found")
        return generation

    async def _get(self, request: web.Request) -> web.StreamResponse:
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        include = request.query.get("include", "").split(",")
        progress = "progress" in include
        if request.query.get("wait", "").lower() != "true" or not self.long_poll:
            return _json(found.to_json(progress=progress))
        if progress:
            return _error(400, "include=progress cannot be combined with wait=true")
        try:
            timeout = float(request.query.get("timeout", "5"))
        except ValueError:
            timeout = float("nan")
        if not 1 <= timeout <= 10:
            return _error(400, "timeout must be a number from 1 to 10")
        deadline = self.clock.monotonic() + timeout
        while found.active:
            left = deadline - self.clock.monotonic()
            if left <= 0:
                break
            await self.clock.sleep(min(_LONG_POLL_STEP, left))
        return _json(
            found.to_json(),
            headers={
                "Retry-After": "2",
                "X-Sync-Wait-Mode": "long_poll",
                "X-Sync-Wait-Timeout-Seconds": f"{timeout:g}",
            },
        )

    async def _list(self, request: web.Request) -> web.StreamResponse:
        status = request.query.get("status")
        if status is not None and status not in STATUSES:
            return _error(
                400, [f"status must be one of the following values: {', '.join(STATUSES)}"]
            )
        found = [g.to_json() for g in reversed(self.generations.values())]
        return _json([g for g in found if status is None or g["status"] == status])

    async def _cost(self, request: web.Request) -> web.StreamResponse:
        try:
            create = await read_create(request)
        except BadRequest as exc:
            return _error(400, [str(exc)], errorCode="validation_failed")
        problems = validate_create(create.body)
        if problems:
            return _error(400, problems, errorCode="validation_failed")
        seconds = notional_seconds(create.body)
        return _json(
            [
                {
                    "estimatedFrameCount": round(seconds * FPS),
                    "estimatedGenerationCost": round(seconds * self.cost_per_second, 6),
                }
            ]
        )

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        if found.status != "PENDING":
            return _error(
                400,
                f"Generation is {found.status}; only a PENDING generation can be canceled",
                errorCode="generation_not_cancelable",
            )
        found.job.canceled = True
        self.webhooks.refresh(found.id)
        return _json(found.to_json())

    async def _errors(self, request: web.Request) -> web.StreamResponse:
        return _json(ERROR_CATALOG)

    def result_token(self, generation_id: str) -> str:
        """The ``token`` this emulator's ``GET /v2/generations/{id}/result`` takes for a
        generation (the API does not document where a token comes from; here it is a
        digest of the id and the key, handed to tests by this method)."""
        digest = hashlib.sha256(f"{generation_id}:{self.api_key}".encode()).hexdigest()
        return digest[:32]

    def _finished(self, request: web.Request) -> LipsyncGeneration | web.Response:
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        if found.status != "COMPLETED":
            return _error(400, "Generation not completed", errorCode="generation_not_completed")
        return found

    async def _result(self, request: web.Request) -> web.StreamResponse:
        """``GET /v2/generations/{id}/result?token=`` (OpenAPI 2025-03): 302 to the file of
        a completed generation; 400 while it is not completed; 404 for an unknown one."""
        found = self._finished(request)
        if isinstance(found, web.Response):
            return found
        if request.query.get("token") != self.result_token(found.id):
            return _error(404, "Generation not found", errorCode="generation_not_found")
        return web.Response(status=302, headers={"Location": found.output_url})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """``GET /v2/generations/{id}/download`` (newest docs): the file's URL as plain
        text, unquoted."""
        found = self._finished(request)
        if isinstance(found, web.Response):
            return found
        return web.Response(text=found.output_url, content_type="text/plain")

    async def _health(self, request: web.Request) -> web.StreamResponse:
        """``GET /v2/healthcheck``: 200 (the body is not documented; a small JSON one)."""
        return _json({"status": "ok"})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["id"]
        generation = self.generations.get(name.removesuffix("_segments"))
        if generation is None or generation.status != "COMPLETED":
            return _error(404, "File not found")
        return await self.files.serve(request, "video/mp4")


def _flip_status(payload: dict[str, Any]) -> dict[str, Any]:
    """A corrupted webhook payload: the status flipped (COMPLETED to FAILED, else COMPLETED)."""
    flipped = "FAILED" if payload.get("status") == "COMPLETED" else "COMPLETED"
    return {**payload, "status": flipped}
