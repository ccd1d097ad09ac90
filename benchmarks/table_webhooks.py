"""Table 6: lipsync jobs waited on with and without webhooks (issue 11): status requests
per job, detection lag, callback-to-result latency and CPU per job.

The same jobs (the mode's ``webhook_jobs``, durations spread evenly over
``webhook_durations``, one distinct duration per job) are driven by prism-async twice, on
the lipsync emulator with its limits lifted:

- **without webhooks**: as in tables 2 and 4, a first plain GET, then the long poll
  (``wait=true``, up to 10 s), at most 100 long polls in flight;
- **with webhooks**: the client is given ``webhook_base_url`` (a loopback port) and the
  emulator's signing secret, and serves its receiver in its own process
  (``aiohttp_app(client.webhooks)`` mounted in an aiohttp app). Each job names its
  callback URL, and its wait ends on the emulator's signed delivery; the safety-net poll
  (``PollPolicy.safety_net``, 300 s by default) never comes due.

Callback-to-result latency runs from the moment the emulator's sender started the POST
(its ``sent_at``: ``time.monotonic()``, system-wide on Linux) to the moment
``as_completed`` handed the result over in the client. Detection lag runs from the job's
end on the emulator to that same moment, so with webhooks it also holds the time the
sender took to notice the end (shown in a note).
"""

from __future__ import annotations

from benchmarks.lab import LIPSYNC_READS_PER_MINUTE, Lab, Run, webhook_lift
from benchmarks.stats import percentile
from benchmarks.table import Table, Target, fmt

__all__ = ["build"]

_CALLBACK_P50 = 0.050
_BUDGETS = {"submit": "creates", "cost": "estimates", "status": "reads"}


def _ms(values: list[float], p: float) -> str:
    return fmt(percentile(values, p) * 1000)


def _row(table: Table, wait: str, hooks: bool, run: Run) -> None:
    table.add(
        wait,
        fmt(run.jobs),
        ", ".join(_BUDGETS[b] for b in webhook_lift(run.jobs, hooks)),
        fmt(run.statuses / run.jobs, 3),
        _ms(run.detection, 50),
        _ms(run.detection, 95),
        _ms(run.callback, 50) if run.callback else "",
        _ms(run.callback, 95) if run.callback else "",
        fmt(run.cpu_s / run.jobs * 1000, 2),
        fmt(run.wall_s, 1),
    )


def build(lab: Lab) -> Table:
    mode = lab.mode
    durations = mode.webhook_durations.replace(":", "-")
    polled, hooked = lab.webhooks(False), lab.webhooks(True)
    table = Table(
        f"Table 6: webhooks, {mode.webhook_jobs:,} lipsync jobs of {durations} s, prism-async "
        f"({mode.name}: one run each)",
        [
            "wait ends on",
            "jobs",
            "budgets lifted",
            "status req/job",
            "detection p50 ms",
            "p95 ms",
            "callback→result p50 ms",
            "p95 ms",
            "CPU ms/job",
            "wall s",
        ],
    )
    _row(table, "long poll, no webhooks", False, polled)
    _row(table, "signed callback (webhooks)", True, hooked)
    p50 = percentile(hooked.callback, 50)
    table.targets.append(
        Target(
            "callback-to-result latency p50 under 50 ms (issue 11)",
            p50 < _CALLBACK_P50 if hooked.callback else None,
            f"{p50 * 1000:,.1f} ms; p95 {percentile(hooked.callback, 95) * 1000:,.1f} ms, "
            f"max {max(hooked.callback, default=float('nan')) * 1000:,.0f} ms",
        )
    )
    per_job = hooked.statuses / hooked.jobs
    table.targets.append(
        Target(
            "with webhooks, at most one status request per job (issue 11: the confirmation; "
            "lipsync's signed deliveries need none)",
            per_job <= 1,
            f"{per_job:.3f}, against {polled.statuses / polled.jobs:.2f} without",
        )
    )
    early = hooked.callback_while_submitting
    table.notes.append(
        f"callbacks timed: {len(hooked.callback):,} of {hooked.jobs:,} jobs; deliveries by "
        "answer (warm-up included): "
        + ", ".join(f"{k}: {v:,}" for k, v in sorted(hooked.deliveries.items()))
    )
    submitting = (
        f"submitting the {hooked.jobs:,} jobs took {hooked.submit_s:.1f} s; callback→result "
        "is timed for the callbacks sent after it, once `as_completed` was waiting"
    )
    if early:
        submitting += (
            f". {len(early):,} were sent before (left out: `as_completed` could not yield "
            f"them sooner): their p50 {_ms(early, 50)} ms, p95 {_ms(early, 95)} ms"
        )
    else:
        submitting += " (every one was: the shortest job outlasts the submitting)"
    table.notes.append(submitting)
    table.notes.append(
        "the emulator's sender posted each callback "
        f"{_ms(hooked.end_to_sent, 50)} ms (p50) / {_ms(hooked.end_to_sent, 95)} ms (p95) "
        "after its job's end: detection lag = that + callback→result"
    )
    table.notes.append(
        "CPU ms/job is the client process's own (all threads), from the first create to the "
        "last result; with webhooks it includes the receiver's HTTP server, which runs in the "
        "client"
    )
    budgets = (
        f"budgets: creates lifted in both runs (lipsync's documented 60/min would spread "
        f"{mode.webhook_jobs:,} creates over {mode.webhook_jobs / 60:.0f} minutes), and with "
        "them the cost estimate asked before each create (one per job, not counted as a "
        "status request; at the documented create pace it never nears its own 600/min); the "
        f"documented {LIPSYNC_READS_PER_MINUTE} reads/min is kept with webhooks (the jobs "
        "make no status request)"
    )
    if "status" in webhook_lift(polled.jobs, False):
        budgets += (
            " and lifted without them: every job makes at least one status request (its "
            f"long poll), so past {LIPSYNC_READS_PER_MINUTE} the budget would hold the rest "
            "for a minute (measured at 1,000 jobs: 64 s instead of 5)"
        )
    else:
        budgets += f" and without them ({polled.jobs:,} long polls fit in it)"
    table.notes.append(budgets)
    if polled.failed or hooked.failed:
        table.notes.append(f"not succeeded: long poll {polled.failed}, webhooks {hooked.failed}")
    return table
