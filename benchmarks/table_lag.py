"""Table 4: detection lag and status requests per job, for each provider, prism-async
with its default settings (only the create budgets lifted) against the emulators.

Detection lag is the time from the moment the emulator's job ended to the moment
``as_completed`` handed its result to the caller. The emulators compute a job's state
from its start time and its durations whenever asked (they keep no end time), so its end
is ``started + queue_seconds + run_seconds``, on the emulator's clock
(``time.monotonic()``, shared by every process on Linux); the client stamps each result
with the same clock. Durations are spread evenly over the mode's range, per provider.
"""

from __future__ import annotations

from benchmarks.cadence import nanogpt_bound, prism_bound
from benchmarks.lab import Lab
from benchmarks.stats import percentile
from benchmarks.table import Table, Target, fmt
from benchmarks.table_sdk import sdk_installed

__all__ = ["build", "runs"]

_LIPSYNC_P50, _LIPSYNC_P95 = 0.100, 1.0
_CADENCE = {
    "nanogpt": "plain polling: first after 2 s, then x1.5 (default PollPolicy)",
    "prism": "hinted: every 10 s (documented floor)",
    "lipsync": "long poll (wait=true, up to 10 s)",
}


def runs(lab: Lab) -> list[tuple[str, str]]:
    """The emulated runs this table reads."""
    wanted = [("nanogpt", "prism-async"), ("lipsync", "prism-async")]
    if lab.mode.prism_jobs:
        wanted.append(("prism", "prism-async"))
    if sdk_installed():
        wanted.append(("lipsync", "syncsdk"))
    return wanted


def _longest(durations: str) -> float:
    return float(durations.rpartition(":")[2])


def build(lab: Lab) -> Table:
    mode = lab.mode
    lab.prefetch(runs(lab))
    table = Table(
        f"Table 4: detection lag and status requests per job, by provider ({mode.name})",
        [
            "provider",
            "client",
            "cadence",
            "jobs",
            "durations s",
            "status req/job",
            "lag p50 ms",
            "p95 ms",
            "max ms",
        ],
    )
    for provider, client in runs(lab):
        run = lab.emulated(provider, client)
        durations = getattr(mode, f"{provider}_durations").replace(":", "-")
        cadence = _CADENCE[provider]
        if client == "syncsdk":
            cadence = "long poll per job (reference: the SDK loop of table 2)"
        p50, p95 = percentile(run.detection, 50), percentile(run.detection, 95)
        table.add(
            provider,
            client,
            cadence,
            fmt(run.jobs),
            durations,
            fmt(run.statuses / run.jobs, 2),
            fmt(p50 * 1000),
            fmt(p95 * 1000),
            fmt(max(run.detection, default=float("nan")) * 1000),
        )
        if client != "prism-async":
            continue
        if provider == "lipsync":
            table.targets.append(
                Target(
                    "lipsync detection lag p50 under 100 ms",
                    p50 < _LIPSYNC_P50,
                    f"{p50 * 1000:,.0f} ms",
                )
            )
            table.targets.append(
                Target("lipsync detection lag p95 under 1 s", p95 < _LIPSYNC_P95, f"{p95:.2f} s")
            )
        elif provider == "nanogpt":
            bound = nanogpt_bound(_longest(mode.nanogpt_durations))
            table.targets.append(
                Target(
                    f"NanoGPT detection within its cadence: p95 at most {bound:.2f} s (the "
                    "pause in force at the longest job's end, +10% jitter, +0.25 s)",
                    p95 <= bound,
                    f"{p95:.2f} s",
                )
            )
        else:
            bound = prism_bound()
            table.targets.append(
                Target(
                    f"Prism detection within its hinted cadence: p95 at most {bound:.2f} s",
                    p95 <= bound,
                    f"{p95:.2f} s",
                )
            )
    if not mode.prism_jobs:
        table.notes.append(
            "Prism is skipped in this mode: its documented 10 s poll floor would make it the "
            "longest run; the full mode measures it"
        )
    table.notes.append("webhooks: measured in table 6 (`--only webhooks`)")
    table.notes.append(
        "status req/job leaves out the cost estimate prism-async asks before each lipsync "
        "create (one per job, table 2 counts it)"
    )
    return table
