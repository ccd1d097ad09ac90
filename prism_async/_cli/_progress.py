"""Progress for the command line, from the engine's events.

A batch: on a terminal with rich installed (the ``cli`` extra), a live table per provider
(queued, running, done, failed) with the overall rate and ETA; otherwise one plain line
per outcome. Either way a summary table at the end.

``generate``: while it waits, one live line on stderr (status, progress, elapsed, cost,
from the jobs' :mod:`prism_async._events`), only where stderr is a terminal and rich is
installed; erased when the wait ends. Nothing is written on a pipe, so stdout is exactly
the results.
"""

from __future__ import annotations

import collections
import contextlib
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TextIO

import attrs

from prism_async._cli._output import quoted
from prism_async._client import Client
from prism_async._events import JobEvent, JobPolled, JobStatusChanged, JobSubmitted
from prism_async._results import GenerationResult, JobHandle, JobStatus
from prism_async.batch import (
    BatchEvent,
    BatchOutcome,
    ItemDropped,
    ItemElsewhere,
    ItemFinished,
    ItemQueued,
    ItemSubmitted,
)

__all__ = ["BatchProgress", "JobLine", "ProviderCounts", "live_job_line"]


@attrs.define
class ProviderCounts:
    """One provider's progress and totals (cost: of the jobs that succeeded)."""

    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    uncertain: int = 0
    dropped: int = 0
    cost: dict[str, Decimal] = attrs.field(factory=lambda: collections.defaultdict(Decimal))

    @property
    def jobs(self) -> int:
        return self.done + self.failed

    def cost_text(self) -> str:
        return ", ".join(f"{amount.normalize():f} {unit}" for unit, amount in self.cost.items())


class BatchProgress:
    """Follows a batch through its events and shows it.

    Args:
        total: Items expected, for the ETA (None: unknown).
        live: Show a live table (needs rich); else plain lines.
        out: Where to write.
    """

    def __init__(self, *, total: int | None, live: bool, out: TextIO | None = None) -> None:
        self.total = total
        self.out = out or sys.stdout
        self.providers: dict[str, ProviderCounts] = collections.defaultdict(ProviderCounts)
        self.malformed = 0
        self.started = time.monotonic()
        self._console: Any = None
        self.live = live and _rich_available()

    # --- events ---------------------------------------------------------------------------

    def on_event(self, event: BatchEvent) -> None:
        """Update the counts (a batch's ``on_event``)."""
        if isinstance(event, ItemQueued):
            self.providers[event.provider].queued += 1
        elif isinstance(event, ItemSubmitted):
            counts = self.providers[event.provider]
            counts.queued -= 1
            counts.running += len(event.handles)
        elif isinstance(event, ItemDropped):
            counts = self.providers[event.provider]
            counts.queued -= 1
            counts.dropped += 1
        elif isinstance(event, ItemFinished):
            self._finished(event.outcome)
        elif isinstance(event, ItemElsewhere):  # another worker's (a shared journal)
            self.providers[event.provider].queued -= 1

    def _finished(self, outcome: BatchOutcome) -> None:
        counts = self.providers[outcome.provider]
        if outcome.handle is not None:
            counts.running -= 1
        else:
            counts.queued -= 1
        if outcome.ok:
            counts.done += 1
        else:
            counts.failed += 1
            counts.uncertain += outcome.uncertain
        result = outcome.result
        if result is not None and result.cost is not None and result.status is JobStatus.SUCCEEDED:
            counts.cost[result.cost.unit.value] += result.cost.amount
        if not self.live or not outcome.ok:
            self.print(_line(outcome))

    def line_error(self, number: int, message: str) -> None:
        """A malformed line of the batch file (reported on stderr)."""
        self.malformed += 1
        # Under the live display rich redirects stderr above the table.
        print(f"error: line {number}: {message}", file=sys.stderr, flush=True)

    def print(self, text: str) -> None:
        if self._console is not None:
            self._console.print(text, markup=False, highlight=False)
        else:
            self.out.write(text + "\n")
            self.out.flush()

    # --- display --------------------------------------------------------------------------

    @contextlib.contextmanager
    def display(self) -> Iterator[None]:
        """Show the live table while the batch runs (plain lines need nothing)."""
        if not self.live:
            yield
            return
        from rich.console import Console
        from rich.live import Live

        self._console = Console(file=self.out)
        with Live(self, console=self._console, refresh_per_second=4):
            yield

    def __rich__(self) -> Any:
        """The live table, rebuilt at each refresh (so rate and ETA move on their own)."""
        return self._table()

    @property
    def finished(self) -> int:
        return sum(c.jobs for c in self.providers.values())

    def rate_and_eta(self) -> tuple[float, float | None]:
        """Jobs finished per second so far, and the seconds left at that rate."""
        elapsed = max(1e-9, time.monotonic() - self.started)
        rate = self.finished / elapsed
        if self.total is None or rate <= 0:
            return rate, None
        left = max(0, self.total - self.malformed - self._items_seen_done())
        return rate, left / rate

    def _items_seen_done(self) -> int:
        return sum(c.jobs + c.dropped for c in self.providers.values())

    def _table(self) -> Any:
        from rich.table import Table

        rate, eta = self.rate_and_eta()
        caption = f"{rate:.1f} jobs/s" + (f", ETA {_duration(eta)}" if eta is not None else "")
        table = Table(title="prism-async batch", caption=caption)
        for header in ("provider", "queued", "running", "done", "failed"):
            table.add_column(header, justify="left" if header == "provider" else "right")
        for name, counts in sorted(self.providers.items()):
            table.add_row(
                name, str(counts.queued), str(counts.running), str(counts.done), str(counts.failed)
            )
        return table

    def summary(
        self,
        requests: Mapping[str, int],
        title: str = "summary",
        *,
        out: TextIO | None = None,
        rich: bool | None = None,
    ) -> None:
        """Print the summary: per provider jobs, succeeded, failed, HTTP requests, cost.

        Args:
            requests: HTTP requests made, by provider (``client.engine.requests``).
            title: The table's title.
            out: Where to print (this display's stream by default).
            rich: A rich table (default: when rich is installed), else plain text.
        """
        stream = out or self.out
        headers = ("provider", "jobs", "succeeded", "failed", "uncertain", "HTTP requests", "cost")
        rows = [
            (
                name,
                str(c.jobs),
                str(c.done),
                str(c.failed),
                str(c.uncertain),
                str(requests.get(name, 0)),
                c.cost_text() or "-",
            )
            for name, c in sorted(self.providers.items())
        ]
        elapsed = time.monotonic() - self.started
        footer = f"{self.finished} jobs in {_duration(elapsed)}"
        if self.malformed:
            footer += f"; {self.malformed} malformed line(s) skipped"
        if rich if rich is not None else _rich_available():
            from rich.console import Console
            from rich.table import Table

            table = Table(title=title, caption=footer)
            for header in headers:
                left = header in ("provider", "cost")
                table.add_column(header, justify="left" if left else "right")
            for row in rows:
                table.add_row(*row)
            Console(file=stream).print(table)
            return
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        stream.write(f"\n{title}\n")
        for row in (headers, *rows):
            stream.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + "\n")
        stream.write(footer + "\n")
        stream.flush()


def _line(outcome: BatchOutcome) -> str:
    """One plain line per outcome: state, provider, key, job, then files or the reason."""
    state = "ok" if outcome.ok else ("uncertain" if outcome.uncertain else "failed")
    parts = [f"{state:<9}", f"{outcome.provider:<8}", outcome.key]
    if outcome.handle is not None:
        parts.append(quoted(outcome.handle))
    result = outcome.result
    if outcome.error is not None:
        parts.append(f"({outcome.error})")
    elif result is not None and result.failure is not None:
        reason = result.failure.message or result.failure.code or result.failure.kind.value
        parts.append(f"({result.status.value}, {result.failure.kind.value}: {reason})")
    elif result is not None and not outcome.ok:
        parts.append(f"({result.status.value})")
    parts.extend(f"-> {path}" for path in outcome.paths)
    return "  ".join(parts)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


class JobLine:
    """The live line of ``prism-async generate``: each job's status, progress and cost as
    its events tell them, and the time since the line began."""

    def __init__(self, handles: Sequence[JobHandle]) -> None:
        self.started = time.monotonic()
        self.results: dict[JobHandle, GenerationResult | None] = dict.fromkeys(handles)

    def on_event(self, event: JobEvent) -> None:
        """Keep the latest state of each job (a listener on the client's events)."""
        if isinstance(event, JobSubmitted):
            self.results.setdefault(event.handle, None)
        elif isinstance(event, JobPolled | JobStatusChanged):
            self.results[event.handle] = event.result

    def text(self) -> str:
        """The line as plain text."""
        elapsed = _duration(time.monotonic() - self.started)
        parts = [_job_text(handle, result) for handle, result in self.results.items()]
        return f"{'; '.join(parts)}  {elapsed}"

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(self.text(), no_wrap=True, overflow="ellipsis")


def _job_text(handle: JobHandle, result: GenerationResult | None) -> str:
    name = f"{handle.provider}:{handle.id}"  # short: the handle is printed in full after
    if result is None:
        return f"{name} submitted"
    parts = [name, result.status.value]
    if result.progress is not None:
        parts.append(f"{result.progress:.0f}%")
    if result.cost is not None:
        estimated = " (estimated)" if result.cost.estimated else ""
        parts.append(f"{result.cost.amount.normalize():f} {result.cost.unit.value}{estimated}")
    return " ".join(parts)


@contextlib.contextmanager
def live_job_line(
    client: Client, handles: Sequence[JobHandle], *, out: TextIO | None = None
) -> Iterator[JobLine | None]:
    """Show the jobs' live line on ``out`` (stderr) while the block runs, where it is a
    terminal and rich is installed; else show nothing (and listen to nothing)."""
    stream = out or sys.stderr
    if not _is_terminal(stream) or not _rich_available():
        yield None
        return
    from rich.console import Console
    from rich.live import Live

    line = JobLine(handles)
    stop = client.engine.events.listen(line.on_event, handles)
    try:
        console = Console(file=stream)
        # stdout is redirected above the line only when it is the terminal too: piped,
        # it must stay exactly the results.
        live = Live(
            line,
            console=console,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=_is_terminal(sys.stdout),
        )
        with live:
            yield line
    finally:
        stop()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or fake stream
        return False
