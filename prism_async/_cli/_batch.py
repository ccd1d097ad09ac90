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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TextIO

import anyio
import anyio.to_thread

import prism_async._registry as registry
from prism_async._cli._jsonl import count_lines, read_items
from prism_async._cli._notes import RunNotes
from prism_async._cli._progress import BatchProgress
from prism_async._cli._webhooks import cli_client, receiving, webhook_setup
from prism_async._errors import RequestValidationError
from prism_async._provider import VideoProvider
from prism_async.batch import (
    BatchEvent,
    ItemDropped,
    ItemFinished,
    ItemQueued,
    ItemSubmitted,
    SQLiteJournal,
    run_batch,
)

__all__ = ["configured_providers", "run_batch_command"]


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
    webhooks = webhook_setup(args, environ)  # refused before anything is sent
    source = Path(args.file)
    if not await anyio.to_thread.run_sync(source.is_file):
        raise RequestValidationError("FILE", f"{source}: no such file")
    providers = configured_providers(environ)
    if not providers:
        raise RequestValidationError(
            "environment", "no provider key set (NANOGPT_API_KEY, PRISM_API_KEY, SYNC_API_KEY)"
        )
    total = await anyio.to_thread.run_sync(count_lines, source)
    progress = BatchProgress(total=total, live=sys.stdout.isatty())
    notes: RunNotes = args.notes
    if args.journal is not None:
        again = shlex.join(["prism-async", "batch", str(source), "--journal", args.journal])
        notes.resume = (
            f"every job created is in the journal {shlex.quote(args.journal)}; resume with: {again}"
        )

    started: set[str] = set()  # items read and not yet answered: a create may be on its way

    def on_event(event: BatchEvent) -> None:
        if isinstance(event, ItemQueued):
            started.add(event.key)
        elif isinstance(event, ItemSubmitted | ItemDropped):
            started.discard(event.key)
        elif isinstance(event, ItemFinished):
            started.discard(event.outcome.key)
        if isinstance(event, ItemSubmitted) and not event.resumed:
            notes.answered(event.handles)
        notes.create_in_flight = args.journal is None and bool(started)
        progress.on_event(event)

    failures = 0
    client = cli_client(*providers, webhooks=webhooks)
    async with _journal(args.journal) as journal, client, receiving(client, webhooks):
        with _results_file(args.out) as out, progress.display():
            batch = run_batch(
                client,
                read_items(source, progress.line_error),
                concurrency=args.concurrency,
                journal=journal,
                download_dir=args.download,
                fail_fast=args.fail_fast,
                on_event=on_event,
            )
            async for outcome in batch:
                failures += not outcome.ok
                if out is not None:
                    out.write(json.dumps(outcome.to_dict()) + "\n")
                    out.flush()
        requests = dict(client.engine.requests)
    progress.summary(requests, title=f"prism-async batch {source.name}")
    return 1 if failures or progress.malformed else 0


@contextlib.asynccontextmanager
async def _journal(path: str | None) -> AsyncIterator[SQLiteJournal | None]:
    if path is None:
        yield None
        return
    async with SQLiteJournal(path) as journal:
        yield journal


@contextlib.contextmanager
def _results_file(path: str | None) -> Iterator[TextIO | None]:
    """``--out``: every outcome of this run, resumed ones included, one JSON object a line."""
    if path is None:
        yield None
        return
    with open(path, "w", encoding="utf-8") as out:
        yield out
