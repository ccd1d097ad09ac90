"""One loopback server that hosts every emulator under its own path prefix."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Protocol

from aiohttp import web

__all__ = ["EmulatorApp", "EmulatorServer"]

_MAX_BODY = 64 * 1024 * 1024


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


class EmulatorServer:
    """Serves emulators on 127.0.0.1 (port 0 picks a free one) as an async context.

    Example::

        async with EmulatorServer([NanoGPTEmulator()]) as server:
            url = server.base_url("nanogpt")
    """

    def __init__(
        self, emulators: list[EmulatorApp], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.emulators: Mapping[str, EmulatorApp] = {e.prefix.strip("/"): e for e in emulators}
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.root = ""

    async def start(self) -> None:
        # The root app's body limit is the one aiohttp applies (a sub-app's is ignored):
        # room for inline uploads and multipart files.
        app = web.Application(client_max_size=_MAX_BODY)
        for name, emulator in self.emulators.items():
            app.add_subapp(f"/{name}", emulator.build_app())
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = self._runner.addresses
        port = sockets[0][1] if sockets else self._port
        self.root = f"http://{self._host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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

    def base_url(self, name: str) -> str:
        """The base URL for a client of emulator ``name`` (``nanogpt``, ``prism``...)."""
        return self.emulators[name].base_url(self.root)

    def api_key(self, name: str) -> str:
        return self.emulators[name].api_key
