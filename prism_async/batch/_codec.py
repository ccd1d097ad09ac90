"""Request fingerprints, and results read back from their JSON form (one converter,
:meth:`GenerationResult.from_dict`)."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import attrs

from prism_async._results import (
    GenerationResult,
)

__all__ = ["fingerprint", "result_from_dict"]


def fingerprint(provider: str, request: object) -> str:
    """A stable digest of a request for a provider (same request, same digest, any run).

    Inline bytes count by their digest; a local file by its path (not its contents).
    """
    canonical = json.dumps(
        {"provider": provider, "type": _type_name(request), "request": _plain(request)},
        sort_keys=True,
        separators=(",", ":"),
        default=repr,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _plain(value: object) -> Any:
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))  # type: ignore[arg-type]
        return {
            f.name: _plain(getattr(value, f.name))
            for f in fields
            if f.eq  # fields left out of equality (cached templates...) are not the request
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (PurePath, Decimal, datetime)):
        return str(value)
    return value


def result_from_dict(data: Mapping[str, Any]) -> GenerationResult:
    """A :class:`GenerationResult` from its ``to_dict()`` form (``raw`` is not kept)."""
    return GenerationResult.from_dict(data)
