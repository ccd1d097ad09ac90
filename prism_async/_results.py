"""The one normalized result every provider returns, and the job handle that finds it again."""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
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
        items = dict(*args, **kwargs)
        super().__init__((key, freeze(value)) for key, value in items.items())

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


@attrs.frozen(kw_only=True)
class Output:
    """One produced file. ``expires_at`` is set where the URL is presigned (Prism: 1 hour)."""

    url: str
    content_type: str | None = None
    duration: float | None = None
    expires_at: datetime | None = None


@attrs.frozen(kw_only=True)
class Failure:
    """Why a job did not succeed. ``retryable`` says whether submitting again could help."""

    kind: FailureKind = FailureKind.ERROR
    code: str | None = None
    message: str | None = None
    retryable: bool = False


@attrs.frozen(kw_only=True)
class Cost:
    """An amount and its unit. ``estimated`` marks a pre-charge not yet settled."""

    amount: Decimal
    unit: CostUnit
    estimated: bool = False


@attrs.frozen(kw_only=True)
class GenerationResult:
    """A job's state as one provider-neutral value.

    ``progress`` is a percentage (0-100) where the provider reports one. ``raw`` is the
    decoded payload the result was parsed from, as an escape hatch for fields this library
    does not model.
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
    created_at: datetime | None = None
    completed_at: datetime | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def handle(self) -> JobHandle:
        return JobHandle(provider=self.provider, id=self.id)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: what ``prism-async ... --json`` prints, one object a line, and
        what the batch journal stores. ``failure`` is written as ``error``, a cost's amount
        as a number, times in ISO 8601, enums by value; ``raw`` is left out."""
        data: dict[str, Any] = _json().unstructure(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationResult:
        """A result from its :meth:`to_dict` form (``raw`` is empty; an amount is read back
        as the exact ``Decimal`` of its text).

        Raises:
            cattrs.ClassValidationError: A field does not fit.
        """
        return _json().structure(dict(data), cls)


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
