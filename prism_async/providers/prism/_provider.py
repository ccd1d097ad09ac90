"""The Prism Videos provider: generations, uploads, templates, characters and assets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

import attrs

from prism_async.providers import (
    Flow,
    GenerationResult,
    HttpResponse,
    JobHandle,
    Media,
    PollHint,
    Rate,
    RequestValidationError,
    RetryMode,
    Secret,
    SupportsWebhooks,
    UnsupportedRequestError,
    VideoProvider,
    VideoRequest,
    WebhookCall,
    WebhookVerificationError,
    env_settings,
    required_key,
)
from prism_async.providers.prism import _body, _catalog, _templates, _uploads, _wire
from prism_async.providers.prism._api import NAME, Api
from prism_async.providers.prism._models import Asset, Character, Page, Template
from prism_async.providers.prism._requests import (
    CharacterRequest,
    PrismVideoRequest,
    TemplateRequest,
)

__all__ = ["DEFAULT_BASE_URL", "PrismProvider"]

# The newer docs use the www host in every example; the apex may only redirect to it.
DEFAULT_BASE_URL = "https://www.prismvideos.com/api"
# The newer docs: poll about every typical/6 seconds, clamped to 10-30 s.
POLL_MIN, POLL_MAX = 10.0, 30.0
# Without an estimate (a handle from elsewhere, or latency_estimate_sec null): the clamp's
# floor. Generations usually take 30 s to 3 min (older docs), so 10 s adds at most 10 s of
# latency at a few polls per job, and never polls faster than the newer docs allow (the
# older docs' 5 s is below their floor).
POLL_DEFAULT = POLL_MIN


class PrismProvider(VideoProvider, SupportsWebhooks):
    """Prism Videos (sans-IO).

    Besides the provider protocol, it offers flows for :meth:`Client.run
    <prism_async._client.Client.run>`: uploads, templates, characters and asset search.

    Args:
        api_key: A ``prism_sk_...`` key, sent as ``Authorization: Bearer``.
        base_url: ``https://www.prismvideos.com/api`` by default.
    """

    name = NAME
    env_key = "PRISM_API_KEY"
    # No rate limit is documented (the 10/60/300 per minute of app.prism-api.com belong to
    # another product), so these are our own conservative budgets: one paid create a
    # second, which no generation lasting 30 s-3 min is held back by; five status reads a
    # second, enough for ~150 jobs in flight at the 10-30 s cadence; a few uploads and
    # catalog reads a second.
    rates: Mapping[str, Rate] = {
        "submit": Rate(requests=60, per_seconds=60.0),
        "status": Rate(requests=5, per_seconds=1.0),
        "presign": Rate(requests=4, per_seconds=1.0),
        "upload": Rate(requests=4, per_seconds=1.0),
        "catalog": Rate(requests=2, per_seconds=1.0),
        "character": Rate(requests=10, per_seconds=60.0),
    }
    # No idempotency key is documented: a create is retried only where it was refused.
    idempotent_submits = False
    #: Template deliveries carry no signature (none is documented): the client trusts one
    #: only through its callback URL's token, and its result only after a status fetch.
    webhooks_signed = False

    def __init__(self, *, api_key: str | Secret, base_url: str = DEFAULT_BASE_URL) -> None:
        key = required_key(api_key, self.name)
        self._api = Api.bearer(base_url, key, errors=_wire.error_from)

    @property
    def base_url(self) -> str:
        return self._api.base_url

    def __repr__(self) -> str:
        return f"PrismProvider(base_url={self.base_url!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PrismProvider:
        """From ``PRISM_API_KEY`` and, if set, ``PRISM_BASE_URL``."""
        key, base_url = env_settings(environ, cls.name, "PRISM", DEFAULT_BASE_URL)
        return cls(api_key=key, base_url=base_url)

    def _get(self, path: str, kind: str, params: list[tuple[str, str]]) -> Flow[HttpResponse]:
        return (yield from self._api.call("GET", path, kind, params=tuple(params)))

    # -- the provider protocol ---------------------------------------------------------

    def submit_flow(self, request: object, *, idempotency_key: str) -> Flow[tuple[JobHandle, ...]]:
        """Create generations: a VideoRequest, a PrismVideoRequest or a TemplateRequest.

        Files are uploaded first (not paid); the create itself is sent once, retried only
        where it was refused. One handle per video (``count`` up to 4).
        """
        if isinstance(request, TemplateRequest):
            return (yield from self._template_submit(request))
        names: Mapping[str, str] = {}
        if isinstance(request, VideoRequest):
            request, names = _body.from_video_request(request), _body.NEUTRAL_NAMES
        if not isinstance(request, PrismVideoRequest):
            raise UnsupportedRequestError(
                "request", f"prism does not take a {type(request).__name__}", provider=self.name
            )
        body = yield from _body.create_body_flow(self._api, request, names)
        # Sent once. A 503 free_tier_paused was refused too, but a pause is not over in the
        # seconds a transport retry waits: it reaches the caller as ServiceUnavailableError.
        response = yield from self._api.call(
            "POST",
            "/generations",
            "submit",
            json=body,
            retry=RetryMode.REFUSED_ONLY,
            charges=True,
        )
        return _wire.parse_submit(response)

    def _template_submit(self, request: TemplateRequest) -> Flow[tuple[JobHandle, ...]]:
        _templates.check_template_request(request, request.template)
        template = request.template
        if template is None and request.fetch_template:
            template = yield from self.template_flow(request.template_id)
            _templates.check_template_request(request, template)
        json_body, multipart = yield from _templates.template_body_flow(request)
        response = yield from self._api.call(
            "POST",
            f"/templates/{quote(request.template_id, safe='')}/generate",
            "submit",
            json=json_body,
            body=multipart,
            retry=RetryMode.REFUSED_ONLY,
            charges=True,
        )
        return _wire.parse_submit(response)

    def status_flow(self, handle: JobHandle, *, wait: bool = False) -> Flow[GenerationResult]:
        """``GET /api/generations/{id}`` (Prism has no long poll; ``wait`` is ignored)."""
        response = yield from self._api.call(
            "GET", f"/generations/{quote(handle.id, safe='')}", "status", job_id=handle.id
        )
        return _wire.parse_status(handle, response)

    def poll_hint(self, handle: JobHandle, result: GenerationResult) -> PollHint:
        """Every ``typical / 6`` seconds clamped to 10-30 s, as the docs advise."""
        typical = handle.extra.get("typical")
        try:
            delay = float(typical) / 6 if typical else POLL_DEFAULT
        except ValueError:
            delay = POLL_DEFAULT
        return PollHint(delay=min(POLL_MAX, max(POLL_MIN, delay)), floor=POLL_MIN)

    def with_webhook(self, request: object, url: str) -> object | None:
        """A template request with ``webhook_url`` set; None for direct generations (Prism
        documents no callback for them) and for a request that names its own."""
        if isinstance(request, TemplateRequest) and request.webhook_url is None:
            return attrs.evolve(request, webhook_url=url)
        return None

    def read_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        secret: Secret | None,
        tolerance: float,
        now: float,
    ) -> WebhookCall:
        """The generation a delivery names (its payload is undocumented; the Get Generation
        object is read, bare or under ``data``). Never believed as it is: no result."""
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
            payload = payload["data"]
        job_id = payload.get("id") if isinstance(payload, dict) else None
        if not isinstance(job_id, str) or not job_id:
            raise WebhookVerificationError(
                "webhook rejected: the body names no generation id", provider=NAME
            )
        return WebhookCall(job_id=job_id)

    # -- Prism's own flows -------------------------------------------------------------

    def upload_flow(self, media: Media, *, kind: str | None = None) -> Flow[str]:
        """Put a local file or bytes into Prism storage; the key for a ``*Key`` field.

        Args:
            media: A path, bytes or data URI with a known content type (a storage key is
                returned as it is).
            kind: ``image``, ``video`` or ``audio``; by default read from the content type.
        """
        expected = kind or (media.content_type or "").split("/", 1)[0]
        if expected not in ("image", "video", "audio"):
            raise RequestValidationError(
                "media", f"cannot upload {media.content_type or 'an unknown type'}", provider=NAME
            )
        checked = _uploads.check_key_media("media", media, expected)
        item = yield from _uploads.sized("media", checked, image_limit=expected == "image")
        if isinstance(item, str):
            return item
        return (yield from _uploads.upload(self._api, item))

    def templates_flow(
        self,
        *,
        q: str | None = None,
        category: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Flow[Page[Template]]:
        """One page of ``GET /api/templates``.

        Args:
            q: Search in title and description (newer docs), at least 2 characters.
            category: Category filter (older docs).
            limit: 1-100.
            offset: Where the page starts.
        """
        params = _catalog.list_params(q=q, limit=limit, offset=offset, max_limit=100)
        if category is not None:
            params.append(("category", category))
        response = yield from self._get("/templates", "catalog", params)
        return _wire.parse_page(response, Template, offset=offset, limit=limit)

    def template_flow(self, template_id: str) -> Flow[Template]:
        """``GET /api/templates/{id}`` (free: use it to check variables before paying)."""
        if not template_id or not template_id.strip():
            raise RequestValidationError("template_id", "required", provider=NAME)
        response = yield from self._get(f"/templates/{quote(template_id, safe='')}", "catalog", [])
        return _wire.parse_template(response)

    def characters_flow(
        self, *, q: str | None = None, limit: int = 24, offset: int = 0
    ) -> Flow[Page[Character]]:
        """One page of ``GET /api/characters``: public ones and the key owner's.

        Args:
            q: Name search, at least 2 characters.
            limit: 1-60.
            offset: Where the page starts.
        """
        params = _catalog.list_params(q=q, limit=limit, offset=offset, max_limit=60)
        response = yield from self._get("/characters", "catalog", params)
        return _wire.parse_page(response, Character, offset=offset, limit=limit)

    def create_character_flow(self, request: CharacterRequest) -> Flow[Character]:
        """``POST /api/characters`` (always private). Sent once: a retry could make two."""
        json_body, multipart = yield from _catalog.character_body_flow(request)
        response = yield from self._api.call(
            "POST",
            "/characters",
            "character",
            json=json_body,
            body=multipart,
            retry=RetryMode.REFUSED_ONLY,
        )
        return _wire.parse_character(response, Character)

    def assets_flow(
        self,
        q: str,
        *,
        asset_type: str = "all",
        source: str = "all",
        limit: int = 24,
        offset: int = 0,
    ) -> Flow[Page[Asset]]:
        """One page of ``GET /api/assets/search``; each asset's ``media`` is a ``*Key`` input.

        Args:
            q: Search text, at least 2 characters.
            asset_type: ``all``, ``image`` or ``video`` (the ``type`` parameter).
            source: ``all``, ``community`` or ``history``.
            limit: 1-60.
            offset: Where the page starts.
        """
        params = _catalog.list_params(
            q=q, limit=limit, offset=offset, max_limit=60, q_required=True
        )
        _catalog.check_choice("asset_type", asset_type, _catalog.ASSET_TYPES)
        _catalog.check_choice("source", source, _catalog.ASSET_SOURCES)
        params += [("type", asset_type), ("source", source)]
        response = yield from self._get("/assets/search", "catalog", params)
        return _wire.parse_page(response, Asset, offset=offset, limit=limit)
