"""The one normalized result every provider returns, and the job handle that finds it again."""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode

import attrs

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "Cost",
    "CostUnit",
    "Failure",
    "FailureKind",
    "FrozenDict",
    "FrozenList",
    "GenerationResult",
    "JobHandle",
    "JobOutcome",
    "JobStatus",
    "Output",
    "SubmitReceipt",
]


K = TypeVar("K")
V = TypeVar("V")


def freeze(value: Any) -> Any:
    """``value`` made deeply immutable: mappings become :class:`FrozenDict`, lists
    :class:`FrozenList`, sets frozensets, and tuples hold frozen items. Anything else is
    kept as it is."""
    if isinstance(value, (FrozenDict, FrozenList, str, bytes)):
        return value
    if isinstance(value, Mapping):
        return FrozenDict(value)
    if isinstance(value, list):
        return FrozenList(value)
    if type(value) is tuple:
        return tuple(freeze(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(item) for item in value)
    return value


def _immutable(self: object, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is immutable")


class FrozenDict(dict[K, V], Generic[K, V]):
    """A dict that cannot change, and so can be hashed (when its values can).

    Its values are frozen deeply on the way in (see :func:`freeze`). Being a ``dict``, it
    compares equal to a plain dict with the same items and goes into JSON as one; ``dict(x)``
    or ``x.copy()`` gives a plain, mutable copy.
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:  # an empty one (most of a receipt's) costs no copy
            items = dict(*args, **kwargs)
            super().__init__({key: freeze(value) for key, value in items.items()})

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    __setitem__ = _immutable
    __delitem__ = _immutable
    __ior__ = _immutable
    clear = _immutable
    pop = _immutable
    popitem = _immutable
    setdefault = _immutable
    update = _immutable


class FrozenList(list[V], Generic[V]):
    """A list that cannot change, and so can be hashed (when its items can).

    Its items are frozen deeply on the way in (see :func:`freeze`). Being a ``list``, it
    compares equal to a plain list with the same items and goes into JSON as one.
    """

    __slots__ = ()

    def __init__(self, items: Iterable[V] = ()) -> None:
        super().__init__(freeze(item) for item in items)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))

    __setitem__ = _immutable
    __delitem__ = _immutable
    __iadd__ = _immutable
    __imul__ = _immutable
    append = _immutable
    clear = _immutable
    extend = _immutable
    insert = _immutable
    pop = _immutable
    remove = _immutable
    reverse = _immutable
    sort = _immutable


class JobStatus(str, enum.Enum):
    """The normalized lifecycle: queued and running go on; the other three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class FailureKind(str, enum.Enum):
    """Why a job failed: a moderation or policy refusal is kept apart from other errors."""

    ERROR = "error"
    MODERATION = "moderation"
    TIMEOUT = "timeout"
    CANCELED = "canceled"


class CostUnit(str, enum.Enum):
    CREDITS = "credits"
    USD = "USD"
    XNO = "XNO"


@attrs.frozen(kw_only=True, init=False)
class Output:
    """One produced file, with what the API says about it.

    Args:
        url: Where to fetch it.
        mime_type: Its media type (``video/mp4``), where known.
        size_bytes: Its size, where the API reports one.
        duration_s: Its length in seconds, where the API reports one (lipsync
            ``outputDuration``).
        expires_at: When the URL stops working, where it is presigned (Prism: 1 hour).
        content_type: The older name of ``mime_type`` (still taken).
        duration: The older name of ``duration_s`` (still taken).
    """

    url: str
    mime_type: str | None = None
    size_bytes: int | None = None
    duration_s: float | None = None
    expires_at: datetime | None = None

    def __init__(
        self,
        *,
        url: str,
        mime_type: str | None = None,
        size_bytes: int | None = None,
        duration_s: float | None = None,
        expires_at: datetime | None = None,
        content_type: str | None = None,
        duration: float | None = None,
    ) -> None:
        self.__attrs_init__(
            url=url,
            mime_type=mime_type if mime_type is not None else content_type,
            size_bytes=size_bytes,
            duration_s=duration_s if duration_s is not None else duration,
            expires_at=expires_at,
        )

    @property
    def content_type(self) -> str | None:
        """The older name of :attr:`mime_type`."""
        return self.mime_type

    @property
    def duration(self) -> float | None:
        """The older name of :attr:`duration_s`."""
        return self.duration_s


@attrs.frozen(kw_only=True)
class Failure:
    """Why a job did not succeed. ``retryable`` says whether submitting again could help."""

    kind: FailureKind = FailureKind.ERROR
    code: str | None = None
    message: str | None = None
    retryable: bool = False


@attrs.frozen(kw_only=True)
class Cost:
    """An amount and its unit. ``estimated`` marks a figure that is not the final charge
    (a pre-charge not yet settled, or a cost estimate)."""

    amount: Decimal
    unit: CostUnit
    estimated: bool = False


@attrs.frozen(kw_only=True)
class GenerationResult:
    """A job's state as one provider-neutral value.

    ``progress`` is a percentage (0-100) where the provider reports one. ``cost`` is what
    the job costs (``estimated`` where it is not the final charge); where it is None,
    ``cost_note`` says why. ``share_url`` is Prism's public share page and
    ``segment_output`` lipsync's segment output (``segmentOutputUrl``): documented extras,
    not files to download with the outputs. ``raw`` is the decoded payload the result was
    parsed from, as an escape hatch for fields this library does not model.
    """

    provider: str
    id: str
    status: JobStatus
    raw_status: str | None = None
    outputs: tuple[Output, ...] = ()
    failure: Failure | None = None
    progress: float | None = None
    eta_seconds: float | None = None
    cost: Cost | None = None
    cost_note: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    share_url: str | None = None
    segment_output: Output | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def handle(self) -> JobHandle:
        return JobHandle(provider=self.provider, id=self.id)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: what ``prism-async ... --json`` prints, one object a line, and
        what the batch journal stores. The documented keys ``provider``, ``id``,
        ``status``, ``outputs``, ``error``, ``progress``, ``cost``, ``created_at`` and
        ``completed_at`` are always there (null where unknown), with the others.
        ``failure`` is written as ``error``, a cost's amount as a number, times in ISO 8601,
        enums by value; ``raw`` is left out."""
        data: dict[str, Any] = _json().unstructure(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationResult:
        """A result from its :meth:`to_dict` form (``raw`` is empty; an amount is read back
        as the exact ``Decimal`` of its text).

        A result written before outputs named ``mime_type`` and ``duration_s`` (as
        ``content_type`` and ``duration``) is read with the new names.

        Raises:
            cattrs.ClassValidationError: A field does not fit.
        """
        return _json().structure(_renamed(dict(data)), cls)


_OLD_OUTPUT_NAMES = (("content_type", "mime_type"), ("duration", "duration_s"))


def _renamed(data: dict[str, Any]) -> dict[str, Any]:
    outputs = data.get("outputs")
    if isinstance(outputs, list):
        fixed = []
        for item in outputs:
            if isinstance(item, Mapping):
                item = dict(item)
                for old, new in _OLD_OUTPUT_NAMES:
                    if old in item and new not in item:
                        item[new] = item.pop(old)
            fixed.append(item)
        data["outputs"] = fixed
    return data


#: The receipts' empty mappings: one shared instance (it cannot change).
_NO_FACTS: FrozenDict[str, Any] = FrozenDict()


def _str_dict(value: Mapping[str, str]) -> FrozenDict[str, str]:
    return FrozenDict({str(k): str(v) for k, v in value.items()})


@attrs.frozen(kw_only=True, unsafe_hash=True, cache_hash=True)
class JobHandle:
    """Names a submitted job. ``str(handle)`` and :meth:`parse` round-trip.

    The string form ``provider:id[?key=value...]`` can be stored anywhere and waited on
    from another process with a fresh Client. ``extra`` holds what a provider needs besides
    the id to find the job again (e.g. NanoGPT's model, for its legacy status route); it
    is a :class:`FrozenDict`, so a handle never changes, even while it is a dict key.
    """

    provider: str
    id: str
    extra: Mapping[str, str] = attrs.field(factory=dict, converter=_str_dict)

    def __str__(self) -> str:
        text = f"{quote(self.provider, safe='')}:{quote(self.id, safe='')}"
        if self.extra:
            text += "?" + urlencode(sorted(self.extra.items()))
        return text

    @classmethod
    def parse(cls, text: str) -> JobHandle:
        """Read a handle written by ``str(handle)``.

        Raises:
            ValueError: The text is not a job handle.
        """
        provider, sep, rest = text.partition(":")
        job_id, _, query = rest.partition("?")
        if not sep or not provider or not job_id:
            raise ValueError(f"not a job handle: {text!r} (expected 'provider:id')")
        return cls(
            provider=unquote(provider),
            id=unquote(job_id),
            extra=dict(parse_qsl(query, keep_blank_values=True)),
        )


class SubmitReceipt(tuple[JobHandle, ...]):
    """What one submission's create answered: its job handles, and the facts about them.

    It *is* the tuple of handles (``for handle in receipt``, ``receipt[0]``, ``len``,
    equality with a tuple of handles all work as before, and two receipts compare by
    their handles alone); :attr:`handles` gives the plain tuple. The facts are None (or
    empty) where the API did not say them.

    Attributes:
        provider: The provider's name.
        cost: What the create charged or estimated (all its jobs together); where None,
            ``cost_note`` says why.
        cost_note: Why ``cost`` is None, or how it was arrived at.
        balance: The account's remaining balance after the create (NanoGPT).
        asset_ids: The asset reserved for each job, by job id (Prism).
        request_ids: The upstream request id of each job, by job id (Prism).
        latency_typical_s: The typical time to completion, in seconds (Prism).
        latency_busy_s: The time to completion at busy periods, in seconds (Prism).
        template_id: The template the jobs were made from (Prism template generate).
        statuses: The status the create answered for each job, by job id (``queued``, or
            ``running`` where a Prism template generate says ``generating``); a job not
            named here was created queued.
    """

    provider: str
    cost: Cost | None
    cost_note: str | None
    balance: Cost | None
    asset_ids: Mapping[str, str]
    request_ids: Mapping[str, str]
    latency_typical_s: float | None
    latency_busy_s: float | None
    template_id: str | None
    statuses: Mapping[str, JobStatus]

    def __new__(
        cls,
        handles: Iterable[JobHandle],
        *,
        provider: str | None = None,
        cost: Cost | None = None,
        cost_note: str | None = None,
        balance: Cost | None = None,
        asset_ids: Mapping[str, str] | None = None,
        request_ids: Mapping[str, str] | None = None,
        latency_typical_s: float | None = None,
        latency_busy_s: float | None = None,
        template_id: str | None = None,
        statuses: Mapping[str, JobStatus] | None = None,
    ) -> SubmitReceipt:
        self = super().__new__(cls, tuple(handles))
        facts: dict[str, Any] = {
            "provider": provider or (self[0].provider if self else ""),
            "cost": cost,
            "cost_note": cost_note,
            "balance": balance,
            "asset_ids": FrozenDict(asset_ids) if asset_ids else _NO_FACTS,
            "request_ids": FrozenDict(request_ids) if request_ids else _NO_FACTS,
            "latency_typical_s": latency_typical_s,
            "latency_busy_s": latency_busy_s,
            "template_id": template_id,
            "statuses": FrozenDict(statuses) if statuses else _NO_FACTS,
        }
        for name, value in facts.items():
            object.__setattr__(self, name, value)
        return self

    __setattr__ = _immutable
    __delattr__ = _immutable

    @classmethod
    def of(cls, handles: Sequence[JobHandle]) -> SubmitReceipt:
        """``handles`` as a receipt: itself if it is one, else one without facts."""
        if isinstance(handles, SubmitReceipt):
            return handles
        return cls(handles)

    @property
    def handles(self) -> tuple[JobHandle, ...]:
        """The job handles alone, as a plain tuple."""
        return tuple(self)

    def __repr__(self) -> str:
        return (
            f"SubmitReceipt(handles={self.handles!r}, cost={self.cost!r}, balance={self.balance!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_receipt, (self.handles, self.facts()))

    def facts(self) -> dict[str, Any]:
        """The facts besides the handles, as keyword arguments of the constructor."""
        return {
            "provider": self.provider,
            "cost": self.cost,
            "cost_note": self.cost_note,
            "balance": self.balance,
            "asset_ids": dict(self.asset_ids),
            "request_ids": dict(self.request_ids),
            "latency_typical_s": self.latency_typical_s,
            "latency_busy_s": self.latency_busy_s,
            "template_id": self.template_id,
            "statuses": dict(self.statuses),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: ``handles`` as handle strings, costs as
        ``{amount, unit, estimated}``."""
        data = _json().unstructure(self.facts())
        return {"handles": [str(h) for h in self], **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubmitReceipt:
        """A receipt from its :meth:`to_dict` form."""
        converter = _json()
        costs = {
            name: converter.structure(data[name], Cost) if data.get(name) else None
            for name in ("cost", "balance")
        }
        return cls(
            (JobHandle.parse(text) for text in data.get("handles", ())),
            provider=data.get("provider"),
            cost_note=data.get("cost_note"),
            asset_ids=data.get("asset_ids") or {},
            request_ids=data.get("request_ids") or {},
            latency_typical_s=data.get("latency_typical_s"),
            latency_busy_s=data.get("latency_busy_s"),
            template_id=data.get("template_id"),
            statuses={job: JobStatus(value) for job, value in (data.get("statuses") or {}).items()},
            **costs,
        )


def _receipt(handles: tuple[JobHandle, ...], facts: dict[str, Any]) -> SubmitReceipt:
    return SubmitReceipt(handles, **facts)


@attrs.frozen(kw_only=True)
class JobOutcome:
    """What became of one job in a many-job wait: a terminal result or the error that ended
    the wait for it (a poll timeout, an HTTP error). A failed generation is a result, not an
    error: look at ``result.status``."""

    handle: JobHandle
    result: GenerationResult | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.status is JobStatus.SUCCEEDED


@functools.cache
def _json() -> cattrs.Converter:
    """The one converter between a :class:`GenerationResult` and its JSON form (built on
    first use: ``import prism_async`` does not pay for cattrs)."""
    import cattrs
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    converter = cattrs.Converter()
    converter.register_unstructure_hook(Decimal, float)
    converter.register_structure_hook(Decimal, lambda value, _: Decimal(str(value)))
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))
    # Enums by value: these str-based ones would otherwise pass through as enum members.
    for kind in (JobStatus, FailureKind, CostUnit):
        converter.register_unstructure_hook(kind, _value)
    renames: dict[str, Any] = {"failure": override(rename="error"), "raw": override(omit=True)}
    converter.register_unstructure_hook(
        GenerationResult, make_dict_unstructure_fn(GenerationResult, converter, **renames)
    )
    converter.register_structure_hook(
        GenerationResult, make_dict_structure_fn(GenerationResult, converter, **renames)
    )
    return converter


def _value(member: enum.Enum) -> Any:
    return member.value
