"""Which proxy an exchange goes through: the one given, else the environment's, else none.

The environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``, upper or lower case) is
read once, when the transport opens, with the standard library's own rules
(:func:`urllib.request.getproxies_environment` and ``proxy_bypass_environment``); the
choice is then remembered per origin, so a request costs a dictionary look-up, not the
thread hop aiohttp's own ``trust_env`` makes on every request. Credentials in a proxy URL
(``http://user:pass@proxy:3128``) become a ``Proxy-Authorization`` header kept as a
:class:`~prism_async._secrets.Secret`: no repr, log line or error shows them.
"""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import attrs

from prism_async._errors import RequestValidationError
from prism_async._secrets import Secret

__all__ = ["Proxy", "ProxyChoice", "parse_proxy", "redact_url"]


@attrs.frozen
class Proxy:
    """A proxy: its URL without credentials, and the ``Proxy-Authorization`` value."""

    url: str
    authorization: Secret | None = None


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return f"{scheme}://{netloc}{slash}{path}"


def parse_proxy(url: str, *, field: str = "proxy") -> Proxy:
    """A proxy URL (``http://[user:pass@]host:port``) as a :class:`Proxy`.

    Raises:
        RequestValidationError: It is not an http(s) URL with a host (naming ``field``).
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise RequestValidationError(
            field, f"must be an http:// or https:// proxy URL with a host: {redact_url(url)!r}"
        )
    shown = f"[{host}]" if ":" in host else host
    base = f"{parts.scheme}://{shown}" + (f":{port}" if port is not None else "")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        authorization = Secret(f"Basic {token}")
    return Proxy(url=base, authorization=authorization)


class ProxyChoice:
    """The proxy of each origin.

    Args:
        explicit: A proxy URL for every exchange (``NO_PROXY`` does not apply to it).
        trust_env: Without ``explicit``, follow ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``.
        environ: The environment to read (tests); by default the process's, at open.
    """

    def __init__(
        self,
        explicit: str | None = None,
        *,
        trust_env: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._explicit = parse_proxy(explicit) if explicit else None
        self._trust_env = trust_env and self._explicit is None
        self._environ = environ
        self._env: dict[str, str] = {}
        self._cache: dict[str, Proxy | None] = {}

    def __repr__(self) -> str:
        shown = redact_url(self._explicit.url) if self._explicit else None
        return f"ProxyChoice(explicit={shown!r}, trust_env={self._trust_env})"

    def load(self) -> None:
        """Read the environment (at the transport's open)."""
        self._cache.clear()
        if not self._trust_env:
            self._env = {}
        elif self._environ is None:
            self._env = urllib.request.getproxies_environment()
        else:
            self._env = _proxies_of(self._environ)

    @property
    def active(self) -> bool:
        """Whether any exchange may go through a proxy (asked on every exchange: the
        common answer, no, costs two attribute reads)."""
        return self._explicit is not None or (bool(self._env) and any(k != "no" for k in self._env))

    def for_url(self, url: str) -> Proxy | None:
        """The proxy for ``url`` (None: straight to it)."""
        if self._explicit is not None:
            return self._explicit
        if not self._env:
            return None
        scheme, _, rest = url.partition("://")
        origin = f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"
        try:
            return self._cache[origin]
        except KeyError:
            pass
        chosen = self._choose(scheme.lower(), origin)
        self._cache[origin] = chosen
        return chosen

    def _choose(self, scheme: str, origin: str) -> Proxy | None:
        configured = self._env.get(scheme)
        if not configured:
            return None
        netloc = origin.split("://", 1)[1].rsplit("@", 1)[-1]
        no_proxy = {"no": self._env["no"]} if "no" in self._env else {"no": ""}
        if urllib.request.proxy_bypass_environment(netloc, no_proxy):  # type: ignore[attr-defined]
            return None
        if "://" not in configured:
            configured = f"http://{configured}"
        return parse_proxy(configured, field=f"{scheme.upper()}_PROXY")


def _proxies_of(environ: Mapping[str, str]) -> dict[str, str]:
    """:func:`urllib.request.getproxies_environment` over a given mapping (lower case
    wins, as there)."""
    found: dict[str, str] = {}
    for name, value in environ.items():
        lowered = name.lower()
        if value and lowered.endswith("_proxy") and name.isupper():
            found[lowered[:-6]] = value
    for name, value in environ.items():
        lowered = name.lower()
        if value and lowered.endswith("_proxy") and name == lowered:
            found[lowered[:-6]] = value
    return found
