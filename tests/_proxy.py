"""A tiny forward HTTP proxy on loopback, for the network tests.

It takes absolute-form requests (``GET http://127.0.0.1:N/path HTTP/1.1``), as a client
sends them to a proxy, forwards each to its origin and streams the answer back, counting
what went through. With ``credentials``, a request without the matching
``Proxy-Authorization`` is answered 407. CONNECT (HTTPS tunnels) is not handled: the
emulators are plain HTTP on loopback.
"""

from __future__ import annotations

import base64
from types import TracebackType

import aiohttp
import attrs
from aiohttp import web

__all__ = ["ForwardProxy"]

# Hop-by-hop headers (RFC 9110 7.6.1) and the ones the client library sets again.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@attrs.define
class ForwardProxy:
    """Serve on 127.0.0.1 (a free port) as an async context; :attr:`url` is its address.

    Attributes:
        credentials: ``(user, password)`` required of clients, or None.
        seen: ``"METHOD absolute-url"`` of every request forwarded, in order.
        authorizations: Every ``Proxy-Authorization`` header received.
    """

    credentials: tuple[str, str] | None = None
    seen: list[str] = attrs.field(factory=list)
    authorizations: list[str] = attrs.field(factory=list)
    url: str = ""
    _port: int = attrs.field(default=0, init=False)
    _runner: web.AppRunner | None = attrs.field(default=None, init=False)
    _session: aiohttp.ClientSession | None = attrs.field(default=None, init=False)

    def through(self, path_part: str) -> int:
        """Requests forwarded whose URL contains ``path_part``."""
        return sum(path_part in line for line in self.seen)

    async def __aenter__(self) -> ForwardProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{self._port}"
        # Straight to the origins: never through the environment's proxy (this one).
        self._session = aiohttp.ClientSession(trust_env=False, auto_decompress=False)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        authorization = request.headers.get("Proxy-Authorization")
        if authorization is not None:
            self.authorizations.append(authorization)
        if self.credentials is not None:
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            if authorization != f"Basic {token}":
                return web.Response(status=407, headers={"Proxy-Authenticate": "Basic"})
        if request.url.port == self._port:  # a request for the proxy itself, not through it
            return web.Response(status=400, text="not a proxy request")
        target = str(request.url)
        self.seen.append(f"{request.method} {target}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        assert self._session is not None
        async with self._session.request(
            request.method,
            target,
            headers=headers,
            data=await request.read() if request.can_read_body else None,
            allow_redirects=False,
        ) as upstream:
            answer = web.StreamResponse(status=upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in _HOP:
                    answer.headers.add(name, value)
            if upstream.content_length is not None:
                answer.content_length = upstream.content_length
            await answer.prepare(request)
            async for chunk in upstream.content.iter_chunked(1 << 16):
                await answer.write(chunk)
            await answer.write_eof()
            return answer
