"""Per-job events: what the engine tells listeners about a job as it goes.

Four values, emitted by the engine where the thing happens: :class:`JobSubmitted` (the
create answered), :class:`JobPolled` (a status fetch answered while someone waits),
:class:`JobStatusChanged` (a status differs from the last one seen), :class:`JobFinished`
(a terminal result: by a poll, a webhook or a cancel). A job's events come in that
order: submitted, polled..., status changed, ..., finished.

Listeners are plain callables, called synchronously on the event loop: they must not
block (a listener that raises is logged and does not disturb the job). Without a
listener nothing is built: the scheduler checks one attribute per answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import attrs

from prism_async._results import GenerationResult, JobHandle, JobStatus

__all__ = [
    "EventHub",
    "JobEvent",
    "JobFinished",
    "JobPolled",
    "JobStatusChanged",
    "JobSubmitted",
    "OnJobEvent",
]

log = logging.getLogger("prism_async.events")


@attrs.frozen(kw_only=True)
class JobSubmitted:
    """The create answered with this job (one event per job it started).

    Args:
        handle: The job.
        at: The client clock's monotonic time.
    """

    handle: JobHandle
    at: float


@attrs.frozen(kw_only=True)
class JobPolled:
    """A status fetch answered while someone waits on the job.

    Args:
        handle: The job.
        result: Its state as the API reported it (progress, cost... where given).
        polls: The job's answered polls so far, this one included.
        at: The client clock's monotonic time.
    """

    handle: JobHandle
    result: GenerationResult
    polls: int
    at: float


@attrs.frozen(kw_only=True)
class JobStatusChanged:
    """The job's status is not the one last seen (``previous`` None: the first seen).

    Args:
        handle: The job.
        previous: The status seen before, if any.
        result: The state with the new status.
        at: The client clock's monotonic time.
    """

    handle: JobHandle
    previous: JobStatus | None
    result: GenerationResult
    at: float

    @property
    def status(self) -> JobStatus:
        return self.result.status


@attrs.frozen(kw_only=True)
class JobFinished:
    """The job ended: ``result`` is terminal (succeeded, failed or canceled).

    Args:
        handle: The job.
        result: Its terminal result.
        at: The client clock's monotonic time.
    """

    handle: JobHandle
    result: GenerationResult
    at: float


JobEvent = JobSubmitted | JobPolled | JobStatusChanged | JobFinished
OnJobEvent = Callable[[JobEvent], None]


class EventHub:
    """Who listens to which jobs. The engine's emit points check :attr:`active` first
    (a plain attribute), so with nobody listening no event is ever built.

    Listeners are for every job (:meth:`listen` with no jobs) or for some jobs only.
    """

    def __init__(self) -> None:
        #: Whether anyone listens at all.
        self.active = False
        self._everything: list[OnJobEvent] = []
        self._by_job: dict[JobHandle, list[OnJobEvent]] = {}

    def listen(
        self, listener: OnJobEvent, jobs: Iterable[JobHandle] | None = None
    ) -> Callable[[], None]:
        """Call ``listener`` with the events of ``jobs`` (all jobs: None); what to call
        to stop."""
        if jobs is None:
            self._everything.append(listener)
            self.active = True

            def stop_all() -> None:
                if listener in self._everything:
                    self._everything.remove(listener)
                self._settle()

            return stop_all
        handles = tuple(jobs)
        for handle in handles:
            self._by_job.setdefault(handle, []).append(listener)
        self.active = True

        def stop() -> None:
            for handle in handles:
                listeners = self._by_job.get(handle)
                if listeners is not None and listener in listeners:
                    listeners.remove(listener)
                    if not listeners:
                        del self._by_job[handle]
            self._settle()

        return stop

    def _settle(self) -> None:
        self.active = bool(self._everything or self._by_job)

    def wants(self, handle: JobHandle) -> bool:
        """Whether an event of this job would reach anyone."""
        return self.active and (bool(self._everything) or handle in self._by_job)

    def emit(self, event: JobEvent, extra: OnJobEvent | None = None) -> None:
        """Hand ``event`` to its listeners (and to ``extra``, a per-call one)."""
        listeners = [*self._everything, *self._by_job.get(event.handle, ())]
        if extra is not None:
            listeners.append(extra)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("an event listener failed on %s", type(event).__name__)
