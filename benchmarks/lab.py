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

__all__ = [
    "CREATE_ROUTES",
    "LIPSYNC_READS_PER_MINUTE",
    "WARMUP_SECONDS",
    "Lab",
    "Run",
    "webhook_lift",
]

#: The route name of each API's create, in the servers' request counts.
CREATE_ROUTES = {"nanogpt": "generate", "lipsync": "create", "prism": "create"}
#: The route of a free cost estimate a client may ask for before each create (lipsync's
#: ``POST /v2/analyze/cost``): counted apart, not as status requests.
ESTIMATE_ROUTES = {"lipsync": "cost"}
#: Table 6: the warm-up job's duration (its client waits for its callback).
WARMUP_SECONDS = 0.2
#: lipsync's documented read budget (status requests in any 60 s).
LIPSYNC_READS_PER_MINUTE = 600
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
    #: Cost estimates asked before creates (lipsync's ``/v2/analyze/cost``), not statuses.
    estimates: int = 0
    #: Whether the last create reached the server before the first job ended there.
    all_in_flight: bool | None = None
    #: Seconds from each job's end on the server to its result reaching the caller.
    detection: list[float] = field(default_factory=list)
    #: Webhook runs: seconds from the emulator sending each job's callback to its result
    #: reaching the caller, and from each job's end to its callback leaving.
    callback: list[float] = field(default_factory=list)
    end_to_sent: list[float] = field(default_factory=list)
    #: Webhook runs: the callback-to-result latencies of the callbacks sent while the
    #: client was still submitting (before its ``as_completed`` began), which ``callback``
    #: leaves out, and how long submitting took.
    callback_while_submitting: list[float] = field(default_factory=list)
    submit_s: float = 0.0
    #: Webhook runs: deliveries the emulator attempted, by outcome (``200``, ``401``...,
    #: or ``error``), warm-up included.
    deliveries: dict[str, int] = field(default_factory=dict)

    @property
    def exchanges(self) -> int:
        return self.creates + self.estimates + self.statuses


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
        run = _counted(provider, jobs, report, stats)
        run.detection = [at - ends[job_id] for job_id, at in report["yields"].items()]
        return run

    # -- table 6: lipsync with and without webhooks ---------------------------------------

    def webhooks(self, hooks: bool) -> Run:
        """prism-async driving ``mode.webhook_jobs`` lipsync jobs, its waits ended by the
        emulator's signed callbacks (``hooks``) or by long polls."""
        key = ("webhooks", hooks)
        if key not in self._done:
            self._done[key] = self._webhooks(hooks)
        return self._done[key]

    def _webhooks(self, hooks: bool) -> Run:
        jobs, durations = self.mode.webhook_jobs, self.mode.webhook_durations
        how = "webhooks" if hooks else "long poll, no webhooks"
        self.log(f"  prism-async: {jobs} lipsync jobs of {durations.replace(':', '-')} s, {how}")
        args = ["--lipsync", durations, "--spread", str(jobs), "--first", str(WARMUP_SECONDS)]
        with serve("benchmarks.emulated", *args) as server:
            info = server.info["lipsync"]
            spec = {
                "provider": "lipsync",
                "base_url": info["base_url"],
                "api_key": info["api_key"],
                "jobs": jobs,
                "lift": webhook_lift(jobs, hooks),
            }
            if hooks:
                spec["webhook_secret"] = info["webhook_secret"]
            report = run_client(_CLIENTS["prism-async"], spec)
            stats = server.get("/bench/stats")
            ends: dict[str, float] = server.get("/bench/ends")
            sent: list[dict[str, Any]] = server.get("/bench/webhooks")
        run = _counted("lipsync", jobs, report, stats)
        yields: dict[str, float] = report["yields"]
        run.detection = [at - ends[job_id] for job_id, at in yields.items()]
        first_sent: dict[str, float] = {}
        for delivery in sent:
            outcome = str(delivery["status"] or "error")
            run.deliveries[outcome] = run.deliveries.get(outcome, 0) + 1
            if delivery["kind"] == "final":
                first_sent.setdefault(delivery["job_id"], delivery["sent_at"])
        run.submit_s = report["submit_s"]
        if hooks:
            timed = [j for j in yields if j in first_sent]
            waiting = report["submitted_at"]  # as_completed began then
            run.callback = [yields[j] - first_sent[j] for j in timed if first_sent[j] >= waiting]
            run.callback_while_submitting = [
                yields[j] - first_sent[j] for j in timed if first_sent[j] < waiting
            ]
            run.end_to_sent = [first_sent[j] - ends[j] for j in timed]
        return run


def webhook_lift(jobs: int, hooks: bool) -> list[str]:
    """The budgets table 6 lifts. Creates, as in tables 2 and 4, and with them the cost
    estimates that go one for one with the creates (at lipsync's documented 60-100
    creates a minute they never come near their own 600 a minute; with creates lifted,
    that budget alone would set the pace past 600 jobs). Without webhooks every job makes
    at least one status request (its long poll) and the warm-up one more: past the
    documented 600 in any 60 s, the budget would hold the rest for a minute (1,000 jobs:
    64 s instead of 5), so reads are lifted then. With webhooks they are kept (the jobs
    make no status request)."""
    lifted = ["submit", "cost"]
    if not hooks and jobs + 1 > LIPSYNC_READS_PER_MINUTE:
        lifted.append("status")
    return lifted


def _counted(provider: str, jobs: int, report: dict[str, Any], stats: dict[str, Any]) -> Run:
    """A run on an emulator, its requests split into creates, estimates and statuses."""
    counts: dict[str, int] = stats["requests"][provider]
    creates = counts.get(CREATE_ROUTES[provider], 0)
    estimates = counts.get(ESTIMATE_ROUTES.get(provider, ""), 0)
    run = _run(jobs, report, stats, creates, sum(counts.values()) - creates - estimates)
    # A client that asks for estimates asks before every create, the warm-up's too.
    run.estimates = max(0, estimates - report["warmup"]["creates"])
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
