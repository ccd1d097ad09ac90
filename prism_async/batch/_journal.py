"""What the batch runner asks of a journal: a small interface a shared database can meet."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from prism_async._engine._budget import SharedBudget
from prism_async._errors import PrismAsyncError
from prism_async._results import GenerationResult, JobHandle, SubmitReceipt

__all__ = [
    "CLEARABLE_STATES",
    "BatchSummary",
    "Holding",
    "InspectableJournal",
    "ItemNotClearable",
    "ItemState",
    "Journal",
    "JournalEntry",
    "SharedJournal",
    "StateNotes",
    "UncertainItem",
    "clearable",
    "summarize",
]


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
        receipt: What its create answered (handles, cost, balance...), where the journal
            keeps it.
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
    receipt: SubmitReceipt | None = None


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
        """Note the jobs a create started. The batch runner passes the client's
        :class:`~prism_async._results.SubmitReceipt` (a sequence of the handles that also
        holds what the create answered: cost, balance, asset ids...), for a journal that
        keeps it."""
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


class Holding(str, enum.Enum):
    """Who may work on an item of a journal several workers share
    (:meth:`SharedJournal.take`).

    ``FREE``: this worker may go on with it as with any journal (a new item, one it holds,
    or one a gone worker held, now taken over under this worker's lease). ``HELD``: another
    live worker holds it: come back later, it may be left to take over. ``DONE``: another
    worker finished it, or settled it (refused, unsent, uncertain), since this worker
    started: nothing to do here (what an earlier run finished is ``FREE``: reported from
    the journal, as any resumed run reports it).
    """

    FREE = "free"
    HELD = "held"
    DONE = "done"


@runtime_checkable
class SharedJournal(Journal, Protocol):
    """A journal that many workers (processes, machines) share, each under its own lease.

    The batch runner asks :meth:`take` before an item's first look in the journal, keeps
    the ``HELD`` ones aside and asks :meth:`recheck` about them once its input is read,
    taking over what a worker that stopped renewing its lease left, until nothing is left
    to claim or wait on. A worker that stops (drains) gives back what it holds with
    :meth:`release`.
    """

    #: Seconds between two :meth:`recheck` calls of a runner waiting on other workers.
    recheck_interval: float

    async def take(
        self, key: str, *, provider: str, fingerprint: str, idempotency_key: str
    ) -> Holding:
        """Whether this worker may work on the item. A new key is reserved for this worker
        (an ``UNSENT`` entry with no error, under its lease, the idempotency key its
        create will use), so other workers pass it by; one that a worker that is gone
        left reserved, submitting or submitted is taken over."""
        ...

    async def recheck(self, keys: Sequence[str]) -> Mapping[str, Holding]:
        """:meth:`take`'s answer for each key, without taking anything (a key the journal
        no longer holds is ``FREE``)."""
        ...

    async def release(self, key: str) -> None:
        """Give back an item this worker holds (submitting or submitted), for another
        worker to take over at once; nothing if it holds none."""
        ...

    def spend(self) -> SharedBudget:
        """The request budgets of paid calls that every worker shares (the engine takes
        each create's from it: together the workers keep to the provider's budget)."""
        ...


#: The states :meth:`InspectableJournal.forget` and :meth:`InspectableJournal.retry` clear:
#: nothing of the item is in flight and no job of it is known.
CLEARABLE_STATES = frozenset({ItemState.UNCERTAIN, ItemState.REFUSED})


class ItemNotClearable(PrismAsyncError, LookupError):
    """``forget`` or ``retry`` was asked for an item it must not clear: the journal has no
    such key (``state`` is None), or the item is not uncertain or refused (its ``state``).
    Nothing was changed."""

    def __init__(self, message: str, *, key: str, state: ItemState | None) -> None:
        super().__init__(message)
        self.key = key
        self.state = state


def clearable(entry: JournalEntry | None, key: str, journal: str, verb: str) -> JournalEntry:
    """``entry`` if ``forget`` or ``retry`` (``verb``) may clear it.

    Raises:
        ItemNotClearable: No such item, or it is not uncertain or refused.
    """
    if entry is None:
        raise ItemNotClearable(f"{journal}: no item {key!r}", key=key, state=None)
    if entry.state not in CLEARABLE_STATES:
        raise ItemNotClearable(
            f"{journal}: item {key!r} is {entry.state.value}, not uncertain or refused: only"
            f" those can be cleared with {verb}",
            key=key,
            state=entry.state,
        )
    return entry


@attrs.frozen(kw_only=True)
class UncertainItem:
    """An item left for the user: its create's outcome is unknown (a job may exist and be
    paid for). Check with the provider (by the idempotency key, where its dashboard shows
    one), then ``forget`` or ``retry`` it."""

    key: str
    provider: str
    idempotency_key: str
    error: str | None = None
    updated_at: str | None = None  # ISO 8601, when it was marked uncertain

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _states() -> dict[ItemState, int]:
    return dict.fromkeys(ItemState, 0)


@attrs.frozen(kw_only=True)
class BatchSummary:
    """The whole batch as a journal holds it (:meth:`InspectableJournal.summary`).

    Args:
        states: Items per state (every state, zeros included).
        providers: Items per state, by provider name.
        cost: The cost so far: the costs of every recorded result, summed per unit
            (``"USD"``, ``"credits"``...). Jobs whose result carries no cost add nothing.
        estimated: The part of ``cost`` that is estimates (pre-charges not yet settled),
            per unit; units with no estimate are left out.
        jobs: Terminal results recorded.
        uncertain: The uncertain items, oldest first.
        workers: Items per state by worker, for a journal several workers share; empty for
            a journal one run at a time uses.
    """

    states: Mapping[ItemState, int] = attrs.field(factory=_states)
    providers: Mapping[str, Mapping[ItemState, int]] = attrs.field(factory=dict)
    cost: Mapping[str, Decimal] = attrs.field(factory=dict)
    estimated: Mapping[str, Decimal] = attrs.field(factory=dict)
    jobs: int = 0
    uncertain: tuple[UncertainItem, ...] = ()
    workers: Mapping[str, Mapping[ItemState, int]] = attrs.field(factory=dict)

    @property
    def items(self) -> int:
        """Items the journal holds."""
        return sum(self.states.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (what ``prism-async batch status --json`` prints): states by
        value, amounts as numbers."""

        def counts(states: Mapping[ItemState, int]) -> dict[str, int]:
            return {state.value: n for state, n in states.items()}

        return {
            "items": self.items,
            "states": counts(self.states),
            "providers": {name: counts(s) for name, s in self.providers.items()},
            "workers": {name: counts(s) for name, s in self.workers.items()},
            "jobs": self.jobs,
            "cost": {unit: float(amount) for unit, amount in self.cost.items()},
            "estimated": {unit: float(amount) for unit, amount in self.estimated.items()},
            "uncertain": [item.to_dict() for item in self.uncertain],
        }


def summarize(
    counts: Iterable[tuple[str, str, str | None, int]],
    results: Iterable[str],
    uncertain: Iterable[UncertainItem],
) -> BatchSummary:
    """A :class:`BatchSummary` from a journal's rows, whatever its store.

    Args:
        counts: ``(provider, state, worker or None, items)`` rows.
        results: Every terminal result's JSON text (``GenerationResult.to_dict()``).
        uncertain: The uncertain items, oldest first.

    Raises:
        ValueError: A state or a cost this version cannot read.
    """
    states = _states()
    providers: dict[str, dict[ItemState, int]] = {}
    workers: dict[str, dict[ItemState, int]] = {}
    for provider, state, worker, count in counts:
        member = ItemState(state)
        states[member] += count
        providers.setdefault(provider, _states())[member] += count
        if worker is not None:
            workers.setdefault(worker, _states())[member] += count
    cost: dict[str, Decimal] = {}
    estimated: dict[str, Decimal] = {}
    jobs = 0
    for text in results:
        jobs += 1
        priced = json.loads(text, parse_float=Decimal).get("cost")
        if not isinstance(priced, dict) or priced.get("amount") is None:
            continue
        unit = str(priced.get("unit"))
        try:
            amount = Decimal(str(priced["amount"]))
        except InvalidOperation as exc:
            raise ValueError(f"a result's cost is not a number: {priced['amount']!r}") from exc
        cost[unit] = cost.get(unit, Decimal(0)) + amount
        if priced.get("estimated"):
            estimated[unit] = estimated.get(unit, Decimal(0)) + amount
    return BatchSummary(
        states=states,
        providers=dict(sorted(providers.items())),
        cost=dict(sorted(cost.items())),
        estimated=dict(sorted(estimated.items())),
        jobs=jobs,
        uncertain=tuple(uncertain),
        workers=dict(sorted(workers.items())),
    )


@runtime_checkable
class InspectableJournal(Protocol):
    """What ``prism-async batch status|forget|retry`` asks of a journal, beyond
    :class:`Journal` (which the batch runner needs alone).

    ``forget`` and ``retry`` clear an item a run left for the user; only an
    uncertain or refused item (:data:`CLEARABLE_STATES`) may be cleared, and a journal
    shared by live workers must clear it in one conditional write (``... WHERE key = :key
    AND state IN ('uncertain', 'refused')``), so a claim in between is never undone.
    """

    async def summary(self) -> BatchSummary:
        """The whole batch: items per state and provider, the cost so far, the uncertain
        items."""
        ...

    async def forget(self, key: str) -> JournalEntry:
        """Clear an uncertain (or refused) item so that a later run submits it again with
        a **new** idempotency key, as if it had never been sent: if the first create did
        reach the provider, the user pays twice (their decision, after checking).

        Returns:
            The entry as it was.

        Raises:
            ItemNotClearable: No such key, or the item is not uncertain or refused.
        """
        ...

    async def retry(self, key: str) -> JournalEntry:
        """Clear an uncertain (or refused) item so that a later run sends it again with
        the **same** idempotency key: safe where the provider honours one (it replays the
        first create instead of charging again); where it does not, as risky as
        :meth:`forget`.

        Returns:
            The entry as it was.

        Raises:
            ItemNotClearable: No such key, or the item is not uncertain or refused.
        """
        ...


class StateNotes:
    """The state notes every journal writes alike, each through its own ``_update`` (one
    durable write of an item's state, and of its handles or error where given)."""

    async def _update(
        self, key: str, state: ItemState, *, handles: str | None = None, error: str | None = None
    ) -> None:
        raise NotImplementedError

    async def record_submitted(self, key: str, handles: Sequence[JobHandle]) -> None:
        """Note the jobs a create started. ``handles`` is the client's
        :class:`~prism_async._results.SubmitReceipt`: its handles are written as before (a
        JSON array of handle strings), and its facts (cost, balance, asset ids...) go to
        :meth:`_note_receipt`, in the same durable step where a journal stores them."""
        text = json.dumps([str(h) for h in handles])
        receipt = handles if isinstance(handles, SubmitReceipt) else None
        if receipt is not None and self.stores_receipts:
            await self._update_with_receipt(key, text, json.dumps(receipt.to_dict()))
            return
        await self._update(key, ItemState.SUBMITTED, handles=text)

    #: Whether this journal keeps a submission's receipt (``_update_with_receipt``).
    stores_receipts = False

    async def _update_with_receipt(self, key: str, handles: str, receipt: str) -> None:
        """Write the item SUBMITTED with its handles and its receipt (the JSON of
        :meth:`SubmitReceipt.to_dict`) in one durable write. A journal that sets
        :attr:`stores_receipts` implements it (a ``receipt`` column beside ``handles``)."""
        raise NotImplementedError

    async def record_refused(self, key: str, error: str) -> None:
        """Note a create the API definitively refused: a later run uses a new key."""
        await self._update(key, ItemState.REFUSED, error=error)

    async def record_unsent(self, key: str, error: str) -> None:
        """Note a claimed create that was never sent: a later run sends it again with the
        same idempotency key."""
        await self._update(key, ItemState.UNSENT, error=error)

    async def record_uncertain(self, key: str, error: str) -> None:
        """Note a create whose outcome is unknown."""
        await self._update(key, ItemState.UNCERTAIN, error=error)
