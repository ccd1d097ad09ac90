"""Deprecated: the journals live in :mod:`prism_async.batch` now.

``from prism_async.journal import SQLiteJournal`` keeps working, with a
:class:`DeprecationWarning`; import from ``prism_async.batch`` instead.
"""

import warnings

from prism_async.batch import (
    ItemState,
    Journal,
    JournalEntry,
    JournalError,
    JournalLockedError,
    SQLiteJournal,
    fingerprint,
    result_from_dict,
    save_unrecorded,
    unrecorded_path,
)

warnings.warn(
    "prism_async.journal is deprecated: import from prism_async.batch",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "ItemState",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalLockedError",
    "SQLiteJournal",
    "fingerprint",
    "result_from_dict",
    "save_unrecorded",
    "unrecorded_path",
]
