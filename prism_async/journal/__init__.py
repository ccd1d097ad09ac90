"""Batch journals: durable notes written before and after every paid call, so a killed
batch resumes without losing a job or paying twice for one.

:class:`Journal` is the small interface the batch runner uses; :class:`SQLiteJournal` the
default implementation. A shared database can take its place when several machines work
one batch.
"""

from prism_async.journal._codec import fingerprint, result_from_dict
from prism_async.journal._protocol import ItemState, Journal, JournalEntry
from prism_async.journal._sqlite import SQLiteJournal

__all__ = [
    "ItemState",
    "Journal",
    "JournalEntry",
    "SQLiteJournal",
    "fingerprint",
    "result_from_dict",
]
