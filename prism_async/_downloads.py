"""Downloading outputs: streamed to a temporary file, checked, renamed into place.

A download never touches the generation: a failed one is retried on its own, and a
presigned URL that has expired (or answers 403/404) is replaced by a fresh one from a
status fetch (the ``refresh`` function, e.g. ``Client.get``), never by generating again. A
file already in place is not downloaded again. Nothing half-written or unchecked ever
carries the final name, so "present" always means "complete": the :class:`Downloader`
alone owns that protocol (the transport only streams bytes into the file it is given).

A dropped connection does not cost the bytes already received: the next try asks for the
rest (``Range``) and keeps the partial file only when the server answers with that rest
(206 and a matching ``Content-Range``); a server that sends the whole file again (200) gets
it written from the start. ``max_bytes`` refuses a larger file, announced or counted
(:class:`~prism_async._transport.DownloadTooLarge`, never retried). A download has no
total time limit (the API's ``total_timeout`` does not apply), only the transport's
connect and read timeouts, and ``timeout`` here if one is given.

The downloader is built from what it uses (a transport, a refresh function, a clock), not
from a client, so the client can use it without the two importing each other.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import anyio
import anyio.to_thread
import attrs

from prism_async._clock import Clock
from prism_async._errors import (
    PrismAsyncError,
    ProviderResponseError,
    RequestValidationError,
    TransportTimeout,
)
from prism_async._policy import Backoff, download_retryable, url_expired
from prism_async._results import GenerationResult, JobHandle, JobStatus, Output
from prism_async._transport import Transport

__all__ = ["DownloadedFile", "Downloader", "Refresh", "check_writable_dir", "looks_like_media"]

#: A job's current result (with fresh output URLs): ``Client.get``.
Refresh = Callable[[JobHandle], Awaitable[GenerationResult]]

# Fetch a fresh URL when the current one expires sooner than this.
_EXPIRY_MARGIN = timedelta(seconds=30)
_EXTENSIONS = {"video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MP4_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"})


@attrs.frozen(kw_only=True)
class DownloadedFile:
    """One output in place: where, how big, and whether it was there already."""

    index: int
    path: Path
    size: int
    skipped: bool = False


def looks_like_media(head: bytes, content_type: str | None) -> bool:
    """Whether a file's first bytes fit a video (or the announced media type).

    An empty file or an error page (HTML, JSON) never does. Where the content type is
    unknown or a video type, an MP4/QuickTime box or a WebM/Matroska header is required.
    """
    if not head or head.lstrip()[:1] in (b"<", b"{", b"["):
        return False
    if content_type and not content_type.startswith("video/"):
        return True  # audio or image outputs: non-empty and not an error page
    return head[4:8] in _MP4_BOXES or head.startswith(b"\x1aE\xdf\xa3")


class Downloader:
    """Downloads the outputs of succeeded results into one folder, a few at a time.

    Args:
        transport: Streams the bytes.
        directory: Where the files go (created when needed).
        refresh: A job's current result, for a fresh URL when one has expired.
        clock: Waits between attempts (the engine's clock).
        concurrency: Downloads in flight at once.
        attempts: Tries of one file, the first included.
        backoff: Seconds before the first retry, doubling each time.
        timeout: Seconds one output may take, every attempt included (None: bounded only
            by the transport's connect and read timeouts). A stalled download ends then.
        max_bytes: The largest file downloaded (None: the transport's
            ``max_download_bytes``); a larger one raises ``DownloadTooLarge``.
    """

    def __init__(
        self,
        transport: Transport,
        directory: str | os.PathLike[str],
        *,
        refresh: Refresh,
        clock: Clock,
        concurrency: int = 4,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.transport = transport
        self.refresh = refresh
        self.clock = clock
        self.timeout = timeout
        if max_bytes is not None and max_bytes <= 0:
            raise RequestValidationError("max_bytes", f"must be a number of bytes > 0: {max_bytes}")
        self.max_bytes = max_bytes
        self.directory = Path(directory)
        self._backoff = Backoff(attempts=max(1, attempts), initial=backoff, jitter=0.0)
        self._limiter = anyio.CapacityLimiter(max(1, concurrency))
        self._made = False
        #: Files written, files found already in place, retries, fresh URLs fetched, and
        #: retries that went on from the bytes already received.
        self.downloaded = self.skipped = self.retries = self.refreshed = self.resumed = 0

    def path_for(self, result: GenerationResult, index: int) -> Path:
        """The file output ``index`` of ``result`` goes to."""
        output = result.outputs[index]
        suffix = f"-{index}" if len(result.outputs) > 1 else ""
        ext = _EXTENSIONS.get((output.content_type or "").split(";")[0], ".mp4")
        stem = _UNSAFE.sub("_", f"{result.provider}-{result.id}{suffix}").strip("._")
        return self.directory / f"{stem}{ext}"

    async def fetch(self, result: GenerationResult) -> tuple[DownloadedFile, ...]:
        """Every output of a succeeded result, in place (downloaded or already there).

        Raises:
            PrismAsyncError: A file could not be downloaded after every attempt; the
                generation itself is untouched.
        """
        if result.status is not JobStatus.SUCCEEDED:
            return ()
        if not self._made:
            await anyio.to_thread.run_sync(
                lambda: self.directory.mkdir(parents=True, exist_ok=True)
            )
            self._made = True
        files = []
        for index in range(len(result.outputs)):
            path = self.path_for(result, index)
            size = await anyio.to_thread.run_sync(_present_size, path)
            if size:
                self.skipped += 1
                files.append(DownloadedFile(index=index, path=path, size=size, skipped=True))
                continue
            size = await self._download_within(result, index, path)
            self.downloaded += 1
            files.append(DownloadedFile(index=index, path=path, size=size))
        return tuple(files)

    async def _download_within(self, result: GenerationResult, index: int, path: Path) -> int:
        if self.timeout is None:
            return await self._download(result, index, path)
        with anyio.move_on_after(self.timeout):
            return await self._download(result, index, path)
        raise TransportTimeout(
            f"download of output {index} did not finish within {self.timeout:g} s",
            provider=result.provider,
            job_id=result.id,
        )

    async def _download(self, result: GenerationResult, index: int, path: Path) -> int:
        output = result.outputs[index]
        temporary = path.with_name(f".{path.name}.tmp")
        tries, stale, offset = 0, False, 0
        try:
            while True:
                if stale or _expiring(output, self.clock.now()):
                    output = await self._fresh_output(result, index)
                tries += 1
                try:
                    return await self._attempt(output, path, temporary, offset)
                except PrismAsyncError as exc:
                    wait = self._backoff.wait(tries) if download_retryable(exc) else None
                    if wait is None:
                        raise
                    stale = url_expired(exc)
                # Go on from the bytes received (the transport checks the server does).
                offset = await anyio.to_thread.run_sync(_present_size, temporary)
                self.retries += 1
                self.resumed += offset > 0
                await self.clock.sleep(wait)
        finally:
            with anyio.CancelScope(shield=True):  # nothing half-written stays behind
                await anyio.to_thread.run_sync(_remove, temporary)

    async def _fresh_output(self, result: GenerationResult, index: int) -> Output:
        self.refreshed += 1
        fresh = await self.refresh(result.handle)
        if fresh.status is not JobStatus.SUCCEEDED or len(fresh.outputs) <= index:
            raise ProviderResponseError(
                f"output {index} is no longer available ({fresh.status.value})",
                provider=result.provider,
                job_id=result.id,
            )
        return fresh.outputs[index]

    async def _attempt(self, output: Output, path: Path, temporary: Path, offset: int) -> int:
        async with self._limiter:
            size = await self.transport.download(
                output.url, temporary, offset=offset, max_bytes=self.max_bytes
            )
        head = await anyio.to_thread.run_sync(_head, temporary)
        if size <= 0 or not looks_like_media(head, output.content_type):
            await anyio.to_thread.run_sync(_remove, temporary)  # the next try starts afresh
            raise ProviderResponseError(
                f"downloaded {size} bytes that are not a {output.content_type or 'video'}"
            )
        await anyio.to_thread.run_sync(os.replace, temporary, path)
        return size


async def check_writable_dir(directory: Path, *, field: str) -> None:
    """Make ``directory`` if needed and prove a file can be written there, before anything
    is paid for (not after three paid jobs).

    Raises:
        RequestValidationError: It cannot be made or written, naming ``field``.
    """
    try:
        await anyio.to_thread.run_sync(_probe_dir, directory)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RequestValidationError(
            field, f"{directory} is not a folder that can be written ({reason})"
        ) from None


def _probe_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".prism-async-probe-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def _expiring(output: Output, now: datetime) -> bool:
    expires = output.expires_at
    return expires is not None and expires - _EXPIRY_MARGIN <= now


def _present_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(16)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
