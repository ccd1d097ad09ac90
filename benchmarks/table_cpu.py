"""Table 1: client CPU per HTTP exchange and per job, prism-async beside the plain aiohttp
loop, at each size of the mode, on the fast fake NanoGPT server.

Both clients run the same jobs at the same cadence: the first status request one interval
after the create, then one every interval, until the job (lasting ``polls - 0.5``
intervals) is done. prism-async gets that cadence from ``PollPolicy(first_delay=I,
min_interval=I, max_interval=I, backoff=1, jitter=0)``; the fake server's status shape
(NanoGPT's documented nested one) has no ``estimatedTimeRemaining``, so the provider gives
no hint that would override it. Every NanoGPT budget is lifted on the prism-async side.
"""

from __future__ import annotations

from benchmarks.lab import Lab, Run
from benchmarks.stats import median
from benchmarks.table import Table, Target, fmt

__all__ = ["CLIENTS", "build", "measure"]

CLIENTS = ("plain", "prism-async")
_RATIO = 1.25
_FLAT = 0.10


def measure(lab: Lab) -> None:
    """Make every run the table needs, repetitions interleaved across the two clients."""
    for case in lab.mode.cpu:
        for rep in range(lab.mode.reps):
            for client in CLIENTS:
                lab.nanogpt_cpu(client, case, rep)


def _us_per_exchange(run: Run) -> float:
    return run.cpu_s / max(1, run.exchanges) * 1e6


def build(lab: Lab) -> Table:
    mode = lab.mode
    measure(lab)
    reps = f"median of {mode.reps}" if mode.reps > 1 else "one run"
    table = Table(
        f"Table 1: client CPU per HTTP exchange and per job, NanoGPT ({mode.name}: {reps})",
        [
            "jobs",
            "client",
            "poll every",
            "exchanges",
            "CPU s",
            "µs/exchange",
            "ms/job",
            "prism/plain",
            "wall s",
        ],
    )
    per_exchange: dict[tuple[str, int], float] = {}
    server_share = 0.0
    failed = 0
    for case in mode.cpu:
        for client in CLIENTS:
            runs = [lab.nanogpt_cpu(client, case, rep) for rep in range(mode.reps)]
            us = median([_us_per_exchange(r) for r in runs])
            per_exchange[(client, case.jobs)] = us
            ratio = us / per_exchange[("plain", case.jobs)] if client != "plain" else None
            table.add(
                fmt(case.jobs),
                client,
                f"{case.interval:g} s",
                fmt(median([r.exchanges for r in runs])),
                fmt(median([r.cpu_s for r in runs]), 2),
                fmt(us),
                fmt(median([r.cpu_s / r.jobs * 1000 for r in runs]), 2),
                f"{ratio:.2f}x" if ratio is not None else "",
                fmt(median([r.wall_s for r in runs]), 1),
            )
            server_share = max(server_share, *(r.server_cpu_s / r.wall_s for r in runs))
            failed += sum(r.failed for r in runs)
    for case in mode.cpu:
        ratio = per_exchange[("prism-async", case.jobs)] / per_exchange[("plain", case.jobs)]
        table.targets.append(
            Target(
                f"CPU per exchange at most {_RATIO}x the plain loop, {case.jobs:,} jobs",
                ratio <= _RATIO,
                f"{ratio:.2f}x",
            )
        )
    small, large = mode.cpu[0].jobs, mode.cpu[-1].jobs

    def change(client: str) -> float:
        return per_exchange[(client, large)] / per_exchange[(client, small)] - 1

    growth, plain = change("prism-async"), change("plain")
    table.targets.append(
        Target(
            f"prism-async's CPU per exchange flat (within {_FLAT:.0%}) from {small:,} to "
            f"{large:,} jobs",
            abs(growth) <= _FLAT,
            f"{growth:+.0%}",
        )
    )
    relative = (1 + growth) / (1 + plain) - 1
    table.notes.append(
        f"over the same range the plain loop's CPU per exchange changes {plain:+.0%} (at "
        "few jobs the event loop's fixed cost per wake-up is shared by fewer exchanges), so "
        f"prism-async's changes {relative:+.0%} relative to it: growth with the jobs in "
        "flight, which the flatness target guards against, shows as a positive figure here"
    )
    table.notes.append(
        f"the fake server (its own process) used at most {server_share:.0%} of one core"
    )
    largest = mode.cpu[-1]
    at_once = [
        lab.nanogpt_cpu(c, largest, rep).all_in_flight for c in CLIENTS for rep in range(mode.reps)
    ]
    table.notes.append(
        f"{largest.jobs:,} jobs, each lasting {largest.duration:g} s: "
        + (
            "every job was in flight at once in every run (the last create reached the "
            "server before the first job ended)"
            if all(at_once)
            else f"NOT all in flight at once in {at_once.count(False)} of {len(at_once)} runs"
        )
    )
    if failed:
        table.notes.append(f"{failed} jobs did not end succeeded: look into it")
    return table
