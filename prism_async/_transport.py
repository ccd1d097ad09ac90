"""The one place that moves bytes: one aiohttp session, explicit timeouts, safe retries.

Only this module imports aiohttp on the client side. It carries out the
:class:`~prism_async._http.HttpRequest` values providers build, maps aiohttp's exceptions
onto :mod:`prism_async._errors`, and retries an exchange only where its
:class:`~prism_async._http.RetryMode` allows (never a blind retry of a paid create).
What is retried and after how long is decided in :mod:`prism_async._policy` (exponential
backoff with jitter, bounded attempts; ``Retry-After`` honoured in seconds or HTTP-date
form, capped); the waits are on the injected clock, so a virtual clock covers them too.

Whether a request left is known, not guessed. aiohttp's tracing marks the two moments
that matter: a connection is in hand (``on_connection_create_end`` or
``on_connection_reuseconn``: the caller's ``before_send`` hook runs there, so a journal
notes a create when its bytes are about to leave, never while it waits for a pooled
connection), and the request's headers were written (``on_request_headers_sent``). A
failure before the second moment is a :class:`~prism_async._errors.ConnectError`: nothing
was sent. After it, the API may have received the request. For a paid create
(``HttpRequest.charges``), once any attempt may have been received, a failure with no
answer is :class:`~prism_async._errors.SubmissionOutcomeUnknown`, whatever the last
attempt's error was.

API requests never follow redirects: a 3xx is a :class:`~prism_async._errors.RedirectError`
naming its target, so a credential never reaches another origin and a create body is
never sent again elsewhere. Downloads follow redirects; they carry no credential.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

import aiohttp
import attrs

from prism_async._clock import Clock, SystemClock
from prism_async._errors import (
    ConnectError,
    PrismAsyncError,
    RedirectError,
    SubmissionOutcomeUnknown,
    TransportError,
    TransportTimeout,
    status_error_class,
)
from prism_async._http import FileBody, FilePart, HttpRequest, HttpResponse, Multipart
from prism_async._policy import Backoff, retry_after_answer, retry_after_failure
from prism_async._secrets import Secret

__all__ = ["AiohttpTransport", "BeforeSend", "Transport", "TransportConfig"]

log = logging.getLogger("prism_async._transport")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})

#: Awaited when a connection is in hand and the request's bytes are about to leave (once
#: per attempt). It may raise to stop the request: nothing is sent then.
BeforeSend = Callable[[], Awaitable[None]]


class Transport(Protocol):
    """What the engine needs to move bytes. Swap it in tests or for another HTTP stack."""

    async def send(
        self, request: HttpRequest, *, before_send: BeforeSend | None = None
    ) -> HttpResponse:
        """Carry out one exchange (with the retries its RetryMode allows).

        Returns the response whatever its status (but a redirect); raises only when no
        response came: :class:`ConnectError` when nothing was sent,
        :class:`SubmissionOutcomeUnknown` when a paid create may have been received.
        ``before_send`` is awaited just before the request's bytes leave.
        """
        ...

    async def download(self, url: str, destination: Path, *, chunk_size: int = 1 << 16) -> int:
        """Stream ``url`` into the file ``destination``; the size. On an error the file may
        hold part of it: the caller writes to a temporary name and checks before renaming."""
        ...


@attrs.frozen(kw_only=True)
class TransportConfig:
    """Timeouts, pool size and retry policy of the transport.

    Args:
        connect_timeout: Seconds to open a connection.
        read_timeout: Seconds between two reads of a response.
        total_timeout: Seconds for one exchange as a whole (a request may override it).
        max_connections: Connections open at once, over all hosts.
        max_connections_per_host: Connections open at once to one host.
        attempts: Tries of one exchange, the first included.
        wait_initial: First backoff, seconds.
        wait_max: Largest backoff, seconds.
        wait_jitter: Largest random jitter added to a backoff, seconds.
        max_retry_after: The longest ``Retry-After`` honoured; a server asking for more is
            not retried here and its 429 reaches the caller with ``retry_after`` set.
        max_response_bytes: The largest API response read into memory.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    total_timeout: float = 120.0
    max_connections: int = 160
    max_connections_per_host: int = 128
    attempts: int = 4
    wait_initial: float = 0.5
    wait_max: float = 10.0
    wait_jitter: float = 1.0
    max_retry_after: float = 60.0
    max_response_bytes: int = 16 * 1024 * 1024
    user_agent: str = "prism-async/0.1"

    @property
    def backoff(self) -> Backoff:
        return Backoff(
            attempts=max(1, self.attempts),
            initial=self.wait_initial,
            maximum=self.wait_max,
            jitter=self.wait_jitter,
            max_retry_after=self.max_retry_after,
        )


@attrs.define
class _Attempt:
    """One try of an exchange, as aiohttp's tracing reports it (``trace_request_ctx``)."""

    before_send: BeforeSend | None = None
    #: The request's headers were written: the API may have received it.
    sent: bool = False
    #: The status of the answer, if one came whole.
    status: int | None = None
    #: What ``before_send`` raised: re-raised as is, never mapped to a transport error.
    refused: BaseException | None = None

    @property
    def ambiguous(self) -> bool:
        """The API may have acted on it, and no definitive answer says whether it did."""
        return self.sent and (self.status is None or self.status >= 500)


async def _connection_ready(_session: aiohttp.ClientSession, context: Any, _params: object) -> None:
    attempt = context.trace_request_ctx
    if isinstance(attempt, _Attempt) and attempt.before_send is not None:
        try:
            await attempt.before_send()
        except BaseException as exc:
            attempt.refused = exc
            raise


async def _headers_sent(_session: aiohttp.ClientSession, context: Any, _params: object) -> None:
    attempt = context.trace_request_ctx
    if isinstance(attempt, _Attempt):
        attempt.sent = True


def _tracing() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(_connection_ready)
    trace.on_connection_reuseconn.append(_connection_ready)
    trace.on_request_headers_sent.append(_headers_sent)
    return trace


class AiohttpTransport:
    """The aiohttp transport. Use as an async context, inside the running event loop.

    Args:
        config: Timeouts, pool and retry policy.
        clock: What backoff waits on (the engine's clock: a virtual one in tests).
    """

    def __init__(
        self, config: TransportConfig | None = None, *, clock: Clock | None = None
    ) -> None:
        self.config = config or TransportConfig()
        self.clock = clock or SystemClock()
        self._backoff = self.config.backoff
        self._session: aiohttp.ClientSession | None = None
        self._traced: aiohttp.ClientSession | None = None
        self.requests_sent = 0

    async def __aenter__(self) -> AiohttpTransport:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Create the session (in the running loop, as aiohttp requires)."""
        if self._session is not None:
            return
        cfg = self.config
        connector = aiohttp.TCPConnector(
            limit=cfg.max_connections, limit_per_host=cfg.max_connections_per_host
        )
        options: dict[str, Any] = {
            "connector": connector,
            "timeout": aiohttp.ClientTimeout(
                total=cfg.total_timeout, connect=cfg.connect_timeout, sock_read=cfg.read_timeout
            ),
            "headers": {"User-Agent": cfg.user_agent},
            "json_serialize": _compact_json,
            "raise_for_status": False,
        }
        # Two sessions on one connection pool: tracing costs every request it watches,
        # so only the exchanges whose "was it sent?" decides money (paid creates, and any
        # with a before_send hook) go through the traced one.
        self._session = aiohttp.ClientSession(**options)
        self._traced = aiohttp.ClientSession(
            **options, connector_owner=False, trace_configs=[_tracing()]
        )

    async def aclose(self) -> None:
        if self._traced is not None:
            traced, self._traced = self._traced, None
            await traced.close()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def connections_in_use(self) -> int:
        """Connections carrying an exchange right now (for leak checks); idle keep-alive
        connections in the pool are not counted. Reads the connector's private state,
        which aiohttp exposes no public way to count."""
        if self._session is None or self._session.connector is None:
            return 0
        return len(getattr(self._session.connector, "_acquired", ()))

    async def send(
        self, request: HttpRequest, *, before_send: BeforeSend | None = None
    ) -> HttpResponse:
        """Carry out one exchange, retrying only what its RetryMode allows."""
        attempts: list[_Attempt] = []
        while True:
            attempt = _Attempt(before_send=before_send)
            attempts.append(attempt)
            try:
                response = await self._exchange(request, attempt)
            except TransportError as error:
                wait = None
                if retry_after_failure(request, error):
                    wait = self._backoff.wait(len(attempts))
                if wait is None:
                    if request.charges and any(a.ambiguous for a in attempts):
                        raise _unknown(request, error) from error
                    raise
            else:
                retry, retry_after = retry_after_answer(request, response)
                wait = self._backoff.wait(len(attempts), retry_after) if retry else None
                if wait is None:
                    return _settled(request, response, attempts)
            log.info(
                "%s %s: try %d failed; again in %.2f s",
                request.method,
                _strip_query(request.url),
                len(attempts),
                wait,
            )
            await self.clock.sleep(wait)

    async def _exchange(self, request: HttpRequest, attempt: _Attempt) -> HttpResponse:
        session = self._require_session()
        traced = request.charges or attempt.before_send is not None
        if traced:
            assert self._traced is not None
            session = self._traced
        headers = {k: v.reveal() if isinstance(v, Secret) else v for k, v in request.headers}
        options: dict[str, Any] = {
            "params": list(request.params) or None,
            "headers": headers,
            "allow_redirects": False,
            "trace_request_ctx": attempt,
        }
        if request.timeout is not None:
            options["timeout"] = aiohttp.ClientTimeout(
                total=request.timeout, connect=self.config.connect_timeout
            )
        if isinstance(request.body, FileBody):
            headers.setdefault("Content-Type", request.body.content_type)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s (%s)", request.method, _strip_query(request.url), request.kind)
        opened: list[IO[bytes]] = []  # files opened for this attempt, closed after it
        try:
            if request.body is not None:  # a file that cannot be opened raises as it is
                options["data"] = await self._data(request.body, opened)
            elif request.json is not None:
                options["json"] = request.json
            try:
                self.requests_sent += 1
                async with session.request(request.method, request.url, **options) as resp:
                    if resp.status in _REDIRECTS:
                        raise _redirect(request, resp.status, resp.headers.get("Location"))
                    body = await self._read_capped(resp)
                    attempt.status = resp.status
                    return HttpResponse(
                        status=resp.status,
                        headers=resp.headers,  # read-only, case-insensitive: no copy
                        body=body,
                        url=request.url,  # never redirected: the URL asked, without query
                        received_at=self.clock.now(),
                    )
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                if attempt.refused is not None:
                    raise  # the caller's before_send stopped it: nothing was sent
                where = f"{request.method} {_host(request.url)}"
                sent = attempt.sent if traced else _sent_judged(exc)
                raise _mapped(exc, where, sent) from exc
        finally:
            for opened_file in opened:
                opened_file.close()

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.config.max_response_bytes
        length = resp.content_length
        if length is not None and length <= limit:
            return await resp.read()  # the length is known and allowed: one read
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                raise TransportError(f"response larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @classmethod
    async def _data(cls, body: bytes | FileBody | Multipart, opened: list[IO[bytes]]) -> Any:
        """The aiohttp ``data`` for a request body; files it opens go into ``opened``."""
        if isinstance(body, bytes):
            return body
        if isinstance(body, FileBody):
            handle = await asyncio.to_thread(open, body.path, "rb")
            opened.append(handle)
            return handle
        return await cls._form(body, opened)

    @staticmethod
    async def _form(body: Multipart, opened: list[IO[bytes]]) -> aiohttp.FormData:
        form = aiohttp.FormData(quote_fields=False)
        for name, value in body.fields:
            if isinstance(value, FilePart):
                handle = await asyncio.to_thread(open, value.path, "rb")
                opened.append(handle)
                form.add_field(
                    name, handle, filename=value.filename, content_type=value.content_type
                )
            else:
                form.add_field(name, value)
        return form

    async def download(self, url: str, destination: Path, *, chunk_size: int = 1 << 16) -> int:
        """Stream a file into ``destination`` (follows redirects; no credential is sent)."""
        session = self._require_session()
        size = 0
        try:
            async with session.get(url) as resp:
                if resp.status != 200:
                    # A presigned URL that expired answers 403: the caller may fetch a fresh one.
                    raise status_error_class(resp.status)(
                        f"download from {_host(url)} refused", status_code=resp.status
                    )
                with await asyncio.to_thread(open, destination, "wb") as out:
                    async for chunk in resp.content.iter_chunked(chunk_size):
                        size += len(chunk)
                        await asyncio.to_thread(out.write, chunk)
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"cannot connect to {_host(url)}") from exc
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise TransportError(
                f"download from {_host(url)} failed: {type(exc).__name__}"
            ) from exc
        return size

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("transport is not open: use 'async with' (or await open())")
        return self._session


def _sent_judged(exc: BaseException) -> bool:
    """Whether an untraced request may have been sent, judged from its failure: only a
    failure to get a connection proves it was not (such requests are never paid creates,
    so a wrong "maybe sent" costs a message's precision, never money)."""
    return not isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))


def _mapped(exc: Exception, where: str, sent: bool) -> TransportError:
    """An aiohttp failure as a prism-async error; before the headers left, nothing was."""
    if not sent:
        if isinstance(exc, aiohttp.ClientConnectorError):
            return ConnectError(f"cannot connect to {where.split(' ', 1)[1]}: {exc.os_error}")
        if isinstance(exc, asyncio.TimeoutError):
            return ConnectError(f"{where}: no connection within the connect timeout; not sent")
        return ConnectError(f"{where} failed before it was sent: {type(exc).__name__}")
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's timeouts subclass it
        return TransportTimeout(f"{where} timed out")
    return TransportError(f"{where} failed: {type(exc).__name__}")


def _settled(
    request: HttpRequest, response: HttpResponse, attempts: list[_Attempt]
) -> HttpResponse:
    """The answer, unless it is a paid create's refusal that came after an earlier try
    may have been received: that answer is about the retry, not about the job."""
    if request.charges and not response.ok and any(a.ambiguous for a in attempts[:-1]):
        answer = status_error_class(response.status)(
            f"a retry was answered HTTP {response.status}",
            status_code=response.status,
            request_id=response.request_id,
        )
        raise _unknown(request, answer) from answer
    return response


def _unknown(request: HttpRequest, cause: PrismAsyncError) -> SubmissionOutcomeUnknown:
    return SubmissionOutcomeUnknown(
        "the create may have reached the API, and no definitive answer came back: a job "
        "may exist and be charged for",
        request=f"{request.method} {_strip_query(request.url)}",
        idempotency_key=_text(request.header("Idempotency-Key")),
        cause=cause,
    )


def _redirect(request: HttpRequest, status: int, location: str | None) -> RedirectError:
    target = location or "(no Location)"
    return RedirectError(
        f"{request.method} {_strip_query(request.url)} was redirected to {target}: API "
        "requests do not follow redirects (a credential must not reach another origin); "
        "check the base URL",
        status_code=status,
        location=location,
    )


def _text(value: str | Secret | None) -> str | None:
    return value if isinstance(value, str) else None


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]
