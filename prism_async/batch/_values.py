"""The values of a batch: its items, their outcomes and the progress events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from prism_async._downloads import DownloadedFile
from prism_async._events import JobEvent
from prism_async._results import GenerationResult, JobHandle, JobStatus

__all__ = [
    "BatchEvent",
    "BatchItem",
    "BatchOutcome",
    "ItemDropped",
    "ItemElsewhere",
    "ItemFinished",
    "ItemQueued",
    "ItemSubmitted",
    "OutputDownloaded",
]


@attrs.frozen(kw_only=True)
class BatchItem:
    """One request of a batch.

    Args:
        request: A :class:`~prism_async._requests.VideoRequest` or a provider's own type.
        provider: The provider's name; may be left out when the client has one.
        key: The caller's name for it, unique in the batch; the journal finds it again by
            this key. Defaults to ``#N``, its position in the input (0-based): give keys
            when the input's order may change between runs.
    """

    request: object
    provider: str | None = None
    key: str | None = None


@attrs.frozen(kw_only=True)
class BatchOutcome:
    """What became of one job of a batch (an item starts one job per video it asks for),
    or of an item that started none.

    Args:
        key: The item's key.
        provider: The provider's name.
        handle: The job, if one was started.
        result: Its terminal result (failed and canceled ones included).
        error: What went wrong where no result says it: a refused create, a wait that
            ended in error, or a download that failed (then ``result`` is set too).
        uncertain: The create's outcome is unknown and could not be safely replayed: a job
            may exist and be paid for. Not sent again; check with the provider.
        resumed: The item was found in the journal of an earlier run (or, in a journal
            many workers share, of another worker).
        from_journal: The result was read from the journal, not waited for by this run:
            another run brought the job to its end. Of the outcomes of all the workers
            (and runs) of a batch, each job has exactly one that is not ``from_journal``.
        files: The downloaded outputs.
    """

    key: str
    provider: str
    handle: JobHandle | None = None
    result: GenerationResult | None = None
    error: Exception | None = None
    uncertain: bool = False
    resumed: bool = False
    from_journal: bool = False
    files: tuple[DownloadedFile, ...] = ()

    @property
    def ok(self) -> bool:
        """The job succeeded (and its outputs, if asked for, are downloaded)."""
        return (
            self.result is not None
            and self.result.status is JobStatus.SUCCEEDED
            and self.error is None
            and not self.uncertain
        )

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(f.path for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: what ``prism-async batch --out`` writes, one object a line."""
        return {
            "key": self.key,
            "provider": self.provider,
            "handle": None if self.handle is None else str(self.handle),
            "ok": self.ok,
            "uncertain": self.uncertain,
            "resumed": self.resumed,
            "from_journal": self.from_journal,
            "error": None if self.error is None else str(self.error),
            "result": None if self.result is None else self.result.to_dict(),
            "files": [str(f.path) for f in self.files],
        }


@attrs.frozen(kw_only=True)
class ItemQueued:
    """An item was read from the input; it waits for its provider's slot."""

    key: str
    provider: str


@attrs.frozen(kw_only=True)
class ItemSubmitted:
    """An item's jobs are running: just created, or found in the journal (``resumed``)."""

    key: str
    provider: str
    handles: tuple[JobHandle, ...]
    resumed: bool = False


@attrs.frozen(kw_only=True)
class ItemFinished:
    """One outcome. It ends a running job when ``outcome.handle`` is set, else a queued
    item that started none."""

    outcome: BatchOutcome


@attrs.frozen(kw_only=True)
class ItemDropped:
    """A queued item was never submitted: fail-fast stopped the batch first."""

    key: str
    provider: str


@attrs.frozen(kw_only=True)
class ItemElsewhere:
    """A shared journal's item is another worker's: it holds it (``done`` False: looked at
    again later, and taken over if that worker goes), or it finished or settled it."""

    key: str
    provider: str
    done: bool


@attrs.frozen(kw_only=True)
class OutputDownloaded:
    """An output is in place (``file.skipped``: it was there already)."""

    key: str
    file: DownloadedFile


BatchEvent = (
    ItemQueued
    | ItemSubmitted
    | ItemFinished
    | ItemDropped
    | ItemElsewhere
    | OutputDownloaded
    | JobEvent
)
"""What ``run_batch``'s ``on_event`` hears: the items' own events, and the per-job events
of :mod:`prism_async._events` (submitted, polled, status changed, finished) of every job
the batch creates or waits on, the same types ``Client(on_event=...)`` gets."""
