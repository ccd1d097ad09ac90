"""AiohttpTransport against a tiny aiohttp.web app on loopback (real sockets)."""

from __future__ import annotations

import collections
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import attrs
import pytest
from aiohttp import BodyPartReader, web
from hypothesis import given
from hypothesis import strategies as st

from prism_async._errors import ConnectError, NotFoundError, TransportError
from prism_async._http import FileBody, FilePart, HttpRequest, Multipart, RetryMode
from prism_async._policy import Backoff
from prism_async._secrets import Secret
from prism_async._transport import AiohttpTransport, TransportConfig
from prism_async.testing import VirtualClock

pytestmark = pytest.mark.anyio

Handler = Callable[[web.Request, int], Awaitable[web.StreamResponse]]

# Retries wait in real time: keep every backoff tiny.
FAST = TransportConfig(
    attempts=4, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0, max_retry_after=60.0
)


@attrs.define
class Seen:
    method: str
    headers: dict[str, str]
    body: bytes
    content_length: int | None


@attrs.define
class Server:
    """Routes ``/<name>`` to a handler given the hit number (1, 2, ...); records requests."""

    base: str = ""
    handlers: dict[str, Handler] = attrs.field(factory=dict)
    hits: collections.Counter[str] = attrs.field(factory=collections.Counter)
    seen: dict[str, list[Seen]] = attrs.field(factory=lambda: collections.defaultdict(list))

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] += 1
        if name not in self.handlers:
            raise web.HTTPNotFound()
        return await self.handlers[name](request, self.hits[name])

    def record(self, name: str, request: web.Request, body: bytes) -> None:
        self.seen[name].append(
            Seen(request.method, dict(request.headers), body, request.content_length)
        )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    app = web.Application()
    app.router.add_route("*", "/{name}", state.dispatch)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base = f"http://{host}:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    async with AiohttpTransport(FAST) as opened:
        yield opened


def respond(*statuses: int, headers: dict[str, str] | None = None, body: bytes = b"{}") -> Handler:
    """Answer hit n with ``statuses[n-1]`` (the last repeats)."""

    async def handler(request: web.Request, hit: int) -> web.StreamResponse:
        await request.read()
        status = statuses[min(hit, len(statuses)) - 1]
        return web.Response(status=status, body=body, headers=headers if status >= 400 else None)

    return handler


def get(url: str, **kwargs: object) -> HttpRequest:
    return HttpRequest(method="GET", url=url, kind="status", **kwargs)  # type: ignore[arg-type]


def create(url: str, **kwargs: object) -> HttpRequest:
    return HttpRequest(
        method="POST",
        url=url,
        kind="submit",
        json={"prompt": "x"},
        retry=RetryMode.REFUSED_ONLY,
        **kwargs,  # type: ignore[arg-type]
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------
# Retries


async def test_safe_request_retries_a_503_then_succeeds(
    server: Server, transport: AiohttpTransport
) -> None:
    server.handlers["x"] = respond(503, 503, 200, body=b'{"ok":true}')
    response = await transport.send(get(server.url("x")))
    assert response.status == 200
    assert response.json() == {"ok": True}
    assert server.hits["x"] == 3
    assert transport.requests_sent == 3


async def test_safe_request_gives_up_after_its_attempts_and_returns_the_last_answer(
    server: Server, transport: AiohttpTransport
) -> None:
    server.handlers["x"] = respond(502)
    response = await transport.send(get(server.url("x")))
    assert response.status == 502
    assert server.hits["x"] == FAST.attempts


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_safe_request_does_not_retry_a_client_error(
    server: Server, transport: AiohttpTransport, status: int
) -> None:
    server.handlers["x"] = respond(status, 200)
    assert (await transport.send(get(server.url("x")))).status == status
    assert server.hits["x"] == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_paid_create_is_not_retried_after_a_server_error(
    server: Server, transport: AiohttpTransport, status: int
) -> None:
    server.handlers["create"] = respond(status, 202)
    response = await transport.send(create(server.url("create")))
    assert response.status == status
    assert server.hits["create"] == 1


async def drop_after_reading(request: web.Request, hit: int) -> web.StreamResponse:
    await request.read()
    assert request.transport is not None
    request.transport.close()  # the request arrived: the job may exist
    return web.Response()


async def test_paid_create_is_not_retried_after_a_dropped_connection(
    server: Server, transport: AiohttpTransport
) -> None:
    server.handlers["create"] = drop_after_reading
    with pytest.raises(TransportError) as caught:
        await transport.send(create(server.url("create")))
    assert not isinstance(caught.value, ConnectError)
    assert server.hits["create"] == 1


async def test_safe_request_is_retried_after_a_dropped_connection(
    server: Server, transport: AiohttpTransport
) -> None:
    async def drop_once(request: web.Request, hit: int) -> web.StreamResponse:
        if hit == 1:
            return await drop_after_reading(request, hit)
        return web.json_response({"ok": True})

    server.handlers["x"] = drop_once
    assert (await transport.send(get(server.url("x")))).status == 200
    assert server.hits["x"] == 2


async def test_paid_create_is_retried_after_a_refusing_429(
    server: Server, transport: AiohttpTransport
) -> None:
    server.handlers["create"] = respond(429, 429, 202, headers={"Retry-After": "0"})
    response = await transport.send(create(server.url("create")))
    assert response.status == 202
    assert server.hits["create"] == 3


@pytest.mark.parametrize("mode", list(RetryMode))
async def test_a_429_that_does_not_say_when_reaches_the_caller(
    server: Server, transport: AiohttpTransport, mode: RetryMode
) -> None:
    # A plan's concurrency limit: the engine waits for a slot instead of hammering.
    server.handlers["x"] = respond(429, 200)
    request = HttpRequest(method="POST", url=server.url("x"), kind="submit", json={}, retry=mode)
    assert (await transport.send(request)).status == 429
    assert server.hits["x"] == 1


async def test_paid_create_with_extra_refused_statuses_retries_those(
    server: Server, transport: AiohttpTransport
) -> None:
    server.handlers["create"] = respond(503, 202)
    request = create(server.url("create"), refused_statuses=frozenset({429, 503}))
    assert (await transport.send(request)).status == 202
    assert server.hits["create"] == 2


@pytest.mark.parametrize("mode", list(RetryMode))
async def test_connection_refused_is_retried_in_every_mode(mode: RetryMode) -> None:
    url = f"http://127.0.0.1:{closed_port()}/create"
    request = HttpRequest(method="POST", url=url, kind="submit", json={}, retry=mode)
    async with AiohttpTransport(FAST) as transport:
        with pytest.raises(ConnectError, match="cannot connect"):
            await transport.send(request)
        assert transport.requests_sent == FAST.attempts


async def test_retry_after_replaces_the_backoff(server: Server) -> None:
    # A backoff this long would trip the guard; Retry-After: 0 (seconds, or an HTTP-date
    # in the past) must be used instead.
    slow = attrs.evolve(FAST, wait_initial=30.0, wait_max=30.0)
    server.handlers["x"] = respond(429, 503, 200, headers={"Retry-After": "0"})
    server.handlers["y"] = respond(
        429, 200, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    with anyio.fail_after(10):
        async with AiohttpTransport(slow) as transport:
            assert (await transport.send(get(server.url("x")))).status == 200
            assert (await transport.send(get(server.url("y")))).status == 200
    assert server.hits["x"] == 3
    assert server.hits["y"] == 2


async def test_backoff_waits_on_the_injected_clock(server: Server) -> None:
    # The default backoff (0.5 s, 1 s, 2 s, each plus up to 1 s of jitter) passes on the
    # virtual clock: the real time spent is a few milliseconds of loopback exchanges.
    clock = VirtualClock()
    server.handlers["x"] = respond(503, 503, 503, 200)
    async with AiohttpTransport(TransportConfig(), clock=clock) as transport:
        with anyio.fail_after(5):
            assert (await transport.send(get(server.url("x")))).status == 200
    assert server.hits["x"] == 4
    assert 3.5 <= clock.monotonic() <= 6.5


@given(
    tries=st.integers(1, 10),
    initial=st.floats(0.0, 5.0),
    maximum=st.floats(0.0, 30.0),
    jitter=st.floats(0.0, 2.0),
)
def test_backoff_doubles_capped_with_jitter_and_stops_after_its_attempts(
    tries: int, initial: float, maximum: float, jitter: float
) -> None:
    backoff = Backoff(attempts=5, initial=initial, maximum=maximum, jitter=jitter)
    wait = backoff.wait(tries)
    if tries >= 5:
        assert wait is None
    else:
        assert wait is not None
        base = min(maximum, initial * 2.0 ** (tries - 1))
        assert base <= wait <= base + jitter


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_retry_after_is_honoured_only_within_the_cap(seconds: float) -> None:
    wait = Backoff(max_retry_after=60.0).wait(1, seconds)
    if 0 <= seconds <= 60:
        assert wait == seconds
    elif -math.inf < seconds < 0:
        assert wait == 0.0
    else:
        assert wait is None  # more than is honoured, or not a number: the caller decides


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_above_the_cap_is_not_retried(
    server: Server, transport: AiohttpTransport, status: int
) -> None:
    server.handlers["x"] = respond(status, 200, headers={"Retry-After": "3600"})
    response = await transport.send(get(server.url("x")))
    assert response.status == status
    assert response.headers["retry-after"] == "3600"
    assert server.hits["x"] == 1


# ---------------------------------------------------------------------------------------
# What goes out


async def test_secret_headers_are_sent_revealed(
    server: Server, transport: AiohttpTransport
) -> None:
    async def echo(request: web.Request, hit: int) -> web.StreamResponse:
        server.record("echo", request, await request.read())
        return web.json_response({})

    server.handlers["echo"] = echo
    request = get(
        server.url("echo"),
        headers=(("x-api-key", Secret("sk-123")), ("Accept", "application/json")),
        params=(("requestId", "vid 1"),),
    )
    await transport.send(request)
    (seen,) = server.seen["echo"]
    assert seen.headers["x-api-key"] == "sk-123"
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["User-Agent"] == FAST.user_agent


async def test_json_body_is_sent_compact(server: Server, transport: AiohttpTransport) -> None:
    async def echo(request: web.Request, hit: int) -> web.StreamResponse:
        server.record("echo", request, await request.read())
        return web.json_response({})

    server.handlers["echo"] = echo
    await transport.send(
        HttpRequest(method="POST", url=server.url("echo"), kind="submit", json={"a": "é", "b": [1]})
    )
    (seen,) = server.seen["echo"]
    assert seen.body == '{"a":"é","b":[1]}'.encode()
    assert seen.headers["Content-Type"].startswith("application/json")


async def test_file_body_is_streamed_with_its_length(
    server: Server, transport: AiohttpTransport, tmp_path: Path
) -> None:
    async def put(request: web.Request, hit: int) -> web.StreamResponse:
        server.record("put", request, await request.read())
        return web.Response(status=200)

    server.handlers["put"] = put
    data = bytes(range(256)) * 1024  # 256 KiB, several chunks
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    request = HttpRequest(
        method="PUT",
        url=server.url("put"),
        kind="upload",
        body=FileBody(path=path, content_type="video/mp4"),
    )
    assert (await transport.send(request)).status == 200
    (seen,) = server.seen["put"]
    assert seen.content_length == len(data)
    assert "chunked" not in seen.headers.get("Transfer-Encoding", "")
    assert seen.headers["Content-Type"] == "video/mp4"
    assert seen.body == data


async def test_file_body_is_sent_whole_on_every_attempt(
    server: Server, transport: AiohttpTransport, tmp_path: Path
) -> None:
    async def put(request: web.Request, hit: int) -> web.StreamResponse:
        server.record("put", request, await request.read())
        return web.Response(status=503 if hit == 1 else 200)

    server.handlers["put"] = put
    path = tmp_path / "clip.bin"
    path.write_bytes(b"abc" * 1000)
    request = HttpRequest(
        method="PUT",
        url=server.url("put"),
        kind="upload",
        body=FileBody(path=path, content_type="x/y"),
    )
    assert (await transport.send(request)).status == 200
    assert [s.body for s in server.seen["put"]] == [b"abc" * 1000] * 2


async def test_multipart_sends_fields_and_streamed_files(
    server: Server, transport: AiohttpTransport, tmp_path: Path
) -> None:
    parts: list[tuple[str, str | None, str | None, bytes]] = []

    async def form(request: web.Request, hit: int) -> web.StreamResponse:
        reader = await request.multipart()
        # Not `async for`: aiohttp types MultipartReader.__aiter__ with a Self TypeVar bound
        # to BodyPartReader (below Python 3.11), and its parts as possibly nested readers.
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader), part
            content_type = part.headers.get("Content-Type")
            parts.append((part.name or "", part.filename, content_type, await part.read()))
        return web.json_response({"id": "gen_1"})

    server.handlers["form"] = form
    video = tmp_path / "in.mp4"
    video.write_bytes(b"\x00VIDEO" * 5000)
    body = Multipart(
        fields=(
            ("model", "lipsync-2"),
            ("video", FilePart(path=video, content_type="video/mp4", filename="in.mp4")),
            ("options", '{"sync_mode":"loop"}'),
        )
    )
    request = HttpRequest(method="POST", url=server.url("form"), kind="submit", body=body)
    assert (await transport.send(request)).json() == {"id": "gen_1"}
    assert [(name, filename) for name, filename, _, _ in parts] == [
        ("model", None),
        ("video", "in.mp4"),
        ("options", None),
    ]
    assert parts[0][3] == b"lipsync-2"
    assert parts[1][2] == "video/mp4"
    assert parts[1][3] == video.read_bytes()
    assert parts[2][3] == b'{"sync_mode":"loop"}'


# ---------------------------------------------------------------------------------------
# What comes back


async def test_response_headers_are_lower_case_and_request_id_is_read(
    server: Server, transport: AiohttpTransport
) -> None:
    async def tagged(request: web.Request, hit: int) -> web.StreamResponse:
        return web.json_response({}, status=400, headers={"X-Request-ID": "req-42"})

    server.handlers["x"] = tagged
    response = await transport.send(get(server.url("x")))
    assert response.headers["x-request-id"] == "req-42"
    assert response.request_id == "req-42"
    assert not response.ok


async def test_response_over_the_size_cap_raises_transport_error(server: Server) -> None:
    server.handlers["big"] = respond(200, body=b"x" * 5000)
    server.handlers["small"] = respond(200, body=b"x" * 1000)
    async with AiohttpTransport(attrs.evolve(FAST, max_response_bytes=1024)) as transport:
        assert len((await transport.send(get(server.url("small")))).body) == 1000
        with pytest.raises(TransportError, match="larger than 1024 bytes"):
            await transport.send(get(server.url("big")))


async def test_transport_must_be_opened_before_use() -> None:
    transport = AiohttpTransport(FAST)
    with pytest.raises(RuntimeError, match="not open"):
        await transport.send(get("http://127.0.0.1:1/x"))


# ---------------------------------------------------------------------------------------
# Downloads


VIDEO = bytes(range(256)) * 2000


async def test_download_streams_the_whole_body_into_the_given_file(
    server: Server, transport: AiohttpTransport, tmp_path: Path
) -> None:
    # The transport only streams; the Downloader owns the temporary name, the check and the
    # rename (tests/integration/test_downloads.py).
    async def video(request: web.Request, hit: int) -> web.Response:
        return web.Response(body=VIDEO, content_type="video/mp4")

    server.handlers["video"] = video
    destination = tmp_path / ".out.mp4.tmp"
    size = await transport.download(server.url("video"), destination)
    assert size == len(VIDEO)
    assert destination.read_bytes() == VIDEO
    assert list(tmp_path.iterdir()) == [destination]


async def test_download_cut_short_raises(
    server: Server, transport: AiohttpTransport, tmp_path: Path
) -> None:
    async def truncated(request: web.Request, hit: int) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = len(VIDEO)
        await response.prepare(request)
        await response.write(VIDEO[: len(VIDEO) // 2])
        assert request.transport is not None
        request.transport.close()
        return response

    server.handlers["video"] = truncated
    with pytest.raises(TransportError):
        await transport.download(server.url("video"), tmp_path / "out.mp4")


async def test_failed_download_keeps_an_existing_file_untouched(
    server: Server, transport: AiohttpTransport, tmp_path: Path
) -> None:
    destination = tmp_path / "out.mp4"
    destination.write_bytes(b"previous")
    with pytest.raises(NotFoundError):
        await transport.download(server.url("missing"), destination)
    assert destination.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


async def test_download_from_a_closed_port_is_a_connect_error(
    transport: AiohttpTransport, tmp_path: Path
) -> None:
    with pytest.raises(ConnectError):
        await transport.download(f"http://127.0.0.1:{closed_port()}/v.mp4", tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []
