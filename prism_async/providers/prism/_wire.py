"""Prism's responses read through one cattrs converter: submits, statuses, catalog pages,
and the ``{error, message}`` envelope."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

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
)
from prism_async.providers.prism._models import Page, Template

__all__ = [
    "STATUSES",
    "VIDEO_URL_TTL",
    "error_from",
    "parse_character",
    "parse_page",
    "parse_status",
    "parse_submit",
    "parse_template",
]

NAME = "prism"
T = TypeVar("T")
converter = make_converter()

# Documented: video_url "is a presigned download URL that expires after 1 hour".
VIDEO_URL_TTL = timedelta(hours=1)

# Section 4 of the reference. "queued" is the initial status the newest Create Generation
# capture shows; Get Generation documents only generating, completed and failed.
STATUSES = StatusTable(
    NAME,
    {
        "queued": JobStatus.QUEUED,
        "generating": JobStatus.RUNNING,
        "completed": JobStatus.SUCCEEDED,
        "failed": JobStatus.FAILED,
    },
)

# ``error`` is free text; a refusal on content grounds is told by its words.
_MODERATION_WORDS = (
    "content policy",
    "content_policy",
    "moderation",
    "moderated",
    "nsfw",
    "safety",
    "inappropriate",
    "prohibited",
    "flagged",
)


@attrs.frozen
class _Generation:
    id: str | None = None
    status: str | None = None
    template_id: str | None = None
    video_url: str | None = None
    share_url: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    error: Any = None
    credits_charged: Decimal | None = None


@attrs.frozen
class _Started:
    id: str | None = None
    generation_id: str | None = None
    status: str | None = None
    asset_id: str | None = None
    request_id: str | None = None


@attrs.frozen
class _Latency:
    typical: float | None = None
    busy: float | None = None


@attrs.frozen
class _Metadata:
    credits_charged: Decimal | None = None


@attrs.frozen
class _Submitted:
    """Every shape a create may answer with (see :func:`parse_submit`)."""

    generations: tuple[_Started, ...] | None = None
    id: str | None = None
    generation_id: str | None = None
    status: str | None = None
    credits_charged: Decimal | None = None
    latency_estimate_sec: _Latency | None = None
    metadata: _Metadata | None = None
    template_id: str | None = None


@attrs.frozen
class _Pagination:
    offset: int | None = None
    limit: int | None = None
    has_more: bool = False


def _object(response: HttpResponse, job_id: str | None = None) -> dict[str, Any]:
    payload = response.json()
    if not isinstance(payload, dict):
        raise ProviderResponseError(
            f"expected a JSON object, got {type(payload).__name__}",
            provider=NAME,
            job_id=job_id,
            request_id=response.request_id,
        )
    return payload


def parse_submit(response: HttpResponse) -> SubmitReceipt:
    """One handle per started generation, from a create or a template generate, and what
    the answer says about them: the credits charged, the asset and upstream request ids,
    the latency estimate and the template.

    The Create Generation response was UNCERTAIN in the older docs, so every shape seen is
    read: the newest capture's ``{data: {generations: [{id, asset_id, request_id,
    status}], metadata: {credits_charged}}}``, the template-generate one
    ``{generations: [{generation_id, status}], template_id, credits_charged,
    latency_estimate_sec}``, and a single generation object ``{id, status}`` (with or
    without the ``data`` wrapper). Each handle keeps its share of the credits and the
    typical latency, for its result's cost and its poll cadence.
    """
    payload = _object(response)
    inner = payload.get("data")
    merged = {**payload, **inner} if isinstance(inner, dict) else payload
    data = structure(converter, merged, _Submitted, provider=NAME, request_id=response.request_id)
    started = data.generations
    if started is None:
        started = (_Started(id=data.id, generation_id=data.generation_id, status=data.status),)
    ids = [g.id or g.generation_id for g in started]
    if not ids or not all(ids):
        raise ProviderResponseError(
            "create response names no generation id",
            field="generations",
            provider=NAME,
            request_id=response.request_id,
        )
    credits = data.credits_charged
    if credits is None and data.metadata is not None:
        credits = data.metadata.credits_charged
    extra: dict[str, str] = {}
    if credits is not None:
        extra["credits"] = str(credits / len(ids))
    latency = data.latency_estimate_sec
    typical = latency.typical if latency is not None else None
    if typical is not None and typical > 0:
        extra["typical"] = f"{typical:g}"
    return SubmitReceipt(
        (JobHandle(provider=NAME, id=str(gen_id), extra=extra) for gen_id in ids),
        provider=NAME,
        cost=Cost(amount=credits, unit=CostUnit.CREDITS) if credits is not None else None,
        cost_note=None if credits is not None else "the create answer gave no credits_charged",
        asset_ids={str(g.id or g.generation_id): g.asset_id for g in started if g.asset_id},
        request_ids={str(g.id or g.generation_id): g.request_id for g in started if g.request_id},
        latency_typical_s=typical,
        latency_busy_s=latency.busy if latency is not None else None,
        template_id=data.template_id,
        statuses={
            str(g.id or g.generation_id): STATUSES.normalize(g.status)
            for g in started
            if g.status is not None
        },
    )


#: Why a result has no cost: Get Generation documents no credits, and the handle holds
#: none (a bare id, not the handle the submit returned).
NO_COST_NOTE = (
    "unknown: Get Generation reports no credits and the handle holds none (look it up "
    "with the handle submit returned, which keeps credits_charged)"
)


def parse_status(handle: JobHandle, response: HttpResponse) -> GenerationResult:
    """A GenerationResult from Get Generation (also the template webhook's likely body)."""
    payload = _object(response, handle.id)
    raw = structure(
        converter,
        payload,
        _Generation,
        provider=NAME,
        job_id=handle.id,
        request_id=response.request_id,
    )
    if raw.status is None:
        raise ProviderResponseError(
            "status response has no status",
            field="status",
            provider=NAME,
            job_id=handle.id,
            request_id=response.request_id,
        )
    status = STATUSES.normalize(raw.status)
    url = usable_url(raw.video_url)
    failure = _failure(raw.error) if status is JobStatus.FAILED else None
    if status is JobStatus.SUCCEEDED and url is None:  # nothing to fetch: not a success
        status, failure = JobStatus.FAILED, no_output_failure(raw.status)
    succeeded = status is JobStatus.SUCCEEDED
    outputs: tuple[Output, ...] = ()
    if succeeded and url:
        expires = _expires_at(url, response)
        outputs = (Output(url=url, mime_type="video/mp4", expires_at=expires),)
    credits = raw.credits_charged
    if credits is None and handle.extra.get("credits"):
        credits = Decimal(handle.extra["credits"])
    return GenerationResult(
        provider=NAME,
        id=raw.id or handle.id,
        status=status,
        raw_status=raw.status,
        outputs=outputs,
        failure=failure,
        progress=100.0 if succeeded else None,
        cost=Cost(amount=credits, unit=CostUnit.CREDITS) if credits is not None else None,
        cost_note=None if credits is not None else NO_COST_NOTE,
        created_at=raw.created_at,
        completed_at=raw.completed_at,
        share_url=usable_url(raw.share_url) if succeeded else None,
        raw=payload,
    )


def _failure(error: Any) -> Failure:
    message = error if isinstance(error, str) else None
    if isinstance(error, Mapping):
        message = str(error.get("message") or error.get("error") or "") or None
    moderation = any(word in (message or "").lower() for word in _MODERATION_WORDS)
    return Failure(
        kind=FailureKind.MODERATION if moderation else FailureKind.ERROR,
        code="content_policy_violation" if moderation else None,
        message=message,
        # A refused prompt fails again unchanged; a timeout or server fault may pass.
        retryable=not moderation,
    )


def _expires_at(url: str, response: HttpResponse) -> datetime | None:
    """When a presigned ``video_url`` stops working.

    An S3 SigV4 URL says so itself (``X-Amz-Date`` + ``X-Amz-Expires``). Otherwise the
    documented hour is counted from when the response arrived (the engine's clock), or from
    its ``Date`` header: the URL was signed no later than that.
    """
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query)}
    if "x-amz-date" in query and "x-amz-expires" in query:
        try:
            signed = datetime.strptime(query["x-amz-date"], "%Y%m%dT%H%M%SZ")
            return signed.replace(tzinfo=timezone.utc) + timedelta(
                seconds=int(query["x-amz-expires"])
            )
        except ValueError:
            pass
    base = response.received_at
    if base is None and "date" in response.headers:
        try:
            base = parsedate_to_datetime(response.headers["date"])
        except (TypeError, ValueError):
            base = None
    return base + VIDEO_URL_TTL if base is not None else None


def parse_template(response: HttpResponse) -> Template:
    """``GET /api/templates/{id}``: ``{data: <template>}``."""
    data = _object(response).get("data")
    return _template(data, "data", response)


def _template(item: Any, path: str, response: HttpResponse) -> Template:
    template = _at(item, Template, path, response)
    return attrs.evolve(template, raw=item)


def parse_page(response: HttpResponse, cls: type[T], *, offset: int, limit: int) -> Page[T]:
    """``{data: [...], pagination: {offset, limit, has_more}}`` as a Page of ``cls``."""
    payload = _object(response)
    data = payload.get("data")
    if not isinstance(data, list):
        raise ProviderResponseError(
            "expected a list", field="data", provider=NAME, request_id=response.request_id
        )
    items: list[Any] = []
    for index, item in enumerate(data):
        path = f"data[{index}]"
        items.append(
            _template(item, path, response) if cls is Template else _at(item, cls, path, response)
        )
    page = _at(payload.get("pagination") or {}, _Pagination, "pagination", response)
    return Page(
        items=tuple(items),
        offset=offset if page.offset is None else page.offset,
        limit=limit if page.limit is None else page.limit,
        has_more=page.has_more,
    )


def parse_character(response: HttpResponse, cls: type[T]) -> T:
    """``{data: <character>}`` of a created character."""
    return _at(_object(response).get("data"), cls, "data", response)


def _at(item: Any, cls: type[T], path: str, response: HttpResponse) -> T:
    try:
        return structure(converter, item, cls, provider=NAME, request_id=response.request_id)
    except ProviderResponseError as exc:
        raise ProviderResponseError(
            exc.message, field=path, provider=NAME, request_id=response.request_id
        ) from exc


_XML_TAG = re.compile(r"<(Code|Message)>([^<]*)</\1>")


def error_from(response: HttpResponse, *, job_id: str | None = None) -> APIStatusError:
    """The exception for an error response: Prism's ``{error, message}`` envelope, or the
    XML error of a presigned storage URL (``<Code>``, ``<Message>``)."""
    code: str | None = None
    message: str | None = None
    try:
        payload = response.json()
    except ProviderResponseError:
        payload = None
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, str):
            code = error
        elif isinstance(error, Mapping):
            code = str(error.get("code") or "") or None
            message = str(error.get("message") or "") or None
        message = str(payload.get("message") or "") or message
    elif payload is None:
        tags = dict(_XML_TAG.findall(response.text))
        code, message = tags.get("Code"), tags.get("Message")
    return api_error(
        NAME,
        response,
        message=message or code or response.text[:200] or f"HTTP {response.status}",
        code=code,
        job_id=job_id,
    )
