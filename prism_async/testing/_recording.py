"""A loopback server that answers anything and records what it was sent.

For redirect tests: point an emulator's REDIRECT fault at it, then check which headers
(``x-api-key``, ``Authorization``) and which body bytes reached it.
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web
from multidict import CIMultiDict

from prism_async.testing._server import abort_connections

__all__ = ["RecordedRequest", "RecordingServer"]

_MAX_BODY = 64 * 1024 * 1024


@attrs.frozen
class RecordedRequest:
    """One request a :class:`RecordingServer` received."""

    method: str
    #: The path, without the query string.
    path: str
    #: The query string, without the ``?`` (empty if none).
    query_string: str
    #: Every header as sent (case-insensitive keys).
    headers: CIMultiDict[str]
    body: bytes


class RecordingServer:
    """Answers any method on any path with ``status`` and a JSON body; records each request.

    Args:
        status: The status of every answer (default 200).
        json_body: The JSON answered (default ``{}``).
        hang: Record each request, then hold it unanswered until the client leaves or the
            server stops.
        host: The address served.
        port: The port (0 picks a free one).

    Example::

        async with RecordingServer() as recorder:
            fault = Fault(kind=FaultKind.REDIRECT, location=recorder.url("/anywhere"))
            ...
            assert "x-api-key" not in recorder.requests[0].headers
    """

    def __init__(
        self,
        *,
        status: int = 200,
        json_body: Any = None,
        hang: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.status = status
        self.json_body: Any = {} if json_body is None else json_body
        self.hang = hang
        self.requests: list[RecordedRequest] = []
        self.root = ""
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return self.root + "/" + path.lstrip("/")

    async def start(self) -> None:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        self._port = site.port
        self.root = f"http://{self._host}:{self._port}"

    async def stop(self) -> None:
        """Stop serving; requests held by ``hang`` are cancelled."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        abort_connections(runner)
        await asyncio.sleep(0)  # let the aborted connections cancel their handlers
        await runner.cleanup()

    async def __aenter__(self) -> RecordingServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _record(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query_string=request.query_string,
                headers=CIMultiDict(request.headers),
                body=body,
            )
        )
        if self.hang:
            await asyncio.Event().wait()  # cancelled when the client leaves or the server stops
        return web.Response(
            status=self.status,
            body=json.dumps(self.json_body).encode(),
            content_type="application/json",
        )
