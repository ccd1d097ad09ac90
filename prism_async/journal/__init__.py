"""Batch journals: durable notes written before and after every paid call, so a killed
batch resumes without losing a job or paying twice for one.

:class:`Journal` is the small interface the batch runner uses; :class:`SQLiteJournal` the
default implementation, one live run per file (a second opener gets
:class:`~prism_async.errors.JournalLockedError`). A shared database can take its place when
several machines work one batch. :func:`save_unrecorded` keeps the job handles of a create
the journal failed to record, in a file beside it.
"""

from prism_async.errors import JournalError, JournalLockedError
from prism_async.journal._codec import fingerprint, result_from_dict
from prism_async.journal._fallback import save_unrecorded, unrecorded_path
from prism_async.journal._protocol import ItemState, Journal, JournalEntry
from prism_async.journal._sqlite import SQLiteJournal

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
