"""What one batch item does: look in the journal, submit (noted before and after), wait,
note each result, download. The engine's fan-out runs :meth:`ItemRunner.work` per item."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import cast

import anyio
import attrs

from prism_async._batch_types import (
    BatchEvent,
    BatchOutcome,
    ItemDropped,
    ItemFinished,
    ItemQueued,
    ItemSubmitted,
    OutputDownloaded,
)
from prism_async.client import Client
from prism_async.downloads import DownloadedFile, Downloader
from prism_async.engine import Slot
from prism_async.engine._fanout import BEFORE_SEND, Emit
from prism_async.errors import (
    APIStatusError,
    ConnectError,
    PrismAsyncError,
    RequestValidationError,
    ServerError,
)
from prism_async.http import HttpRequest, RetryMode
from prism_async.journal import ItemState, Journal, JournalEntry, fingerprint, result_from_dict
from prism_async.provider import VideoProvider
from prism_async.results import GenerationResult, JobHandle, JobOutcome, JobStatus

__all__ = ["Item", "ItemRunner"]


@attrs.frozen
class Item:
    """One item as the fan-out carries it: key and provider resolved."""

    key: str
    provider: str
    request: object


def _is_create(request: object) -> bool:
    """Whether a request of a submit flow is the paid create itself: one sent with an
    idempotency key, or retried only where refused, or labelled as a submit."""
    if not isinstance(request, HttpRequest):
        return True
    return (
        request.retry is RetryMode.REFUSED_ONLY
        or request.header("Idempotency-Key") is not None
        or request.kind in ("submit", "extend")
    )


def _outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed create may still have created (and charged for) a job."""
    if isinstance(exc, (ConnectError, RequestValidationError, _KeyTaken)):
        return False  # nothing was sent, or nothing would have been
    if isinstance(exc, APIStatusError):
        return isinstance(exc, ServerError)  # an answered 4xx refused it; a 5xx may not have
    return True  # a timeout or a lost connection after sending, an unreadable answer...


class _KeyTaken(PrismAsyncError):
    """The journal already holds this key in a state that forbids a create."""


class ItemRunner:
    """What one item does; :meth:`work` is the fan-out's work function."""

    def __init__(
        self,
        client: Client,
        *,
        journal: Journal | None,
        downloader: Downloader | None,
        on_event: Callable[[BatchEvent], None] | None,
        timeout: float | None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.downloader = downloader
        self._on_event = on_event
        self.timeout = timeout
        self._active: set[str] = set()

    def _event(self, event: BatchEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    async def _finish(self, emit: Emit[BatchOutcome], outcome: BatchOutcome) -> None:
        self._event(ItemFinished(outcome=outcome))
        await emit(outcome)

    async def work(self, item: Item, slot: Slot, emit: Emit[BatchOutcome]) -> None:
        self._event(ItemQueued(key=item.key, provider=item.provider))
        if item.key in self._active:
            error = RequestValidationError("key", f"{item.key!r} is twice in the batch")
            await self._finish(
                emit, BatchOutcome(key=item.key, provider=item.provider, error=error)
            )
            return
        self._active.add(item.key)
        try:
            await self._work(item, slot, emit)
        finally:
            self._active.discard(item.key)

    async def _work(self, item: Item, slot: Slot, emit: Emit[BatchOutcome]) -> None:
        fail = BatchOutcome(key=item.key, provider=item.provider)
        try:
            provider = self.client.provider(item.provider or None)
            digest = fingerprint(provider.name, item.request)
        except Exception as exc:
            await self._finish(emit, attrs.evolve(fail, error=exc))
            return
        entry = await self.journal.lookup(item.key) if self.journal is not None else None
        idempotency_key = uuid.uuid4().hex
        if entry is not None:
            if entry.fingerprint != digest or entry.provider != provider.name:
                error = RequestValidationError(
                    "key", f"{item.key!r} is journaled for another request: give this one a new key"
                )
                await self._finish(emit, attrs.evolve(fail, error=error, resumed=True))
                return
            if entry.state in (ItemState.FINISHED, ItemState.SUBMITTED):
                # Reported from the journal, or waited on again: never submitted again.
                await self._follow(item, entry.handles, slot, emit, entry=entry)
                return
            if entry.state is ItemState.UNCERTAIN:
                await self._finish(emit, _uncertain(fail, entry.error, resumed=True))
                return
            if entry.state is ItemState.SUBMITTING:
                if not provider.idempotent_submits:
                    reason = "the run that sent it stopped before the answer was recorded"
                    if self.journal is not None:
                        await self.journal.record_uncertain(item.key, reason)
                    await self._finish(emit, _uncertain(fail, reason, resumed=True))
                    return
                idempotency_key = entry.idempotency_key  # replayed: the API deduplicates it
        handles = await self._submit(item, provider, digest, idempotency_key, slot, emit)
        if handles is not None:
            await self._follow(item, handles, slot, emit, entry=entry)

    async def _submit(
        self,
        item: Item,
        provider: VideoProvider,
        digest: str,
        idempotency_key: str,
        slot: Slot,
        emit: Emit[BatchOutcome],
    ) -> tuple[JobHandle, ...] | None:
        """One create, noted in the journal just before its bytes go out and after."""
        if not await slot.acquire():
            self._event(ItemDropped(key=item.key, provider=item.provider))
            return None
        journal = self.journal
        noted = False

        async def claim() -> None:
            if journal is not None and not await journal.record_submitting(
                key=item.key,
                provider=provider.name,
                fingerprint=digest,
                idempotency_key=idempotency_key,
            ):
                raise _KeyTaken(f"{item.key!r} is already submitted by another run")

        async def note(_provider: object, request: object) -> None:
            nonlocal noted
            if not noted and _is_create(request):  # uploads and lookups before it cost nothing
                await claim()
                noted = True

        token = BEFORE_SEND.set(note)
        try:
            handles = await self.client.submit(
                item.request, provider=provider.name, idempotency_key=idempotency_key
            )
        except Exception as exc:
            await self._refused(item, provider, exc, noted, emit)
            slot.release()  # after the outcome: with fail-fast, no queued item may take it
            return None
        finally:
            BEFORE_SEND.reset(token)
        with anyio.CancelScope(shield=True):  # the jobs are paid for: never lose their ids
            if journal is not None:
                if not noted:  # pragma: no cover - a create this module did not recognize
                    await claim()
                await journal.record_submitted(item.key, handles)
        return handles

    async def _refused(
        self,
        item: Item,
        provider: VideoProvider,
        exc: Exception,
        noted: bool,
        emit: Emit[BatchOutcome],
    ) -> None:
        fail = BatchOutcome(key=item.key, provider=item.provider, error=exc)
        journal = self.journal
        if not noted:  # it failed before the create went out: nothing can be charged
            await self._finish(emit, fail)
        elif not _outcome_unknown(exc):
            if journal is not None:
                await journal.record_refused(item.key, str(exc))
            await self._finish(emit, fail)
        elif provider.idempotent_submits:
            # Left noted as being submitted: the next run replays it with the same key.
            await self._finish(emit, fail)
        else:
            if journal is not None:
                await journal.record_uncertain(item.key, str(exc))
            await self._finish(emit, attrs.evolve(fail, uncertain=True))

    async def _follow(
        self,
        item: Item,
        handles: tuple[JobHandle, ...],
        slot: Slot,
        emit: Emit[BatchOutcome],
        *,
        entry: JournalEntry | None,
    ) -> None:
        """Wait for an item's jobs (known results from the journal), then download."""
        resumed = entry is not None
        known = {} if entry is None else dict(entry.results)
        pending = [h for h in handles if str(h) not in known]
        if pending and not await slot.acquire():
            self._event(ItemDropped(key=item.key, provider=item.provider))
            return
        self._event(
            ItemSubmitted(key=item.key, provider=item.provider, handles=handles, resumed=resumed)
        )
        base = BatchOutcome(key=item.key, provider=item.provider, resumed=resumed)
        for handle in handles:
            if str(handle) in known:
                result = result_from_dict(known[str(handle)])
                await self._done(base, handle, result, entry, emit)
        if not pending:
            return
        remaining = len(pending)
        jobs = self.client.as_completed(pending, timeout=self.timeout)
        async with aclosing(cast("AsyncGenerator[JobOutcome, None]", jobs)):
            async for job in jobs:
                remaining -= 1
                if job.result is None:
                    error = job.error or PrismAsyncError("the wait ended without a result")
                    await self._finish(emit, attrs.evolve(base, handle=job.handle, error=error))
                else:
                    if self.journal is not None:
                        with anyio.CancelScope(shield=True):
                            await self.journal.record_result(item.key, job.handle, job.result)
                    if remaining == 0 and job.result.status is JobStatus.SUCCEEDED:
                        slot.release()  # the plan's slot is free while the outputs download
                    await self._done(base, job.handle, job.result, entry, emit)
                if remaining == 0:
                    slot.release()  # a failure is emitted first: fail-fast stops the queue

    async def _done(
        self,
        base: BatchOutcome,
        handle: JobHandle,
        result: GenerationResult,
        entry: JournalEntry | None,
        emit: Emit[BatchOutcome],
    ) -> None:
        outcome = attrs.evolve(base, handle=handle, result=result)
        if self.downloader is not None and result.status is JobStatus.SUCCEEDED:
            try:
                files = await self.downloader.fetch(result)
            except PrismAsyncError as exc:
                outcome = attrs.evolve(outcome, error=exc)
            else:
                outcome = attrs.evolve(outcome, files=files)
                for file in files:
                    await self._note_download(base.key, handle, file, entry)
        await self._finish(emit, outcome)

    async def _note_download(
        self, key: str, handle: JobHandle, file: DownloadedFile, entry: JournalEntry | None
    ) -> None:
        self._event(OutputDownloaded(key=key, file=file))
        known = entry is not None and (str(handle), file.index) in entry.downloads
        if self.journal is not None and not known:
            await self.journal.record_download(key, handle, file.index, file.path, file.size)


def _uncertain(fail: BatchOutcome, reason: str | None, *, resumed: bool) -> BatchOutcome:
    error = PrismAsyncError(
        f"the create's outcome is unknown ({reason or 'no answer'}): a job may exist and be "
        "paid for, so it is not sent again; check with the provider, then forget the key in "
        "the journal to submit it anew",
        provider=fail.provider,
    )
    return attrs.evolve(fail, error=error, uncertain=True, resumed=resumed)
