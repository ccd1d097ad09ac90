"""Toy Video: a provider written against ``prism_async.providers`` alone.

The toy API: ``POST /jobs`` (``x-toy-key`` header, ``{model, prompt, seconds}``) answers
the job; ``GET /jobs/{id}`` its state (``queued``, ``running``, ``done``, ``failed``);
errors are ``{"error": {"message", "code"}}``, and a 429 with the code ``too_many_jobs``
means every job slot of the plan is busy.

A package would register it in its ``pyproject.toml``::

    [project.entry-points."prism_async.providers"]
    toy = "toy_video:ToyProvider"
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

import attrs

from prism_async.providers import (
    Api,
    APIStatusError,
    Cost,
    CostUnit,
    Failure,
    FailureKind,
    Flow,
    GenerationResult,
    HttpResponse,
    JobHandle,
    JobStatus,
    Output,
    PollHint,
    ProviderResponseError,
    Rate,
    RetryMode,
    Seconds,
    Secret,
    StatusTable,
    UnsupportedRequestError,
    VideoProvider,
    VideoRequest,
    api_error,
    check_duration,
    check_prompt,
    env_settings,
    make_converter,
    no_output_failure,
    refuser,
    required_key,
    structure,
    usable_url,
    wire,
)

__all__ = ["DEFAULT_BASE_URL", "TOO_MANY_JOBS", "ToyProvider", "error_from", "parse_job"]

NAME = "toy"
DEFAULT_BASE_URL = "https://api.toy-video.example/v1"
#: The code of the 429 that means "every job slot of the plan is busy".
TOO_MANY_JOBS = "too_many_jobs"
#: The documented durations.
DURATION = Seconds(low=1, high=10)

STATUSES = StatusTable(
    NAME,
    {
        "queued": JobStatus.QUEUED,
        "running": JobStatus.RUNNING,
        "done": JobStatus.SUCCEEDED,
        "failed": JobStatus.FAILED,
    },
)
refuse = refuser(NAME)
converter = make_converter()


@attrs.frozen
class _Job:
    id: str
    state: str
    progress: float | None = None
    eta: float | None = None
    video_url: str | None = wire("videoUrl", default=None)
    cost_usd: Decimal | None = wire("costUsd", default=None)
    created_at: datetime | None = wire("createdAt", default=None)
    error: str | None = None


def error_from(response: HttpResponse, *, job_id: str | None = None) -> APIStatusError:
    """The exception for the toy API's ``{"error": {"message", "code"}}``."""
    try:
        payload = response.json()
    except ProviderResponseError:
        payload = None
    error = payload.get("error") if isinstance(payload, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    return api_error(
        NAME,
        response,
        message=str(message or response.text[:200] or f"HTTP {response.status}"),
        code=str(code) if code else None,
        job_id=job_id,
        concurrency_limit=code == TOO_MANY_JOBS,
    )


def parse_job(response: HttpResponse, *, job_id: str | None = None) -> GenerationResult:
    """A job as the API answers it, created or polled."""
    payload = response.json()
    job = structure(
        converter, payload, _Job, provider=NAME, job_id=job_id, request_id=response.request_id
    )
    status = STATUSES.normalize(job.state)
    url = usable_url(job.video_url)
    failure = None
    if status is JobStatus.SUCCEEDED and url is None:
        status, failure = JobStatus.FAILED, no_output_failure(job.state)
    elif status is JobStatus.FAILED:
        failure = Failure(kind=FailureKind.ERROR, message=job.error, retryable=True)
    succeeded = status is JobStatus.SUCCEEDED
    return GenerationResult(
        provider=NAME,
        id=job.id,
        status=status,
        raw_status=job.state,
        outputs=(Output(url=url, content_type="video/mp4"),) if succeeded and url else (),
        failure=failure,
        progress=job.progress,
        eta_seconds=job.eta,
        cost=None if job.cost_usd is None else Cost(amount=job.cost_usd, unit=CostUnit.USD),
        created_at=job.created_at,
        raw=payload,
    )


class ToyProvider(VideoProvider):
    """The toy API (sans-IO). Takes a :class:`VideoRequest` with a prompt.

    Args:
        api_key: Sent as ``x-toy-key``.
        base_url: The API root.
    """

    name = NAME
    env_key = "TOY_API_KEY"
    rates: Mapping[str, Rate] = {
        "submit": Rate(requests=30, per_seconds=60.0),
        "status": Rate(requests=20, per_seconds=1.0),
    }
    # No idempotency key: a create is retried only where the API refused it.
    idempotent_submits = False

    def __init__(self, *, api_key: str | Secret, base_url: str = DEFAULT_BASE_URL) -> None:
        key = required_key(api_key, NAME)
        self._api = Api.header(base_url, "x-toy-key", key, errors=error_from)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ToyProvider:
        """From ``TOY_API_KEY`` and, if set, ``TOY_BASE_URL``."""
        key, base_url = env_settings(environ, NAME, "TOY", DEFAULT_BASE_URL)
        return cls(api_key=key, base_url=base_url)

    def submit_flow(self, request: object, *, idempotency_key: str) -> Flow[tuple[JobHandle, ...]]:
        if not isinstance(request, VideoRequest):
            raise UnsupportedRequestError(
                "request", f"toy does not take a {type(request).__name__}", provider=NAME
            )
        if request.image is not None or request.video is not None:
            raise UnsupportedRequestError("image", "toy makes videos from text only", provider=NAME)
        if request.prompt is None:
            raise refuse("prompt", "required")
        check_prompt(request.prompt, provider=NAME)
        body: dict[str, object] = {"model": request.model, "prompt": request.prompt}
        if request.duration is not None:
            body["seconds"] = check_duration(
                request.duration, DURATION, provider=NAME, model=request.model
            )
        response = yield from self._api.call(
            "POST", "/jobs", "submit", json=body, retry=RetryMode.REFUSED_ONLY, charges=True
        )
        return (parse_job(response).handle,)

    def status_flow(self, handle: JobHandle, *, wait: bool = False) -> Flow[GenerationResult]:
        response = yield from self._api.call(
            "GET", f"/jobs/{quote(handle.id, safe='')}", "status", job_id=handle.id
        )
        return parse_job(response, job_id=handle.id)

    def poll_hint(self, handle: JobHandle, result: GenerationResult) -> PollHint:
        """The API's own estimate, where it gives one."""
        return PollHint(delay=result.eta_seconds)
