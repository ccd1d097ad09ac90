"""Table 3: memory per in-flight job and event-loop lag, at the mode's largest size.

The RSS figures and the loop lag come from table 1's runs of that size (medians over the
repetitions); the plain loop is shown for reference. RSS counts what the process holds,
allocator memory freed but kept included (the burst of concurrent creates leaves some),
so it is no measure of what a job keeps alive. That is what the memory-only runs under
tracemalloc count: live Python memory. Tracing slows the client down, so those runs
measure nothing else: their first poll comes late enough (the mode's ``traced``
interval) that every job is submitted before it, and they stop after the last probe.

Per job = (probe - ``base``) / jobs; the probes are described in
:mod:`benchmarks.probes`. Loop lag: how late a task asking to wake every 10 ms woke, from
the first submit to the last result.
"""

from __future__ import annotations

from benchmarks.lab import Lab, Run
from benchmarks.stats import median
from benchmarks.table import Table, Target, fmt
from benchmarks.table_cpu import CLIENTS

__all__ = ["build"]

_KB_PER_JOB = 3.0
_LAG_P99_MS = 25.0


def _per_job_kb(runs: list[Run], probe: str, kind: str) -> float:
    return median(
        [
            (r.memory[probe][kind] - r.memory["base"][kind]) / r.jobs / 1024
            for r in runs
            if probe in r.memory and kind in r.memory[probe]
        ]
    )


def build(lab: Lab) -> Table:
    mode = lab.mode
    case, traced = mode.cpu[-1], mode.traced
    table = Table(
        f"Table 3: memory per in-flight job and event-loop lag, {case.jobs:,} NanoGPT jobs "
        f"polled every {case.interval:g} s ({mode.name})",
        [
            "client",
            "memory counted by",
            "jobs",
            "KB/job waiting",
            "KB/job after 1st poll",
            "loop lag p50 ms",
            "p99 ms",
            "max ms",
        ],
    )
    lag_p99: dict[str, float] = {}
    traced_kb = rss_kb = float("nan")
    for client in reversed(CLIENTS):
        runs = [lab.nanogpt_cpu(client, case, rep) for rep in range(mode.reps)]
        lag_p99[client] = median([r.loop_lag_ms["p99"] for r in runs])
        lags = [
            fmt(median([r.loop_lag_ms["p50"] for r in runs]), 1),
            fmt(lag_p99[client], 1),
            fmt(median([r.loop_lag_ms["max"] for r in runs])),
        ]
        rows = [("RSS", "rss", runs, lags)]
        if client == "prism-async" or mode.traced_plain:
            rows.append(("tracemalloc", "traced", [lab.traced_memory(client)], ["", "", ""]))
        for label, kind, measured, lag_cells in rows:
            after = _per_job_kb(measured, "polled", kind)
            if client == "prism-async":
                traced_kb, rss_kb = (after, rss_kb) if kind == "traced" else (traced_kb, after)
            table.add(
                client,
                label,
                fmt(measured[0].jobs),
                fmt(_per_job_kb(measured, "waiting", kind), 1),
                fmt(after, 1),
                *lag_cells,
            )
            polls = max(int(r.memory.get("waiting", {}).get("polls", 0)) for r in measured)
            if polls:
                table.notes.append(
                    f"{client} ({label}): {polls:,} status polls had already happened at "
                    "the 'waiting' probe, so it includes some first-poll memory"
                )
    table.targets.append(
        Target(
            f"prism-async at most {_KB_PER_JOB:g} KB per in-flight job (live memory, "
            "tracemalloc, after the first poll)",
            traced_kb <= _KB_PER_JOB,
            f"{traced_kb:.1f} KB; RSS {rss_kb:.1f} KB",
        )
    )
    p99 = lag_p99["prism-async"]
    table.targets.append(
        Target(
            f"prism-async loop lag p99 under {_LAG_P99_MS:g} ms",
            p99 < _LAG_P99_MS,
            f"{p99:.1f} ms",
        )
    )
    if traced.jobs != case.jobs:
        table.notes.append(
            f"{mode.name} mode traces {traced.jobs:,} jobs, not {case.jobs:,}, to stay short; "
            "the full mode traces all of them"
        )
    return table
