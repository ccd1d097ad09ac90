"""Credentials stay with their API (no redirect carries them anywhere), and a wait's
deadline bounds the requests in flight."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import anyio
import attrs
import cattrs
import pytest

from prism_async import (
    Client,
    JobStatus,
    Media,
    PollTimeout,
    RedirectError,
    TransportTimeout,
    VideoRequest,
)
from prism_async._http import HttpRequest
from prism_async._provider import VideoProvider
from prism_async._results import GenerationResult, Output
from prism_async._secrets import Secret
from prism_async.providers.lipsync import AudioTrack, LipsyncProvider, LipsyncRequest
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.providers.prism import PrismProvider
from prism_async.testing import EmulatorServer, Fault, FaultKind, RecordingServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests.conftest import FAST_RETRIES

pytestmark = pytest.mark.anyio

CREDENTIAL_HEADERS = ("x-api-key", "authorization")


@attrs.frozen
class Api:
    """One provider's emulator, how to build its client, and one paid request for it."""

    name: str
    emulator: Callable[[], NanoGPTEmulator | PrismEmulator | LipsyncEmulator]
    provider: Callable[[str, str], VideoProvider]
    request: Callable[[], object]
    create_route: str
    status_route: str


APIS = [
    Api(
        "nanogpt",
        lambda: NanoGPTEmulator(queue_seconds=0, run_seconds=0.1, balance=Decimal(100)),
        lambda key, url: NanoGPTProvider(api_key=key, base_url=url),
        lambda: VideoRequest(model="veo2-video", prompt="x"),
        "generate",
        "status",
    ),
    Api(
        "prism",
        lambda: PrismEmulator(queue_seconds=0, run_seconds=0.1),
        lambda key, url: PrismProvider(api_key=key, base_url=url),
        lambda: VideoRequest(model="veo-3.1", prompt="x", duration=8),
        "create",
        "generation",
    ),
    Api(
        "lipsync",
        lambda: LipsyncEmulator(queue_seconds=0, run_seconds=0.1),
        lambda key, url: LipsyncProvider(api_key=key, base_url=url),
        lambda: LipsyncRequest(
            model="lipsync-2",
            video=Media.from_url("https://a.example/face.mp4"),
            audio=[AudioTrack(audio=Media.from_url("https://a.example/voice.wav"))],
        ),
        "create",
        "generation",
    ),
]


@pytest.fixture
async def elsewhere() -> AsyncIterator[RecordingServer]:
    """Another origin, which records whatever reaches it."""
    async with RecordingServer() as server:
        yield server


def no_credential_reached(server: RecordingServer, key: str) -> None:
    for request in server.requests:
        for name in CREDENTIAL_HEADERS:
            assert name not in request.headers, f"{name} reached {request.path}"
        assert key.encode() not in request.body
        assert all(key not in value for value in request.headers.values())


@pytest.mark.parametrize("api", APIS, ids=lambda a: a.name)
async def test_a_create_redirected_to_another_host_is_refused_and_never_resent(
    api: Api, elsewhere: RecordingServer
) -> None:
    emulator = api.emulator()
    target = elsewhere.url("/steal")
    emulator.faults.inject(api.create_route, Fault(kind=FaultKind.REDIRECT, location=target))
    async with EmulatorServer([emulator]) as server:
        provider = api.provider(emulator.api_key, server.base_url(api.name))
        async with Client(provider, transport_config=FAST_RETRIES) as client:
            with pytest.raises(RedirectError) as caught:
                await client.submit(api.request())
    assert caught.value.location == target
    assert target in str(caught.value)
    assert elsewhere.requests == []  # neither the key nor the body went there
    assert emulator.creates == 0


@pytest.mark.parametrize("api", APIS, ids=lambda a: a.name)
async def test_a_status_request_redirected_to_another_host_is_refused(
    api: Api, elsewhere: RecordingServer
) -> None:
    emulator = api.emulator()
    async with EmulatorServer([emulator]) as server:
        provider = api.provider(emulator.api_key, server.base_url(api.name))
        async with Client(provider, transport_config=FAST_RETRIES) as client:
            (handle,) = await client.submit(api.request())
            emulator.faults.inject(
                api.status_route, Fault(kind=FaultKind.REDIRECT, location=elsewhere.url("/s"))
            )
            with pytest.raises(RedirectError):
                await client.get(handle)
    assert elsewhere.requests == []
    no_credential_reached(elsewhere, emulator.api_key)


@pytest.mark.parametrize("api", APIS, ids=lambda a: a.name)
async def test_a_download_follows_a_redirect_without_any_credential(
    api: Api, tmp_path: Path, elsewhere: RecordingServer
) -> None:
    emulator = api.emulator()
    async with EmulatorServer([emulator]) as server:
        provider = api.provider(emulator.api_key, server.base_url(api.name))
        async with Client(provider, transport_config=FAST_RETRIES) as client:
            (handle,) = await client.submit(api.request())
            result = await client.wait(handle, timeout=30)
            assert result.status is JobStatus.SUCCEEDED
            emulator.faults.inject(
                "file", Fault(kind=FaultKind.REDIRECT, location=elsewhere.url("/cdn/v.mp4"))
            )
            # The recorder answers no video: that try fails its check, the next one is fine.
            (path,) = await client.download(result, tmp_path)
    assert path.stat().st_size > 0
    assert [r.path for r in elsewhere.requests] == ["/cdn/v.mp4"]  # the redirect was followed
    no_credential_reached(elsewhere, emulator.api_key)


def test_dumping_a_request_never_reveals_its_key() -> None:
    request = HttpRequest(
        method="POST",
        url="https://api.example/v2/generate",
        kind="submit",
        headers=(("x-api-key", Secret("sk-live-very-secret")),),
    )
    for dump in (attrs.asdict(request), cattrs.unstructure(request)):
        assert "sk-live-very-secret" not in repr(dump)
    assert "sk-live-very-secret" not in repr(cattrs.unstructure(Secret("sk-live-very-secret")))
    with pytest.raises(TypeError):  # refused by json, never written out
        json.dumps(cattrs.unstructure(request))


# --- Deadlines bound the requests in flight ---------------------------------------------------


async def test_a_wait_ends_at_its_deadline_even_while_a_status_request_hangs() -> None:
    emulator = NanoGPTEmulator(queue_seconds=0, run_seconds=60, balance=Decimal(100))
    async with EmulatorServer([emulator]) as server:
        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
        async with Client(provider, transport_config=FAST_RETRIES) as client:
            (handle,) = await client.submit(VideoRequest(model="veo2-video", prompt="x"))
            emulator.faults.inject("status", Fault(kind=FaultKind.HANG), times=100)
            # The transport would wait 60 s for a read, four times over; the wait's
            # deadline cuts the request in flight instead.
            with anyio.fail_after(20), pytest.raises(PollTimeout):
                await client.wait(handle, timeout=1.0)
            assert client.transport.connections_in_use == 0  # type: ignore[attr-defined]


async def test_a_stalled_download_ends_at_its_deadline(tmp_path: Path) -> None:
    async with RecordingServer(hang=True) as stalled:
        result = GenerationResult(
            provider="nanogpt",
            id="vid_1",
            status=JobStatus.SUCCEEDED,
            outputs=(Output(url=stalled.url("/v.mp4")),),
        )
        provider = NanoGPTProvider(api_key="k")
        async with Client(provider, transport_config=FAST_RETRIES) as client:
            with anyio.fail_after(20), pytest.raises(TransportTimeout):
                await client.download(result, tmp_path, timeout=1.0)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind
