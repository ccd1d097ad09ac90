"""How a provider addresses and authenticates its requests: one base URL, one credential."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from prism_async.errors import RequestValidationError
from prism_async.http import Body, HttpRequest, RetryMode
from prism_async.secrets import Secret

__all__ = ["Api", "env_settings", "required_key"]


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
    """A base URL and the header that carries the API key (kept as a Secret)."""

    base_url: str
    credential: tuple[str, Secret]

    @classmethod
    def bearer(cls, base_url: str, key: Secret) -> Api:
        """``Authorization: Bearer <key>`` (Prism)."""
        return cls(base_url.rstrip("/"), ("Authorization", Secret(f"Bearer {key.reveal()}")))

    @classmethod
    def header(cls, base_url: str, name: str, key: Secret) -> Api:
        """The key in a header of its own (``x-api-key``: NanoGPT, lipsync)."""
        return cls(base_url.rstrip("/"), (name, key))

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
        )
