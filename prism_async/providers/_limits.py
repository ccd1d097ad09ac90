"""Documented input limits every provider checks the same way: durations and prompts.

Each check runs while the create body is built, so a refused value never costs a request.
"""

from __future__ import annotations

import math
import re

import attrs

from prism_async._errors import RequestValidationError

__all__ = ["Seconds", "check_duration", "check_prompt", "seconds_of"]

# A number of seconds as text: "8", "8.5", or with the "s" suffix Prism and Veo write.
_SECONDS_TEXT = re.compile(r"(\d+(?:\.\d+)?)s?")


@attrs.frozen(kw_only=True)
class Seconds:
    """The durations a provider documents for a model family: any value within
    ``low``-``high``, or, when ``values`` is given, only those."""

    low: int
    high: int
    values: frozenset[int] = frozenset()

    def allows(self, seconds: float) -> bool:
        if self.values:
            return seconds in self.values
        return self.low <= seconds <= self.high

    def __str__(self) -> str:
        if self.values:
            return ", ".join(str(v) for v in sorted(self.values)) + " s"
        return f"{self.low}-{self.high} s"


def seconds_of(value: object) -> float | None:
    """The value as a finite, positive number of seconds (``8``, ``8.0``, ``"8"``,
    ``"8s"``); None for anything else (bools, nan, inf, zero, negatives, other text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):  # clamped: a huge int is out of range, not an overflow
        number = float(max(-(2**63), min(value, 2**63)))
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        match = _SECONDS_TEXT.fullmatch(value)
        number = float(match.group(1)) if match else math.nan
    else:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _shown(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value} s"
    if isinstance(value, float):
        return f"{value:g} s"
    return repr(value)


def check_duration(
    value: object, rule: Seconds, *, provider: str, model: str | None, field: str = "duration"
) -> float:
    """The duration in seconds, refused (naming the documented range or values) unless it
    is a finite positive number the rule allows.

    Raises:
        RequestValidationError: Not a number of seconds, or outside the documented limits.
    """
    seconds = seconds_of(value)
    where = f"{provider}'s documented {rule}" + (f" for model {model}" if model else "")
    if seconds is None:
        raise RequestValidationError(
            field,
            f"{_shown(value)} is not a positive number of seconds ({where})",
            provider=provider,
        )
    if not rule.allows(seconds):
        relation = "is not one of" if rule.values else "is outside"
        raise RequestValidationError(
            field, f"{_shown(value)} {relation} {where}", provider=provider
        )
    return seconds


def check_prompt(value: str | None, *, provider: str, field: str = "prompt") -> None:
    """A prompt may be absent (where the API allows that) but never blank: whitespace
    alone would be sent, and paid for, as an empty instruction.

    Raises:
        RequestValidationError: The prompt is not a string, or is empty or whitespace only.
    """
    if value is None:
        return
    if not isinstance(value, str):
        raise RequestValidationError(
            field, f"expected text, got {type(value).__name__}", provider=provider
        )
    if not value.strip():
        raise RequestValidationError(
            field,
            f"{value!r} is empty or whitespace only: it would be sent, and paid for, as no"
            " instruction at all",
            provider=provider,
        )
