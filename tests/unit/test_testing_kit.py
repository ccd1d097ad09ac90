"""The shipped test kit: MockTransport under a real Client, and drive() on real providers."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import anyio
import attrs
import pytest

from prism_async import Client, JobStatus, Media, VideoRequest
from prism_async._engine import EngineConfig, PollPolicy
from prism_async._errors import (
    PermissionDeniedError,
    RequestValidationError,
    ServerError,
    TransportError,
)
from prism_async._http import (
    Effect,
    Flow,
    HttpRequest,
    HttpResponse,
    Multipart,
    ReadFile,
    StatFile,
    send,
)
from prism_async._results import JobHandle
from prism_async._transport import Transport
from prism_async.providers.lipsync import AudioTrack, LipsyncProvider, LipsyncRequest
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.testing import FAKE_MP4, MockTransport, VirtualClock, drive, json_response

pytestmark = pytest.mark.anyio

NANO = "https://nano.test/api"
NANOGPT = NanoGPTProvider(api_key="ngpt-key", base_url=NANO)
T2V = VideoRequest(model="veo2-video", prompt="A lighthouse in fog")
ACCEPTED = {"runId": "vid_1", "id": "vid_1", "status": "pending", "model": "veo2-video"}
POLICY = PollPolicy(first_delay=2.0, min_interval=1.0, max_interval=30.0, jitter=0.0)


def nano_status(state: str, url: str | None = None) -> HttpResponse:
    data: dict[str, object] = {"status": state, "requestId": "vid_1"}
    if url is not None:
        data["output"] = {"video": {"url": url}}
    return json_response({"requestId": "vid_1", "data": data})


class NanoApi:
    """A handler playing NanoGPT: a create, three status reads, then the video."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.polled_at: list[float] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            return json_response(ACCEPTED, status=202)
        if request.kind == "download":
            return HttpResponse(status=200, body=FAKE_MP4)
        self.polled_at.append(self.clock.monotonic())
        if len(self.polled_at) < 3:
            return nano_status("IN_PROGRESS")
        return nano_status("COMPLETED", "https://cdn.test/vid_1.mp4")


# -- MockTransport ------------------------------------------------------------------------


def test_a_mock_transport_is_a_transport() -> None:
    transport: Transport = MockTransport(lambda request: json_response())
    assert transport is not None


async def test_a_real_client_generates_and_downloads_through_a_mock_transport(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    api = NanoApi(clock)
    transport = MockTransport(api)
    config = EngineConfig(poll=POLICY)
    async with Client(NANOGPT, transport=transport, clock=clock, config=config) as client:
        result = await client.generate(T2V)
        (path,) = await client.download(result, tmp_path)
    assert result.status is JobStatus.SUCCEEDED
    assert result.id == "vid_1"
    assert api.polled_at == [2.0, 4.0, 7.0]  # first_delay, then pauses of 2 s and 3 s
    assert path.read_bytes() == FAKE_MP4
    kinds = [(r.method, r.kind) for r in transport.requests]
    assert kinds == [("POST", "submit")] + [("GET", "status")] * 3 + [("GET", "download")]
    assert transport.requests[0].url == f"{NANO}/generate-video"
    assert transport.requests[0].json["prompt"] == "A lighthouse in fog"


async def test_an_async_handler_is_awaited_and_before_send_runs_first() -> None:
    order: list[str] = []

    async def handler(request: HttpRequest) -> HttpResponse:
        await anyio.lowlevel.checkpoint()
        order.append(f"handler {request.method}")
        return json_response({"ok": True}, headers={"X-Request-ID": "r1"})

    async def before_send() -> None:
        order.append("before_send")

    transport = MockTransport(handler)
    request = HttpRequest(method="POST", url="https://x.test/jobs", kind="submit")
    response = await transport.send(request, before_send=before_send)
    assert order == ["before_send", "handler POST"]
    assert response.json() == {"ok": True}
    assert response.headers == {"x-request-id": "r1"}  # lower-cased, as providers get them
    assert response.request_id == "r1"
    assert response.url == "https://x.test/jobs"
    assert transport.requests == [request]


async def test_a_before_send_that_raises_keeps_the_request_from_the_handler() -> None:
    transport = MockTransport(lambda request: json_response())

    async def refuse() -> None:
        raise OSError("journal full")

    with pytest.raises(OSError, match="journal full"):
        await transport.send(
            HttpRequest(method="POST", url="https://x.test", kind="submit"), before_send=refuse
        )
    assert transport.requests == []


async def test_a_handler_error_is_the_transports_error() -> None:
    def down(request: HttpRequest) -> HttpResponse:
        raise TransportError("connection reset")

    clock = VirtualClock()
    async with Client(NANOGPT, transport=MockTransport(down), clock=clock) as client:
        with pytest.raises(TransportError, match="connection reset"):
            await client.submit(T2V)


@pytest.mark.parametrize(("status", "error"), [(403, PermissionDeniedError), (503, ServerError)])
async def test_a_refused_download_raises_the_error_of_its_status(
    tmp_path: Path, status: int, error: type[Exception]
) -> None:
    transport = MockTransport(lambda request: HttpResponse(status=status))
    with pytest.raises(error):
        await transport.download("https://cdn.test/v.mp4", tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()


async def test_a_handler_must_answer_a_response() -> None:
    transport = MockTransport(lambda request: {"not": "a response"})  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="not an HttpResponse"):
        await transport.send(HttpRequest(method="GET", url="https://x.test", kind="status"))


# -- drive --------------------------------------------------------------------------------

GID = "6f2c53c5-7b0e-4a3b-9d1e-111111111111"
CREATED = json_response(
    {"id": GID, "createdAt": "2026-01-01T00:00:00Z", "status": "PENDING", "model": "lipsync-2"},
    status=201,
)
LIPSYNC = LipsyncProvider(api_key="sk-test", base_url="https://lipsync.test")


def local_lipsync() -> LipsyncRequest:
    return LipsyncRequest(
        model="lipsync-2",
        video=Media.from_path("/data/face.mp4"),
        audio=[AudioTrack(audio=Media.from_url("https://media.test/voice.wav"))],
    )


def test_drive_answers_stats_and_the_create_of_a_real_provider() -> None:
    effects: list[Effect] = []
    handles = drive(
        LIPSYNC.submit_flow(local_lipsync(), idempotency_key="k1"),
        CREATED,
        sizes={"/data/face.mp4": 1000},
        effects=effects,
    )
    assert [h.id for h in handles] == [GID]
    stat, create = effects
    assert stat == StatFile(path=Path("/data/face.mp4"), field="video")
    assert isinstance(create, HttpRequest)
    assert create.header("Idempotency-Key") == "k1"
    assert isinstance(create.body, Multipart)


def test_drive_reads_a_file_from_a_mapping_or_from_disk(tmp_path: Path) -> None:
    image = tmp_path / "frame.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    request = VideoRequest(model="veo2-video", prompt="wake up", image=Media.from_path(image))
    sent: list[HttpRequest] = []

    def accept(http: HttpRequest) -> HttpResponse:
        sent.append(http)
        return json_response(ACCEPTED, status=202)

    from_disk = drive(NANOGPT.submit_flow(request, idempotency_key="k"), accept)
    from_table = drive(
        NANOGPT.submit_flow(request, idempotency_key="k"),
        accept,
        files={image: b"\x89PNG\r\n\x1a\n" + bytes(100)},
    )
    assert from_disk == from_table
    assert sent[0].json == sent[1].json
    assert json.dumps(sent[0].json).count("data:image/png;base64,") == 1


def test_drive_refuses_a_file_as_the_engine_does(tmp_path: Path) -> None:
    request = VideoRequest(
        model="veo2-video", prompt="x", image=Media.from_path(tmp_path / "missing.png")
    )
    with pytest.raises(RequestValidationError) as caught:
        drive(NANOGPT.submit_flow(request, idempotency_key="k"), json_response(ACCEPTED))
    assert caught.value.field == "image"
    assert "file not found" in caught.value.reason

    def huge(effect: ReadFile) -> bytes:
        return bytes(effect.max_bytes + 1)

    present = tmp_path / "big.png"
    present.write_bytes(b"x")
    big = VideoRequest(model="veo2-video", prompt="x", image=Media.from_path(present))
    with pytest.raises(RequestValidationError, match="over the limit"):
        drive(NANOGPT.submit_flow(big, idempotency_key="k"), json_response(ACCEPTED), files=huge)


def test_drive_answers_in_order_and_raises_the_exceptions_listed() -> None:
    handle = JobHandle(provider="nanogpt", id="vid_1")
    result = drive(NANOGPT.status_flow(handle), [nano_status("IN_PROGRESS")])
    assert result.status is JobStatus.RUNNING
    with pytest.raises(TransportError, match="reset"):
        drive(NANOGPT.status_flow(handle), [TransportError("reset")])
    with pytest.raises(AssertionError, match="more requests than answered"):
        drive(NANOGPT.status_flow(handle), [])
    with pytest.raises(AssertionError, match="unexpected request: GET"):
        drive(NANOGPT.status_flow(handle))


def test_drive_stamps_received_at_as_the_engine_does() -> None:
    def exchange() -> Flow[HttpResponse]:
        return (yield from send(HttpRequest(method="GET", url="https://x.test", kind="status")))

    when = datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert drive(exchange(), json_response(), now=when).received_at == when
    earlier = attrs.evolve(json_response(), received_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert drive(exchange(), earlier, now=when).received_at == earlier.received_at
    assert drive(exchange(), json_response()).received_at is not None  # the system's time


def test_drive_takes_only_a_synchronous_handler() -> None:
    async def handler(request: HttpRequest) -> HttpResponse:  # pragma: no cover - not awaited
        return json_response()

    flow = NANOGPT.status_flow(JobHandle(provider="nanogpt", id="vid_1"))
    with pytest.raises(TypeError, match="synchronous"):
        drive(flow, handler)  # type: ignore[arg-type]
