"""Shared fixtures: the anyio plugin pinned to asyncio (aiohttp requires it), and the
emulator environments of the integration tests (:class:`Env`, :func:`serve`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import aiohttp
import attrs
import pytest

from prism_async import Client, TransportConfig
from prism_async._provider import VideoProvider
from prism_async.providers.lipsync import LipsyncProvider
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.providers.prism import PrismProvider
from prism_async.testing import EmulatorApp, EmulatorServer, VirtualClock
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests._postgres import postgres_server

E = TypeVar("E")

#: For clients on the real clock: transport retries then wait in real time, so keep them
#: tiny. A client on a virtual clock needs none (its backoff waits on that clock).
FAST_RETRIES = TransportConfig(wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)

#: The provider class of each emulator, by the emulator's name (its path prefix).
PROVIDERS: dict[str, Callable[..., VideoProvider]] = {
    "nanogpt": NanoGPTProvider,
    "prism": PrismProvider,
    "lipsync": LipsyncProvider,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the session (see :mod:`tests._postgres`): the URL
    of its ``postgres`` database, as its superuser (trust auth). Skips (fails under ``CI``)
    without the server binaries."""
    with postgres_server() as server:
        yield server.url()


@pytest.fixture
def clock() -> VirtualClock:
    """A fresh virtual clock (autojumping: time moves when every task is idle)."""
    return VirtualClock()


@attrs.define
class Env:
    """Emulators served on one loopback server, sharing one virtual clock, and the
    providers and clients that talk to them (or a plain aiohttp session, :attr:`http`)."""

    clock: VirtualClock
    server: EmulatorServer
    _http: aiohttp.ClientSession | None = attrs.field(default=None, init=False, repr=False)

    @property
    def http(self) -> aiohttp.ClientSession:
        """A plain aiohttp session (its pool keeps connections alive), for tests that drive
        the emulators by hand: opened on first use, closed when :func:`serve`'s block ends."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    @property
    def nano(self) -> NanoGPTEmulator:
        return self._emulator("nanogpt", NanoGPTEmulator)

    @property
    def prism(self) -> PrismEmulator:
        return self._emulator("prism", PrismEmulator)

    @property
    def lipsync(self) -> LipsyncEmulator:
        return self._emulator("lipsync", LipsyncEmulator)

    def provider(
        self, name: str | None = None, *, api_key: str | None = None, **options: Any
    ) -> Any:
        """A provider of emulator ``name`` (the only one served, by default), with its
        API key unless ``api_key`` is given; ``options`` go to the provider's class."""
        if name is None:
            (name,) = self.server.emulators  # more than one: say which
        emulator = self.server.emulators[name]
        return PROVIDERS[name](
            api_key=api_key or emulator.api_key, base_url=self.server.base_url(name), **options
        )

    def client(
        self, *providers: VideoProvider, api_key: str | None = None, **options: Any
    ) -> Client:
        """A Client on the shared clock (every wait, the transport's backoff included). Its
        providers: the ones given, else one for each emulator served (``api_key`` replacing
        theirs)."""
        if not providers:
            providers = tuple(self.provider(n, api_key=api_key) for n in self.server.emulators)
        options.setdefault("clock", self.clock)
        return Client(*providers, **options)

    async def aclose(self) -> None:
        """Close :attr:`http`, if it was opened (the server is :func:`serve`'s to stop)."""
        if self._http is not None:
            await self._http.close()

    def _emulator(self, name: str, kind: type[E]) -> E:
        emulator = self.server.emulators[name]
        assert isinstance(emulator, kind), emulator
        return emulator


@contextlib.asynccontextmanager
async def serve(clock: VirtualClock, *emulators: EmulatorApp) -> AsyncIterator[Env]:
    """Serve ``emulators`` (built on ``clock``) on loopback for the block."""
    async with EmulatorServer(list(emulators)) as server:
        env = Env(clock=clock, server=server)
        try:
            yield env
        finally:
            await env.aclose()
