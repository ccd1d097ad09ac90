"""Small pieces every provider adapter uses: error construction and media delivery."""

from __future__ import annotations

from prism_async._retry_after import parse_retry_after
from prism_async.errors import (
    APIStatusError,
    RateLimitedError,
    RequestValidationError,
    status_error_class,
)
from prism_async.http import Flow, HttpResponse, read_file
from prism_async.media import Media, MediaKind, data_uri_size, to_data_uri

__all__ = ["api_error", "inline_data_uri"]


def api_error(
    provider: str,
    response: HttpResponse,
    *,
    message: str,
    code: str | None,
    job_id: str | None = None,
) -> APIStatusError:
    """The exception for an error response, of the class its status calls for."""
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
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimitedError(message, retry_after=retry_after, **common)
    return cls(message, **common)  # type: ignore[arg-type]


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
