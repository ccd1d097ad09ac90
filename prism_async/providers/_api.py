"""How a provider addresses and authenticates its requests: one base URL, one credential."""

from __future__ import annotations

from typing import Any

import attrs

from prism_async.http import Body, HttpRequest, RetryMode
from prism_async.secrets import Secret

__all__ = ["Api"]


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
        )
