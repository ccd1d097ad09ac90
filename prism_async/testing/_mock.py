"""Test doubles without sockets: a transport that a function answers, and a driver that
runs a provider's flow to its end in plain synchronous code.

:class:`MockTransport` goes where the real transport goes (``Client(...,
transport=MockTransport(handler))``), like ``httpx.MockTransport``: the whole engine runs
(budgets, polling, deadlines), only the bytes are a function's answers.

:func:`drive` is for a provider's unit tests: no engine, no event loop. It answers each
effect the flow yields, the way the engine would, and returns the flow's value::

    handles = drive(
        provider.submit_flow(request, idempotency_key="k"),
        lambda request: json_response({"id": "job_1"}, status=202),
    )
"""

from __future__ import annotations

import inspect
import json
import stat
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel
import attrs

from prism_async._errors import RequestValidationError, status_error_class
from prism_async._http import Effect, Flow, HttpRequest, HttpResponse, ReadFile, StatFile

__all__ = ["Handler", "MockTransport", "drive", "json_response"]

T = TypeVar("T")

#: Answers one request: a response, or an awaitable of one; or raises (a
#: :class:`~prism_async._errors.TransportError` plays a failed exchange).
Handler = Callable[[HttpRequest], "HttpResponse | Awaitable[HttpResponse]"]


def json_response(
    data: Any = None, status: int = 200, *, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    """A response with ``data`` as its JSON body (``{}`` by default). Header names are
    lower-cased, as the transport hands them to providers."""
    body = json.dumps({} if data is None else data).encode()
    return HttpResponse(status=status, headers=_lower(headers or {}), body=body)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _answered(request: HttpRequest, response: object) -> HttpResponse:
    if not isinstance(response, HttpResponse):
        raise TypeError(
            f"the handler answered {request.method} {request.url} with "
            f"{type(response).__name__}, not an HttpResponse"
        )
    return attrs.evolve(response, headers=_lower(response.headers), url=response.url or request.url)


class MockTransport:
    """A :class:`~prism_async._transport.Transport` whose every exchange a function answers.

    ``send`` awaits ``before_send`` (when given), then hands the request to the handler;
    ``download`` asks the handler for a ``GET`` of the URL (kind ``download``) and writes
    the body of a 200 to the file, or raises the error of its status as the real transport
    does. There are no retries, redirects or timeouts: the handler's answer is the answer.
    Every request seen is kept in :attr:`requests`, in order.

    Args:
        handler: Answers each request; it may be sync or async, and may raise.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        #: Every request handed to the handler, downloads included.
        self.requests: list[HttpRequest] = []

    async def send(
        self,
        request: HttpRequest,
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> HttpResponse:
        await anyio.lowlevel.checkpoint()  # a real exchange yields to the loop
        if before_send is not None:
            await before_send()
        return await self._answer(request)

    async def download(
        self,
        url: str,
        destination: Path,
        *,
        chunk_size: int = 1 << 16,
        offset: int = 0,
        max_bytes: int | None = None,
    ) -> int:
        # A whole answer (200) whatever the offset: the file is written again from the start.
        response = await self._answer(HttpRequest(method="GET", url=url, kind="download"))
        if response.status != 200:
            host = urlsplit(url).hostname or "?"
            raise status_error_class(response.status)(
                f"download from {host} refused", status_code=response.status
            )
        await anyio.Path(destination).write_bytes(response.body)
        return len(response.body)

    async def _answer(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        response = self.handler(request)
        if inspect.isawaitable(response):
            response = await response
        return _answered(request, response)


# -- driving a flow -----------------------------------------------------------------------

#: How :func:`drive` answers HTTP requests: one response for all, responses (or
#: exceptions to raise) in order, or a function of the request.
HttpAnswer = (
    HttpResponse | Iterable["HttpResponse | BaseException"] | Callable[[HttpRequest], HttpResponse]
)
#: How :func:`drive` answers file reads: bytes by path, or a function of the effect.
FileAnswer = Mapping[Path, bytes] | Mapping[str, bytes] | Callable[[ReadFile], bytes]
#: How :func:`drive` answers file stats: sizes by path, or a function of the effect.
SizeAnswer = Mapping[Path, int] | Mapping[str, int] | Callable[[StatFile], int]


def drive(
    flow: Flow[T],
    answer: HttpAnswer | None = None,
    *,
    files: FileAnswer | None = None,
    sizes: SizeAnswer | None = None,
    effects: list[Effect] | None = None,
    now: datetime | None = None,
) -> T:
    """Run a provider flow to its end, answering each effect; its value.

    Args:
        flow: The flow (``provider.submit_flow(...)``, ``status_flow(...)``...).
        answer: The HTTP answers: an :class:`HttpResponse` for every request; an iterable
            of responses given in order (an exception in it is raised where the transport
            would raise; running out fails); or a function of the request. None: the flow
            must not send anything.
        files: The bytes of :class:`ReadFile` effects, by path or from a function. By
            default the file is read from disk.
        sizes: The sizes of :class:`StatFile` effects, by path or from a function. By
            default the file is looked at on disk.
        effects: A list that receives every effect the flow yields, in order.
        now: ``received_at`` of responses that have none (default: the system's time),
            as the engine stamps them from its clock.

    Raises:
        RequestValidationError: A file is missing, not a file, or over ``max_bytes`` (as
            the engine refuses it).
        AssertionError: The flow sent a request nobody answered.

    Whatever the flow raises propagates; the flow is closed in any case.
    """
    respond = _http_answers(answer)
    try:
        effect = next(flow)
        while True:
            if effects is not None:
                effects.append(effect)
            if isinstance(effect, HttpRequest):
                response = _answered(effect, respond(effect))
                if response.received_at is None:
                    stamp = now or datetime.now(timezone.utc)
                    response = attrs.evolve(response, received_at=stamp)
                value: object = response
            elif isinstance(effect, ReadFile):
                value = _read(effect, files)
            elif isinstance(effect, StatFile):
                value = _size(effect, sizes)
            else:
                raise TypeError(f"the flow yielded {type(effect).__name__}, not an effect")
            effect = flow.send(value)
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        flow.close()


def _http_answers(answer: HttpAnswer | None) -> Callable[[HttpRequest], object]:
    if answer is None:

        def refuse(request: HttpRequest) -> object:
            raise AssertionError(f"unexpected request: {request.method} {request.url}")

        return refuse
    if isinstance(answer, HttpResponse):
        response = answer
        return lambda request: response
    if callable(answer):
        handler = answer

        def call(request: HttpRequest) -> object:
            response = handler(request)
            if inspect.isawaitable(response):
                if inspect.iscoroutine(response):
                    response.close()
                raise TypeError("drive() takes a synchronous handler (a flow is synchronous)")
            return response

        return call
    queue: Iterator[HttpResponse | BaseException] = iter(answer)

    def next_answer(request: HttpRequest) -> object:
        item = next(queue, None)
        if item is None:
            raise AssertionError(
                f"the flow sent more requests than answered: {request.method} {request.url}"
            )
        if isinstance(item, BaseException):
            raise item
        return item

    return next_answer


def _lookup(table: Mapping[Any, Any], path: Path) -> Any:
    for key in (path, str(path)):
        if key in table:
            return table[key]
    raise AssertionError(f"no answer for a file effect on {path}")


def _read(effect: ReadFile, files: FileAnswer | None) -> bytes:
    if files is None:
        _disk_size(effect.path, effect.field)
        data = Path(effect.path).read_bytes()
    elif callable(files):
        data = files(effect)
    else:
        data = _lookup(files, Path(effect.path))
    if len(data) > effect.max_bytes:
        raise RequestValidationError(
            effect.field,
            f"{effect.path} is {len(data)} bytes, over the limit of {effect.max_bytes} bytes",
        )
    return data


def _size(effect: StatFile, sizes: SizeAnswer | None) -> int:
    if sizes is None:
        return _disk_size(effect.path, effect.field)
    if callable(sizes):
        return sizes(effect)
    size: int = _lookup(sizes, Path(effect.path))
    return size


def _disk_size(path: Path, field: str) -> int:
    """The size of a regular file, refused as the engine refuses it."""
    try:
        found = Path(path).stat()
    except FileNotFoundError:
        raise RequestValidationError(field, f"file not found: {path}") from None
    except OSError as exc:
        raise RequestValidationError(field, f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(found.st_mode):
        raise RequestValidationError(field, f"not a file: {path}")
    return found.st_size
