"""A local emulator of the Prism Videos API (prismvideos.com), as an aiohttp.web app.

Served at ``/prism`` by :class:`~prism_async.testing.EmulatorServer`; a client's base URL
is ``http://127.0.0.1:N/prism/api``. It follows the public documents (see the project's
provider reference, section 1) and never imports the client's wire models.

Webhooks: a template generate's ``webhook_url`` gets one POST per generation, the moment
it completes or fails: the Get Generation object, as compact JSON, unsigned (the docs
document no signature). They are sent by the shared sender,
:class:`~prism_async.testing.WebhookSender` (``emulator.webhooks``), which records what
it sent and can drop, duplicate, delay, reorder (a stale ``generating`` delivery after
the final one) or corrupt them (the body names another generation id); see
:mod:`prism_async.testing._webhooks`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import mimetypes
import os
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from aiohttp import web

from prism_async._clock import Clock, SystemClock
from prism_async.testing._faults import Faults, RequestCounts, middleware
from prism_async.testing._files import FileServing
from prism_async.testing._jobs import Outcome, SimJob, outcome_for
from prism_async.testing._prism_catalog import PRICED_MODELS, PUBLIC_CHARACTERS, TEMPLATES
from prism_async.testing._prism_forms import read_json_object, validate_create
from prism_async.testing._prism_state import (
    DEFAULT_ERROR_CODES,
    ApiError,
    Character,
    Generation,
    MediaStore,
    PendingUpload,
    add_request_id,
    error_body,
    invalid,
    iso_ms,
    new_id,
    s3_error,
    variant,
)
from prism_async.testing._prism_views import CatalogViews
from prism_async.testing._webhooks import WebhookSender, WebhookSwitches

__all__ = ["PrismEmulator"]

Handler = Any
_REFUND_INTERVAL = 0.05  # real seconds between two passes of the background refunder


class PrismEmulator(CatalogViews, WebhookSwitches):
    """The Prism Videos API, emulated: uploads, generations, templates, characters, assets.

    Keys: ``api_key`` and each of ``other_api_keys`` is a separate owner (another owner's
    generation answers 404); ``unscoped_api_keys`` are valid but lack ``templates:read``, so
    every endpoint answers them 403. Each owner starts with ``credits``
    (10,000,000 by default, so that a demo never runs dry; give a few to test a 402).

    Test knobs: ``paused`` (every authenticated request answers 503 free_tier_paused),
    ``unknown_status`` (a status value reported instead of ``generating``),
    ``error_codes`` (the code an injected fault status gets; set
    ``error_codes[500] = "generation_error"`` for that code), ``priced_models``, the
    shared ``faults`` keyed by route name, and ``webhooks`` (the
    :class:`~prism_async.testing.WebhookSender`: ``webhooks.sent``, ``webhooks.dropped``
    and its switches ``drop``, ``duplicate``, ``delay``, ``reorder``, ``corrupt``, each
    with a counted ``*_next``, and ``delay_seconds``). ``drop_webhooks`` and
    ``duplicate_webhooks`` are ``webhooks.drop`` and ``webhooks.duplicate``;
    ``webhooks_sent`` lists ``(url, payload)`` of ``webhooks.sent``.
    """

    prefix = "prism"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        api_key: str = "prism_sk_emulator",
        other_api_keys: tuple[str, ...] = ("prism_sk_other",),
        unscoped_api_keys: tuple[str, ...] = ("prism_sk_noscope",),
        queue_seconds: float = 0.0,
        run_seconds: float = 30.0,
        credits: int = 10_000_000,
        credits_per_video: int = 50,
        latency_typical: int | None = 120,
        latency_busy: int | None = 240,
        max_upload_bytes: int = 20 * 1024 * 1024,
        video_url_ttl: float = 3600.0,
        upload_url_ttl: float = 3600.0,
        default_outcome: Outcome = Outcome.SUCCEED,
        create_response: Literal["documented", "template_analogue"] = "documented",
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.api_key = api_key
        self._owners: dict[str, str] = {api_key: "user_emulator"}
        for n, key in enumerate(other_api_keys, start=1):
            self._owners[key] = f"user_other{n}"
        for n, key in enumerate(unscoped_api_keys, start=1):
            self._owners[key] = f"user_noscope{n}"
        self._unscoped = frozenset(unscoped_api_keys)
        self.balances: dict[str, int] = dict.fromkeys(self._owners.values(), credits)
        self.queue_seconds = queue_seconds
        self.run_seconds = run_seconds
        self.credits_per_video = credits_per_video
        self.latency_typical = latency_typical
        self.latency_busy = latency_busy
        self.max_upload_bytes = max_upload_bytes
        self.video_url_ttl = video_url_ttl
        self.upload_url_ttl = upload_url_ttl
        self.default_outcome = default_outcome
        self.create_response = create_response
        self.priced_models: set[str] = set(PRICED_MODELS)
        self.error_codes: dict[int, str] = dict(DEFAULT_ERROR_CODES)

        self.faults = Faults()
        #: How output files are served (ranges, a dropped connection, a slow link).
        self.files = FileServing()
        self.counts = RequestCounts()
        self.media = MediaStore()
        self.uploads: dict[str, bytes] = self.media.uploads
        self.generations: dict[str, Generation] = {}
        self.characters: dict[str, Character] = {
            c["id"]: Character(owner=None, **c) for c in PUBLIC_CHARACTERS
        }
        #: Generations made, each one charged (a create with ``count`` N makes N; template
        #: generates count too). Refused and failed requests make none.
        self.creates = 0
        #: Requests (create or template generate) that made at least one generation.
        self.create_requests = 0
        #: The webhook sender (its switches and what it sent).
        self.webhooks = WebhookSender(clock=self.clock, tamper=_another_generation)
        self.paused = False
        self.unknown_status: str | None = None

        self._pending_uploads: dict[str, PendingUpload] = {}
        self._active: set[str] = set()  # generations not yet settled
        self._secret = os.urandom(16)

    # -- the EmulatorApp protocol ------------------------------------------------------

    def base_url(self, root: str) -> str:
        return root.rstrip("/") + "/prism/api"

    def build_app(self) -> web.Application:
        faulty = middleware(self.faults, self.counts, self._error_response)
        app = web.Application(
            middlewares=[faulty, self._errors_middleware()],
            # JSON bodies may carry base64 data URIs of up to max_upload_bytes.
            client_max_size=max(1024**2, self.max_upload_bytes * 2),
        )
        app.on_response_prepare.append(add_request_id)
        app.cleanup_ctx.append(self._background)
        self.webhooks.attach(app)
        add = app.router.add_route
        add("POST", "/api/s3/presign-upload", self._presign, name="presign")
        add("PUT", "/s3/{token}", self._upload_put, name="upload_put")
        add("POST", "/api/generations", self._create, name="create")
        add("GET", "/api/generations/{gen_id}", self._generation, name="generation")
        add("GET", "/api/templates", self._templates, name="templates")
        add("GET", "/api/templates/{template_id}", self._template, name="template")
        add(
            "POST",
            "/api/templates/{template_id}/generate",
            self._template_generate,
            name="template_generate",
        )
        add("GET", "/api/characters", self._characters, name="characters")
        add("POST", "/api/characters", self._characters_create, name="characters_create")
        add("GET", "/api/assets/search", self._assets, name="assets")
        add("GET", "/files/{gen_id}.mp4", self._file, name="file")
        add("GET", "/workspace/s/{share_id}", self._share, name="share")
        add("*", "/{tail:.*}", self._unknown, name="unknown")
        return app

    @property
    def credits(self) -> int:
        """The remaining credits of ``api_key``'s owner (refunds of failures included)."""
        self._settle()
        return self.balances[self._owners[self.api_key]]

    @credits.setter
    def credits(self, value: int) -> None:
        self.balances[self._owners[self.api_key]] = value

    # -- webhooks (the shared sender; these names predate it) ---------------------------

    @property
    def webhooks_sent(self) -> list[tuple[str, dict[str, Any]]]:
        """``(url, payload)`` of each delivery attempted (``webhooks.sent``)."""
        return [(d.url, d.payload) for d in self.webhooks.sent]

    # -- plumbing ----------------------------------------------------------------------

    def _error_response(self, status: int, message: str) -> web.Response:
        return error_body(status, self.error_codes.get(status, "server_error"), message)

    def _errors_middleware(self) -> Any:
        @web.middleware
        async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
            # Any request is a moment to notice ended generations (refunds, webhooks).
            self._settle()
            try:
                response: web.StreamResponse = await handler(request)
            except ApiError as exc:
                return error_body(exc.status, exc.code, exc.message)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                return self._error_response(exc.status, exc.reason)
            finally:
                self.webhooks.check()
            return response

        return errors

    async def _background(self, app: web.Application) -> AsyncIterator[None]:
        refunder = asyncio.create_task(self._refunder())
        yield
        refunder.cancel()
        await asyncio.gather(refunder, return_exceptions=True)

    async def _refunder(self) -> None:
        while True:
            self._settle()
            await asyncio.sleep(_REFUND_INTERVAL)

    def _owner(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith("prism_sk_"):
            raise ApiError(401, "unauthorized", "Invalid or missing API key")
        owner = self._owners.get(token)
        if owner is None:
            raise ApiError(401, "unauthorized", "Invalid or missing API key")
        if self.paused:
            raise ApiError(503, "free_tier_paused", "Free tier generation is temporarily paused")
        if token in self._unscoped:
            raise ApiError(403, "forbidden", "API key lacks templates:read scope")
        return owner

    def _absolute(self, request: web.Request, route: str, **parts: str) -> str:
        path = request.app.router[route].url_for(**parts)
        return str(request.url.origin().join(path))

    def _latency(self) -> dict[str, int] | None:
        if self.latency_typical is None or self.latency_busy is None:
            return None
        return {"typical": self.latency_typical, "busy": self.latency_busy}

    def _charge(self, owner: str, cost: int) -> None:
        balance = self.balances[owner]
        if balance < cost:
            raise ApiError(
                402,
                "insufficient_credits",
                f"Insufficient credits: {cost} required, {balance} available",
            )
        self.balances[owner] = balance - cost

    def key_kind(self, key: str, owner: str) -> str | None:
        """The media kind of a storage key ``owner`` may use as a ``*Key`` input."""
        kind = self.media.kind_of_upload(key, owner)
        if kind is not None:
            return kind
        return self.asset_kind(key, owner)

    # -- generations -------------------------------------------------------------------

    def _start(
        self,
        request: web.Request,
        owner: str,
        *,
        prompt: str,
        model_name: str,
        template_id: str | None,
        webhook_url: str | None,
        body: dict[str, Any],
        first_of_request: bool = True,
    ) -> Generation:
        slow = 10.0 if "[slow]" in prompt.lower() else 1.0
        suffix = new_id()
        gen_id = f"gen_{suffix}"
        job = SimJob(
            id=gen_id,
            owner=owner,
            clock=self.clock,
            queue_seconds=self.queue_seconds * slow,
            run_seconds=self.run_seconds * slow,
            outcome=outcome_for(prompt, self.default_outcome),
            request=body,
        )
        generation = Generation(
            job=job,
            cost=self.credits_per_video,
            prompt=prompt,
            model_name=model_name,
            template_id=template_id,
            file_url=self._absolute(request, "file", gen_id=gen_id),
            share_url=self._absolute(request, "share", share_id=f"share_{suffix}"),
            webhook_url=webhook_url,
        )
        self.generations[gen_id] = generation
        self._active.add(gen_id)
        if webhook_url:
            self.webhooks.watch(
                job,
                webhook_url,
                payload=lambda: self.generation_json(generation),
                stale=lambda: self.stale_generation_json(generation),
            )
        self.creates += 1
        if first_of_request:
            self.create_requests += 1
        return generation

    @property
    def job_count(self) -> int:
        """The number of distinct generations the emulator holds."""
        return len(self.generations)

    def signed_url(self, generation: Generation) -> str:
        """A fresh presigned-style download URL, valid ``video_url_ttl`` seconds from now."""
        expires = int(self.clock.now().timestamp() + self.video_url_ttl)
        return f"{generation.file_url}?expires={expires}&sig={self._sign(generation.id, expires)}"

    def _sign(self, gen_id: str, expires: int) -> str:
        message = f"{gen_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def generation_json(self, generation: Generation) -> dict[str, Any]:
        """The Get Generation object (also the webhook payload)."""
        status = generation.status
        completed = status == "completed"
        completed_at = generation.job.completed_at
        if status == "generating" and self.unknown_status is not None:
            status = self.unknown_status
        return {
            "id": generation.id,
            "status": status,
            "template_id": generation.template_id,
            "video_url": self.signed_url(generation) if completed else None,
            "share_url": generation.share_url if completed else None,
            "created_at": iso_ms(generation.job.created_at),
            "completed_at": iso_ms(completed_at) if completed and completed_at else None,
            "error": generation.error,
        }

    def stale_generation_json(self, generation: Generation) -> dict[str, Any]:
        """The Get Generation object as it was while generating (a reordered webhook)."""
        stale = self.generation_json(generation)
        stale.update(
            status=self.unknown_status or "generating",
            video_url=None,
            share_url=None,
            completed_at=None,
            error=None,
        )
        return stale

    def _settle(self) -> None:
        """Refund failed generations, once each (webhooks are the sender's)."""
        for gen_id in list(self._active):
            generation = self.generations[gen_id]
            if generation.status == "generating":
                continue
            self._active.discard(gen_id)
            generation.settled = True
            if generation.status == "failed":
                self.balances[generation.owner] += generation.cost

    # -- handlers: uploads -------------------------------------------------------------

    async def _presign(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        body = await read_json_object(request)
        unknown = set(body) - {"kind", "contentType", "fileName"}
        if unknown:
            raise invalid(f"Unknown field: {sorted(unknown)[0]}")
        if body.get("kind") != "upload":
            raise invalid('kind must be "upload"')
        content_type = body.get("contentType")
        if not isinstance(content_type, str) or not re.fullmatch(
            r"(image|video|audio)/[\w.+-]+", content_type, re.I
        ):
            raise invalid("contentType must be an image/*, video/* or audio/* MIME type")
        file_name = body.get("fileName")
        if file_name is not None and not isinstance(file_name, str):
            raise invalid("fileName must be a string")
        ext = os.path.splitext(file_name or "")[1] or mimetypes.guess_extension(content_type)
        s3_key = f"users/{owner}/user-uploads/{new_id('batch_')}/{new_id('file_')}{ext or ''}"
        token = new_id("put_")
        self._pending_uploads[token] = PendingUpload(
            s3_key=s3_key,
            owner=owner,
            content_type=content_type,
            max_bytes=self.max_upload_bytes,
            expires=self.clock.monotonic() + self.upload_url_ttl,
        )
        return web.json_response(
            {
                "s3_key": s3_key,
                "upload_url": self._absolute(request, "upload_put", token=token),
                "content_type": content_type,
                "max_bytes": self.max_upload_bytes,
            }
        )

    async def _upload_put(self, request: web.Request) -> web.Response:
        """The presigned PUT, answering as S3 does (XML errors, no API key)."""
        if "Authorization" in request.headers:
            return _two_auths()
        pending = self._pending_uploads.get(request.match_info["token"])
        if pending is None or pending.used or self.clock.monotonic() > pending.expires:
            return s3_error(403, "AccessDenied", "Request has expired or was already used")
        if request.headers.get("Content-Type", "").strip() != pending.content_type:
            return s3_error(
                403,
                "SignatureDoesNotMatch",
                f"Content-Type must be {pending.content_type!r}, as presigned",
            )
        declared = request.content_length
        if declared is not None and declared > pending.max_bytes:
            return s3_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > pending.max_bytes:
                return s3_error(400, "EntityTooLarge", "Your upload exceeds the maximum")
            chunks.append(chunk)
        data = b"".join(chunks)
        self.media.put(pending.s3_key, pending.owner, pending.content_type, data)
        pending.used = True
        return web.Response(headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'})

    # -- handlers: generations ---------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        body = await read_json_object(request)
        count = validate_create(
            body, lambda key: self.key_kind(key, owner), frozenset(self.priced_models)
        )
        template_id = body.get("templateId")
        if template_id is not None and template_id not in TEMPLATES:
            raise invalid(f"templateId: unknown template {template_id!r}")
        self._charge(owner, self.credits_per_video * count)
        started = [
            self._start(
                request,
                owner,
                prompt=body["prompt"],
                model_name=body["modelName"],
                template_id=template_id,
                webhook_url=None,
                body=body,
                first_of_request=n == 0,
            )
            for n in range(count)
        ]
        if self.create_response == "template_analogue":
            # The shape of Generate Video from a template, which the older reference
            # proposed while the Create Generation response was missing from captures.
            return web.json_response(
                {
                    "generations": [
                        {"generation_id": g.id, "status": "generating"} for g in started
                    ],
                    "credits_charged": self.credits_per_video * count,
                    "latency_estimate_sec": self._latency(),
                }
            )
        # The documented response (newest capture of the Create Generation page): the
        # generations under data, each with "id" and an initial queue status.
        return web.json_response(
            {
                "data": {
                    "generations": [
                        {
                            "id": g.id,
                            "asset_id": f"asset_{g.id[4:]}",
                            "request_id": f"fal_request_{g.id[4:]}",
                            "status": "queued",
                        }
                        for g in started
                    ],
                    "endpoint_id": f"fal-ai/{body['modelName']}",
                    "variant": variant(body),
                    "metadata": {
                        "model_name": body["modelName"],
                        "selected_model_name": body["modelName"],
                        "credits_charged": self.credits_per_video * count,
                        "num_generations": count,
                    },
                }
            }
        )

    async def _generation(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        generation = self.generations.get(request.match_info["gen_id"])
        if generation is None or generation.owner != owner:
            raise ApiError(404, "not_found", "Generation not found")
        return web.json_response(self.generation_json(generation))

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """The presigned download: no API key; an expired or altered URL answers 403."""
        if "Authorization" in request.headers:
            return _two_auths()
        generation = self.generations.get(request.match_info["gen_id"])
        if generation is None or generation.status != "completed":
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        try:
            expires = int(request.query.get("expires", ""))
        except ValueError:
            return s3_error(403, "AccessDenied", "Query-string authentication is required")
        signature = request.query.get("sig", "")
        if not hmac.compare_digest(signature, self._sign(generation.id, expires)):
            return s3_error(403, "SignatureDoesNotMatch", "The signature does not match")
        if self.clock.now().timestamp() > expires:
            return s3_error(403, "AccessDenied", "Request has expired")
        return await self.files.serve(request, "video/mp4")

    async def _share(self, request: web.Request) -> web.Response:
        share_id = request.match_info["share_id"]
        generation = self.generations.get("gen_" + share_id.removeprefix("share_"))
        if generation is None or generation.status != "completed":
            raise ApiError(404, "not_found", "Share not found")
        page = f'<!doctype html><video controls src="{self.signed_url(generation)}"></video>'
        return web.Response(text=page, content_type="text/html")

    async def _unknown(self, request: web.Request) -> web.Response:
        raise ApiError(404, "not_found", f"No route for {request.method} {request.path}")


def _another_generation(payload: dict[str, Any]) -> dict[str, Any]:
    """A corrupted webhook payload: the same object, naming an unknown generation."""
    return {**payload, "id": f"gen_{new_id()}"}


def _two_auths() -> web.Response:
    # S3 refuses a presigned URL sent with an Authorization header as well.
    return s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
