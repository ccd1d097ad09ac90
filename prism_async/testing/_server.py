"""One loopback server that hosts every emulator under its own path prefix.

It can also play an outage: :meth:`EmulatorServer.go_down` stops listening (new
connections are refused) and aborts every open connection; :meth:`EmulatorServer.come_up`
listens again on the same host and port. The emulators keep their state throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Protocol

from aiohttp import web

from prism_async.testing._faults import Faults

__all__ = ["EmulatorApp", "EmulatorServer", "abort_connections"]

_MAX_BODY = 64 * 1024 * 1024
_REBIND_TRIES = 50  # times come_up tries to bind the port again, 20 ms apart


class EmulatorApp(Protocol):
    """What the server needs of an emulator."""

    #: The path prefix it is served under (``/nanogpt``).
    prefix: str
    #: The API key it accepts (printed by ``prism-async emulate``).
    api_key: str

    def build_app(self) -> web.Application: ...

    def base_url(self, root: str) -> str:
        """The base URL a client uses, given the server's root (``http://127.0.0.1:N``)."""
        ...


def abort_connections(runner: web.BaseRunner) -> None:
    """Abort every open connection of ``runner`` (its handlers are then cancelled).

    A connection already closing (an answer being flushed) is left to finish.
    """
    server = runner.server
    if server is None:
        return
    for connection in server.connections:
        transport = connection.transport
        if transport is not None and not transport.is_closing():
            transport.abort()


def _protocols(runner: web.BaseRunner) -> web.Server:
    """The runner's protocol factory (it makes one request handler per connection)."""
    server = runner.server
    assert server is not None, "the runner is set up"
    return server


def _bind(family: int, address: Any) -> socket.socket:
    """A TCP socket bound (not listening) to ``address``, with SO_REUSEADDR."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class EmulatorServer:
    """Serves emulators on 127.0.0.1 (port 0 picks a free one) as an async context.

    Example::

        async with EmulatorServer([NanoGPTEmulator()]) as server:
            url = server.base_url("nanogpt")
            async with server.outage():
                ...  # connections to url are refused here

    While it runs, every emulator's ``faults.on_outage`` is this server's, so a fault with
    ``outage=seconds`` takes it down (see :class:`~prism_async.testing.Fault`).
    """

    def __init__(
        self, emulators: list[EmulatorApp], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.emulators: Mapping[str, EmulatorApp] = {e.prefix.strip("/"): e for e in emulators}
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._listeners: list[asyncio.AbstractServer] = []
        # While down: each listening address, with a socket holding its port if one could.
        self._reserved: list[tuple[int, Any, socket.socket | None]] = []
        self._addresses: list[tuple[int, Any]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.root = ""

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        # The root app's body limit is the one aiohttp applies (a sub-app's is ignored):
        # room for inline uploads and multipart files.
        app = web.Application(client_max_size=_MAX_BODY)
        for name, emulator in self.emulators.items():
            app.add_subapp(f"/{name}", emulator.build_app())
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(
            _protocols(self._runner), self._host, self._port, reuse_address=True
        )
        self._listeners = [listener]
        sockets = listener.sockets
        self._addresses = [(s.family, s.getsockname()) for s in sockets]
        if sockets:
            self._port = sockets[0].getsockname()[1]
        self.root = f"http://{self._host}:{self._port}"
        for faults in self._faults():
            faults.on_outage = self._outage_now

    async def stop(self) -> None:
        """Stop serving; requests still held (SLOW, HANG, long polls) are cancelled."""
        runner = self._runner
        if runner is None:
            return
        self._cancel_timer()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._runner = None
        for listener in self._listeners:
            listener.close()
        self._listeners = []
        self._release_reserved()
        abort_connections(runner)
        await asyncio.sleep(0)  # let the aborted connections cancel their handlers
        for faults in self._faults():
            if faults.on_outage == self._outage_now:
                faults.on_outage = None
        await runner.cleanup()

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- outages -----------------------------------------------------------------------

    @property
    def down(self) -> bool:
        """Whether the server is started but refusing connections (an outage)."""
        return self._runner is not None and not self._listeners

    async def go_down(self) -> None:
        """Refuse new connections and abort every open one, until :meth:`come_up`.

        A pending timed come-up (:meth:`outage_for`, a fault's ``outage``) is cancelled.
        """
        self._cancel_timer()
        self._take_down()
        await asyncio.sleep(0)  # let the aborted connections cancel their handlers

    async def come_up(self) -> None:
        """Listen again on the same host and port (a no-op unless down)."""
        self._cancel_timer()
        runner = self._runner
        if runner is None or self._listeners:
            return
        loop = asyncio.get_running_loop()
        reserved, self._reserved = self._reserved, []
        try:
            for family, address, sock in reserved:
                bound = sock if sock is not None else await _bind_retrying(family, address)
                self._listeners.append(await loop.create_server(_protocols(runner), sock=bound))
        except BaseException:
            for _, _, sock in reserved:
                if sock is not None:
                    sock.close()
            raise

    async def outage_for(self, seconds: float) -> None:
        """Go down now, and come up again after ``seconds`` real seconds."""
        self._outage_now(seconds)
        await asyncio.sleep(0)

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[EmulatorServer]:
        """Down inside the ``async with`` block, up again after it."""
        await self.go_down()
        try:
            yield self
        finally:
            await self.come_up()

    def _outage_now(self, seconds: float) -> None:
        """Go down at once and schedule the come-up (``Faults.on_outage``)."""
        self._cancel_timer()
        self._take_down()
        if self._runner is not None:
            self._timer = asyncio.get_running_loop().call_later(seconds, self._come_up_later)

    def _take_down(self) -> None:
        runner = self._runner
        if runner is None or not self._listeners:
            return
        for listener in self._listeners:
            listener.close()  # closes the listening sockets at once
        self._listeners = []
        # Hold each port with a bound, non-listening socket (connections are still
        # refused) so that no other socket is given it while the server is down.
        for family, address in self._addresses:
            try:
                sock: socket.socket | None = _bind(family, address)
            except OSError:
                sock = None
            self._reserved.append((family, address, sock))
        abort_connections(runner)

    def _come_up_later(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.come_up())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release_reserved(self) -> None:
        for _, _, sock in self._reserved:
            if sock is not None:
                sock.close()
        self._reserved = []

    def _faults(self) -> list[Faults]:
        found = (getattr(e, "faults", None) for e in self.emulators.values())
        return [f for f in found if isinstance(f, Faults)]

    # -- addresses ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The port served (the one picked, once started with port 0)."""
        return self._port

    def base_url(self, name: str) -> str:
        """The base URL for a client of emulator ``name`` (``nanogpt``, ``prism``...)."""
        return self.emulators[name].base_url(self.root)

    def api_key(self, name: str) -> str:
        return self.emulators[name].api_key


async def _bind_retrying(family: int, address: Any) -> socket.socket:
    """Bind ``address`` again, retrying for a while if it is still in use."""
    for _ in range(_REBIND_TRIES - 1):
        try:
            return _bind(family, address)
        except OSError:
            await asyncio.sleep(0.02)
    return _bind(family, address)
