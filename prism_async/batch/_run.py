"""``run_batch``: many requests through the engine's fan-out, one :class:`ItemRunner`
per item, with the checks that come before the first create."""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from contextlib import aclosing
from os import PathLike
from pathlib import Path
from typing import cast

import anyio
import attrs

from prism_async._client import Client
from prism_async._downloads import Downloader, check_writable_dir
from prism_async._engine import FanOutPlan
from prism_async._errors import JournalError
from prism_async._provider import SupportsJobLimit, VideoProvider
from prism_async.batch._items import Item, ItemRunner
from prism_async.batch._journal import Holding, Journal, SharedJournal
from prism_async.batch._values import (
    BatchEvent,
    BatchItem,
    BatchOutcome,
)

__all__ = ["DEFAULT_JOBS_IN_FLIGHT", "run_batch"]

#: Jobs in flight per provider when neither the caller nor the provider's plan says.
DEFAULT_JOBS_IN_FLIGHT = 32


def run_batch(
    client: Client,
    items: Iterable[BatchItem | object] | AsyncIterable[BatchItem | object],
    *,
    concurrency: int | Mapping[str, int] | None = None,
    journal: Journal | None = None,
    download_dir: str | PathLike[str] | None = None,
    fail_fast: bool = False,
    on_event: Callable[[BatchEvent], None] | None = None,
    timeout: float | None = None,
    lookahead: int = 100,
    download_concurrency: int = 4,
    cancel_on_timeout: bool = False,
    stop: anyio.Event | None = None,
) -> AsyncIterator[BatchOutcome]:
    """Run many requests; yield each job's outcome as it ends. Use inside ``async with
    client``. One failure never stops the others unless ``fail_fast``.

    Args:
        client: A running client with every provider the items name.
        items: :class:`BatchItem` values (or bare requests, for a one-provider client),
            from any iterable or async iterable; read lazily, so a batch of 100,000 keeps
            only ``sum(jobs in flight) + lookahead`` items in memory.
        concurrency: Jobs in flight per provider: one number for each, or by provider
            name. Never more than a provider's ``max_jobs_in_flight`` (its plan's limit,
            where it declares one); by default that limit, else
            :data:`DEFAULT_JOBS_IN_FLIGHT`.
        journal: Notes every create before and after it, each result and each download,
            so the same batch run again resumes (see the module docs).
        download_dir: Download every succeeded job's outputs here as it finishes.
        fail_fast: Stop submitting after the first outcome that is not ok; jobs already
            started are still waited on and reported, queued items are dropped.
        on_event: Called with each :data:`BatchEvent` (progress: the items' events and
            the per-job events of :mod:`prism_async._events`); it must not block.
        timeout: Seconds to wait for one job (the client's default when None). A job
            still running then is reported with a PollTimeout and waited on again by a
            resumed run. It also bounds each output's download.
        lookahead: Items read ahead of the free slots.
        download_concurrency: Downloads in flight at once.
        cancel_on_timeout: Opt-in, never the default: a job still running at ``timeout``
            is canceled where its provider's API can (lipsync, a job still PENDING); its
            canceled result is journaled as its end (a resumed run reports it, never
            submits it again) and reported with the PollTimeout as its error. Where the
            provider has no cancel (NanoGPT, Prism), or the API refuses it, the job goes
            on as without the flag (a resumed run waits on it again).
        stop: When set, the batch drains: no item starts after that, creates on their way
            are answered and journaled, the items waiting on jobs let go (a shared journal
            gives them back for other workers to take over at once; a local one leaves
            them for a resumed run), and the iteration ends.

    With a journal that many workers share (:class:`~prism_async.batch.SharedJournal`,
    e.g. :class:`~prism_async.batch.PostgresJournal`), each worker runs this over the same
    items: it works on those it claims, leaves those another live worker holds, yields
    only the outcomes it brings about, and ends once no item is left to claim or wait on
    (taking over what a worker that stopped left behind). The paid calls' request budgets
    are then shared through the journal.

    Raises:
        RequestValidationError: ``download_dir`` cannot be written (checked before the
            first create).
        JournalError: The journal failed to write. No create starts after that; the jobs
            already created are still awaited and reported, then this is raised. The
            handles of a create the journal could not take are on stderr and in
            ``<journal>.unrecorded.jsonl``.
        Exception: An error of the input ends the batch.
    """
    runner = ItemRunner(
        client,
        journal=journal,
        downloader=Downloader(
            client.transport,
            download_dir,
            refresh=client.get,
            clock=client.engine.clock,
            concurrency=download_concurrency,
            timeout=timeout,
        )
        if download_dir is not None
        else None,
        on_event=on_event,
        timeout=timeout,
        cancel_on_timeout=cancel_on_timeout,
    )
    limits = {name: _jobs_in_flight(p, concurrency) for name, p in client.providers.items()}

    def stops(outcome: BatchOutcome) -> bool:
        # A journal that cannot write stops the queue at once (fail closed).
        return runner.halted is not None or (fail_fast and not outcome.ok)

    plan: FanOutPlan[Item, BatchOutcome] = FanOutPlan(
        work=runner.work,
        group=lambda item: item.provider,
        limits=limits,
        default_limit=1,
        lookahead=max(1, lookahead),
        fail_fast=stops,
    )
    default = next(iter(client.providers)) if len(client.providers) == 1 else ""
    source = _numbered(items, default)
    if runner.shared is not None:
        source = _then_deferred(source, runner, runner.shared)
    return _checked(client, runner, plan, source, download_dir, stop)


async def _checked(
    client: Client,
    runner: ItemRunner,
    plan: FanOutPlan[Item, BatchOutcome],
    items: Iterator[Item] | AsyncIterator[Item],
    download_dir: str | PathLike[str] | None,
    stop: anyio.Event | None,
) -> AsyncIterator[BatchOutcome]:
    """The fan-out, after the checks that must come before the first create, and with
    the journal's failure raised once every job already created has been awaited."""
    if download_dir is not None:
        await check_writable_dir(Path(download_dir), field="download_dir")
    if stop is not None:
        plan = attrs.evolve(plan, stop=stop, on_stop=runner.drain)
    shared = runner.shared
    if shared is not None:
        client.engine.share_budgets(shared.spend())
    try:
        outcomes = client.engine.fan_out(items, plan)
        async with aclosing(cast("AsyncGenerator[BatchOutcome, None]", outcomes)):
            async for outcome in outcomes:
                yield outcome
    finally:
        if shared is not None:
            client.engine.share_budgets(None)
    if runner.halted is not None:
        raise JournalError(
            f"{runner.halted}; no create was started after that, and the jobs already "
            "created were awaited"
        )


async def _then_deferred(
    items: Iterator[Item] | AsyncIterator[Item], runner: ItemRunner, shared: SharedJournal
) -> AsyncIterator[Item]:
    """The input, then the items other workers held when they were read, each again as
    soon as it is free (its worker gone), until none is left to claim or wait on. The
    items set aside are looked at while the input is read too, so that those other
    workers finish are dropped and memory stays flat."""
    looked = anyio.current_time()
    source = items if isinstance(items, AsyncIterator) else _async(items)
    async for item in source:
        yield item
        if runner.deferred and anyio.current_time() - looked >= shared.recheck_interval:
            for free in await _freed(runner, shared):
                yield free
            looked = anyio.current_time()
    while runner.deferred and not runner.draining and runner.halted is None:
        await anyio.sleep(shared.recheck_interval)
        for free in await _freed(runner, shared):
            yield free


async def _async(items: Iterator[Item]) -> AsyncIterator[Item]:
    for item in items:
        yield item


async def _freed(runner: ItemRunner, shared: SharedJournal) -> list[Item]:
    """The items set aside that are free now (their worker gone); those done elsewhere
    are dropped."""
    try:
        holdings = await shared.recheck(list(runner.deferred))
    except JournalError as exc:
        runner.halt(exc)
        return []
    free = []
    for key, holding in holdings.items():
        if holding is Holding.DONE:
            runner.deferred.pop(key, None)
        elif holding is Holding.FREE and key in runner.deferred:
            free.append(runner.deferred.pop(key))
    return free


def _jobs_in_flight(provider: VideoProvider, concurrency: int | Mapping[str, int] | None) -> int:
    plan = provider.max_jobs_in_flight if isinstance(provider, SupportsJobLimit) else None
    wanted = concurrency.get(provider.name) if isinstance(concurrency, Mapping) else concurrency
    if wanted is None:
        wanted = plan or DEFAULT_JOBS_IN_FLIGHT
    elif plan:
        wanted = min(wanted, plan)
    return max(1, wanted)


def _item(index: int, raw: object, default: str) -> Item:
    if isinstance(raw, BatchItem):
        key = raw.key if raw.key is not None else f"#{index}"
        return Item(key, raw.provider or default, raw.request)
    return Item(f"#{index}", default, raw)


def _numbered(
    items: Iterable[object] | AsyncIterable[object], default: str
) -> Iterator[Item] | AsyncIterator[Item]:
    if isinstance(items, AsyncIterable):
        return _numbered_async(items, default)
    return _numbered_sync(items, default)


def _numbered_sync(items: Iterable[object], default: str) -> Iterator[Item]:
    source = iter(items)
    try:
        for index, raw in enumerate(source):
            yield _item(index, raw, default)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


async def _numbered_async(items: AsyncIterable[object], default: str) -> AsyncIterator[Item]:
    source = aiter(items)
    try:
        index = 0
        async for raw in source:
            yield _item(index, raw, default)
            index += 1
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
