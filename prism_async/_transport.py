"""The one place that moves bytes: one aiohttp session, explicit timeouts, safe retries.

Only this module imports aiohttp on the client side. It carries out the
:class:`~prism_async._http.HttpRequest` values providers build, maps aiohttp's exceptions
onto :mod:`prism_async._errors`, and retries an exchange only where its
:class:`~prism_async._http.RetryMode` allows (never a blind retry of a paid create).
What is retried and after how long is decided in :mod:`prism_async._policy` (exponential
backoff with jitter, bounded attempts; ``Retry-After`` honoured in seconds or HTTP-date
form, capped); the waits are on the injected clock, so a virtual clock covers them too.

Whether a request left is known, not guessed. The sessions' request class
(:class:`_WatchedRequest`) marks the moment that matters: a connection is in hand and
the request's bytes are about to be written. The caller's ``before_send`` hook runs
there, so a journal notes a create when its bytes are about to leave, never while it
waits for a pooled connection. A failure before that moment is a
:class:`~prism_async._errors.ConnectError`: nothing was sent. After it, the API may have
received the request. For a paid create
(``HttpRequest.charges``), once any attempt may have been received, a failure with no
answer is :class:`~prism_async._errors.SubmissionOutcomeUnknown`, whatever the last
attempt's error was.

Networks: the exchanges follow ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` unless told not
to (read once at open, see :mod:`prism_async._proxy`), or go through the one ``proxy`` given.
The transport can run on the user's own ``aiohttp.ClientSession`` (never closed here) or
``aiohttp.BaseConnector``, with an ``ssl`` context of theirs. A session's request class
is fixed when it is made, so the "was it sent?" watch of paid creates runs on a second
session the transport makes on the *user's connector*, with the user session's settings
(headers, cookies, timeout, proxy, trust_env, trace configs): a create's bytes leave
through the same pool and settings, and the engine still knows whether they left.

Timeouts: an API exchange is bounded by ``TransportConfig.total_timeout`` (or the
request's own, a long poll's), or, inside :func:`http_timeout`, by the seconds it gives.
``connect_timeout`` bounds getting a connection (a pooled one included). There is no
separate read timeout on API exchanges (its timer cost every exchange, and the total
bounds them anyway). A download has no total bound, only ``connect_timeout`` and
``read_timeout`` (seconds without a byte): a large file on a slow link finishes. After a
dropped connection, :meth:`AiohttpTransport.download` resumes with a ``Range`` request
from ``offset``, keeping the bytes only when the answer is a 206 whose ``Content-Range``
continues the file (a 200 restarts it); ``max_bytes`` refuses a larger body, announced or
counted.

Retries are logged on the ``prism_async.transport`` logger (INFO, with the provider, the
request's kind and path, and the try's number; nothing is formatted when it is off), and
with ``opentelemetry-api`` installed each exchange is a span (:mod:`prism_async._telemetry`).

API requests never follow redirects: a 3xx is a :class:`~prism_async._errors.RedirectError`
naming its target, so a credential never reaches another origin and a create body is
never sent again elsewhere. Downloads follow redirects; they carry no credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import ssl as _ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping
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
    RequestValidationError,
    SubmissionOutcomeUnknown,
    TransportError,
    TransportTimeout,
    status_error_class,
)
from prism_async._http import FileBody, FilePart, HttpRequest, HttpResponse, Multipart
from prism_async._policy import Backoff, retry_after_answer, retry_after_failure
from prism_async._proxy import Proxy, ProxyChoice
from prism_async._secrets import Secret
from prism_async._telemetry import tracer

__all__ = [
    "AiohttpTransport",
    "BeforeSend",
    "DownloadTooLarge",
    "Transport",
    "TransportConfig",
    "http_timeout",
]

log = logging.getLogger("prism_async.transport")

#: Seconds each API exchange may take inside :func:`http_timeout` (None: the defaults).
_HTTP_TIMEOUT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "prism_async_http_timeout", default=None
)


@contextlib.contextmanager
def http_timeout(seconds: float | None) -> Iterator[None]:
    """Bound each try of every API exchange made inside the block (in this task) by
    ``seconds`` on the wall clock, instead of ``TransportConfig.total_timeout`` or a
    request's own. Not a deadline on the engine's clock (that is ``wait(timeout=)``), and
    not for downloads (they have no total bound). ``None`` restores the defaults."""
    if seconds is not None and not seconds > 0:
        raise RequestValidationError("http_timeout", f"must be a number of seconds > 0: {seconds}")
    token = _HTTP_TIMEOUT.set(seconds)
    try:
        yield
    finally:
        _HTTP_TIMEOUT.reset(token)


class DownloadTooLarge(PrismAsyncError):
    """A download is larger than the ``max_bytes`` allowed (never retried)."""

    def __init__(self, message: str, *, limit: int, size: int | None) -> None:
        super().__init__(message)
        self.limit = limit
        #: The size announced (Content-Length/Content-Range), or None when it was counted.
        self.size = size


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

    async def download(
        self,
        url: str,
        destination: Path,
        *,
        chunk_size: int = 1 << 16,
        offset: int = 0,
        max_bytes: int | None = None,
    ) -> int:
        """Stream ``url`` into the file ``destination``; the file's size. On an error the
        file may hold part of it: the caller writes to a temporary name and checks before
        renaming. With ``offset``, the first ``offset`` bytes are in the file already: ask
        for the rest, and start again from the beginning if the server sends it all."""
        ...


@attrs.frozen(kw_only=True)
class TransportConfig:
    """Timeouts, pool size and retry policy of the transport.

    Args:
        connect_timeout: Seconds to open a connection.
        read_timeout: Seconds between two reads of a download (API exchanges are bounded
            by ``total_timeout``).
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
        max_download_bytes: The largest output file downloaded (None: no limit); a
            larger one raises :class:`DownloadTooLarge`.
        user_agent: The ``User-Agent`` of the transport's own sessions.
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
    max_download_bytes: int | None = None
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
    """One try of an exchange, as :class:`_WatchedRequest` reports it."""

    before_send: BeforeSend | None = None
    #: The request's bytes began to leave: the API may have received it.
    sent: bool = False
    #: The status of the answer, if one came whole.
    status: int | None = None
    #: What ``before_send`` raised: re-raised as is, never mapped to a transport error.
    refused: BaseException | None = None

    @property
    def ambiguous(self) -> bool:
        """The API may have acted on it, and no definitive answer says whether it did."""
        return self.sent and (self.status is None or self.status >= 500)


#: The attempt whose sending the current task's exchange reports (None: not watched).
_WATCHED: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "prism_async_watched_attempt", default=None
)


class _WatchedRequest(aiohttp.ClientRequest):
    """aiohttp's request, telling a watched attempt when its bytes are about to leave.

    aiohttp calls ``send`` once a connection is in hand (new or pooled), in the task that
    made the request: ``before_send`` runs there (it may refuse: nothing is written), then
    the attempt counts as sent. Anything that fails from here on may have reached the
    API. This replaced aiohttp tracing, which cost a paid create about five signal
    dispatches (benchmarks/README.md); an exchange nobody watches pays one context
    variable lookup.
    """

    async def send(self, conn: Any) -> aiohttp.ClientResponse:
        attempt = _WATCHED.get()
        if attempt is not None:
            if attempt.before_send is not None:
                try:
                    await attempt.before_send()
                except BaseException as exc:
                    attempt.refused = exc
                    raise
            attempt.sent = True
        return await super().send(conn)


class AiohttpTransport:
    """The aiohttp transport. Use as an async context, inside the running event loop.

    Args:
        config: Timeouts, pool and retry policy.
        clock: What backoff waits on (the engine's clock: a virtual one in tests).
        session: The user's own session: used as it is (its headers, cookies, timeout,
            proxy and ``trust_env``) and never closed here. Not with ``connector``.
        connector: The user's own connector (pool, DNS, local address...): the
            transport's sessions run on it, and never close it.
        proxy: A proxy URL for every exchange (``http://user:pass@host:port``; the
            credentials are never shown). Without one, the environment's
            (``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``) unless ``trust_env`` is False; with
            a user ``session``, the session's own settings decide that.
        trust_env: Follow the environment's proxy variables (default True).
        ssl: An :class:`ssl.SSLContext` for HTTPS (a corporate CA), or False to skip
            certificate checks (never on a network you do not control).
        providers: Base URL -> provider name, to name the provider in logs and spans.
    """

    def __init__(
        self,
        config: TransportConfig | None = None,
        *,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
        connector: aiohttp.BaseConnector | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl: _ssl.SSLContext | bool | None = None,
        providers: Mapping[str, str] | None = None,
    ) -> None:
        if session is not None and connector is not None:
            raise RequestValidationError(
                "connector", "give a session or a connector, not both (a session has one)"
            )
        self.config = config or TransportConfig()
        self.clock = clock or SystemClock()
        self._backoff = self.config.backoff
        self._user_session = session
        self._user_connector = connector
        self._proxies = ProxyChoice(proxy, trust_env=trust_env and session is None)
        self._ssl = ssl
        self._labels = sorted((providers or {}).items(), key=lambda kv: -len(kv[0]))
        self._session: aiohttp.ClientSession | None = None
        self._watched: aiohttp.ClientSession | None = None
        self.requests_sent = 0

    def __repr__(self) -> str:
        owned = self._user_session is None
        return f"AiohttpTransport(proxies={self._proxies!r}, own_session={owned})"

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
        """Create the sessions (in the running loop, as aiohttp requires)."""
        if self._session is not None:
            return
        self._proxies.load()
        if self._user_session is not None:
            self._session, self._watched = self._user_session, _watched_twin(self._user_session)
            return
        cfg = self.config
        connector = self._user_connector or aiohttp.TCPConnector(
            limit=cfg.max_connections, limit_per_host=cfg.max_connections_per_host
        )
        options: dict[str, Any] = {
            "connector": connector,
            "timeout": aiohttp.ClientTimeout(total=cfg.total_timeout, connect=cfg.connect_timeout),
            "headers": {"User-Agent": cfg.user_agent},
            "json_serialize": _compact_json,
            "raise_for_status": False,
            # The environment's proxies are read once (ProxyChoice), not on every request.
            "trust_env": False,
        }
        self._session = self._watched = aiohttp.ClientSession(
            **options,
            connector_owner=self._user_connector is None,
            request_class=_WatchedRequest,
        )

    async def aclose(self) -> None:
        """Close the sessions made here (never the user's session or connector)."""
        if self._watched is not None:
            watched, self._watched = self._watched, None
            if watched is not self._session:  # the twin of a user's session
                await watched.close()
        if self._session is not None:
            session, self._session = self._session, None
            if session is not self._user_session:
                await session.close()

    @property
    def connections_in_use(self) -> int:
        """Connections carrying an exchange right now (for leak checks); idle keep-alive
        connections in the pool are not counted. Reads the connector's private state,
        which aiohttp exposes no public way to count."""
        if self._session is None or self._session.connector is None:
            return 0
        return len(getattr(self._session.connector, "_acquired", ()))

    def provider_of(self, url: str) -> str | None:
        """The provider whose base URL ``url`` starts with (for logs and spans)."""
        return next((name for base, name in self._labels if url.startswith(base)), None)

    async def send(
        self, request: HttpRequest, *, before_send: BeforeSend | None = None
    ) -> HttpResponse:
        """Carry out one exchange, retrying only what its RetryMode allows."""
        attempts: list[_Attempt] = []
        while True:
            attempt = _Attempt(before_send=before_send)
            attempts.append(attempt)
            try:
                spans = tracer()
                if spans is None:  # no span: one coroutine frame fewer
                    response = await self._exchange_once(request, attempt)
                else:
                    response = await self._exchange_in_span(request, attempt, spans)
            except TransportError as error:
                wait = None
                if retry_after_failure(request, error):
                    wait = self._backoff.wait(len(attempts))
                if wait is None:
                    if request.charges and any(a.ambiguous for a in attempts):
                        raise _unknown(request, error) from error
                    raise
                reason = type(error).__name__
            else:
                retry, retry_after = retry_after_answer(request, response)
                wait = self._backoff.wait(len(attempts), retry_after) if retry else None
                if wait is None:
                    return _settled(request, response, attempts)
                reason = f"HTTP {response.status}"
            if log.isEnabledFor(logging.INFO):
                self._log_retry(request, len(attempts), reason, wait)
            await self.clock.sleep(wait)

    def _log_retry(self, request: HttpRequest, attempt: int, reason: str, wait: float) -> None:
        provider = self.provider_of(request.url) or _host(request.url)
        path = _strip_query(request.url)
        job_id = _job_id(request)
        log.info(
            "%s: %s %s %s%s: try %d failed (%s); again in %.2f s",
            provider,
            request.kind,
            request.method,
            path,
            f" (job {job_id})" if job_id else "",
            attempt,
            reason,
            wait,
            extra={
                "prism_async_provider": provider,
                "prism_async_kind": request.kind,
                "prism_async_attempt": attempt,
                "prism_async_path": path,
                "prism_async_job_id": job_id,
            },
        )

    async def _exchange_in_span(
        self, request: HttpRequest, attempt: _Attempt, spans: Any
    ) -> HttpResponse:
        """One try inside a span of its own, from the tracer ``spans``."""
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "http.route": request.kind,
            "server.address": _host(request.url),
            "prism_async.kind": request.kind,
        }
        provider = self.provider_of(request.url)
        if provider is not None:
            attributes["prism_async.provider"] = provider
        job_id = _job_id(request)
        if job_id is not None:
            attributes["prism_async.job_id"] = job_id
        with spans.start_as_current_span(
            f"{request.method} {request.kind}", attributes=attributes
        ) as span:
            response = await self._exchange_once(request, attempt)
            span.set_attribute("http.response.status_code", response.status)
            if response.request_id is not None:
                span.set_attribute("prism_async.request_id", response.request_id)
            if response.status >= 400:
                from opentelemetry.trace import Status, StatusCode

                span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status}"))
            return response

    def _network_options(self, url: str, options: dict[str, Any]) -> None:
        """The proxy and TLS settings of an exchange with ``url``, into ``options``."""
        if self._ssl is not None:
            options["ssl"] = self._ssl
        proxy: Proxy | None = self._proxies.for_url(url)
        if proxy is not None:
            options["proxy"] = proxy.url
            if proxy.authorization is not None:
                credential = {"Proxy-Authorization": proxy.authorization.reveal()}
                if url.startswith("https:"):  # sent with the CONNECT that opens the tunnel
                    options["proxy_headers"] = credential
                else:  # aiohttp sends a plain request's proxy_headers nowhere: a header
                    options.setdefault("headers", {}).update(credential)

    def _timeout(self, request: HttpRequest) -> aiohttp.ClientTimeout | None:
        override = _HTTP_TIMEOUT.get()
        total = override if override is not None else request.timeout
        if total is None:
            return None  # the session's
        return aiohttp.ClientTimeout(total=total, connect=self.config.connect_timeout)

    async def _exchange_once(self, request: HttpRequest, attempt: _Attempt) -> HttpResponse:
        session = self._require_session()
        watched = request.charges or attempt.before_send is not None
        if watched:
            assert self._watched is not None
            session = self._watched
        headers = {k: v.reveal() if isinstance(v, Secret) else v for k, v in request.headers}
        options: dict[str, Any] = {
            "params": list(request.params) or None,
            "headers": headers,
            "allow_redirects": False,
            "raise_for_status": False,  # a user session may say otherwise: answers are data
        }
        timeout = self._timeout(request)
        if timeout is not None:
            options["timeout"] = timeout
        if self._ssl is not None or self._proxies.active:
            self._network_options(request.url, options)
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
            watch = _WATCHED.set(attempt) if watched else None
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
                sent = attempt.sent if watched else _sent_judged(exc)
                raise _mapped(exc, where, sent) from exc
            finally:
                if watch is not None:
                    _WATCHED.reset(watch)
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

    async def download(
        self,
        url: str,
        destination: Path,
        *,
        chunk_size: int = 1 << 16,
        offset: int = 0,
        max_bytes: int | None = None,
    ) -> int:
        """Stream a file into ``destination``; the file's size (follows redirects; no
        credential is sent). Bounded by the connect and read timeouts only, never by the
        API's total timeout. With ``offset`` > 0 it asks for ``bytes=offset-`` and appends
        after the first ``offset`` bytes when the answer is a 206 that continues there;
        a 200 (or a range that does not fit) writes the whole file again.

        Raises:
            DownloadTooLarge: The body is larger than ``max_bytes`` (by default
                ``TransportConfig.max_download_bytes``).
        """
        session = self._require_session()
        limit = max_bytes if max_bytes is not None else self.config.max_download_bytes
        cfg = self.config
        options: dict[str, Any] = {
            "timeout": aiohttp.ClientTimeout(
                total=None, connect=cfg.connect_timeout, sock_read=cfg.read_timeout
            )
        }
        if offset > 0:
            options["headers"] = {"Range": f"bytes={offset}-"}
        if self._ssl is not None or self._proxies.active:
            self._network_options(url, options)
        try:
            async with session.get(url, **options) as resp:
                start = _resumed_at(resp, offset, url)
                if start is not None:
                    return await _stream(resp, destination, start, limit, chunk_size, url)
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"cannot connect to {_host(url)}") from exc
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise TransportError(
                f"download from {_host(url)} failed: {type(exc).__name__}"
            ) from exc
        log.debug("download from %s: the range answer does not continue the file", _host(url))
        return await self.download(url, destination, chunk_size=chunk_size, max_bytes=max_bytes)

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("transport is not open: use 'async with' (or await open())")
        return self._session


def _watched_twin(user: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """A session on the user's connector with the user session's settings (its trace
    configs included) and this library's request class: paid creates go through it, so
    that whether their bytes left is known (a session's request class is fixed)."""
    if user.closed or user.connector is None:
        raise RequestValidationError("session", "is closed: give an open aiohttp.ClientSession")
    options: dict[str, Any] = {
        "connector": user.connector,
        "connector_owner": False,
        "timeout": user.timeout,
        "headers": user.headers,
        "cookie_jar": user.cookie_jar,
        "trust_env": user.trust_env,
        "json_serialize": user.json_serialize,
        "auto_decompress": user.auto_decompress,
        "skip_auto_headers": user.skip_auto_headers,
        "raise_for_status": False,
        "trace_configs": user.trace_configs,
        "request_class": _WatchedRequest,
    }
    if user.auth is not None:
        options["auth"] = user.auth
    for name in ("proxy", "proxy_auth"):  # no public accessor: the session keeps them private
        value = getattr(user, f"_default_{name}", None)
        if value is not None:
            options[name] = value
    return aiohttp.ClientSession(**options)


def _resumed_at(resp: aiohttp.ClientResponse, offset: int, url: str) -> int | None:
    """Where the answer's bytes go in the file: 0 for a whole file (200), ``offset`` for a
    206 that continues there; None when it is a range that does not (ask again, whole)."""
    if resp.status == 200:
        return 0
    if offset > 0 and resp.status == 206:
        first = _range_start(resp.headers.get("Content-Range"))
        return offset if first == offset else None
    if offset > 0 and resp.status == 416:
        return None  # the range is not satisfiable (the file changed?): start again
    # A presigned URL that expired answers 403: the caller may fetch a fresh one.
    raise status_error_class(resp.status)(
        f"download from {_host(url)} refused", status_code=resp.status
    )


def _range_start(content_range: str | None) -> int | None:
    """The first byte of ``bytes first-last/total``, or None."""
    if not content_range or not content_range.startswith("bytes "):
        return None
    first, _, _ = content_range[6:].partition("-")
    return int(first) if first.strip().isdigit() else None


def _range_total(content_range: str | None) -> int | None:
    if not content_range:
        return None
    total = content_range.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


async def _stream(
    resp: aiohttp.ClientResponse,
    destination: Path,
    start: int,
    limit: int | None,
    chunk_size: int,
    url: str,
) -> int:
    """Write the body into ``destination`` after its first ``start`` bytes; the size."""
    if resp.status == 206:
        announced = _range_total(resp.headers.get("Content-Range"))
    else:
        announced = resp.content_length
    if limit is not None and announced is not None and announced > limit:
        raise DownloadTooLarge(
            f"download from {_host(url)} is {announced} bytes, more than max_bytes={limit}",
            limit=limit,
            size=announced,
        )
    size = start
    out = await asyncio.to_thread(_open_at, destination, start)
    try:
        async for chunk in resp.content.iter_chunked(chunk_size):
            size += len(chunk)
            if limit is not None and size > limit:
                raise DownloadTooLarge(
                    f"download from {_host(url)} is more than max_bytes={limit}",
                    limit=limit,
                    size=None,
                )
            await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)
    return size


def _open_at(path: Path, start: int) -> IO[bytes]:
    """``path`` open for writing after its first ``start`` bytes (the rest cut off)."""
    if start == 0:
        return open(path, "wb")
    handle = open(path, "r+b")  # noqa: SIM115 - closed by the caller
    handle.seek(start)
    handle.truncate()
    return handle


def _sent_judged(exc: BaseException) -> bool:
    """Whether an unwatched request may have been sent, judged from its failure: only a
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


def _job_id(request: HttpRequest) -> str | None:
    """The job a request is about, where a query parameter names it (``requestId``,
    ``runId``...); where the path holds it, the path logged shows it."""
    return next((v for k, v in request.params if k.lower().endswith("id")), None)


def _text(value: str | Secret | None) -> str | None:
    return value if isinstance(value, str) else None


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]
