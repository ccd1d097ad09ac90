"""Table 2: the official lipsync SDK (``syncsdk``, ``sync.AsyncSync`` pointed at the
lipsync emulator with ``base_url``) beside prism-async, on the same lipsync workload.

Both long-poll: the SDK loop calls ``generations.get`` with ``wait=true&timeout=10`` added
through its per-request ``additional_query_parameters`` (``get`` has no parameter of its
own for it; see :mod:`benchmarks.client_sdk`); prism-async uses its lipsync provider's own
long poll, after a first plain GET. Requests are counted by the emulator.
"""

from __future__ import annotations

from importlib import metadata

from benchmarks.lab import Lab, Run
from benchmarks.stats import percentile
from benchmarks.table import Table, Target, fmt

__all__ = ["RUNS", "build", "sdk_installed"]

RUNS = [("lipsync", "syncsdk"), ("lipsync", "prism-async")]


def sdk_installed() -> str | None:
    """The installed syncsdk version, or None."""
    try:
        return metadata.version("syncsdk")
    except metadata.PackageNotFoundError:
        return None


def _row(table: Table, name: str, run: Run) -> None:
    table.add(
        name,
        fmt(run.jobs),
        fmt(run.cpu_s, 2),
        fmt(run.cpu_s / run.jobs * 1000, 2),
        fmt(run.wall_s, 1),
        fmt(run.exchanges / run.jobs, 2),
        fmt(percentile(run.detection, 50) * 1000),
        fmt(percentile(run.detection, 95) * 1000),
    )


def build(lab: Lab) -> Table:
    mode = lab.mode
    version = sdk_installed()
    table = Table(
        f"Table 2: the official lipsync SDK and prism-async, {mode.lipsync_jobs} lipsync jobs "
        f"of {mode.lipsync_durations.replace(':', '-')} s ({mode.name}: one run each)",
        [
            "client",
            "jobs",
            "CPU s",
            "CPU ms/job",
            "wall s",
            "requests/job",
            "detection p50 ms",
            "p95 ms",
        ],
    )
    prism = lab.emulated("lipsync", "prism-async")
    if version is None:
        table.notes.append("syncsdk is not installed (pip install syncsdk): its row is missing")
        _row(table, "prism-async", prism)
        table.targets.append(Target("prism-async CPU per job below the SDK's", None))
        return table
    sdk = lab.emulated("lipsync", "syncsdk")
    _row(table, f"syncsdk {version} AsyncSync", sdk)
    _row(table, "prism-async", prism)
    ratio = (sdk.cpu_s / sdk.jobs) / (prism.cpu_s / prism.jobs)
    table.targets.append(
        Target(
            "prism-async CPU per job below the SDK's (issue 10 sets no figure; it reports "
            "5-6x less)",
            ratio > 1,
            f"the SDK uses {ratio:.1f}x prism-async's CPU per job",
        )
    )
    table.notes.append(
        "the detection-lag targets for lipsync (p50 < 100 ms, p95 < 1 s) are checked in table 4"
    )
    if prism.estimates:
        table.notes.append(
            f"requests/job counts prism-async's free cost estimate before each create "
            f"({prism.estimates / prism.jobs:.2f} per job; `estimate_costs=False` leaves it "
            "out); the SDK asks for none"
        )
    if sdk.failed or prism.failed:
        table.notes.append(f"not succeeded: SDK {sdk.failed}, prism-async {prism.failed}")
    return table
