"""The fault switches money-safety tests need: outages, redirects, hangs, recorded requests.

Driven with plain aiohttp clients, over loopback, in real time (each test well under 2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from prism_async.testing import Fault, FaultKind, RecordingServer, VirtualClock
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests.conftest import Env, serve

pytestmark = pytest.mark.anyio

NANO_BODY = {"model": "veo2-video", "prompt": "a lake"}
PRISM_BODY = {"prompt": "a cat", "modelName": "veo-3.1"}
LIPSYNC_BODY = {
    "model": "lipsync-2",
    "input": [
        {"type": "video", "url": "https://media.example/face.mp4"},
        {"type": "audio", "url": "https://media.example/voice.wav"},
    ],
}


def nano_url(env: Env) -> str:
    return env.server.base_url("nanogpt")


def nano_headers(env: Env) -> dict[str, str]:
    return {"x-api-key": env.nano.api_key}


async def nano_create(env: Env, http: aiohttp.ClientSession | None = None) -> tuple[int, Any]:
    """Creates a NanoGPT job, on ``http`` or else on ``env.http`` (a client's pool)."""
    session = http or env.http
    url = nano_url(env) + "/generate-video"
    async with session.post(url, json=NANO_BODY, headers=nano_headers(env)) as r:
        return r.status, await r.json()


async def nano_balance(env: Env, http: aiohttp.ClientSession | None = None) -> int:
    session = http or env.http
    url = nano_url(env) + "/check-balance"
    async with session.post(url, headers=nano_headers(env)) as r:
        await r.read()
        return r.status


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[Env]:
    clock = VirtualClock()
    nano = NanoGPTEmulator(clock=clock)
    prism = PrismEmulator(clock=clock)
    lipsync = LipsyncEmulator(clock=clock)
    async with serve(clock, nano, prism, lipsync) as env:
        yield env


@contextlib.asynccontextmanager
async def fresh_connections() -> AsyncIterator[aiohttp.ClientSession]:
    """A session that opens a new connection for every request (no pool)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        yield http


async def post(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> int:
    """POSTs and reads the whole answer; returns its status."""
    async with http.post(url, **kwargs) as r:
        await r.read()
        return r.status


async def until_up(env: Env, seconds: float = 5.0) -> None:
    """Retries a request on new connections until one is answered."""
    async with fresh_connections() as http:
        deadline = time.monotonic() + seconds
        while True:
            try:
                assert await nano_balance(env, http) == 200
            except aiohttp.ClientConnectorError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)
            else:
                return


# -- outages -----------------------------------------------------------------------------


async def test_an_outage_refuses_new_connections_then_serves_again_with_the_state_kept() -> None:
    async with running() as env, fresh_connections() as fresh:
        status, created = await nano_create(env)
        assert status == 202
        balance = env.nano.balance
        async with env.server.outage():
            assert env.server.down
            with pytest.raises(aiohttp.ClientConnectorError):
                await nano_balance(env, fresh)
        assert not env.server.down
        # The same base URL works again and the job made before the outage is still there.
        url = nano_url(env) + "/video/status"
        params = {"requestId": created["runId"]}
        async with fresh.get(url, params=params, headers=nano_headers(env)) as r:
            assert r.status == 200
            assert (await r.json())["data"]["requestId"] == created["runId"]
        assert (env.nano.creates, env.nano.job_count, env.nano.balance) == (1, 1, balance)


async def test_a_pooled_keep_alive_connection_fails_during_an_outage() -> None:
    async with running() as env:
        assert await nano_balance(env) == 200  # leaves a connection in env.http's pool
        await env.server.go_down()
        try:
            with pytest.raises(aiohttp.ClientError):
                await nano_balance(env)
        finally:
            await env.server.come_up()
        assert await nano_balance(env) == 200


async def test_a_timed_outage_ends_by_itself_and_come_up_cuts_it_short() -> None:
    async with running() as env, fresh_connections() as fresh:
        await env.server.outage_for(0.2)
        with pytest.raises(aiohttp.ClientConnectorError):
            await nano_balance(env, fresh)
        await until_up(env)
        await env.server.outage_for(60)
        assert env.server.down
        await env.server.come_up()
        assert await nano_balance(env, fresh) == 200


async def test_stop_during_a_timed_outage_returns_and_frees_the_port() -> None:
    with anyio.fail_after(10):
        async with running() as env:
            await env.server.outage_for(60)
            host, port = env.server.host, env.server.port
        # Nothing listens or holds the port any more: it can be bound again at once.
        server = await asyncio.get_running_loop().create_server(asyncio.Protocol, host, port)
        server.close()
        await server.wait_closed()


async def test_lose_response_with_an_outage_creates_the_job_then_refuses_connections() -> None:
    async with running() as env, fresh_connections() as fresh:
        fault = Fault(kind=FaultKind.LOSE_RESPONSE, outage=0.5)
        env.nano.faults.inject("generate", fault)
        with pytest.raises(aiohttp.ClientError):
            await nano_create(env)
        assert (env.nano.creates, env.nano.job_count) == (1, 1)  # paid, never answered
        with pytest.raises(aiohttp.ClientConnectorError):
            await nano_balance(env, fresh)
        await until_up(env)
        assert (env.nano.creates, env.nano.job_count) == (1, 1)


@pytest.mark.parametrize(
    ("fault", "answered"),
    [
        (Fault(kind=FaultKind.RESET, outage=0.2), None),
        (Fault(kind=FaultKind.TRUNCATE, outage=0.2), None),
        (Fault(kind=FaultKind.STATUS, status=503, outage=0.2), 503),
        (Fault(kind=FaultKind.MALFORMED, outage=0.2), 200),
        (Fault(kind=FaultKind.SLOW, delay=0.01, outage=0.2), 200),
        (Fault(kind=FaultKind.REDIRECT, location="http://127.0.0.1:9/x", outage=0.2), 307),
    ],
    ids=lambda v: v.kind.value if isinstance(v, Fault) else str(v),
)
async def test_every_kind_of_fault_can_start_an_outage(fault: Fault, answered: int | None) -> None:
    async with running() as env, fresh_connections() as fresh:
        env.nano.faults.inject("balance", fault)
        url = nano_url(env) + "/check-balance"
        if answered is None:
            with pytest.raises(aiohttp.ClientError):
                await post(env.http, url, headers=nano_headers(env))
        else:
            # The answer arrives in full before the server goes down...
            async with env.http.post(url, headers=nano_headers(env), allow_redirects=False) as r:
                assert r.status == answered
                await r.read()
        # ...and the next request, pooled or not, finds the server down.
        with pytest.raises(aiohttp.ClientConnectorError):
            await nano_balance(env)
        with pytest.raises(aiohttp.ClientConnectorError):
            await nano_balance(env, fresh)
        await until_up(env)


async def test_outage_faults_work_on_every_emulator() -> None:
    async with running() as env:
        prism_url = env.server.base_url("prism") + "/generations"
        prism_auth = {"Authorization": f"Bearer {env.prism.api_key}"}
        lipsync_url = env.server.base_url("lipsync") + "/v2/generate"
        lipsync_auth = {"x-api-key": env.lipsync.api_key}
        for emulator, url, body, headers in (
            (env.prism, prism_url, PRISM_BODY, prism_auth),
            (env.lipsync, lipsync_url, LIPSYNC_BODY, lipsync_auth),
        ):
            emulator.faults.inject("create", Fault(kind=FaultKind.LOSE_RESPONSE, outage=0.1))
            with pytest.raises(aiohttp.ClientError):
                await post(env.http, url, json=body, headers=headers)
            assert env.server.down
            await until_up(env)
        assert (env.prism.creates, env.lipsync.creates) == (1, 1)


def test_fault_options_are_checked() -> None:
    assert Fault(kind=FaultKind.REDIRECT, location="http://x/").status == 307
    assert Fault(kind=FaultKind.STATUS).status == 503
    with pytest.raises(ValueError, match="location"):
        Fault(kind=FaultKind.REDIRECT)
    with pytest.raises(ValueError, match="3xx"):
        Fault(kind=FaultKind.REDIRECT, status=503, location="http://x/")
    with pytest.raises(ValueError, match="HANG"):
        Fault(kind=FaultKind.HANG, outage=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        Fault(kind=FaultKind.RESET, outage=-1.0)


# -- redirects and the recording server ----------------------------------------------------


async def test_redirect_answers_the_status_and_location_without_running_the_handler() -> None:
    async with running() as env:
        location = "http://127.0.0.1:9/anywhere"
        fault = Fault(kind=FaultKind.REDIRECT, status=307, location=location)
        env.nano.faults.inject("generate", fault)
        url = nano_url(env) + "/generate-video"
        async with env.http.post(
            url, json=NANO_BODY, headers=nano_headers(env), allow_redirects=False
        ) as r:
            assert r.status == 307
            assert r.headers["Location"] == location
        assert (env.nano.creates, env.nano.job_count) == (0, 0)
        assert env.nano.counts.by_status[307] == 1


async def test_the_recording_server_records_methods_paths_headers_and_bodies() -> None:
    async with RecordingServer() as recorder, aiohttp.ClientSession() as http:
        headers = {"X-Api-Key": "secret", "Authorization": "Bearer secret"}
        async with http.post(recorder.url("/a/b?x=1"), data=b"\x00body", headers=headers) as r:
            assert r.status == 200
            assert await r.json() == {}
        async with http.get(recorder.url("c")) as r:
            assert r.status == 200
        first, second = recorder.requests
        assert (first.method, first.path, first.query_string) == ("POST", "/a/b", "x=1")
        assert first.headers["x-api-key"] == "secret"  # case-insensitive
        assert first.headers["authorization"] == "Bearer secret"
        assert first.body == b"\x00body"
        assert (second.method, second.path, second.body) == ("GET", "/c", b"")
        assert "x-api-key" not in second.headers


async def test_a_redirect_fault_can_send_a_client_to_the_recording_server() -> None:
    async with running() as env, RecordingServer(json_body={"ok": True}) as recorder:
        location = recorder.url("/anywhere")
        env.nano.faults.inject("balance", Fault(kind=FaultKind.REDIRECT, location=location))
        async with env.http.post(nano_url(env) + "/check-balance", headers=nano_headers(env)) as r:
            assert r.status == 200
            assert await r.json() == {"ok": True}
        assert [(q.method, q.path) for q in recorder.requests] == [("POST", "/anywhere")]


# -- hangs -----------------------------------------------------------------------------------


async def test_a_hanging_request_is_cut_by_the_client_and_stop_still_returns() -> None:
    with anyio.fail_after(10):
        async with running() as env:
            env.nano.faults.inject("balance", Fault(kind=FaultKind.HANG), times=2)
            timeout = aiohttp.ClientTimeout(total=0.3)
            url = nano_url(env) + "/check-balance"
            with pytest.raises(asyncio.TimeoutError):
                async with env.http.post(url, headers=nano_headers(env), timeout=timeout):
                    pass
            # A second request is still held when the server stops.
            held = asyncio.ensure_future(nano_balance(env))
            while env.nano.counts.by_route["balance"] < 2:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            await env.server.stop()
            assert time.monotonic() - started < 5
            with pytest.raises(aiohttp.ClientError):
                await held


async def test_a_slow_create_makes_its_job_even_when_the_client_gives_up_waiting() -> None:
    async with running() as env:
        env.nano.faults.inject("generate", Fault(kind=FaultKind.SLOW, delay=5.0))
        timeout = aiohttp.ClientTimeout(total=0.2)
        url = nano_url(env) + "/generate-video"
        with pytest.raises(asyncio.TimeoutError):
            await post(env.http, url, json=NANO_BODY, headers=nano_headers(env), timeout=timeout)
        assert (env.nano.creates, env.nano.job_count) == (1, 1)  # made and charged, unanswered
        assert env.nano.counts.by_route["generate"] == 1


async def test_a_hanging_recording_server_holds_requests_and_stops_promptly() -> None:
    with anyio.fail_after(10):
        async with aiohttp.ClientSession() as http:
            recorder = RecordingServer(hang=True)
            await recorder.start()
            timeout = aiohttp.ClientTimeout(total=0.2)
            with pytest.raises(asyncio.TimeoutError):
                async with http.post(recorder.url("/x"), data=b"abc", timeout=timeout):
                    pass
            assert [q.body for q in recorder.requests] == [b"abc"]
            held = asyncio.ensure_future(http.get(recorder.url("/y")))
            while len(recorder.requests) < 2:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            await recorder.stop()
            assert time.monotonic() - started < 5
            with pytest.raises(aiohttp.ClientError):
                await held


# -- counts of paid creates --------------------------------------------------------------------


async def test_creates_count_paid_jobs_and_replays_do_not_count() -> None:
    async with running() as env:
        assert (await nano_create(env))[0] == 202
        assert (env.nano.creates, env.nano.create_requests, env.nano.job_count) == (1, 1, 1)

        auth = {"Authorization": f"Bearer {env.prism.api_key}"}
        url = env.server.base_url("prism") + "/generations"
        async with env.http.post(url, json={**PRISM_BODY, "count": 2}, headers=auth) as r:
            assert r.status == 200
        assert (env.prism.creates, env.prism.create_requests, env.prism.job_count) == (2, 1, 2)

        url = env.server.base_url("lipsync") + "/v2/generate"
        headers = {"x-api-key": env.lipsync.api_key, "Idempotency-Key": "key-1"}
        for replayed in (None, "true"):
            async with env.http.post(url, json=LIPSYNC_BODY, headers=headers) as r:
                assert r.status == 201
                assert r.headers.get("Idempotent-Replayed") == replayed
        lipsync = env.lipsync
        assert (lipsync.creates, lipsync.create_requests, lipsync.job_count) == (1, 1, 1)
