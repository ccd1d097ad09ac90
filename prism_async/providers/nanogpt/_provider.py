"""The NanoGPT provider: generate-video, extend, the unified status route, model discovery."""

from __future__ import annotations

from collections.abc import Mapping

from prism_async.providers import (
    Api,
    Flow,
    GenerationResult,
    JobHandle,
    PollHint,
    Rate,
    RetryMode,
    Secret,
    SupportsModels,
    UnsupportedRequestError,
    VideoProvider,
    VideoRequest,
    env_settings,
    required_key,
    send,
)
from prism_async.providers.nanogpt import _body, _wire
from prism_async.providers.nanogpt._requests import ExtendRequest, NanoGPTVideoRequest

__all__ = ["NanoGPTProvider"]

DEFAULT_BASE_URL = "https://nano-gpt.com/api"


class NanoGPTProvider(VideoProvider, SupportsModels):
    """NanoGPT's video API (sans-IO), with its model catalog.

    Args:
        api_key: Sent as ``x-api-key`` (the header every video route documents).
        base_url: ``https://nano-gpt.com/api`` by default.
    """

    name = "nanogpt"
    env_key = "NANOGPT_API_KEY"
    # Documented limits: 50 creates/min and 20 extends/min per IP; a global 25 requests/s.
    rates: Mapping[str, Rate] = {
        "submit": Rate(requests=50, per_seconds=60.0),
        "extend": Rate(requests=20, per_seconds=60.0),
        "status": Rate(requests=25, per_seconds=1.0),
    }
    # No idempotency key is documented: a create is retried only where it was refused.
    idempotent_submits = False

    def __init__(self, *, api_key: str | Secret, base_url: str = DEFAULT_BASE_URL) -> None:
        key = required_key(api_key, self.name)
        self._api = Api.header(base_url, "x-api-key", key, errors=_wire.error_from)
        self.base_url = self._api.base_url

    def __repr__(self) -> str:
        return f"NanoGPTProvider(base_url={self.base_url!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> NanoGPTProvider:
        key, base_url = env_settings(environ, cls.name, "NANOGPT", DEFAULT_BASE_URL)
        return cls(api_key=key, base_url=base_url)

    def submit_flow(self, request: object, *, idempotency_key: str) -> Flow[tuple[JobHandle, ...]]:
        """Create a generation (or an extend). Validation runs before anything is yielded."""
        if isinstance(request, ExtendRequest):
            body = _body.extend_body(request)
            path, kind = "/generate-video/extend", "extend"
        else:
            if isinstance(request, VideoRequest):
                request = _body.from_video_request(request)
            if not isinstance(request, NanoGPTVideoRequest):
                raise UnsupportedRequestError(
                    "request",
                    f"nanogpt does not take a {type(request).__name__}",
                    provider=self.name,
                )
            body = yield from _body.video_body_flow(request)
            path, kind = "/generate-video", "submit"
        response = yield from self._api.call(
            "POST", path, kind, json=body, retry=RetryMode.REFUSED_ONLY, charges=True
        )
        return _wire.parse_submit(response)

    def status_flow(self, handle: JobHandle, *, wait: bool = False) -> Flow[GenerationResult]:
        """The unified status route; the legacy route where the unified one does not know
        the job and the handle names its model."""
        # Every status is read here: a 404 or 405 sends the job to the legacy route.
        response = yield from send(
            self._api.request("GET", "/video/status", "status", params=(("requestId", handle.id),))
        )
        model = handle.extra.get("model")
        if response.status in (404, 405) and model:
            response = yield from send(
                self._api.request(
                    "GET",
                    "/generate-video/status",
                    "status",
                    params=(("runId", handle.id), ("model", model)),
                )
            )
        return _wire.parse_status(handle, self._api.raise_for_status(response, job_id=handle.id))

    def poll_hint(self, handle: JobHandle, result: GenerationResult) -> PollHint:
        """Half the estimated time remaining, where the API gives one; else the engine's
        backoff."""
        if result.eta_seconds is not None and result.eta_seconds > 0:
            return PollHint(delay=result.eta_seconds / 2)
        return PollHint()

    def models_flow(self) -> Flow[tuple[_wire.VideoModel, ...]]:
        """The video models (``GET /api/v1/video-models?detailed=true``)."""
        response = yield from self._api.call(
            "GET", "/v1/video-models", "models", params=(("detailed", "true"),)
        )
        return _wire.parse_models(response)
