"""Fault injection and request counting shared by every emulator.

Each emulator installs :func:`middleware` on its aiohttp.web app. Tests (and the emulate
command) queue faults on ``emulator.faults`` and read ``emulator.counts``.

A fault with ``outage=seconds`` also takes the whole server down (see
:meth:`~prism_async.testing.EmulatorServer.go_down`) for that many real seconds, starting
when the fault has done its work: after the connection is dropped (RESET, LOSE_RESPONSE,
TRUNCATE) or after the answer is sent (STATUS, REDIRECT, MALFORMED, SLOW).
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import Awaitable, Callable

import attrs
from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["Fault", "FaultKind", "Faults", "RequestCounts", "middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultKind(str, enum.Enum):
    STATUS = "status"  # answer with an error status (the emulator's own error body)
    RESET = "reset"  # drop the connection without answering
    MALFORMED = "malformed"  # 200 with a body that is not JSON
    SLOW = "slow"  # run the handler at once (the effect happens), answer `delay` s later
    TRUNCATE = "truncate"  # announce a longer body than is sent, then close
    LOSE_RESPONSE = "lose_response"  # run the handler (the effect happens) then reset
    REDIRECT = "redirect"  # answer `status` (3xx) with a Location header; no handler
    HANG = "hang"  # never answer: hold the request until the client or the server leaves


def _default_status(fault: Fault) -> int:
    return 307 if fault.kind is FaultKind.REDIRECT else 503


@attrs.frozen(kw_only=True)
class Fault:
    """One injected fault.

    Attributes:
        kind: What goes wrong.
        status: The status STATUS answers (default 503) or REDIRECT answers (default 307).
        delay: Real seconds SLOW holds the answer, after running the handler.
        retry_after: A ``Retry-After`` header STATUS adds.
        location: The ``Location`` header REDIRECT answers (required for REDIRECT).
        outage: Real seconds the whole server stays down once the fault has happened
            (connections refused, open ones aborted); None for no outage. Not for HANG.
    """

    kind: FaultKind
    status: int = attrs.field(default=attrs.Factory(_default_status, takes_self=True))
    delay: float = 0.0
    retry_after: str | None = None
    location: str | None = None
    outage: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind is FaultKind.REDIRECT:
            if self.location is None:
                raise ValueError("a REDIRECT fault needs a location")
            if not 300 <= self.status <= 399:
                raise ValueError(f"a REDIRECT fault answers a 3xx status, not {self.status}")
        if self.outage is not None:
            if self.outage < 0:
                raise ValueError("outage must be a number of seconds >= 0")
            if self.kind is FaultKind.HANG:
                raise ValueError("a HANG fault never ends, so no outage can follow it")


@attrs.define
class RequestCounts:
    """What the emulator saw: by route name and by answered status."""

    by_route: collections.Counter[str] = attrs.field(factory=collections.Counter)
    by_status: collections.Counter[int] = attrs.field(factory=collections.Counter)

    @property
    def total(self) -> int:
        return sum(self.by_route.values())


@attrs.define
class Faults:
    """A queue of faults per route name (``"*"`` matches any route).

    ``on_outage`` is how a fault with ``outage`` takes the server down: the
    :class:`~prism_async.testing.EmulatorServer` serving the emulator sets it when it starts
    (a callback taking the outage's seconds, which must act at once, synchronously).
    """

    _queues: dict[str, collections.deque[Fault]] = attrs.field(factory=dict)
    on_outage: Callable[[float], None] | None = None

    def inject(self, route: str, fault: Fault, times: int = 1) -> None:
        """Make the next ``times`` requests to ``route`` fail with ``fault``."""
        self._queues.setdefault(route, collections.deque()).extend([fault] * times)

    def clear(self) -> None:
        self._queues.clear()

    def take(self, route: str) -> Fault | None:
        for name in (route, "*"):
            queue = self._queues.get(name)
            if queue:
                return queue.popleft()
        return None

    def start_outage(self, seconds: float) -> None:
        """Take the server down for ``seconds`` (through ``on_outage``)."""
        if self.on_outage is None:
            raise RuntimeError("a fault asked for an outage, but no EmulatorServer serves it")
        self.on_outage(seconds)


ErrorBody = Callable[[int, str], web.Response]


def middleware(faults: Faults, counts: RequestCounts, error_response: ErrorBody) -> Middleware:
    """An aiohttp middleware that counts requests and applies queued faults.

    Args:
        faults: The fault queues.
        counts: Where to count.
        error_response: Builds the emulator's own error body for a status and a message.
    """

    @web.middleware
    async def _faulty(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name or request.path
        counts.by_route[route] += 1
        fault = faults.take(route)
        response = await _apply(fault, request, handler, error_response, faults)
        counts.by_status[response.status] += 1
        return response

    return _faulty


async def _apply(
    fault: Fault | None,
    request: web.Request,
    handler: Handler,
    error_response: ErrorBody,
    faults: Faults,
) -> web.StreamResponse:
    if fault is None:
        return await handler(request)
    if fault.kind is FaultKind.HANG:
        await asyncio.Event().wait()  # cancelled when the client leaves or the server stops
        raise AssertionError("unreachable")
    if fault.kind is FaultKind.LOSE_RESPONSE:
        await handler(request)
        _drop(request, fault, faults)
        raise asyncio.CancelledError  # the connection is gone; nothing more to send
    if fault.kind is FaultKind.RESET:
        _drop(request, fault, faults)
        raise asyncio.CancelledError
    if fault.kind is FaultKind.TRUNCATE:
        partial = web.StreamResponse(status=200, headers={"Content-Length": "1000"})
        await partial.prepare(request)
        await partial.write(b'{"status": "')
        _drop(request, fault, faults)
        return partial
    response = await _answer(fault, request, handler, error_response)
    if fault.outage is not None:
        # Send the answer (with Connection: close, so that no client pools the connection),
        # close the connection once the answer is flushed, then go down.
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        transport = request.transport
        if transport is not None:
            transport.close()
        faults.start_outage(fault.outage)
    return response


async def _answer(
    fault: Fault, request: web.Request, handler: Handler, error_response: ErrorBody
) -> web.StreamResponse:
    """The answer of a fault that answers: STATUS, REDIRECT, MALFORMED or SLOW."""
    if fault.kind is FaultKind.STATUS:
        response = error_response(fault.status, "injected fault")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response
    if fault.kind is FaultKind.REDIRECT:
        assert fault.location is not None  # checked when the fault was made
        return web.Response(status=fault.status, headers={"Location": fault.location})
    if fault.kind is FaultKind.MALFORMED:
        return web.Response(status=200, text='{"status": "COMPL', content_type="application/json")
    # SLOW: the handler runs first, so that its effect (a job made, a charge) stands even
    # when the client gives up waiting, as it would on a real server; then the answer waits.
    answer = await handler(request)
    await asyncio.sleep(fault.delay)
    return answer


def _drop(request: web.Request, fault: Fault, faults: Faults) -> None:
    """Drop the connection without (finishing) an answer, and start the fault's outage."""
    if fault.outage is not None:
        faults.start_outage(fault.outage)  # aborts every connection, this one too
    transport = request.transport
    if transport is not None:
        transport.abort()
