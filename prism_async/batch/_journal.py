"""What the batch runner asks of a journal: a small interface a shared database can meet."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from prism_async._results import GenerationResult, JobHandle

__all__ = ["ItemState", "Journal", "JournalEntry"]


class ItemState(str, enum.Enum):
    """Where one batch item stands.

    ``SUBMITTING``: recorded before its create call, no answer recorded after it. Found on
    resume, the create's outcome is unknown: the job may exist and be paid for.
    ``SUBMITTED``: the create answered with job handles. ``FINISHED``: every job has a
    terminal result. ``REFUSED``: the API definitively refused the create (a 4xx), so
    nothing was charged; a later run sends it with a *new* idempotency key. ``UNSENT``: the
    create was never sent, so nothing was charged; a later run sends it again with the
    *same* idempotency key. ``UNCERTAIN``: the create's outcome is unknown and the provider
    has no idempotency key; left for the user, never submitted again.
    """

    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    FINISHED = "finished"
    REFUSED = "refused"
    UNSENT = "unsent"
    UNCERTAIN = "uncertain"


@attrs.frozen(kw_only=True)
class JournalEntry:
    """Everything a journal holds about one item.

    Args:
        key: The item's key in its batch.
        provider: The provider's name.
        fingerprint: A digest of the request (a key reused for another request is refused).
        idempotency_key: The key its create was (or is about to be) sent with.
        state: Where it stands.
        handles: Its jobs, once the create answered.
        results: Terminal results by job handle string (``GenerationResult.to_dict()``).
        downloads: Downloaded files by ``(handle string, output index)``.
        error: Why it was refused, unsent or is uncertain.
    """

    key: str
    provider: str
    fingerprint: str
    idempotency_key: str
    state: ItemState
    handles: tuple[JobHandle, ...] = ()
    results: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    downloads: Mapping[tuple[str, int], Path] = attrs.field(factory=dict)
    error: str | None = None


@runtime_checkable
class Journal(Protocol):
    """Durable notes of a batch's progress, written before and after every paid call.

    Every method is awaited by the batch runner and must be durable when it returns. A
    method that cannot read or write its store raises
    :class:`~prism_async._errors.JournalError`, so the runner catches one type.

    :meth:`record_submitting` is an atomic per-item claim: only one caller may win a key.
    Nothing here assumes a single writer: a journal on one file keeps other runs out with
    a lock for its whole life, while a shared implementation for several machines grants
    each claim under a lease instead (see :mod:`prism_async.batch._sqlite`).
    """

    async def lookup(self, key: str) -> JournalEntry | None:
        """The item's entry, or None if the journal has never seen it."""
        ...

    async def record_submitting(
        self, *, key: str, provider: str, fingerprint: str, idempotency_key: str
    ) -> bool:
        """Note a create about to be sent: claim the key. False if the key is taken
        (submitted, finished or uncertain, or, in a shared journal, claimed by another live
        worker): the caller must not send it. A key that is new, refused, unsent or left
        submitting by an earlier run may be claimed."""
        ...

    async def record_submitted(self, key: str, handles: Sequence[JobHandle]) -> None:
        """Note the jobs a create started."""
        ...

    async def record_refused(self, key: str, error: str) -> None:
        """Note a create the API definitively refused (nothing charged): a later run sends
        it with a new idempotency key."""
        ...

    async def record_unsent(self, key: str, error: str) -> None:
        """Note a claimed create that was never sent (nothing charged): a later run sends
        it again with the same idempotency key."""
        ...

    async def record_uncertain(self, key: str, error: str) -> None:
        """Note a create whose outcome is unknown, not to be sent again."""
        ...

    async def record_result(self, key: str, handle: JobHandle, result: GenerationResult) -> None:
        """Note the terminal result of the job ``handle`` (as the create returned it); the
        item is finished once every job has one."""
        ...

    async def record_download(
        self, key: str, handle: JobHandle, index: int, path: Path, size: int
    ) -> None:
        """Note an output downloaded and in place."""
        ...
