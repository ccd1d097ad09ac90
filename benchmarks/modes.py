"""The two run modes: ``quick`` (one repetition, short jobs: under a minute on two cores)
and ``full`` (three repetitions, medians: under ten minutes)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FULL", "MODES", "QUICK", "CpuCase", "Mode"]


@dataclass(frozen=True)
class CpuCase:
    """One row pair of table 1: ``jobs`` NanoGPT jobs, polled every ``interval`` seconds,
    each lasting ``polls - 0.5`` intervals, so that either client makes exactly one create
    and ``polls`` status requests per job (a job never ends on a poll's very instant)."""

    jobs: int
    interval: float
    polls: int

    @property
    def duration(self) -> float:
        return (self.polls - 0.5) * self.interval


@dataclass(frozen=True)
class Mode:
    """Sizes, cadences and repetitions of every table.

    Attributes:
        reps: Repetitions of each CPU measurement (the median is shown).
        cpu: Table 1's cases; the largest is also table 3's.
        traced: Table 3's memory-only runs under tracemalloc (slow): the interval is the
            delay before the first poll, which submitting must not reach.
        traced_plain: Whether the plain loop gets a tracemalloc run too (for reference).
        lipsync_jobs, lipsync_durations: Tables 2 and 4's lipsync workload (``LOW:HIGH``
            seconds, spread evenly).
        nanogpt_jobs, nanogpt_durations: Table 4's NanoGPT workload.
        prism_jobs, prism_durations: Table 4's Prism workload (0 jobs: skipped).
        webhook_jobs, webhook_durations: Table 6's lipsync workload, driven with and
            without webhooks.
        import_runs: Fresh interpreters per module in table 5.
        worker_items: Table 7's batch (half NanoGPT, half lipsync), run once by one worker
            and once by three sharing one PostgreSQL journal.
        parallel_light: Run the light, mostly idle runs of tables 2 and 4 side by side
            (each with its own server) instead of one after another.
    """

    name: str
    reps: int
    cpu: tuple[CpuCase, ...]
    traced: CpuCase
    traced_plain: bool
    lipsync_jobs: int
    lipsync_durations: str
    nanogpt_jobs: int
    nanogpt_durations: str
    prism_jobs: int
    prism_durations: str
    webhook_jobs: int
    webhook_durations: str
    import_runs: int
    parallel_light: bool
    worker_items: int


QUICK = Mode(
    name="quick",
    reps=1,
    cpu=(CpuCase(100, 0.5, 3), CpuCase(1_000, 1.0, 2), CpuCase(10_000, 4.0, 2)),
    traced=CpuCase(2_000, 5.0, 4),
    traced_plain=False,
    lipsync_jobs=40,
    lipsync_durations="0.2:4",
    nanogpt_jobs=30,
    nanogpt_durations="1:4",
    prism_jobs=0,  # its documented 10 s poll floor would make it the slowest run
    prism_durations="3:6",
    # Fewer than issue 11's 1,000 (which full mode runs), to keep quick mode under a minute.
    # Fewer than issue 11's 1,000 (which full mode runs), to keep quick mode under a minute.
    webhook_jobs=500,
    webhook_durations="1:2",
    import_runs=5,
    parallel_light=True,
    worker_items=300,
)

FULL = Mode(
    name="full",
    reps=3,
    cpu=(CpuCase(100, 1.0, 5), CpuCase(1_000, 2.0, 5), CpuCase(10_000, 5.0, 4)),
    traced=CpuCase(10_000, 30.0, 4),
    traced_plain=True,
    lipsync_jobs=100,
    lipsync_durations="0.2:8",
    nanogpt_jobs=60,
    nanogpt_durations="1:12",
    prism_jobs=10,
    prism_durations="3:25",
    webhook_jobs=1_000,
    webhook_durations="2:6",
    import_runs=15,
    parallel_light=False,
    worker_items=2_000,
)

MODES = {m.name: m for m in (QUICK, FULL)}
