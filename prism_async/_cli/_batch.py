"""``prism-async batch FILE.jsonl``: run a batch file through every configured provider.

The file format is in :mod:`prism_async._cli._jsonl`. Providers are the registered ones
whose key variable is set (``NANOGPT_API_KEY``, ``PRISM_API_KEY``, ``SYNC_API_KEY``).
With ``--webhook-url URL --listen HOST:PORT`` the batch's client names callbacks under
URL and serves its receiver on HOST:PORT while the batch runs (see
:mod:`prism_async._cli._webhooks`): :func:`~prism_async.batch.run_batch` waits through
the client, so a result that arrives by callback is journaled as a polled one is.
Exit status: 0 when every item succeeded, 1 when any failed, was uncertain or was a
malformed line, 4 when the journal cannot be used (see :mod:`prism_async._cli`). The
journal is opened, and locked for this run, before any request is sent.

``prism-async batch status|forget|retry`` inspect and clear a journal (the parser sends
``batch`` here with ``batch_action`` set; a batch file named like an action runs as
``./status``; ``-`` reads the batch from stdin, and a file named ``-`` runs as ``./-``):
``status`` reads it without the lock (so it works while a run uses it) and
prints items per state and provider, the cost so far and the uncertain items; ``forget``
and ``retry`` take the lock (exit 4 while a run uses the journal) and clear one uncertain
or refused item, exiting 2 with one line for an unknown key or an item in another state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TextIO

import anyio
import anyio.to_thread

import prism_async._registry as registry
from prism_async._cli._jsonl import count_lines, parse_lines, read_items, requests_in
from prism_async._cli._notes import RunNotes
from prism_async._cli._progress import BatchProgress
from prism_async._cli._webhooks import cli_client, receiving, webhook_setup
from prism_async._errors import JournalError, RequestValidationError
from prism_async._provider import VideoProvider
from prism_async.batch import (
    BatchEvent,
    BatchSummary,
    InspectableJournal,
    ItemDropped,
    ItemElsewhere,
    ItemFinished,
    ItemNotClearable,
    ItemQueued,
    ItemState,
    ItemSubmitted,
    Journal,
    SQLiteJournal,
    run_batch,
)
from prism_async.batch._postgres import PostgresJournal, is_postgres_url, shown_url

__all__ = ["configured_providers", "print_summary", "run_batch_command"]


def configured_providers(environ: Mapping[str, str]) -> list[VideoProvider]:
    """Every registered provider whose key variable is set in ``environ``."""
    providers = []
    for name in registry.available():
        try:
            factory = registry.load(name)
        except ImportError:  # registered but not installed
            continue
        if environ.get(factory.env_key):
            providers.append(factory.from_env(environ))
    return providers


async def run_batch_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run ``prism-async batch``; the exit status."""
    action: str | None = getattr(args, "batch_action", None)
    if action == "status":
        return await _status_command(args)
    if action in ("forget", "retry"):
        return await _clear_command(args, action)
    webhooks = webhook_setup(args, environ)  # refused before anything is sent
    source = Path(args.file)
    from_stdin = args.file == "-"  # a file named - runs as ./-
    if not from_stdin and not await anyio.to_thread.run_sync(source.is_file):
        raise RequestValidationError("FILE", f"{source}: no such file")
    providers = configured_providers(environ)
    if not providers:
        raise RequestValidationError(
            "environment", "no provider key set (NANOGPT_API_KEY, PRISM_API_KEY, SYNC_API_KEY)"
        )
    stdin: list[str] | None = None
    if from_stdin:  # read whole, for the progress total; local paths relative to the cwd
        stdin = await anyio.to_thread.run_sync(sys.stdin.readlines)
    if stdin is None:
        total = await anyio.to_thread.run_sync(count_lines, source)
    else:
        total = requests_in(stdin)
    progress = BatchProgress(total=total, live=sys.stdout.isatty())
    if stdin is None:
        items = read_items(source, progress.line_error)
    else:
        items = parse_lines(stdin, Path.cwd(), progress.line_error)
    notes: RunNotes = args.notes
    if args.journal is not None:
        shown = shown_url(args.journal)  # a database password is never printed
        again = shlex.join(["prism-async", "batch", str(source), "--journal", shown])
        notes.resume = (
            f"every job created is in the journal {shlex.quote(shown)}; resume with: {again}"
            + (" (the same lines on stdin)" if from_stdin else "")
        )

    started: set[str] = set()  # items read and not yet answered: a create may be on its way

    def on_event(event: BatchEvent) -> None:
        if isinstance(event, ItemQueued):
            started.add(event.key)
        elif isinstance(event, ItemSubmitted | ItemDropped | ItemElsewhere):
            started.discard(event.key)
        elif isinstance(event, ItemFinished):
            started.discard(event.outcome.key)
        if isinstance(event, ItemSubmitted) and not event.resumed:
            notes.answered(event.handles)
        notes.create_in_flight = args.journal is None and bool(started)
        progress.on_event(event)

    failures = uncertain = 0
    client = cli_client(*providers, webhooks=webhooks)
    stop = anyio.Event()  # set by SIGTERM: drain
    async with _journal(args.journal) as journal, client, receiving(client, webhooks):
        with _results_file(args.out) as out, progress.display(), _drain_on_sigterm(stop):
            batch = run_batch(
                client,
                items,
                concurrency=args.concurrency,
                journal=journal,
                download_dir=args.download,
                fail_fast=args.fail_fast,
                on_event=on_event,
                stop=stop,
                timeout=args.timeout,
                cancel_on_timeout=args.cancel_on_timeout,
            )
            async for outcome in batch:
                failures += not outcome.ok
                uncertain += outcome.uncertain
                if out is not None:
                    out.write(json.dumps(outcome.to_dict()) + "\n")
                    out.flush()
        requests = dict(client.engine.requests)
    progress.summary(requests, title=f"prism-async batch {source.name}")
    if stop.is_set():
        print(
            "drained on SIGTERM: no item started after it; the jobs still running were"
            + (
                " given back to the other workers"
                if args.journal is not None and is_postgres_url(args.journal)
                else " left in the journal for the next run"
                if args.journal is not None
                else " left running (no journal)"
            )
        )
    if uncertain and args.journal is not None:
        status = shlex.join(
            ["prism-async", "batch", "status", "--journal", shown_url(args.journal)]
        )
        print(
            f"{uncertain} item(s) uncertain: a job may exist and be paid for, so they are not"
            f" sent again; list them with: {status} (then batch forget KEY or batch retry KEY)"
        )
    return 1 if failures or progress.malformed else 0


@contextlib.asynccontextmanager
async def _journal(path: str | None) -> AsyncIterator[Journal | None]:
    if path is None:
        yield None
        return
    if is_postgres_url(path):  # postgresql://...?batch=NAME (the postgres extra)
        async with PostgresJournal(path) as shared:
            yield shared
        return
    async with SQLiteJournal(path) as journal:
        yield journal


@contextlib.contextmanager
def _drain_on_sigterm(stop: anyio.Event) -> Iterator[None]:
    """SIGTERM drains the batch (``run_batch``'s ``stop``): no new item, creates on their
    way answered and journaled, jobs still running given back; a second SIGTERM kills."""
    loop = asyncio.get_running_loop()

    def drain() -> None:
        print("prism-async: SIGTERM: draining", file=sys.stderr, flush=True)
        loop.remove_signal_handler(signal.SIGTERM)
        stop.set()

    try:
        loop.add_signal_handler(signal.SIGTERM, drain)
    except (RuntimeError, ValueError, NotImplementedError):  # not the main thread: no drain
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


@contextlib.contextmanager
def _results_file(path: str | None) -> Iterator[TextIO | None]:
    """``--out``: every outcome of this run, resumed ones included, one JSON object a line."""
    if path is None:
        yield None
        return
    with open(path, "w", encoding="utf-8") as out:
        yield out


# --- batch status | forget | retry ------------------------------------------------------------


@contextlib.asynccontextmanager
async def _inspectable(path: str, *, read_only: bool) -> AsyncIterator[InspectableJournal]:
    """The journal ``--journal`` names, for status (``read_only``: no lock) or to clear an
    item. A SQLite journal must exist: one is never created to be inspected."""
    if is_postgres_url(path):
        async with PostgresJournal(path) as shared:
            yield shared
        return
    if not await anyio.to_thread.run_sync(Path(path).exists):
        raise JournalError(f"journal {path}: no such journal file")
    async with SQLiteJournal(path, read_only=read_only) as journal:
        yield journal


async def _status_command(args: argparse.Namespace) -> int:
    async with _inspectable(args.journal, read_only=True) as journal:
        summary = await journal.summary()
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print_summary(summary, journal=shown_url(args.journal), out=sys.stdout)
    return 0


async def _clear_command(args: argparse.Namespace, action: str) -> int:
    from prism_async._cli import EXIT_REFUSED

    try:
        async with _inspectable(args.journal, read_only=False) as journal:
            clear = journal.forget if action == "forget" else journal.retry
            entry = await clear(args.key)
    except ItemNotClearable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    key, was = shlex.quote(entry.key), entry.state.value
    if action == "forget":
        print(
            f"forgot {key} ({entry.provider}, was {was}, idempotency key"
            f" {entry.idempotency_key}): the next run of its batch submits it with a new"
            " idempotency key"
        )
        return 0
    print(
        f"retry {key} ({entry.provider}, was {was}): the next run of its batch sends it again"
        f" with idempotency key {entry.idempotency_key}"
    )
    if not _honours_idempotency_keys(entry.provider):
        print(
            f"warning: {entry.provider} does not honour idempotency keys: if the first create"
            " reached it, the next run is charged again (as after forget)",
            file=sys.stderr,
        )
    return 0


def _honours_idempotency_keys(provider: str) -> bool:
    try:
        factory = registry.load(provider)
    except (KeyError, ImportError):  # not installed here: assume the worst
        return False
    return bool(getattr(factory, "idempotent_submits", False))


_COLUMNS = (
    ItemState.FINISHED,
    ItemState.SUBMITTED,
    ItemState.SUBMITTING,
    ItemState.UNSENT,
    ItemState.REFUSED,
    ItemState.UNCERTAIN,
)


def print_summary(
    summary: BatchSummary, *, journal: str, out: TextIO, rich: bool | None = None
) -> None:
    """``batch status``: items per provider and state (a rich table where rich is
    installed, else aligned text), the cost so far, then each uncertain item on a line."""
    headers = ("provider", "items", *(state.value for state in _COLUMNS))
    rows = [
        (name, str(sum(states.values())), *(str(states.get(s, 0)) for s in _COLUMNS))
        for name, states in sorted(summary.providers.items())
    ]
    rows.append(("total", str(summary.items), *(str(summary.states.get(s, 0)) for s in _COLUMNS)))
    rows += [  # a journal that many workers share: each one's part
        (f"worker {name}", str(sum(states.values())), *(str(states.get(s, 0)) for s in _COLUMNS))
        for name, states in summary.workers.items()
    ]
    title = f"journal {journal}: {summary.items} item(s), {summary.jobs} job result(s)"
    if rich if rich is not None else _rich_available():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for header in headers:
            table.add_column(header, justify="left" if header == "provider" else "right")
        for row in rows:
            table.add_row(*row)
        Console(file=out, width=max(100, len(title) + 4)).print(table)
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        out.write(f"{title}\n")
        for row in (headers, *rows):
            line = "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True))
            out.write(line.rstrip() + "\n")
    out.write(f"cost so far: {_cost_text(summary)}\n")
    if not summary.uncertain:
        out.write("uncertain items: none\n")
        out.flush()
        return
    where = f"--journal {shlex.quote(journal)}"
    out.write(
        f"uncertain items: {len(summary.uncertain)} (a job may exist and be paid for: check"
        f" with the provider, then 'prism-async batch forget KEY {where}' sends it with a"
        f" new idempotency key, 'prism-async batch retry KEY {where}' with the same one)\n"
    )
    for item in summary.uncertain:
        out.write(
            f"  {shlex.quote(item.key)}  {item.provider}  idempotency key {item.idempotency_key}"
            f"  {item.error or ''}".rstrip()
            + "\n"
        )
    out.flush()


def _cost_text(summary: BatchSummary) -> str:
    if not summary.cost:
        return "none recorded"
    parts = []
    for unit, amount in summary.cost.items():
        text = f"{amount.normalize():f} {unit}"
        if unit in summary.estimated:
            text += f" (of which {summary.estimated[unit].normalize():f} estimated)"
        parts.append(text)
    return ", ".join(parts)


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True
