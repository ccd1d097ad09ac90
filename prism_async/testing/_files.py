"""How the emulators serve output files: byte ranges, a dropped connection, a slow link.

Every emulator has a :class:`FileServing` as ``emulator.files``; tests turn its knobs::

    emulator.files.body = bytes(200_000)          # what is served (FAKE_MP4 by default)
    emulator.files.bytes_per_second = 50_000      # a slow link
    emulator.files.drop(after=60_000)             # the next answer stops after 60 kB
    ...
    assert emulator.files.range_headers == ["bytes=60000-"]

Ranges are served as RFC 9110 says for one range (``bytes=first-``, ``bytes=first-last``,
``bytes=-suffix``): a 206 with ``Content-Range``; an unsatisfiable one is a 416. Several
ranges at once are answered whole (200), as a server may. With ``ranges`` off, every
answer is a whole 200 (a server without range support).
"""

from __future__ import annotations

import asyncio

import attrs
from aiohttp import web

from prism_async.testing._jobs import FAKE_MP4

__all__ = ["FileServing"]


@attrs.define
class FileServing:
    """The file-serving knobs of one emulator.

    Attributes:
        body: The bytes of every output file.
        ranges: Whether ``Range`` requests are honoured (206) or answered whole (200).
        bytes_per_second: A slow link: the body is sent at this rate (real seconds);
            None sends it at once.
        chunk_size: Bytes written at a time (and between two waits of a slow link).
        announce_length: Send ``Content-Length``; False streams the body chunked, its
            size unknown until it ends.
        drop_pause: Real seconds between the last bytes of a dropped answer and the drop
            (the client reads what came, as on a real link, before the connection dies).
        range_headers: Every ``Range`` header received, in order.
        bytes_sent: Body bytes written, over every answer.
    """

    body: bytes = FAKE_MP4
    ranges: bool = True
    bytes_per_second: float | None = None
    chunk_size: int = 8 * 1024
    announce_length: bool = True
    drop_pause: float = 0.05
    range_headers: list[str] = attrs.field(factory=list)
    bytes_sent: int = 0
    _drops: list[int] = attrs.field(factory=list, init=False)

    def drop(self, *, after: int, times: int = 1) -> None:
        """Make the next ``times`` answers close the connection after ``after`` body bytes
        (the client sees a body shorter than its ``Content-Length``)."""
        if after < 0 or times < 1:
            raise ValueError("drop after >= 0 bytes, at least once")
        self._drops.extend([after] * times)

    async def serve(self, request: web.Request, content_type: str) -> web.StreamResponse:
        """Answer ``request`` with :attr:`body` (whole or the range asked)."""
        body = self.body
        first, last, status = 0, len(body), 200
        header = request.headers.get("Range")
        if header is not None:
            self.range_headers.append(header)
            if self.ranges:
                asked = _one_range(header, len(body))
                if isinstance(asked, str):  # unsatisfiable
                    return web.Response(
                        status=416, headers={"Content-Range": f"bytes */{len(body)}"}
                    )
                if asked is not None:
                    (first, last), status = asked, 206
        response = web.StreamResponse(status=status)
        response.content_type = content_type
        if self.announce_length:
            response.content_length = last - first
        else:
            response.enable_chunked_encoding()
        if self.ranges:
            response.headers["Accept-Ranges"] = "bytes"
        if status == 206:
            response.headers["Content-Range"] = f"bytes {first}-{last - 1}/{len(body)}"
        await response.prepare(request)
        drop_at = self._drops.pop(0) if self._drops else None
        sent = 0
        for start in range(first, last, max(1, self.chunk_size)):
            piece = body[start : min(last, start + self.chunk_size)]
            if drop_at is not None and sent + len(piece) > drop_at:
                piece = piece[: drop_at - sent]
                if piece:
                    await response.write(piece)
                    self.bytes_sent += len(piece)
                await asyncio.sleep(self.drop_pause)
                transport = request.transport
                if transport is not None:
                    transport.close()  # flushes what was written, then closes
                return response
            if self.bytes_per_second:
                await asyncio.sleep(len(piece) / self.bytes_per_second)
            await response.write(piece)
            sent += len(piece)
            self.bytes_sent += len(piece)
        await response.write_eof()
        return response


def _one_range(header: str, size: int) -> tuple[int, int] | str | None:
    """``(first, end)`` (end exclusive) of a single-range header, ``"unsatisfiable"``, or
    None to answer whole (not a bytes range, several ranges, or malformed)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first_text:  # bytes=-N: the last N bytes
            count = int(last_text)
            return (max(0, size - count), size) if count > 0 else "unsatisfiable"
        first = int(first_text)
        last = int(last_text) + 1 if last_text else size
    except ValueError:
        return None
    if first >= size:
        return "unsatisfiable"
    if last <= first:
        return None
    return first, min(last, size)
