"""One converter turns a :class:`GenerationResult` into plain JSON types and back.

What ``--json`` prints, what ``--out`` writes and what the batch journal stores are the
same form: ``failure`` is written as ``error``, a cost's amount as a number (read back as
an exact ``Decimal`` of its text), times as ISO 8601, enums by value, and ``raw`` (the
provider's payload, an escape hatch) is left out.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from prism_async._results import CostUnit, FailureKind, GenerationResult, JobStatus

__all__ = ["result_from_json", "result_to_json"]


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    # Enums by value: these str-based ones would otherwise pass through as enum members.
    for kind in (JobStatus, FailureKind, CostUnit):
        converter.register_unstructure_hook(kind, _value)
    converter.register_unstructure_hook(Decimal, float)
    converter.register_structure_hook(Decimal, lambda value, _: Decimal(str(value)))
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))
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


_CONVERTER = _converter()


def result_to_json(result: GenerationResult) -> dict[str, Any]:
    """The result as plain JSON types (lists, dicts, strings, numbers, None)."""
    data: dict[str, Any] = _CONVERTER.unstructure(result)
    return data


def result_from_json(data: Mapping[str, Any]) -> GenerationResult:
    """A result from :func:`result_to_json`'s form (``raw`` is empty).

    Raises:
        cattrs.ClassValidationError: A field does not fit.
    """
    return _CONVERTER.structure(dict(data), GenerationResult)
