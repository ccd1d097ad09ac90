"""What every provider's cattrs converter shares: renames, timestamps, money, and cattrs'
error paths turned into a ProviderResponseError that names the field.

Provider authors import these from :mod:`prism_async.providers`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote
from cattrs.gen import make_dict_structure_fn, override

from prism_async._errors import ProviderResponseError
from prism_async._results import JobStatus

__all__ = ["StatusTable", "make_converter", "parse_datetime", "structure", "wire"]

T = TypeVar("T")
_FRACTION = re.compile(r"\.(\d+)")
log = logging.getLogger("prism_async.providers")


def wire(name: str, **kwargs: Any) -> Any:
    """An attrs field read from the wire key ``name`` (for camelCase or odd spellings)."""
    metadata = dict(kwargs.pop("metadata", {}))
    metadata["wire"] = name
    return attrs.field(metadata=metadata, **kwargs)


def parse_datetime(value: object) -> datetime:
    """An aware datetime from ISO 8601 text (``Z`` accepted) or Unix epoch milliseconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    fraction = _FRACTION.search(text)
    if fraction:  # Python 3.10 reads 3 or 6 fraction digits only: pad or cut to 6
        digits = (fraction.group(1) + "000000")[:6]
        text = f"{text[: fraction.start()]}.{digits}{text[fraction.end() :]}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _decimal(value: object, _: type) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def make_converter() -> cattrs.Converter:
    """A converter for wire models: unknown keys ignored, ``wire`` renames applied."""
    converter = cattrs.Converter(forbid_extra_keys=False)
    converter.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
    converter.register_structure_hook(Decimal, _decimal)

    def factory(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
        renames = {
            a.name: override(rename=a.metadata["wire"])
            for a in attrs.fields(cls)
            if "wire" in a.metadata
        }
        return make_dict_structure_fn(cls, converter, **renames)  # type: ignore[arg-type]

    converter.register_structure_hook_factory(attrs.has, factory)
    return converter


def structure(
    converter: cattrs.Converter,
    data: object,
    cls: type[T],
    *,
    provider: str,
    job_id: str | None = None,
    request_id: str | None = None,
) -> T:
    """Structure ``data`` as ``cls``, or raise ProviderResponseError naming the bad field."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        detail = (
            "; ".join(cattrs.transform_error(_wire_names(exc), path=""))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        raise ProviderResponseError(
            f"unexpected response shape: {detail}",
            provider=provider,
            job_id=job_id,
            request_id=request_id,
        ) from exc


def _wire_names(exc: cattrs.BaseValidationError) -> cattrs.BaseValidationError:
    """Rename cattrs' attribute notes to the wire keys, so the error path names the key
    as the payload spells it (``data.createdAt``, not ``data.created_at``)."""
    if isinstance(exc, cattrs.ClassValidationError) and attrs.has(exc.cl):
        renames = {a.name: a.metadata["wire"] for a in attrs.fields(exc.cl) if "wire" in a.metadata}
        for sub in exc.exceptions:
            sub.__notes__ = [
                AttributeValidationNote(note, renames.get(note.name, note.name), note.type)
                if isinstance(note, AttributeValidationNote)
                else note
                for note in getattr(sub, "__notes__", [])
            ]
    for sub in exc.exceptions:
        if isinstance(sub, cattrs.BaseValidationError):
            _wire_names(sub)
    return exc


@attrs.frozen
class StatusTable:
    """One provider's raw statuses mapped to the normalized set, case-insensitively.

    An unknown value is kept as running, with a warning, and never guessed as terminal:
    the job's deadline bounds it.
    """

    provider: str
    table: dict[str, JobStatus]

    def normalize(self, raw: str | None) -> JobStatus:
        status = self.table.get((raw or "").strip().lower())
        if status is None:
            log.warning("%s: unknown status %r, treated as running", self.provider, raw)
            return JobStatus.RUNNING
        return status
