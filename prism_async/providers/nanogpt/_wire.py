"""NanoGPT's responses: both documented status shapes, the submit answer, error envelopes
and the video-model catalog, read through one cattrs converter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from prism_async.providers import (
    APIStatusError,
    Cost,
    CostUnit,
    Failure,
    FailureKind,
    GenerationResult,
    HttpResponse,
    JobHandle,
    JobStatus,
    Output,
    ProviderResponseError,
    StatusTable,
    SubmitReceipt,
    api_error,
    make_converter,
    no_output_failure,
    structure,
    usable_url,
    wire,
)

__all__ = ["STATUSES", "VideoModel", "error_from", "parse_status", "parse_submit"]

NAME = "nanogpt"
converter = make_converter()

# Section 4 of the reference: both shapes' values, compared case-insensitively.
STATUSES = StatusTable(
    NAME,
    {
        "pending": JobStatus.QUEUED,
        "in_queue": JobStatus.QUEUED,
        "queued": JobStatus.QUEUED,
        "in_progress": JobStatus.RUNNING,
        "processing": JobStatus.RUNNING,
        "generating": JobStatus.RUNNING,
        "delivering": JobStatus.RUNNING,
        "unknown": JobStatus.RUNNING,
        "completed": JobStatus.SUCCEEDED,
        "failed": JobStatus.FAILED,
        "canceled": JobStatus.CANCELED,
        "cancelled": JobStatus.CANCELED,
    },
)


@attrs.frozen
class _Video:
    url: str | None = None


@attrs.frozen
class _Output:
    video: _Video | None = None


@attrs.frozen
class _Data:
    """Shape A (docs pages) and the legacy route: ``data`` with upper-case statuses."""

    status: str
    output: _Output | None = None
    cost: Decimal | None = None
    error: Any = None
    is_nsfw: bool | None = wire("isNSFWError", default=None)
    friendly_error: str | None = wire("userFriendlyError", default=None)
    details: str | None = None
    progress: float | None = None
    created_at: datetime | None = wire("createdAt", default=None)
    completed_at: datetime | None = wire("completedAt", default=None)


@attrs.frozen
class _Status:
    """Both shapes at once: nested ``data`` (A) or flat fields (B)."""

    data: _Data | None = None
    status: str | None = None
    progress: float | None = None
    eta: float | None = wire("estimatedTimeRemaining", default=None)
    video_url: str | None = wire("videoUrl", default=None)
    error: Any = None
    is_nsfw: bool | None = wire("isNSFWError", default=None)
    friendly_error: str | None = wire("userFriendlyError", default=None)
    cost: Decimal | None = None
    created_at: datetime | None = wire("createdAt", default=None)
    completed_at: datetime | None = wire("completedAt", default=None)


@attrs.frozen
class _Submitted:
    run_id: str = wire("runId")
    model: str | None = None
    status: str | None = None
    cost: Decimal | None = None
    payment_source: str | None = wire("paymentSource", default=None)
    remaining_balance: Decimal | None = wire("remainingBalance", default=None)


@attrs.frozen(kw_only=True)
class VideoModel:
    """One entry of the video-model catalog."""

    id: str
    name: str | None = None
    description: str | None = None
    input_modalities: tuple[str, ...] = ()
    capabilities: Mapping[str, Any] = attrs.field(factory=dict)
    #: The catalog's ``pricing`` object as given (``currency`` and the scheme's figures).
    pricing: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def price(self) -> Cost | None:
        """The price of one video where the catalog gives a flat one (``per_video``), in
        its ``currency``; None for other schemes (per second, by resolution...)."""
        amount = self.pricing.get("per_video")
        currency = str(self.pricing.get("currency") or "USD").upper()
        if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
            return None
        try:
            return Cost(amount=Decimal(str(amount)), unit=CostUnit(currency), estimated=True)
        except (ArithmeticError, ValueError):
            return None

    @property
    def price_text(self) -> str | None:
        """The pricing in a few words (``0.35 USD per video``), where it is given."""
        price = self.price
        if price is not None:
            return f"{price.amount} {price.unit.value} per video"
        figures = {k: v for k, v in self.pricing.items() if k != "currency"}
        if not figures:
            return None
        text = ", ".join(f"{k}={v}" for k, v in sorted(figures.items()))
        return f"{text} {self.pricing.get('currency') or ''}".strip()


def parse_submit(response: HttpResponse) -> SubmitReceipt:
    """The receipt of an accepted submit: its job handle, the pre-charge (``cost``,
    estimated: refunded if the job fails) and the remaining balance. The handle keeps the
    model (for the legacy status route), the payment unit (status responses give the cost
    without one) and the pre-charge."""
    data = structure(
        converter, response.json(), _Submitted, provider=NAME, request_id=response.request_id
    )
    extra = {"model": data.model} if data.model else {}
    if data.payment_source in ("USD", "XNO"):
        extra["unit"] = data.payment_source
    if data.cost is not None:
        extra["precharge"] = str(data.cost)
    unit = CostUnit(extra.get("unit", "USD"))
    cost = Cost(amount=data.cost, unit=unit, estimated=True) if data.cost is not None else None
    balance = data.remaining_balance
    return SubmitReceipt(
        (JobHandle(provider=NAME, id=data.run_id, extra=extra),),
        provider=NAME,
        cost=cost,
        cost_note=None if cost is not None else "the submit answer gave no cost",
        balance=Cost(amount=balance, unit=unit) if balance is not None else None,
    )


def _message(error: Any) -> tuple[str | None, str | None]:
    """(message, code) from ``error`` as a string, an object or an int."""
    if isinstance(error, str):
        return error, None
    if isinstance(error, Mapping):
        code = error.get("code") or error.get("type")
        return error.get("message"), str(code) if code else None
    return None, None


_POLICY_WORDS = ("content policy", "nsfw", "content_policy", "inappropriate", "moderation")


def parse_status(handle: JobHandle, response: HttpResponse) -> GenerationResult:
    """A GenerationResult from either documented status shape (or the legacy route)."""
    payload = response.json()
    raw = structure(
        converter, payload, _Status, provider=NAME, job_id=handle.id, request_id=response.request_id
    )
    data = raw.data
    raw_status = data.status if data is not None else raw.status
    if raw_status is None:
        raise ProviderResponseError(
            "status response has neither data.status nor status",
            field="status",
            provider=NAME,
            job_id=handle.id,
            request_id=response.request_id,
        )
    status = STATUSES.normalize(raw_status)
    url = usable_url(
        data.output.video.url if data and data.output and data.output.video else None
    ) or usable_url(raw.video_url)
    failure = None
    if status is JobStatus.SUCCEEDED and url is None:  # nothing to fetch: not a success
        status, failure = JobStatus.FAILED, no_output_failure(raw_status)
    elif status is JobStatus.FAILED:
        failure = _failure(data, raw)
    elif status is JobStatus.CANCELED:
        failure = Failure(kind=FailureKind.CANCELED, message="canceled")
    succeeded = status is JobStatus.SUCCEEDED
    cost, note = _cost(handle, status, (data.cost if data else None) or raw.cost)
    progress = raw.progress if data is None or data.progress is None else data.progress
    if status is JobStatus.QUEUED and progress is None:
        progress = 0.0  # waiting in the queue: nothing done yet
    return GenerationResult(
        provider=NAME,
        id=handle.id,
        status=status,
        raw_status=raw_status,
        outputs=(Output(url=url, mime_type="video/mp4"),) if succeeded and url else (),
        failure=failure,
        progress=100.0 if succeeded else progress,
        eta_seconds=raw.eta,
        cost=cost,
        cost_note=note,
        created_at=raw.created_at or (data.created_at if data else None),
        completed_at=raw.completed_at or (data.completed_at if data else None),
        raw=payload if isinstance(payload, Mapping) else {},
    )


#: Documented: "automatic refunds are issued when the job fails".
REFUNDED_NOTE = "failed: the pre-charge is refunded"
CANCELED_NOTE = "canceled: the docs do not say whether the pre-charge is refunded"
NO_COST_NOTE = (
    "the status answer gives no cost and the handle holds no pre-charge "
    "(a handle from elsewhere than this client's submit)"
)


def _cost(
    handle: JobHandle, status: JobStatus, final: Decimal | None
) -> tuple[Cost | None, str | None]:
    """The final cost where the status gives it; 0 for a failed job (refunded); else the
    submit's pre-charge, marked estimated."""
    unit = CostUnit(handle.extra.get("unit", "USD"))
    if final is not None:
        return Cost(amount=final, unit=unit, estimated=not status.is_terminal), None
    if status is JobStatus.FAILED:
        return Cost(amount=Decimal(0), unit=unit), REFUNDED_NOTE
    precharge = handle.extra.get("precharge")
    note = CANCELED_NOTE if status is JobStatus.CANCELED else None
    if precharge:
        return Cost(amount=Decimal(precharge), unit=unit, estimated=True), note
    return None, note or NO_COST_NOTE


def _failure(data: _Data | None, raw: _Status) -> Failure:
    error = data.error if data else raw.error
    nsfw = data.is_nsfw if data else raw.is_nsfw
    friendly = data.friendly_error if data else raw.friendly_error
    message, code = _message(error)
    text = f"{message or ''} {code or ''} {friendly or ''}".lower()
    # The flat shape documents no isNSFWError: a policy failure is then told by its text.
    moderation = bool(nsfw) or (nsfw is None and any(w in text for w in _POLICY_WORDS))
    return Failure(
        kind=FailureKind.MODERATION if moderation else FailureKind.ERROR,
        code=code or ("content_policy_violation" if moderation else None),
        message=friendly or message,
        # A refused prompt fails again unchanged; other failures are refunded and may pass.
        retryable=not moderation,
    )


def error_from(response: HttpResponse, *, job_id: str | None = None) -> APIStatusError:
    """The exception for an error response, from any of NanoGPT's envelopes:
    ``{error: "text"}``, ``{error: {message, type, code}}``, ``{error: <int>, message}``."""
    try:
        payload = response.json()
    except Exception:
        payload = None
    message, code = None, None
    if isinstance(payload, Mapping):
        message, code = _message(payload.get("error"))
        message = message or payload.get("message") or payload.get("userFriendlyError")
    return api_error(
        NAME,
        response,
        message=str(message or response.text[:200] or f"HTTP {response.status}"),
        code=code,
        job_id=job_id,
    )


def parse_models(response: HttpResponse) -> tuple[VideoModel, ...]:
    """Video models from the catalog: output modality video or capability video_generation."""
    payload = response.json()
    entries = payload.get("data", []) if isinstance(payload, Mapping) else []
    models = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            continue
        architecture = entry.get("architecture") or {}
        capabilities = entry.get("capabilities") or {}
        outputs = architecture.get("output_modalities") or []
        if "video" not in outputs and not capabilities.get("video_generation"):
            continue
        models.append(
            VideoModel(
                id=entry["id"],
                name=entry.get("name"),
                description=entry.get("description"),
                input_modalities=tuple(architecture.get("input_modalities") or ()),
                capabilities=dict(capabilities),
                pricing=dict(entry.get("pricing") or {}),
            )
        )
    return tuple(models)
