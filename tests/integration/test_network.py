"""Fitting the user's network: proxies (given, or from the environment), the user's own
aiohttp session or connector, and a per-call HTTP timeout. Every test runs the real
client against the real emulators over loopback; the proxy is :class:`tests._proxy.ForwardProxy`.

Addresses: the emulators listen on ``127.0.0.1``. Neither aiohttp nor the standard
library's ``proxy_bypass_environment`` (which this library uses to read ``NO_PROXY``) skips
a proxy for loopback on its own on Linux: only ``NO_PROXY`` does, so the tests can send
loopback requests through a proxy, and ``NO_PROXY=127.0.0.1`` bypasses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import anyio
import pytest

from prism_async import (
    Client,
    ConnectError,
    EngineConfig,
    PollPolicy,
    SubmissionOutcomeUnknown,
    TransportConfig,
    TransportTimeout,
    VideoRequest,
    http_timeout,
)
from prism_async._errors import RequestValidationError
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.testing import FAKE_MP4, EmulatorServer, Fault, FaultKind
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests._proxy import ForwardProxy
from tests.conftest import FAST_RETRIES

pytestmark = pytest.mark.anyio

QUICK = EngineConfig(poll=PollPolicy(first_delay=0.02, min_interval=0.02, max_interval=0.05))
REQUEST = VideoRequest(model="veo2-video", prompt="a lighthouse")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without proxy variables (any case)."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def nano() -> AsyncIterator[tuple[NanoGPTEmulator, EmulatorServer]]:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.05, balance=Decimal(100))
    async with EmulatorServer([emulator]) as server:
        yield emulator, server


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as forward:
        yield forward


def provider(server: EmulatorServer, emulator: NanoGPTEmulator) -> NanoGPTProvider:
    return NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))


async def generate_and_download(client: Client, folder: Path) -> Path:
    result = await client.generate(REQUEST)
    (path,) = await client.download(result, folder)
    return path


# --- proxies ------------------------------------------------------------------------------


async def test_a_proxy_given_carries_every_exchange_the_create_included(
    nano: tuple[NanoGPTEmulator, EmulatorServer], proxy: ForwardProxy, tmp_path: Path
) -> None:
    emulator, server = nano
    client = Client(provider(server, emulator), proxy=proxy.url, config=QUICK)
    async with client:
        path = await generate_and_download(client, tmp_path)

    assert path.read_bytes() == FAKE_MP4
    assert proxy.through("/api/generate-video") == emulator.creates == 1
    assert proxy.through("/api/video/status") == emulator.counts.by_route["status"] >= 1
    assert proxy.through("/files/") == 1
    assert len(proxy.seen) == emulator.counts.total  # nothing went around it


async def test_proxy_credentials_are_sent_and_never_shown(
    nano: tuple[NanoGPTEmulator, EmulatorServer], caplog: pytest.LogCaptureFixture
) -> None:
    emulator, server = nano
    async with ForwardProxy(credentials=("alice", "pr0xy-s3cret")) as forward:
        url = forward.url.replace("http://", "http://alice:pr0xy-s3cret@")
        client = Client(provider(server, emulator), proxy=url, config=QUICK)
        with caplog.at_level(logging.DEBUG, logger="prism_async"):
            async with client:
                await client.generate(REQUEST)
        assert forward.seen and len(set(forward.authorizations)) == 1
        assert "pr0xy-s3cret" not in repr(client.transport)

    # The proxy is gone now: the error names no credential either.
    broken = Client(provider(server, emulator), proxy=url, transport_config=FAST_RETRIES)
    async with broken:
        with pytest.raises(ConnectError) as caught:
            await broken.get("nanogpt:vid_x")
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert "pr0xy-s3cret" not in text


async def test_a_proxy_url_that_is_not_one_is_refused_before_anything_is_sent(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
) -> None:
    emulator, server = nano
    with pytest.raises(RequestValidationError) as caught:
        Client(provider(server, emulator), proxy="socks5://bob:hunter2@127.0.0.1:1080")
    assert caught.value.field == "proxy"
    assert "hunter2" not in str(caught.value)


async def test_http_proxy_from_the_environment_is_followed(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emulator, server = nano
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with Client(provider(server, emulator), config=QUICK) as client:
        await generate_and_download(client, tmp_path)

    assert proxy.through("/api/generate-video") == 1
    assert len(proxy.seen) == emulator.counts.total


async def test_no_proxy_sends_the_listed_hosts_around_the_environment_proxy(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emulator, server = nano
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.setenv("no_proxy", "example.org,127.0.0.1")
    async with Client(provider(server, emulator), config=QUICK) as client:
        await generate_and_download(client, tmp_path)

    assert emulator.creates == 1
    assert proxy.seen == []


async def test_trust_env_false_ignores_the_environment_proxy(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator, server = nano
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with Client(provider(server, emulator), trust_env=False, config=QUICK) as client:
        await client.generate(REQUEST)
    assert emulator.creates == 1
    assert proxy.seen == []


# --- the user's own session and connector ---------------------------------------------------


def counting_trace(started: list[str]) -> aiohttp.TraceConfig:
    async def on_start(
        _session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        started.append(f"{params.method} {params.url.path}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    return trace


async def test_a_user_session_carries_every_exchange_and_stays_open(
    nano: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nano
    started: list[str] = []
    async with aiohttp.ClientSession(trace_configs=[counting_trace(started)]) as session:
        async with Client(provider(server, emulator), session=session, config=QUICK) as client:
            path = await generate_and_download(client, tmp_path)
        through_session = list(started)
        served = emulator.counts.total
        assert not session.closed and session.connector is not None
        assert not session.connector.closed
        async with session.get(f"{server.base_url('nanogpt')}/v1/models") as still_usable:
            assert still_usable.status == 401  # an answer (no key given): the session works

    assert path.read_bytes() == FAKE_MP4
    # The create went through the traced twin session: the user's trace configs saw it.
    assert through_session.count("POST /nanogpt/api/generate-video") == emulator.creates == 1
    assert len(through_session) == served  # every exchange, the download included


async def test_a_user_sessions_environment_proxy_carries_the_create_too(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator, server = nano
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with aiohttp.ClientSession(trust_env=True) as session:
        client = Client(provider(server, emulator), session=session, config=QUICK)
        async with client:
            await client.generate(REQUEST)
    assert proxy.through("/api/generate-video") == emulator.creates == 1
    assert len(proxy.seen) == emulator.counts.total


async def test_over_a_user_session_a_lost_create_answer_is_still_outcome_unknown(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
) -> None:
    emulator, server = nano
    emulator.faults.inject("generate", Fault(kind=FaultKind.LOSE_RESPONSE))
    async with aiohttp.ClientSession() as session:
        client = Client(provider(server, emulator), session=session, config=QUICK)
        async with client:
            with pytest.raises(SubmissionOutcomeUnknown):
                await client.submit(REQUEST)
    assert emulator.creates == 1  # sent once, reported as maybe charged: never resent


async def test_over_a_user_session_a_create_to_a_server_that_is_down_was_not_sent(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
) -> None:
    emulator, server = nano
    async with aiohttp.ClientSession() as session:
        client = Client(provider(server, emulator), session=session, config=QUICK)
        async with client, server.outage():
            with pytest.raises(ConnectError):
                await client.submit(REQUEST)
    assert emulator.creates == 0


async def test_a_user_connector_carries_the_exchanges_and_stays_open(
    nano: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nano
    connector = aiohttp.TCPConnector(limit=2)
    try:
        client = Client(provider(server, emulator), connector=connector, config=QUICK)
        async with client:
            await generate_and_download(client, tmp_path)
        assert not connector.closed
        again = aiohttp.ClientSession(connector=connector, connector_owner=False)
        async with again, again.get(f"{server.base_url('nanogpt')}/v1/models") as answer:
            assert answer.status == 401  # an answer (no key given): the pool works
    finally:
        await connector.close()
    assert emulator.creates == 1


async def test_a_session_and_a_connector_together_are_refused(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
) -> None:
    emulator, server = nano
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RequestValidationError) as caught:
            Client(provider(server, emulator), session=session, connector=session.connector)
    assert caught.value.field == "connector"


# --- the per-call HTTP timeout --------------------------------------------------------------


async def test_http_timeout_bounds_each_try_of_a_status_fetch(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
) -> None:
    emulator, server = nano
    emulator.faults.inject("status", Fault(kind=FaultKind.SLOW, delay=1.0), times=2)
    config = TransportConfig(attempts=2, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)
    async with Client(provider(server, emulator), transport_config=config) as client:
        started = time.monotonic()
        with pytest.raises(TransportTimeout):
            await client.get("nanogpt:vid_slow", http_timeout=0.2)
        took = time.monotonic() - started
    assert took < 0.9  # two tries of 0.2 s, not two of the server's 1 s
    assert emulator.counts.by_route["status"] == 2


async def test_http_timeout_can_allow_more_than_the_configured_total(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
) -> None:
    emulator, server = nano
    config = TransportConfig(total_timeout=0.2, attempts=1)
    async with Client(provider(server, emulator), transport_config=config) as client:
        (handle,) = await client.submit(REQUEST)
        emulator.faults.inject("status", Fault(kind=FaultKind.SLOW, delay=0.4), times=2)
        with pytest.raises(TransportTimeout):
            await client.get(handle)  # the configured 0.2 s
        result = await client.get(handle, http_timeout=5.0)
    assert result.provider == "nanogpt"


async def test_an_http_timeout_block_bounds_the_gets_inside_it(
    nano: tuple[NanoGPTEmulator, EmulatorServer],
) -> None:
    emulator, server = nano
    emulator.faults.inject("status", Fault(kind=FaultKind.SLOW, delay=1.0), times=1)
    config = TransportConfig(attempts=1)
    async with Client(provider(server, emulator), transport_config=config) as client:
        with http_timeout(0.2), pytest.raises(TransportTimeout):
            await client.get("nanogpt:vid_slow")  # no http_timeout= of its own
    assert emulator.counts.by_route["status"] == 1


async def test_http_timeout_must_be_positive(nano: tuple[NanoGPTEmulator, EmulatorServer]) -> None:
    emulator, server = nano
    async with Client(provider(server, emulator)) as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.get("nanogpt:vid_x", http_timeout=0)
    assert caught.value.field == "http_timeout"
    assert emulator.counts.total == 0
    await anyio.lowlevel.checkpoint()
