"""Webhooks end waits: the real client, the real emulators delivering over loopback, and
the receiver mounted in a real aiohttp application (and a real ASGI server).

These run on the real clock with short emulated jobs: a callback crosses a socket, and a
virtual clock would jump over the moment it is in flight. The safety net is long (60 s)
except where a test needs it, so a wait that ends early ended by its callback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from prism_async import Client, EngineConfig, JobHandle, JobStatus, Media, PollPolicy
from prism_async.providers.lipsync import LipsyncProvider, sign
from prism_async.providers.prism import PrismProvider, TemplateRequest
from prism_async.testing import EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.prism import PrismEmulator
from prism_async.webhooks import Delivery, WebhookReceiver, aiohttp_app, asgi_app
from tests.conftest import FAST_RETRIES
from tests.integration.test_lipsync import audio, lipsync

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SECRET = "whsec_test_secret"
IMAGE = "https://media.example/lamp.png"
LONG_NET = EngineConfig(poll=PollPolicy(safety_net=60.0))


@contextlib.asynccontextmanager
async def mounted(receiver: WebhookReceiver) -> AsyncIterator[str]:
    """``receiver`` mounted at ``/hooks`` of an aiohttp app on a free loopback port; the
    base URL."""
    app = web.Application()
    app.add_subapp("/hooks", aiohttp_app(receiver))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def lipsync_env(**emulator: Any) -> AsyncIterator[tuple[LipsyncEmulator, EmulatorServer]]:
    settings: dict[str, Any] = {"queue_seconds": 0.05, "run_seconds": 0.3, **emulator}
    emu = LipsyncEmulator(webhook_secret=SECRET, concurrency_limit=50, **settings)
    async with EmulatorServer([emu]) as server:
        yield emu, server


@contextlib.asynccontextmanager
async def webhook_client(
    provider: Any, config: EngineConfig = LONG_NET, **options: Any
) -> AsyncIterator[Client]:
    """A client whose receiver is mounted at ``/hooks`` of a real aiohttp app, reachable
    at the client's ``webhook_base_url`` (the socket is bound first, to know its port)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    client = Client(
        provider,
        transport_config=FAST_RETRIES,
        config=config,
        webhook_base_url=f"http://127.0.0.1:{port}/hooks",
        webhook_secret=SECRET,
        **options,
    )
    assert client.webhooks is not None
    app = web.Application()
    app.add_subapp("/hooks", aiohttp_app(client.webhooks))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        async with client:
            yield client
    finally:
        await runner.cleanup()


def status_gets(emu: LipsyncEmulator | PrismEmulator) -> int:
    """Status requests the emulator answered."""
    return emu.counts.by_route["generation"]


# -- lipsync: signed callbacks end the wait with no status request --------------------------


async def test_a_lipsync_job_ends_on_its_signed_callback_with_no_status_request() -> None:
    async with lipsync_env() as (emu, server):
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        async with webhook_client(provider) as client:
            started = time.monotonic()
            (handle,) = await client.submit(lipsync(audio()))
            result = await client.wait(handle, timeout=30)
            elapsed = time.monotonic() - started
    assert result.status is JobStatus.SUCCEEDED
    assert emu.webhooks_sent, "the emulator delivered no callback"
    sent_body = json.loads(emu.webhooks_sent[0][1])
    assert sent_body["webhookUrl"].endswith("/hooks/lipsync")
    assert status_gets(emu) == 0  # no poll between submit and the callback
    assert elapsed < 30  # ended by the callback, not by the 60 s safety net


async def test_a_dropped_lipsync_callback_still_ends_the_job_through_the_safety_net() -> None:
    net = EngineConfig(poll=PollPolicy(safety_net=0.5, jitter=0.0))
    async with lipsync_env() as (emu, server):
        emu.drop_webhooks = True
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        async with webhook_client(provider, net) as client:
            (handle,) = await client.submit(lipsync(audio()))
            result = await client.wait(handle, timeout=30)
    assert result.status is JobStatus.SUCCEEDED
    assert status_gets(emu) >= 1  # the safety net polled it to its end


async def test_duplicate_lipsync_callbacks_are_harmless() -> None:
    async with lipsync_env() as (emu, server):
        emu.duplicate_webhooks = True
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        async with webhook_client(provider) as client:
            handles: list[JobHandle] = []
            for n in range(3):
                handles += await client.submit(lipsync(audio(f"v{n}.wav")))
            outcomes = [o async for o in client.as_completed(handles, timeout=30)]
            await anyio.sleep(0.3)  # the duplicates arrive after the waits ended
            assert client.engine.scheduler.tracked == 0
    assert [o.ok for o in outcomes] == [True, True, True]
    assert status_gets(emu) == 0


# -- the receiver refuses what it cannot trust ----------------------------------------------


async def post(base: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}{path}", data=body, headers=headers) as response,
    ):
        return response.status


def generation_body(job_id: str, status: str = "COMPLETED") -> bytes:
    payload: dict[str, Any] = {
        "id": job_id,
        "status": status,
        "model": "lipsync-2",
        "input": [],
        "createdAt": "2026-12-05T10:00:00Z",
        "outputUrl": "https://cdn.example/out.mp4" if status == "COMPLETED" else None,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "forgery",
    ["tampered body", "wrong secret", "stale timestamp", "no signature", "future timestamp"],
)
async def test_a_forged_lipsync_delivery_is_refused_and_the_job_keeps_waiting(
    forgery: str,
) -> None:
    async with lipsync_env(run_seconds=2.0) as (emu, server):
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        emu.drop_webhooks = True  # only the forged delivery arrives
        async with webhook_client(provider) as client:
            assert client.webhook_base_url is not None
            (handle,) = await client.submit(lipsync(audio()))
            body = generation_body(handle.id)
            now = int(time.time())
            secret, stamp, sent = SECRET, now, body
            if forgery == "tampered body":
                sent = body.replace(b"out.mp4", b"evil.mp4")
            elif forgery == "wrong secret":
                secret = "whsec_guess"
            elif forgery == "stale timestamp":
                stamp = now - 3600
            elif forgery == "future timestamp":
                stamp = now + 3600
            headers = {"Content-Type": "application/json"}
            if forgery != "no signature":
                headers["Sync-Signature"] = sign(body, secret, timestamp=stamp)
            status = await post(client.webhook_base_url, "/lipsync", sent, headers)
            await anyio.sleep(0.1)
            assert status == 401
            assert client.engine.scheduler.tracked == 0  # nobody waits yet: still expected
            with pytest.raises(TimeoutError):
                await client.wait(handle, timeout=0.5)  # the forgery ended nothing


async def test_a_signed_delivery_ends_a_waiting_job_and_a_stale_copy_is_refused() -> None:
    async with lipsync_env(run_seconds=30.0) as (emu, server):
        emu.drop_webhooks = True
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        async with webhook_client(provider) as client:
            assert client.webhook_base_url is not None
            (handle,) = await client.submit(lipsync(audio()))
            body = generation_body(handle.id)
            stale = {"Sync-Signature": sign(body, SECRET, timestamp=int(time.time()) - 900)}
            assert await post(client.webhook_base_url, "/lipsync", body, stale) == 401
            fresh = {"Sync-Signature": sign(body, SECRET, timestamp=int(time.time()))}
            async with anyio.create_task_group() as tasks:
                results = []

                async def wait() -> None:
                    results.append(await client.wait(handle, timeout=20))

                tasks.start_soon(wait)
                await anyio.sleep(0.1)
                assert await post(client.webhook_base_url, "/lipsync", body, fresh) == 200
    assert results[0].status is JobStatus.SUCCEEDED
    assert status_gets(emu) == 0


def test_a_non_finite_or_non_positive_tolerance_is_refused() -> None:
    for tolerance in (math.nan, math.inf, 0.0, -5.0):
        with pytest.raises(ValueError, match="tolerance"):
            WebhookReceiver([], tolerance=tolerance)


async def test_an_oversized_or_misrouted_delivery_is_refused() -> None:
    provider = LipsyncProvider(api_key="k", base_url="http://127.0.0.1:9")
    receiver = WebhookReceiver([provider], secret=SECRET, max_body=1000)
    async with mounted(receiver) as base:
        assert await post(base, "/lipsync", b"x" * 5000, {}) == 413
        assert await post(base, "/nanogpt", b"{}", {}) == 404
        assert await post(base, "/lipsync/extra-token", b"{}", {}) == 404
        async with aiohttp.ClientSession() as http, http.get(f"{base}/lipsync") as response:
            assert response.status == 405


# -- Prism: an unsigned callback, trusted through its token, confirmed by one fetch -------


def template(product: str = "Desk lamp") -> TemplateRequest:
    return TemplateRequest(
        template_id="featured-ugc-pitch",
        variables={"product": product, "product_image": Media.from_url(IMAGE)},
    )


@contextlib.asynccontextmanager
async def prism_env(**emulator: Any) -> AsyncIterator[tuple[PrismEmulator, PrismProvider]]:
    emu = PrismEmulator(**{"run_seconds": 0.3, **emulator})
    async with EmulatorServer([emu]) as server:
        yield emu, PrismProvider(api_key=emu.api_key, base_url=server.base_url("prism"))


async def test_a_prism_template_job_ends_on_its_callback_confirmed_by_one_status_fetch() -> None:
    async with prism_env() as (emu, provider), webhook_client(provider) as client:
        (handle,) = await client.submit(template())
        result = await client.wait(handle, timeout=30)
    assert result.status is JobStatus.SUCCEEDED
    assert len(emu.webhooks_sent) >= 1
    url = emu.webhooks_sent[0][0]
    assert "/hooks/prism/" in url and len(url.rsplit("/", 1)[-1]) >= 40  # 128-bit token
    assert status_gets(emu) == 1  # exactly one confirming fetch


async def test_a_guessed_prism_token_is_refused_and_the_job_keeps_waiting() -> None:
    async with prism_env(run_seconds=30.0) as (emu, provider):
        emu.drop_webhooks = True
        async with webhook_client(provider) as client:
            assert client.webhook_base_url is not None
            (handle,) = await client.submit(template())
            body = json.dumps({"id": handle.id, "status": "completed"}).encode()
            guess = "A" * 43
            assert await post(client.webhook_base_url, f"/prism/{guess}", body, {}) == 404
            assert await post(client.webhook_base_url, "/prism", body, {}) == 404
            with pytest.raises(TimeoutError):
                await client.wait(handle, timeout=0.5)
            assert status_gets(emu) == 0


async def test_a_prism_token_replayed_for_another_job_is_refused() -> None:
    async with prism_env(run_seconds=30.0) as (emu, provider):
        emu.drop_webhooks = True
        async with webhook_client(provider) as client:
            assert client.webhook_base_url is not None and client.webhooks is not None
            (first,) = await client.submit(template("lamp"))
            (second,) = await client.submit(template("chair"))
            url = client.webhooks.callback_url(client.webhook_base_url, "prism")
            client.webhooks.bind(url, [first])
            token_path = url[len(client.webhook_base_url) :]
            other = json.dumps({"id": second.id, "status": "completed"}).encode()
            assert await post(client.webhook_base_url, token_path, other, {}) == 401
            mine = json.dumps({"id": first.id, "status": "completed"}).encode()
            assert await post(client.webhook_base_url, token_path, mine, {}) == 200


async def test_a_delivery_for_a_job_nobody_waits_on_goes_to_on_webhook() -> None:
    seen: list[Delivery] = []
    async with lipsync_env(run_seconds=30.0) as (emu, server):
        emu.drop_webhooks = True
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        async with webhook_client(provider, on_webhook=seen.append) as client:
            assert client.webhook_base_url is not None
            body = generation_body("someone-elses-job")
            headers = {"Sync-Signature": sign(body, SECRET, timestamp=int(time.time()))}
            assert await post(client.webhook_base_url, "/lipsync", body, headers) == 200
            await anyio.sleep(0.05)
    assert [(d.job_id, d.waited_on) for d in seen] == [("someone-elses-job", False)]
    assert seen[0].result is not None and seen[0].result.status is JobStatus.SUCCEEDED


# -- the ASGI application under a real ASGI server -------------------------------------------


@contextlib.asynccontextmanager
async def asgi_served(client_options: dict[str, Any], provider: Any) -> AsyncIterator[Client]:
    """A client whose receiver runs as an ASGI app under uvicorn, mounted at ``/hooks``,
    in this event loop."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    client = Client(
        provider,
        transport_config=FAST_RETRIES,
        config=LONG_NET,
        webhook_base_url=f"http://127.0.0.1:{port}/hooks",
        webhook_secret=SECRET,
        **client_options,
    )
    assert client.webhooks is not None
    hooks = asgi_app(client.webhooks)

    async def site(scope: Any, receive: Any, send: Any) -> None:
        """Mounts the receiver at /hooks as Starlette's ``Mount`` does: the full path
        kept, the mount point added to ``root_path``."""
        if scope["type"] == "http" and scope["path"].startswith("/hooks/"):
            await hooks(
                {**scope, "root_path": scope.get("root_path", "") + "/hooks"}, receive, send
            )
            return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(site, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(functools.partial(server.serve, sockets=[sock]))
        while not server.started:
            await anyio.sleep(0.01)
        try:
            async with client:
                yield client
        finally:
            server.should_exit = True


async def test_the_asgi_app_under_uvicorn_ends_a_lipsync_job_on_its_callback() -> None:
    async with lipsync_env() as (emu, server):
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        async with asgi_served({}, provider) as client:
            (handle,) = await client.submit(lipsync(audio()))
            result = await client.wait(handle, timeout=30)
            assert client.webhook_base_url is not None
            body = generation_body(handle.id)
            forged = {"Sync-Signature": sign(body, "whsec_guess", timestamp=int(time.time()))}
            assert await post(client.webhook_base_url, "/lipsync", body, forged) == 401
            assert await post(client.webhook_base_url, "/lipsync", b"x" * (2 << 20), {}) == 413
    assert result.status is JobStatus.SUCCEEDED
    assert status_gets(emu) == 0


# -- the emulators' delivery faults -----------------------------------------------------------


async def test_a_reordered_stale_lipsync_callback_never_moves_a_job_backwards() -> None:
    seen: list[Delivery] = []
    async with lipsync_env() as (emu, server):
        emu.webhooks.reorder = True
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        async with webhook_client(provider, on_webhook=seen.append) as client:
            (handle,) = await client.submit(lipsync(audio()))
            result = await client.wait(handle, timeout=30)
            await emu.webhooks.drain()
            await anyio.sleep(0.05)
            again = await client.get(handle)
    assert result.status is JobStatus.SUCCEEDED
    assert [d.kind for d in emu.webhooks.sent] == ["final", "stale"]
    assert all(d.status == 200 for d in emu.webhooks.sent)  # verified, but...
    stale = [d for d in seen if d.result is not None and not d.result.is_terminal]
    assert stale and not stale[0].waited_on  # ...it reached no wait
    assert again.status is JobStatus.SUCCEEDED


async def test_a_corrupted_lipsync_callback_is_refused_and_the_safety_net_ends_the_job() -> None:
    net = EngineConfig(poll=PollPolicy(safety_net=0.5, jitter=0.0))
    async with lipsync_env() as (emu, server):
        emu.webhooks.corrupt = True
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        async with webhook_client(provider, net) as client:
            (handle,) = await client.submit(lipsync(audio()))
            result = await client.wait(handle, timeout=30)
    assert [d.status for d in emu.webhooks.sent] == [401]
    assert result.status is JobStatus.SUCCEEDED  # polled: the tampered body said FAILED
    assert status_gets(emu) >= 1


async def test_a_corrupted_prism_callback_naming_another_job_is_refused() -> None:
    async with prism_env() as (emu, provider):
        emu.webhooks.corrupt = True
        async with webhook_client(provider) as client:
            (handle,) = await client.submit(template())
            with pytest.raises(TimeoutError):  # refused: the job keeps waiting
                await client.wait(handle, timeout=1.0)
            await emu.webhooks.drain()
    assert [d.status for d in emu.webhooks.sent] == [401]
    assert status_gets(emu) == 0  # (its safety net is Prism's 10 s floor away)


async def test_a_delayed_callback_still_ends_the_wait_before_the_safety_net() -> None:
    async with lipsync_env() as (emu, server):
        emu.webhooks.delay = True
        emu.webhooks.delay_seconds = 0.3
        provider = LipsyncProvider(api_key=emu.api_key, base_url=server.base_url("lipsync"))
        async with webhook_client(provider) as client:
            (handle,) = await client.submit(lipsync(audio()))
            result = await client.wait(handle, timeout=30)
    assert result.status is JobStatus.SUCCEEDED
    assert status_gets(emu) == 0
