"""Read a ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]

# ASCII digits only: str.isdigit() and float() also take "²", "١٢" or "1_000".
_SECONDS = re.compile(r"\d+(\.\d+)?", re.ASCII)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait, or None when the header is absent or unreadable.

    A date in the past gives 0. ``now`` defaults to the current UTC time.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _SECONDS.fullmatch(text):
        # Fractional seconds are not RFC-conforming, but some servers send them.
        seconds = float(text)
        return seconds if seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())
