"""The last resort for paid jobs the journal could not record.

When a create has answered with job handles but the journal cannot write them down (disk
full, file gone read-only...), the jobs exist and are paid for, yet a resumed run would not
know them and would create them again. :func:`save_unrecorded` appends them, one JSON
object a line, to ``<journal>.unrecorded.jsonl`` beside the journal, so the user can find
and wait for them (``prism-async`` handles are ``str(JobHandle)``). The batch runner also
prints them to stderr, for when even this write fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from prism_async._results import JobHandle

__all__ = ["save_unrecorded", "unrecorded_path"]


def unrecorded_path(journal_path: Path) -> Path:
    """Where :func:`save_unrecorded` writes: ``batch.db`` -> ``batch.db.unrecorded.jsonl``."""
    journal_path = Path(journal_path)
    return journal_path.with_name(journal_path.name + ".unrecorded.jsonl")


def save_unrecorded(
    journal_path: Path,
    key: str,
    provider: str,
    handles: Sequence[str | JobHandle],
    reason: str,
) -> Path | None:
    """Append the handles of a create the journal could not record; never raises.

    One line ``{"key", "provider", "handles", "reason", "at"}`` (``at``: UTC, ISO 8601) is
    written with a single ``write`` to a file opened with ``O_APPEND``, then fsynced.

    Args:
        journal_path: The journal's file (the line goes to a file beside it).
        key: The item's key.
        provider: The provider's name.
        handles: The jobs the create started (``str(JobHandle)`` or handles).
        reason: Why the journal could not record them.

    Returns:
        The file written to, or None if even this write failed.
    """
    try:
        path = unrecorded_path(journal_path)
        line = json.dumps(
            {
                "key": key,
                "provider": provider,
                "handles": [str(h) for h in handles],
                "reason": reason,
                "at": datetime.now(timezone.utc).isoformat(),
            }
        )
        data = (line + "\n").encode()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o644)
        try:
            written = os.write(fd, data)
            while written < len(data):  # a short write: rare (a signal, a nearly full disk)
                more = os.write(fd, data[written:])
                if more <= 0:
                    return None
                written += more
            os.fsync(fd)
        finally:
            os.close(fd)
    except Exception:
        return None
    return path
