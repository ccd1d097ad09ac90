"""How every Prism request is addressed and authenticated."""

from __future__ import annotations

from typing import Any

import attrs

from prism_async.http import Body, HttpRequest, RetryMode
from prism_async.secrets import Secret

__all__ = ["NAME", "Api"]

NAME = "prism"


@attrs.frozen(repr=False)
class Api:
    """The base URL and the ``Authorization: Bearer`` credential, kept as a Secret."""

    base_url: str
    authorization: Secret

    @classmethod
    def of(cls, base_url: str, key: Secret) -> Api:
        return cls(base_url.rstrip("/"), Secret(f"Bearer {key.reveal()}"))

    def __repr__(self) -> str:
        return f"Api(base_url={self.base_url!r})"

    def request(
        self,
        method: str,
        path: str,
        kind: str,
        *,
        params: tuple[tuple[str, str], ...] = (),
        json: Any = None,
        body: Body | None = None,
        retry: RetryMode = RetryMode.SAFE,
    ) -> HttpRequest:
        """An authenticated request to ``base_url + path``."""
        return HttpRequest(
            method=method,
            url=f"{self.base_url}{path}",
            kind=kind,
            headers=(("Authorization", self.authorization), ("Accept", "application/json")),
            params=params,
            json=json,
            body=body,
            retry=retry,
        )
