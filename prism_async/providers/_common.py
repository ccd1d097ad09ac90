"""Small pieces every provider adapter uses: error construction and media delivery."""

from __future__ import annotations

from collections.abc import Callable

from prism_async._errors import (
    APIStatusError,
    ConcurrencyLimitError,
    ProviderResponseError,
    RateLimitedError,
    RequestValidationError,
    status_error_class,
)
from prism_async._http import Flow, HttpResponse, read_file
from prism_async._media import Media, MediaKind, data_uri_size, to_data_uri
from prism_async._retry_after import parse_retry_after

__all__ = ["api_error", "error_from_body", "inline_data_uri", "refuser"]


def api_error(
    provider: str | None,
    response: HttpResponse,
    *,
    message: str,
    code: str | None,
    job_id: str | None = None,
    concurrency_limit: bool = False,
) -> APIStatusError:
    """The exception for an error response, of the class its status calls for.

    A 429 is a :class:`~prism_async._errors.ConcurrencyLimitError` (which the engine waits
    out, one slot at a time) when ``concurrency_limit`` is set or ``code`` is
    ``concurrency_limit_reached``; any other 429 a
    :class:`~prism_async._errors.RateLimitedError`. Either carries the ``Retry-After`` the
    response gave, in seconds.

    Args:
        provider: The provider's registered name (None: the engine fills it in).
        response: The error response.
        message: What went wrong, from the body.
        code: The API's machine-readable error code, where it gave one.
        job_id: The job the request was about, where there is one.
        concurrency_limit: The provider read this 429 as its plan's concurrency limit by
            other means than the code (the message, a header).
    """
    cls = status_error_class(response.status)
    common = {
        "status_code": response.status,
        "code": code,
        "body": _decoded(response),
        "provider": provider,
        "job_id": job_id,
        "request_id": response.request_id,
    }
    if cls is RateLimitedError:
        limited: type[RateLimitedError] = RateLimitedError
        if concurrency_limit or code == ConcurrencyLimitError.CODE:
            limited = ConcurrencyLimitError
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return limited(message, retry_after=retry_after, **common)
    return cls(message, **common)  # type: ignore[arg-type]


def error_from_body(response: HttpResponse, *, job_id: str | None = None) -> APIStatusError:
    """A plain reading of an error response, the default of ``Api(errors=...)``: the
    message from a JSON body's ``message`` or ``error`` text (else the body itself), the
    code from its ``code``, the class from the status (see :func:`api_error`). The provider
    is left for the engine to fill in. A provider whose API has an error envelope of its
    own writes its own, the same shape."""
    try:
        payload = response.json()
    except ProviderResponseError:
        payload = None
    message: object = None
    code: object = None
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("error")
        code = payload.get("code")
    return api_error(
        None,
        response,
        message=message
        if isinstance(message, str) and message
        else response.text[:200] or f"HTTP {response.status}",
        code=code if isinstance(code, str) and code else None,
        job_id=job_id,
    )


def refuser(provider: str) -> Callable[[str, str], RequestValidationError]:
    """``refuse(field, reason)``: the RequestValidationError provider ``provider`` raises for
    an input it refuses before anything is sent, naming the field::

        refuse = refuser("toy")
        raise refuse("duration", "12 is outside 1-10 s")
    """

    def refuse(field: str, reason: str) -> RequestValidationError:
        return RequestValidationError(field, reason, provider=provider)

    return refuse


def _decoded(response: HttpResponse) -> object:
    try:
        return response.json()
    except Exception:
        return response.text[:2000]


def inline_data_uri(media: Media, *, field: str, max_bytes: int) -> Flow[str]:
    """A data URI for path, bytes or data-URI media, refused over ``max_bytes`` decoded.

    Raises:
        RequestValidationError: Too large, or no content type is known for a local file.
    """
    if media.kind is MediaKind.DATA_URI:
        size = data_uri_size(media.value)
        if size > max_bytes:
            raise RequestValidationError(
                field, f"inline data is {size} bytes, over the limit of {max_bytes} bytes"
            )
        return media.value
    if not media.content_type:
        raise RequestValidationError(field, f"cannot tell the content type of {media.value}")
    if media.kind is MediaKind.BYTES:
        data = media.data or b""
        if len(data) > max_bytes:
            raise RequestValidationError(
                field, f"inline data is {len(data)} bytes, over the limit of {max_bytes} bytes"
            )
    else:
        data = yield from read_file(media.path, max_bytes=max_bytes, field=field)
    return to_data_uri(data, media.content_type)
