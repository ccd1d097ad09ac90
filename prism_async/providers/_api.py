"""How a provider addresses and authenticates its requests, and reads their errors: one
base URL, one credential, one error factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from prism_async._errors import PrismAsyncError, RequestValidationError
from prism_async._http import Body, Flow, HttpRequest, HttpResponse, RetryMode, send
from prism_async._secrets import Secret
from prism_async.providers._common import error_from_body

__all__ = ["Api", "ErrorFactory", "env_settings", "required_key"]


class ErrorFactory(Protocol):
    """Reads an error response into the exception to raise (a provider's ``error_from``):
    the class its status calls for, the message and code from the API's error envelope."""

    def __call__(self, response: HttpResponse, *, job_id: str | None = None) -> PrismAsyncError: ...


def required_key(api_key: str | Secret, provider: str) -> Secret:
    """The key as a Secret; an empty one is refused before anything is sent."""
    key = Secret.of(api_key)
    if not key:
        raise RequestValidationError("api_key", "required", provider=provider)
    return key


def env_settings(
    environ: Mapping[str, str], provider: str, prefix: str, default_base_url: str
) -> tuple[str, str]:
    """``(key, base_url)`` from ``<PREFIX>_API_KEY`` and, if set, ``<PREFIX>_BASE_URL``."""
    key = environ.get(f"{prefix}_API_KEY")
    if not key:
        raise RequestValidationError(f"{prefix}_API_KEY", "not set", provider=provider)
    return key, environ.get(f"{prefix}_BASE_URL") or default_base_url


@attrs.frozen(repr=False)
class Api:
    """A base URL, the header that carries the API key (kept as a Secret), and how the
    API's error answers become exceptions.

    Args:
        base_url: Prefixed to every path (no trailing slash).
        credential: The header pair that authenticates a request.
        errors: Turns a non-2xx response into the exception :meth:`call`,
            :meth:`send_ok` and :meth:`raise_for_status` raise. By default
            :func:`error_from_body`; a provider passes its own ``error_from`` for its
            API's error envelope.
    """

    base_url: str
    credential: tuple[str, Secret]
    errors: ErrorFactory = attrs.field(default=error_from_body, kw_only=True)

    @classmethod
    def bearer(cls, base_url: str, key: Secret, *, errors: ErrorFactory = error_from_body) -> Api:
        """``Authorization: Bearer <key>`` (Prism)."""
        return cls(
            base_url.rstrip("/"),
            ("Authorization", Secret(f"Bearer {key.reveal()}")),
            errors=errors,
        )

    @classmethod
    def header(
        cls, base_url: str, name: str, key: Secret, *, errors: ErrorFactory = error_from_body
    ) -> Api:
        """The key in a header of its own (``x-api-key``: NanoGPT, lipsync)."""
        return cls(base_url.rstrip("/"), (name, key), errors=errors)

    def __repr__(self) -> str:
        return f"Api(base_url={self.base_url!r})"

    def request(
        self,
        method: str,
        path: str,
        kind: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        params: tuple[tuple[str, str], ...] = (),
        json: Any = None,
        body: Body | None = None,
        retry: RetryMode = RetryMode.SAFE,
        timeout: float | None = None,
        charges: bool = False,
        long_poll: bool = False,
    ) -> HttpRequest:
        """An authenticated request to ``base_url + path``."""
        return HttpRequest(
            method=method,
            url=f"{self.base_url}{path}",
            kind=kind,
            headers=(self.credential, ("Accept", "application/json"), *headers),
            params=params,
            json=json,
            body=body,
            retry=retry,
            timeout=timeout,
            charges=charges,
            long_poll=long_poll,
        )

    def call(
        self,
        method: str,
        path: str,
        kind: str,
        *,
        job_id: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        params: tuple[tuple[str, str], ...] = (),
        json: Any = None,
        body: Body | None = None,
        retry: RetryMode = RetryMode.SAFE,
        timeout: float | None = None,
        charges: bool = False,
        long_poll: bool = False,
    ) -> Flow[HttpResponse]:
        """Send an authenticated request (see :meth:`request`); its 2xx response.

        Raises:
            PrismAsyncError: The answer was not 2xx: ``errors(response, job_id=job_id)``.
        """
        request = self.request(
            method,
            path,
            kind,
            headers=headers,
            params=params,
            json=json,
            body=body,
            retry=retry,
            timeout=timeout,
            charges=charges,
            long_poll=long_poll,
        )
        return self.send_ok(request, job_id=job_id)

    def send_ok(self, request: HttpRequest, *, job_id: str | None = None) -> Flow[HttpResponse]:
        """Send any request (one of :meth:`request`'s, or one to a presigned URL); its 2xx
        response.

        Raises:
            PrismAsyncError: The answer was not 2xx: ``errors(response, job_id=job_id)``.
        """
        response = yield from send(request)
        return self.raise_for_status(response, job_id=job_id)

    def raise_for_status(
        self, response: HttpResponse, *, job_id: str | None = None
    ) -> HttpResponse:
        """The response if it is 2xx (for a flow that looked at another status first).

        Raises:
            PrismAsyncError: It is not: ``errors(response, job_id=job_id)``.
        """
        if response.ok:
            return response
        raise self.errors(response, job_id=job_id)
