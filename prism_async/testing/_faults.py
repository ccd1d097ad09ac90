"""Fault injection and request counting shared by every emulator.

Each emulator installs :func:`middleware` on its aiohttp.web app. Tests (and the emulate
command) queue faults on ``emulator.faults`` and read ``emulator.counts``.
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
    SLOW = "slow"  # answer correctly after `delay` real seconds
    TRUNCATE = "truncate"  # announce a longer body than is sent, then close
    LOSE_RESPONSE = "lose_response"  # run the handler (the effect happens) then reset


@attrs.frozen(kw_only=True)
class Fault:
    kind: FaultKind
    status: int = 503
    delay: float = 0.0
    retry_after: str | None = None


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
    """A queue of faults per route name (``"*"`` matches any route)."""

    _queues: dict[str, collections.deque[Fault]] = attrs.field(factory=dict)

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
        response = await _apply(fault, request, handler, error_response)
        counts.by_status[response.status] += 1
        return response

    return _faulty


async def _apply(
    fault: Fault | None, request: web.Request, handler: Handler, error_response: ErrorBody
) -> web.StreamResponse:
    if fault is None:
        return await handler(request)
    if fault.kind is FaultKind.STATUS:
        response = error_response(fault.status, "injected fault")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response
    if fault.kind is FaultKind.SLOW:
        await asyncio.sleep(fault.delay)
        return await handler(request)
    if fault.kind is FaultKind.MALFORMED:
        return web.Response(status=200, text='{"status": "COMPL', content_type="application/json")
    if fault.kind is FaultKind.LOSE_RESPONSE:
        await handler(request)
        _reset(request)
        raise asyncio.CancelledError  # the connection is gone; nothing more to send
    if fault.kind is FaultKind.TRUNCATE:
        partial = web.StreamResponse(status=200, headers={"Content-Length": "1000"})
        await partial.prepare(request)
        await partial.write(b'{"status": "')
        _reset(request)
        return partial
    _reset(request)
    raise asyncio.CancelledError


def _reset(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
