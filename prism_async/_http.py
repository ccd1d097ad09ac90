"""HTTP exchanges as plain values, and the flows that providers write with them.

A provider never does I/O. It describes an exchange as an :class:`HttpRequest` and reads
an :class:`HttpResponse`. A conversation of several steps (stat a file, get a presigned
URL, PUT the bytes, then create) is a *flow*: a generator that yields effects and receives
their results, the way ``httpx.Auth.auth_flow`` works. The engine drives flows; the
transport carries out the HTTP effects::

    def submit_flow(self, request):
        response = yield from send(HttpRequest(method="POST", url=..., kind="submit"))
        return parse(response)
"""

from __future__ import annotations

import enum
import json as _json
from collections.abc import Generator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs

from prism_async._errors import ProviderResponseError
from prism_async._secrets import Secret

__all__ = [
    "Body",
    "Effect",
    "FileBody",
    "FilePart",
    "Flow",
    "HttpRequest",
    "HttpResponse",
    "Multipart",
    "ReadFile",
    "RetryMode",
    "StatFile",
    "read_file",
    "send",
    "stat_file",
]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class FilePart:
    """A local file inside a multipart form, streamed from disk by the transport."""

    path: Path
    content_type: str
    filename: str


@attrs.frozen(kw_only=True)
class Multipart:
    """A ``multipart/form-data`` body: text fields and streamed files, in order."""

    fields: tuple[tuple[str, str | FilePart], ...]


@attrs.frozen(kw_only=True)
class FileBody:
    """A raw body streamed from a local file (a presigned PUT), never read whole."""

    path: Path
    content_type: str


Body = bytes | FileBody | Multipart


class RetryMode(enum.Enum):
    """Which failures the transport may retry an exchange after.

    ``SAFE``: the exchange can be repeated without harm (a GET, or a create that carries an
    idempotency key the API honours): connection failures, timeouts, 408, 429 and 5xx.

    ``REFUSED_ONLY``: a paid create with no idempotency key. Only where nothing can have
    been charged: the connection never opened, or the API answered with a status in
    ``HttpRequest.refused_statuses`` (a 429 that says the request was refused). A timeout
    or a dropped connection after the request went out is *not* retried: the job may exist.
    """

    SAFE = "safe"
    REFUSED_ONLY = "refused-only"


@attrs.frozen(kw_only=True)
class HttpRequest:
    """One HTTP exchange to make.

    Args:
        method: HTTP method.
        url: Absolute URL.
        kind: A label for budgets and counts (``submit``, ``status``, ``upload``...). The
            engine applies per-provider rate limits by kind.
        headers: Header pairs; credentials are :class:`Secret` values, revealed only by the
            transport as the bytes go out.
        params: Query parameters.
        json: A JSON body, or None.
        body: A raw, file or multipart body, or None.
        retry: What may be retried (see :class:`RetryMode`).
        refused_statuses: With ``REFUSED_ONLY``: statuses that mean "refused, not charged".
        timeout: Seconds for this exchange as a whole, overriding the transport's default
            (a long poll needs more than the server's hold time).
        charges: This is the one request of a submit flow that creates a paid job. The
            engine journals it just before its bytes leave, and once any attempt may have
            been received, a failure without a definitive answer is reported as
            :class:`~prism_async._errors.SubmissionOutcomeUnknown`.
        long_poll: The server may hold this request until something changes (a long
            poll). The engine gives such requests slots of their own, so that they never
            hold up short ones.
    """

    method: str
    url: str
    kind: str
    headers: tuple[tuple[str, str | Secret], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None
    body: Body | None = None
    retry: RetryMode = RetryMode.SAFE
    refused_statuses: frozenset[int] = frozenset({429})
    timeout: float | None = None
    charges: bool = False
    long_poll: bool = False

    def header(self, name: str) -> str | Secret | None:
        """The first header called ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


@attrs.frozen(kw_only=True)
class HttpResponse:
    """A complete HTTP response. Look ``headers`` up by lower-case name (the transport's
    are case-insensitive; one built by hand must use lower-case keys). ``received_at`` is
    when it arrived, on the engine's clock (providers use it to date presigned URLs'
    expiry)."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    url: str = ""
    received_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def request_id(self) -> str | None:
        for name in ("x-request-id", "x-requestid", "request-id", "x-amzn-requestid"):
            if name in self.headers:
                return self.headers[name]
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON.

        Raises:
            ProviderResponseError: The body is not JSON.
        """
        try:
            return _json.loads(self.body)
        except ValueError as exc:
            snippet = self.text[:80]
            raise ProviderResponseError(
                f"HTTP {self.status} body is not JSON: {snippet!r}",
                request_id=self.request_id,
            ) from exc


@attrs.frozen(kw_only=True)
class ReadFile:
    """Effect: read a local file whole (only for small files, e.g. an inline data URL).

    The engine refuses a file over ``max_bytes`` with a RequestValidationError naming
    ``field``, before anything is sent.
    """

    path: Path
    max_bytes: int
    field: str


@attrs.frozen(kw_only=True)
class StatFile:
    """Effect: the size of a local file in bytes (RequestValidationError naming ``field``
    if it does not exist)."""

    path: Path
    field: str


Effect = HttpRequest | ReadFile | StatFile
Flow = Generator[Effect, Any, T]


def send(request: HttpRequest) -> Flow[HttpResponse]:
    """Yield one exchange and return its response (every status: the flow decides)."""
    response = yield request
    if not isinstance(response, HttpResponse):  # pragma: no cover - engine contract
        raise TypeError(f"engine sent {type(response).__name__} for an HttpRequest")
    return response


def read_file(path: Path, *, max_bytes: int, field: str) -> Flow[bytes]:
    """Yield a file read and return the bytes."""
    data = yield ReadFile(path=path, max_bytes=max_bytes, field=field)
    if not isinstance(data, bytes):  # pragma: no cover - engine contract
        raise TypeError(f"engine sent {type(data).__name__} for a ReadFile")
    return data


def stat_file(path: Path, *, field: str) -> Flow[int]:
    """Yield a stat and return the file's size in bytes."""
    size = yield StatFile(path=path, field=field)
    if not isinstance(size, int):  # pragma: no cover - engine contract
        raise TypeError(f"engine sent {type(size).__name__} for a StatFile")
    return size
