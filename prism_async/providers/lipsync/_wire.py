"""The lipsync API's responses read through one cattrs converter: the Generation object
(every documented spelling), cost estimates and the ``{statusCode, message, error}`` body."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from prism_async.providers import (
    APIStatusError,
    ConcurrencyLimitError,
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
    api_error,
    make_converter,
    no_output_failure,
    structure,
    usable_url,
    wire,
)

__all__ = [
    "FAILURE_CODES",
    "OUTCOME_UNKNOWN",
    "RAW_STATUSES",
    "STATUSES",
    "error_code",
    "error_from",
    "failure_kind_of",
    "outcome_generation_id",
    "parse_cost",
    "parse_file_url",
    "parse_generation",
    "parse_generation_list",
    "result_from",
]

NAME = "lipsync"
OUTCOME_UNKNOWN = "IDEMPOTENCY_OUTCOME_UNKNOWN"
converter = make_converter()

# Section 4 of the reference; both spellings of canceled (the quickstart writes CANCELLED).
STATUSES = StatusTable(
    NAME,
    {
        "pending": JobStatus.QUEUED,
        "processing": JobStatus.RUNNING,
        "completed": JobStatus.SUCCEEDED,
        "failed": JobStatus.FAILED,
        "rejected": JobStatus.FAILED,
        "canceled": JobStatus.CANCELED,
        "cancelled": JobStatus.CANCELED,
        "timed_out": JobStatus.FAILED,
    },
)
#: The raw values the list route filters by (the current spellings).
RAW_STATUSES = (
    "PENDING",
    "PROCESSING",
    "COMPLETED",
    "FAILED",
    "REJECTED",
    "CANCELED",
    "TIMED_OUT",
)
#: Failure kinds by error code (docs-v2's list and the newest docs' codes): the table a
#: FAILED generation's ``error_code`` is read through. ``retryable`` says whether the same
#: request may pass when submitted again. A code not listed is an error, not retryable.
FAILURE_CODES: Mapping[str, tuple[FailureKind, bool]] = {
    # Input validation: the same input fails again.
    "generation_unsupported_model": (FailureKind.ERROR, False),
    "generation_media_metadata_missing": (FailureKind.ERROR, False),
    "generation_audio_length_exceeded": (FailureKind.ERROR, False),
    "generation_audio_missing": (FailureKind.ERROR, False),
    "generation_video_missing": (FailureKind.ERROR, False),
    # System failures: submitting again may pass.
    "generation_timeout": (FailureKind.TIMEOUT, True),
    "generation_pipeline_failed": (FailureKind.ERROR, True),
    "generation_database_error": (FailureKind.ERROR, True),
    "generation_internal_auth": (FailureKind.ERROR, True),
    "generation_unhandled_error": (FailureKind.ERROR, True),
    "internal_error": (FailureKind.ERROR, True),
}
#: Documented: "a pending generation can be canceled at no cost".
CANCELED_COST_NOTE = "canceled before processing, at no cost"
#: Why a result has no cost: the Generation object carries none.
NO_COST_NOTE = (
    "the lipsync API reports no cost on a generation, and this job's handle keeps no "
    "estimate (submitted elsewhere, with estimate_costs=False, by file upload, or the "
    "estimate was not answered); call estimate_cost for one"
)
#: Why a failed generation has no cost: the docs do not say whether one is charged.
FAILED_COST_NOTE = "the lipsync docs do not say whether a failed generation is charged"


@attrs.frozen
class _Generation:
    """The Generation object (§2.3): camelCase, with both spellings of renamed fields."""

    id: str
    status: str
    created_at: datetime | None = wire("createdAt", default=None)
    model: str | None = None
    output_url: str | None = wire("outputUrl", default=None)
    output_media_url: str | None = wire("outputMediaUrl", default=None)
    output_duration: float | None = wire("outputDuration", default=None)
    segment_output_url: str | None = wire("segmentOutputUrl", default=None)
    error: str | None = None
    error_code: str | None = wire("error_code", default=None)
    error_code_camel: str | None = wire("errorCode", default=None)
    progress_percent: float | None = None
    cost: Decimal | None = None


@attrs.frozen
class _CostItem:
    frames: float = wire("estimatedFrameCount")
    cost: Decimal = wire("estimatedGenerationCost")


def result_from(
    payload: object,
    *,
    job_id: str | None = None,
    request_id: str | None = None,
    handle: JobHandle | None = None,
) -> GenerationResult:
    """A GenerationResult from a decoded Generation object (a status, create or webhook).
    The handle's ``estimate`` (the submit's cost estimate, in USD) is the cost where the
    generation reports none.

    Raises:
        ProviderResponseError: The payload is not a Generation object.
    """
    raw = structure(
        converter, payload, _Generation, provider=NAME, job_id=job_id, request_id=request_id
    )
    status = STATUSES.normalize(raw.status)
    url = usable_url(raw.output_media_url) or usable_url(raw.output_url)
    failure = _failure(raw, status)
    if status is JobStatus.SUCCEEDED and url is None:  # nothing to fetch: not a success
        status, failure = JobStatus.FAILED, no_output_failure(raw.status)
    succeeded = status is JobStatus.SUCCEEDED
    segment = usable_url(raw.segment_output_url)
    cost, note = _cost(raw, status, handle)
    return GenerationResult(
        provider=NAME,
        id=raw.id,
        status=status,
        raw_status=raw.status,
        outputs=(Output(url=url, mime_type="video/mp4", duration_s=raw.output_duration),)
        if succeeded and url
        else (),
        failure=failure,
        progress=100.0 if succeeded else raw.progress_percent,
        cost=cost,
        cost_note=note,
        created_at=raw.created_at,
        segment_output=Output(url=segment, mime_type="video/mp4")
        if succeeded and segment
        else None,
        raw=payload if isinstance(payload, Mapping) else {},
    )


def _cost(
    raw: _Generation, status: JobStatus, handle: JobHandle | None
) -> tuple[Cost | None, str | None]:
    """The generation's own cost where it gives one, else the submit's estimate; a
    canceled job costs nothing (documented), a failed one is not known."""
    if raw.cost is not None:
        return Cost(amount=raw.cost, unit=CostUnit.USD, estimated=not status.is_terminal), None
    if status is JobStatus.CANCELED:
        return Cost(amount=Decimal(0), unit=CostUnit.USD), CANCELED_COST_NOTE
    if status is JobStatus.FAILED:
        return None, FAILED_COST_NOTE
    estimate = handle.extra.get("estimate") if handle is not None else None
    if estimate:
        return Cost(amount=Decimal(estimate), unit=CostUnit.USD, estimated=True), None
    return None, NO_COST_NOTE


def _failure(raw: _Generation, status: JobStatus) -> Failure | None:
    code = raw.error_code or raw.error_code_camel
    kind = raw.status.strip().upper()
    if status is JobStatus.CANCELED:
        return Failure(kind=FailureKind.CANCELED, code=code, message=raw.error or "canceled")
    if status is not JobStatus.FAILED:
        return None
    if kind == "REJECTED":  # a moderation or policy outcome, whatever its code
        return Failure(kind=FailureKind.MODERATION, code=code, message=raw.error)
    failure_kind, retryable = failure_kind_of(code)
    if kind == "TIMED_OUT":
        failure_kind, retryable, code = FailureKind.TIMEOUT, True, code or "generation_timeout"
    return Failure(kind=failure_kind, code=code, message=raw.error, retryable=retryable)


def failure_kind_of(code: str | None) -> tuple[FailureKind, bool]:
    """``(kind, retryable)`` of a FAILED generation's error code, by :data:`FAILURE_CODES`
    (case-insensitive; an unknown or missing code is a non-retryable error)."""
    if not code:
        return FailureKind.ERROR, False
    return FAILURE_CODES.get(code.strip().lower(), (FailureKind.ERROR, False))


def parse_generation(
    response: HttpResponse, *, job_id: str | None = None, handle: JobHandle | None = None
) -> GenerationResult:
    """The Generation object of a create, status or cancel response."""
    return result_from(
        response.json(), job_id=job_id, request_id=response.request_id, handle=handle
    )


def parse_file_url(response: HttpResponse, *, job_id: str | None = None) -> str:
    """A finished file's URL from a download answer: plain text holding the URL (the
    download route), or a Generation object (its output URL).

    Raises:
        ProviderResponseError: The answer names no http(s) URL.
    """
    text = response.text.strip()
    url = usable_url(text.strip('"'))
    if url is None and text.startswith("{"):
        result = parse_generation(response, job_id=job_id)
        url = result.outputs[0].url if result.outputs else None
    if url is None:
        raise ProviderResponseError(
            "the download answer names no file URL",
            provider=NAME,
            job_id=job_id,
            request_id=response.request_id,
        )
    return url


def parse_generation_list(response: HttpResponse) -> tuple[GenerationResult, ...]:
    """The bare JSON array the list route answers."""
    payload = response.json()
    if not isinstance(payload, list):
        raise ProviderResponseError(
            "the generation list is not a JSON array", provider=NAME, request_id=response.request_id
        )
    return tuple(result_from(item, request_id=response.request_id) for item in payload)


def parse_cost(response: HttpResponse) -> Cost:
    """The estimate, in USD: the sum over the array the API answers."""
    items = structure(
        converter,
        response.json(),
        list[_CostItem],
        provider=NAME,
        request_id=response.request_id,
    )
    total = sum((item.cost for item in items), Decimal(0))
    return Cost(amount=total, unit=CostUnit.USD, estimated=True)


def _body(response: HttpResponse) -> Mapping[str, Any]:
    try:
        payload = response.json()
    except ProviderResponseError:
        return {}
    return payload if isinstance(payload, Mapping) else {}


def error_code(response: HttpResponse) -> str | None:
    """The machine code of an error body (``errorCode`` or ``error_code``), where given."""
    body = _body(response)
    code = body.get("errorCode") or body.get("error_code")
    if isinstance(code, str) and code:
        return code
    if response.status == 429 and "concurrency" in str(body.get("message", "")).lower():
        return ConcurrencyLimitError.CODE  # older bodies carry no code, only the message
    return None


def outcome_generation_id(response: HttpResponse) -> str | None:
    """The ``generationId`` a 503 IDEMPOTENCY_OUTCOME_UNKNOWN may name, to poll instead."""
    value = _body(response).get("generationId")
    return value if isinstance(value, str) and value else None


def error_from(response: HttpResponse, *, job_id: str | None = None) -> APIStatusError:
    """The exception for an error response: ``message`` (a string or a list of them),
    ``error`` and the code. A 429 carries ``retry_after``; when the plan's slots are full it
    is a ConcurrencyLimitError (code ``concurrency_limit_reached``)."""
    body = _body(response)
    message = body.get("message")
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    text = str(message or body.get("error") or response.text[:200] or f"HTTP {response.status}")
    return api_error(NAME, response, message=text, code=error_code(response), job_id=job_id)
