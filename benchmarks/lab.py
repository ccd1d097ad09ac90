"""Measurements: each one a fresh server process and a fresh client process, remembered so
that tables sharing a run (1 and 3; 2 and 4) make it once."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from benchmarks.modes import CpuCase, Mode
from benchmarks.procs import run_client, serve

__all__ = ["CREATE_ROUTES", "Lab", "Run"]

#: The route name of each API's create, in the servers' request counts.
CREATE_ROUTES = {"nanogpt": "generate", "lipsync": "create", "prism": "create"}
_CLIENTS = {
    "plain": "benchmarks.client_plain",
    "prism-async": "benchmarks.client_prism",
    "syncsdk": "benchmarks.client_sdk",
}


@dataclass
class Run:
    """One client process's measurement, with the server's view of it."""

    jobs: int
    cpu_s: float
    wall_s: float
    creates: int
    statuses: int
    server_cpu_s: float
    failed: int
    loop_lag_ms: dict[str, float] = field(default_factory=dict)
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Whether the last create reached the server before the first job ended there.
    all_in_flight: bool | None = None
    #: Seconds from each job's end on the server to its result reaching the caller.
    detection: list[float] = field(default_factory=list)

    @property
    def exchanges(self) -> int:
        return self.creates + self.statuses


class Lab:
    """Runs measurements for a mode and remembers them."""

    def __init__(self, mode: Mode, log: Callable[[str], None] | None = None) -> None:
        self.mode = mode
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self._started = time.perf_counter()
        self._done: dict[tuple[Any, ...], Run] = {}

    def log(self, text: str) -> None:
        """A progress line (stderr by default), stamped with the seconds since the start."""
        self._log(f"{time.perf_counter() - self._started:6.1f} s {text}")

    # -- table 1 and 3: the fast fake NanoGPT server -------------------------------------

    def nanogpt_cpu(self, client: str, case: CpuCase, rep: int) -> Run:
        """``client`` (plain or prism-async) at a fixed cadence against the fake server,
        with the memory probes on."""
        key = ("cpu", client, case, rep)
        if key not in self._done:
            self.log(f"  {client}: {case.jobs} jobs, poll every {case.interval:g} s (#{rep + 1})")
            self._done[key] = self._fake(client, case)
        return self._done[key]

    def traced_memory(self, client: str) -> Run:
        """A memory-only run under tracemalloc (``mode.traced``): a first poll late enough
        that submitting (slowed down by tracing) is over before it; it stops after the
        last probe."""
        key = ("traced", client)
        if key not in self._done:
            case = self.mode.traced
            self.log(f"  {client}: {case.jobs} jobs under tracemalloc (memory only)")
            extra = {"tracemalloc": True, "stop_after_probes": True}
            self._done[key] = self._fake(client, case, extra)
        return self._done[key]

    def _fake(self, client: str, case: CpuCase, extra: dict[str, Any] | None = None) -> Run:
        with serve("benchmarks.fake_nanogpt", "--duration", str(case.duration)) as server:
            spec = {
                "provider": "nanogpt",
                "base_url": server.info["base_url"],
                "api_key": server.info["api_key"],
                "jobs": case.jobs,
                "interval": case.interval,
                # Every documented budget lifted: 25 status requests/s would set the pace.
                "lift": "all",
                "stats_url": f"{server.root}/bench/stats",
                "want_yields": False,
                **(extra or {}),
            }
            report = run_client(_CLIENTS[client], spec)
            stats = server.get("/bench/stats")
        counts = stats["requests"]
        return _run(case.jobs, report, stats, counts.get("create", 0), counts.get("status", 0))

    # -- tables 2 and 4: the emulators ---------------------------------------------------

    def emulated(self, provider: str, client: str) -> Run:
        """``client`` driving ``provider``'s workload of this mode on its emulator."""
        key = ("emulated", provider, client)
        if key not in self._done:
            self._done[key] = self._emulated(provider, client)
        return self._done[key]

    def prefetch(self, runs: list[tuple[str, str]]) -> None:
        """Make these emulated runs now: side by side when the mode says so (they are
        light and mostly idle), else one after another."""
        todo = [r for r in runs if ("emulated", r[0], r[1]) not in self._done]
        if not self.mode.parallel_light:
            for provider, client in todo:
                self.emulated(provider, client)
            return
        with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
            made = list(pool.map(lambda r: self._emulated(*r), todo))
        for run_key, made_run in zip(todo, made, strict=True):
            self._done[("emulated", run_key[0], run_key[1])] = made_run

    def _emulated(self, provider: str, client: str) -> Run:
        jobs: int = getattr(self.mode, f"{provider}_jobs")
        durations: str = getattr(self.mode, f"{provider}_durations")
        self.log(f"  {client}: {jobs} {provider} jobs of {durations.replace(':', '-')} s")
        with serve("benchmarks.emulated", f"--{provider}", durations) as server:
            info = server.info[provider]
            spec = {
                "provider": provider,
                "base_url": info["base_url"],
                "api_key": info["api_key"],
                "jobs": jobs,
                # The documented create budgets (NanoGPT 50/min, lipsync 60/min, our own
                # 60/min for Prism) would spread the creates over minutes; the status
                # budgets are kept.
                "lift": ["submit"],
            }
            report = run_client(_CLIENTS[client], spec)
            stats = server.get("/bench/stats")
            ends: dict[str, float] = server.get("/bench/ends")
        counts = stats["requests"][provider]
        creates = counts.get(CREATE_ROUTES[provider], 0)
        run = _run(jobs, report, stats, creates, sum(counts.values()) - creates)
        run.detection = [at - ends[job_id] for job_id, at in report["yields"].items()]
        return run


def _run(
    jobs: int, report: dict[str, Any], stats: dict[str, Any], creates: int, statuses: int
) -> Run:
    warmup = report["warmup"]  # made before the measured window: not counted
    return Run(
        jobs=jobs,
        cpu_s=report["cpu_s"],
        wall_s=report["wall_s"],
        creates=creates - warmup["creates"],
        statuses=statuses - warmup["statuses"],
        server_cpu_s=stats["cpu_s"],
        failed=report["failed"],
        loop_lag_ms=report.get("lag_ms", {}),
        memory=report.get("memory", {}),
        all_in_flight=stats.get("all_in_flight"),
    )
