"""What one batch item does: look in the journal, submit (noted before and after), wait,
note each result, download. The engine's fan-out runs :meth:`ItemRunner.work` per item."""

from __future__ import annotations

import logging
import shlex
import sys
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import cast

import anyio
import attrs

from prism_async._client import CANCEL_GRACE, Client
from prism_async._downloads import DownloadedFile, Downloader
from prism_async._engine import Slot
from prism_async._engine._fanout import Emit
from prism_async._errors import (
    ConnectError,
    JournalError,
    PollTimeout,
    PrismAsyncError,
    RequestValidationError,
    SubmissionOutcomeUnknown,
)
from prism_async._provider import SupportsCancel, VideoProvider
from prism_async._results import GenerationResult, JobHandle, JobOutcome, JobStatus
from prism_async.batch._codec import fingerprint, result_from_dict
from prism_async.batch._fallback import save_unrecorded
from prism_async.batch._journal import Holding, ItemState, Journal, JournalEntry, SharedJournal
from prism_async.batch._values import (
    BatchEvent,
    BatchOutcome,
    ItemDropped,
    ItemElsewhere,
    ItemFinished,
    ItemQueued,
    ItemSubmitted,
    OutputDownloaded,
)

__all__ = ["Item", "ItemRunner"]

log = logging.getLogger("prism_async.batch")


@attrs.frozen
class Item:
    """One item as the fan-out carries it: key and provider resolved."""

    key: str
    provider: str
    request: object


class _KeyTaken(PrismAsyncError):
    """The journal already holds this key in a state that forbids a create."""


class _Halted(PrismAsyncError):
    """No create starts once the journal has failed to write (fail closed)."""


class ItemRunner:
    """What one item does; :meth:`work` is the fan-out's work function.

    Fail closed: once a journal write fails, no create starts again (``halted`` says why);
    the jobs already created are still waited on, and the handles of any create whose
    answer could not be journaled are written to stderr and to a file beside the journal
    (:func:`~prism_async.journal.save_unrecorded`), so a paid job is never lost.
    """

    def __init__(
        self,
        client: Client,
        *,
        journal: Journal | None,
        downloader: Downloader | None,
        on_event: Callable[[BatchEvent], None] | None,
        timeout: float | None,
        cancel_on_timeout: bool = False,
    ) -> None:
        self.client = client
        self.cancel_on_timeout = cancel_on_timeout
        self.journal = journal
        self.downloader = downloader
        self._on_event = on_event
        self.timeout = timeout
        self._active: set[str] = set()
        #: Why the journal failed, once it has: no create starts after that.
        self.halted: str | None = None
        #: A journal that many workers share, if it is one.
        self.shared = journal if isinstance(journal, SharedJournal) else None
        #: Items another live worker holds, by key: looked at again once the input is read.
        self.deferred: dict[str, Item] = {}
        #: Keys of a shared journal this worker took (given back when their work ends).
        self._held: set[str] = set()
        #: Stopping: no item starts, the waits let go (:meth:`drain`).
        self.draining = False
        self._waits: set[anyio.CancelScope] = set()

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
            if item.key in self._held:
                self._held.discard(item.key)
                await self._release(item.key)

    def drain(self) -> None:
        """Stop: no item starts after this, and the items waiting on their jobs let go
        (a shared journal gives them back at once, for other workers; a local one leaves
        them for a resumed run). Creates on their way are answered and recorded first."""
        self.draining = True
        for scope in list(self._waits):
            scope.cancel()

    def _elsewhere(self, item: Item, holding: Holding) -> None:
        """The item of a shared journal is another worker's: set aside while it holds it
        (looked at again later), dropped once it finished or settled it."""
        if holding is Holding.HELD:
            self.deferred[item.key] = item
        else:
            self.deferred.pop(item.key, None)
        done = holding is Holding.DONE
        self._event(ItemElsewhere(key=item.key, provider=item.provider, done=done))

    async def _release(self, key: str) -> None:
        """Give back what this worker still holds of an item it took (nothing once it is
        finished or settled): it never keeps an item it no longer works on."""
        assert self.shared is not None
        with anyio.CancelScope(shield=True):
            try:
                await self.shared.release(key)
            except JournalError as exc:  # its lease runs out instead
                log.warning("cannot give back item %r: %s", key, exc)

    async def _work(self, item: Item, slot: Slot, emit: Emit[BatchOutcome]) -> None:
        fail = BatchOutcome(key=item.key, provider=item.provider)
        idempotency_key = uuid.uuid4().hex
        try:
            provider = self.client.provider(item.provider or None)
            digest = fingerprint(provider.name, item.request)
            if self.shared is not None:
                holding = await self.shared.take(
                    item.key,
                    provider=provider.name,
                    fingerprint=digest,
                    idempotency_key=idempotency_key,
                )
                if holding is not Holding.FREE:
                    self._elsewhere(item, holding)
                    return
                self.deferred.pop(item.key, None)
                self._held.add(item.key)
            entry = await self.journal.lookup(item.key) if self.journal is not None else None
        except JournalError as exc:
            self.halt(exc)
            await self._finish(emit, attrs.evolve(fail, error=exc))
            return
        except Exception as exc:
            await self._finish(emit, attrs.evolve(fail, error=exc))
            return
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
            if entry.state is ItemState.SUBMITTING and not provider.idempotent_submits:
                reason = "the run that sent it stopped before the answer was recorded"
                await self._write(lambda j: j.record_uncertain(item.key, reason))
                await self._finish(emit, _uncertain(fail, reason, resumed=True))
                return
            if entry.state in (ItemState.SUBMITTING, ItemState.UNSENT):
                # Replayed (the API deduplicates the key), or never sent: the same key
                # until the API has definitively answered; a new one only after a refusal.
                idempotency_key = entry.idempotency_key
        handles = await self._submit(item, provider, digest, idempotency_key, slot, emit)
        if entry is not None and entry.state is ItemState.UNSENT and entry.error is None:
            entry = None  # only reserved by a worker of a shared journal: nothing to resume
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
        """One create, noted in the journal as its bytes are about to leave, and after."""
        if self.halted is not None:
            error = _Halted(f"not sent: {self.halted}", provider=provider.name)
            await self._finish(
                emit, BatchOutcome(key=item.key, provider=item.provider, error=error)
            )
            return None
        if self.draining or not await slot.acquire() or self.draining:
            self._event(ItemDropped(key=item.key, provider=item.provider))
            return None
        journal = self.journal
        noted = False

        async def before_create() -> None:
            nonlocal noted
            if self.halted is not None:  # another item's journal write failed meanwhile
                raise _Halted(f"not sent: {self.halted}")
            if journal is not None and not await journal.record_submitting(
                key=item.key,
                provider=provider.name,
                fingerprint=digest,
                idempotency_key=idempotency_key,
            ):
                raise _KeyTaken(f"{item.key!r} is already submitted by another run")
            noted = True

        try:
            handles = await self.client.submit(
                item.request,
                provider=provider.name,
                idempotency_key=idempotency_key,
                before_create=before_create,
                on_event=self._on_event,
            )
        except Exception as exc:
            await self._refused(item, provider, exc, noted, emit)
            slot.release()  # after the outcome: with fail-fast, no queued item may take it
            return None
        with anyio.CancelScope(shield=True):  # the jobs are paid for: never lose their ids
            if not await self._write(lambda j: j.record_submitted(item.key, handles)):
                self._save_unrecorded(item, provider, handles)
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
        if isinstance(exc, _KeyTaken) and self.shared is not None:
            self._elsewhere(item, Holding.HELD)  # another worker won it: its outcome
            return
        if isinstance(exc, JournalError):
            self.halt(exc)  # the create was not sent: its note could not be written
        elif isinstance(exc, SubmissionOutcomeUnknown):
            if provider.idempotent_submits:
                # Left noted as being submitted, with its key: the next run replays it.
                await self._finish(emit, fail)
                return
            await self._write(lambda j: j.record_uncertain(item.key, str(exc)))
            fail = attrs.evolve(fail, uncertain=True)
        elif noted and isinstance(exc, ConnectError):
            # Never sent after all: free to send again, with the same key.
            await self._write(lambda j: j.record_unsent(item.key, str(exc)))
        elif noted:  # a definitive refusal: nothing charged; a later run uses a new key
            await self._write(lambda j: j.record_refused(item.key, str(exc)))
        await self._finish(emit, fail)

    async def _write(self, record: Callable[[Journal], Awaitable[None]]) -> bool:
        """One journal write; a failure halts new creates instead of ending the batch."""
        if self.journal is None:
            return True
        try:
            await record(self.journal)
        except JournalError as exc:
            self.halt(exc)
            return False
        return True

    async def _record_result(self, key: str, handle: JobHandle, result: GenerationResult) -> None:
        await self._write(lambda j: j.record_result(key, handle, result))

    def halt(self, exc: JournalError) -> None:
        if self.halted is None:
            self.halted = exc.message
            log.error("%s: no new create starts; jobs already created are still awaited", exc)

    def _save_unrecorded(
        self, item: Item, provider: VideoProvider, handles: tuple[JobHandle, ...]
    ) -> None:
        """Write paid job handles that the journal could not take where they cannot be lost."""
        texts = [str(h) for h in handles]
        path = getattr(self.journal, "path", None) or getattr(self.journal, "fallback", None)
        saved = None
        if isinstance(path, Path):
            saved = save_unrecorded(path, item.key, provider.name, texts, self.halted or "")
        where = f" (also in {shlex.quote(str(saved))})" if saved is not None else ""
        print(
            f"prism-async: paid job(s) of item {shlex.quote(item.key)} not journaled{where}: "
            + " ".join(shlex.quote(t) for t in texts),
            file=sys.stderr,
            flush=True,
        )

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
        if pending and (self.draining or not await slot.acquire()):
            self._event(ItemDropped(key=item.key, provider=item.provider))
            return
        self._event(
            ItemSubmitted(key=item.key, provider=item.provider, handles=handles, resumed=resumed)
        )
        base = BatchOutcome(key=item.key, provider=item.provider, resumed=resumed)
        for handle in handles:
            if str(handle) in known:
                result = result_from_dict(known[str(handle)])
                await self._done(attrs.evolve(base, from_journal=True), handle, result, entry, emit)
        if not pending:
            return
        remaining = len(pending)
        jobs = self.client.as_completed(pending, timeout=self.timeout)
        scope = anyio.CancelScope()
        self._waits.add(scope)
        events = self.client.engine.events
        stop = events.listen(self._on_event, pending) if self._on_event is not None else None
        try:
            with scope:
                await self._outcomes(item, jobs, base, entry, slot, emit, remaining)
        finally:
            self._waits.discard(scope)
            if stop is not None:
                stop()
        if scope.cancel_called:  # drained: the jobs are left to another worker or run
            self._event(ItemDropped(key=item.key, provider=item.provider))

    async def _outcomes(
        self,
        item: Item,
        jobs: AsyncIterator[JobOutcome],
        base: BatchOutcome,
        entry: JournalEntry | None,
        slot: Slot,
        emit: Emit[BatchOutcome],
        remaining: int,
    ) -> None:
        async with aclosing(cast("AsyncGenerator[JobOutcome, None]", jobs)):
            async for job in jobs:
                remaining -= 1
                canceled = await self._cancel_timed_out(job)
                if canceled is not None:  # timed out, then canceled: noted as its end
                    with anyio.CancelScope(shield=True):
                        await self._record_result(item.key, job.handle, canceled)
                    outcome = attrs.evolve(base, handle=job.handle, result=canceled)
                    await self._finish(emit, attrs.evolve(outcome, error=job.error))
                elif job.result is None:
                    error = job.error or PrismAsyncError("the wait ended without a result")
                    await self._finish(emit, attrs.evolve(base, handle=job.handle, error=error))
                else:
                    with anyio.CancelScope(shield=True):
                        await self._record_result(item.key, job.handle, job.result)
                    if remaining == 0 and job.result.status is JobStatus.SUCCEEDED:
                        slot.release()  # the plan's slot is free while the outputs download
                    await self._done(base, job.handle, job.result, entry, emit)
                if remaining == 0:
                    slot.release()  # a failure is emitted first: fail-fast stops the queue

    async def _cancel_timed_out(self, job: JobOutcome) -> GenerationResult | None:
        """With ``cancel_on_timeout``, a job whose wait timed out is canceled where its
        provider can: its canceled result, or None (not asked, no cancel, or refused: the
        job goes on and a resumed run waits on it again)."""
        if not self.cancel_on_timeout or not isinstance(job.error, PollTimeout):
            return None
        provider = self.client.provider(job.handle.provider)
        if not isinstance(provider, SupportsCancel):
            return None
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
            try:
                result = await self.client.cancel(job.handle)
            except PrismAsyncError as exc:
                log.warning("could not cancel %s after its timeout: %s", job.handle, exc)
                return None
            return result if result.is_terminal else None
        return None

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
        if not known:
            await self._write(
                lambda j: j.record_download(key, handle, file.index, file.path, file.size)
            )


def _uncertain(fail: BatchOutcome, reason: str | None, *, resumed: bool) -> BatchOutcome:
    error = PrismAsyncError(
        f"the create's outcome is unknown ({reason or 'no answer'}): a job may exist and be "
        "paid for, so it is not sent again; check with the provider, then 'prism-async batch "
        "retry KEY' (same idempotency key) or 'batch forget KEY' (a new one) with the journal",
        provider=fail.provider,
    )
    return attrs.evolve(fail, error=error, uncertain=True, resumed=resumed)
