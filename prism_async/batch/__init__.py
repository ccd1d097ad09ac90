"""Fan-out batches: many paid generations across providers, concurrently, losing none.

::

    async with Client(nanogpt, lipsync) as client, SQLiteJournal("batch.db") as journal:
        items = (BatchItem(key=row.id, provider="nanogpt", request=...) for row in rows)
        async for outcome in run_batch(client, items, journal=journal, download_dir="out"):
            print(outcome.key, outcome.result or outcome.error)

The engine schedules (see :mod:`prism_async._engine._fanout`): items are pulled lazily,
each provider has a bounded number of jobs in flight (its plan's concurrency), and the
engine's per-provider budgets keep the request rate under the documented limits. This
package decides what one item does (``_items``: look in the journal, submit, noted as the
create's bytes leave and after its answer, wait, note the result, download) and keeps the
journals (``_journal``: the protocol; ``_sqlite``: the default, one live run per file;
``_postgres``: :class:`PostgresJournal`, a database several runs may share, with
``pip install 'prism-async[postgres]'``).

With a journal, running the same batch again resumes it: finished items are reported
from the journal and not redone; submitted jobs are waited on again, never resubmitted; an
item whose create outcome is unknown is replayed with the same idempotency key where the
provider honours one, and otherwise reported as uncertain (``BatchOutcome.uncertain``)
and left for the user, never paid for twice, until the user clears it with
``forget`` (sent anew, with a new idempotency key) or ``retry`` (sent again with its
journaled key) of a journal that is an :class:`InspectableJournal` (``SQLiteJournal``
is; ``prism-async batch status|forget|retry`` on the command line).
"""

from prism_async._errors import JournalError, JournalLockedError
from prism_async.batch._codec import fingerprint, result_from_dict
from prism_async.batch._fallback import save_unrecorded, unrecorded_path
from prism_async.batch._journal import (
    CLEARABLE_STATES,
    BatchSummary,
    Holding,
    InspectableJournal,
    ItemNotClearable,
    ItemState,
    Journal,
    JournalEntry,
    SharedJournal,
    UncertainItem,
)
from prism_async.batch._postgres import PostgresJournal
from prism_async.batch._run import DEFAULT_JOBS_IN_FLIGHT, run_batch
from prism_async.batch._sqlite import SQLiteJournal
from prism_async.batch._values import (
    BatchEvent,
    BatchItem,
    BatchOutcome,
    ItemDropped,
    ItemElsewhere,
    ItemFinished,
    ItemQueued,
    ItemSubmitted,
    OutputDownloaded,
)

__all__ = [
    "CLEARABLE_STATES",
    "DEFAULT_JOBS_IN_FLIGHT",
    "BatchEvent",
    "BatchItem",
    "BatchOutcome",
    "BatchSummary",
    "Holding",
    "InspectableJournal",
    "ItemDropped",
    "ItemElsewhere",
    "ItemFinished",
    "ItemNotClearable",
    "ItemQueued",
    "ItemState",
    "ItemSubmitted",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalLockedError",
    "OutputDownloaded",
    "PostgresJournal",
    "SQLiteJournal",
    "SharedJournal",
    "UncertainItem",
    "fingerprint",
    "result_from_dict",
    "run_batch",
    "save_unrecorded",
    "unrecorded_path",
]
