"""Table 7: items per second of one batch run by ONE worker and by THREE workers sharing
one PostgreSQL journal (issue 12), on the NanoGPT and lipsync emulators.

The workers are real processes (``benchmarks.client_worker``: ``run_batch`` on a
``PostgresJournal``, 32 jobs in flight per provider each), the emulators run in their own
process with their limits lifted and every job lasting 0.2 s, and every client-side budget
is lifted to 100,000 a second (still taken through the journal's shared budget), so that
the number measures the client and the journal, not the documented budgets. Prism is left
out: its documented 10 s floor between status polls would set the pace. See
:mod:`benchmarks.shared_journal` for how it is measured.
"""

from __future__ import annotations

from benchmarks.lab import Lab
from benchmarks.shared_journal import (
    JOB_SECONDS,
    WorkersRun,
    database_server,
    measure,
    unavailable,
)
from benchmarks.table import Table, fmt

__all__ = ["CONCURRENCY", "build"]

#: Jobs in flight per provider in each worker (run_batch's default).
CONCURRENCY = 32
_WORKERS = (1, 3)


def _row(table: Table, run: WorkersRun, base: WorkersRun) -> None:
    table.add(
        fmt(run.workers),
        fmt(run.items),
        fmt(run.wall_s, 2),
        fmt(run.per_second),
        f"{run.per_second / base.per_second:.2f}x",
        fmt(run.creates),
        " + ".join(fmt(m) for m in run.made),
        fmt(run.exit_s, 1),
        fmt(run.cpu_s / run.items * 1000, 1),
        fmt(run.cpu_s, 1),
        fmt(run.emulator_cpu_s, 1),
        fmt(run.postgres_cpu_s, 1),
    )


def build(lab: Lab) -> Table:
    items = lab.mode.worker_items
    table = Table(
        f"Table 7: many workers, one PostgreSQL journal: {items:,} items (NanoGPT and "
        f"lipsync, jobs of {JOB_SECONDS:g} s), one run each ({lab.mode.name})",
        [
            "workers",
            "items",
            "wall s",
            "items/s",
            "vs 1 worker",
            "creates on the emulators",
            "items finished by each worker",
            "last exit s",
            "worker CPU ms/item",
            "workers CPU s",
            "emulators CPU s",
            "PostgreSQL CPU s",
        ],
    )
    why = unavailable()
    if why is not None:
        table.skipped = why
        return table
    with database_server() as database:
        runs = [measure(database, n, items, CONCURRENCY, lab.log) for n in _WORKERS]
    for run in runs:
        _row(table, run, runs[0])
    table.notes.append(
        "wall s: from the first worker's start to the last item's end; items/s = items / "
        "wall s; creates (counted by the emulators) must equal items: each item created "
        "once, whoever created it"
    )
    table.notes.append(
        "last exit s: when the last worker exited. A worker whose input is read waits for "
        "the items its peers still hold, looking again every `recheck_interval` (10 s at "
        "the default 120 s lease), so the three-worker runs end up to 10 s after their "
        "last item"
    )
    table.notes.append(
        f"each worker: {CONCURRENCY} jobs in flight per provider (three workers: three "
        "times as many); warmed up (a batch of its own) and started together; NanoGPT "
        "polled every 0.1-0.2 s, lipsync long-polled; every client-side budget lifted to "
        "100,000/s (still taken through the journal's shared budget), emulator limits "
        "lifted. NanoGPT and lipsync only: Prism's documented 10 s floor between polls "
        "would set the pace"
    )
    used = [r.cpu_s + r.emulator_cpu_s + r.postgres_cpu_s for r in runs]
    cores = ", ".join(
        f"{r.workers} worker(s) {u / r.wall_s:.2f}" for r, u in zip(runs, used, strict=True)
    )
    table.notes.append(
        "CPU: the workers, the emulators and PostgreSQL share this machine's cores; their "
        f"CPU seconds per wall second (CPU until the last exit, the waits at the end being "
        f"nearly idle): {cores}. On two cores, three workers cannot be three times one"
    )
    states = [", ".join(f"{k} {v:,}" for k, v in sorted(r.states.items())) for r in runs]
    table.notes.append(
        "journal after each run: "
        + "; ".join(states)
        + "; outcomes not ok: "
        + ", ".join(fmt(r.failed) for r in runs)
    )
    return table
