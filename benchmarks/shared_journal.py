"""Table 7's measurement: N worker processes running one batch through one PostgreSQL
journal, against the NanoGPT and lipsync emulators in their own process.

The PostgreSQL server is the tests' throwaway one (``tests._postgres``: the machine's
Debian server binaries, a fresh cluster in a temporary directory); every run gets a fresh
database on it and a fresh emulator process (``benchmarks.emulated``, limits lifted, every
job queued 0 s and running 0.2 s). The workers (``benchmarks.client_worker``) warm up,
say ``ready``, and are started together by one line on their stdin; the run's wall time
is from the first worker's start to the last item's end (the last outcome any worker
brought about), and its exit time to the last worker's exit. The emulators count the creates
and their process's CPU (read before the start and after the end), the journal says how
many items finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchmarks.lab import CREATE_ROUTES
from benchmarks.procs import BenchError, serve, spawn_client

__all__ = ["JOB_SECONDS", "Database", "WorkersRun", "database_server", "measure", "unavailable"]

#: Each emulated job's run time (queued 0 s).
JOB_SECONDS = 0.2
_EMULATORS = ("nanogpt", "lipsync")
_BATCH = "bench"
_TIMEOUT = 600.0
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class WorkersRun:
    """One run: ``workers`` processes sharing ``items`` items."""

    workers: int
    items: int
    #: From the first worker's start to the last item's end (the last outcome a worker
    #: brought about), and to the last worker's exit (which waited for its peers' items).
    wall_s: float
    exit_s: float
    creates: int
    #: Outcomes each worker brought about (the others it read from the journal).
    made: list[int]
    failed: int
    #: The workers' CPU seconds, all together, the emulator process's and PostgreSQL's
    #: (from the start to the last exit).
    cpu_s: float
    emulator_cpu_s: float
    postgres_cpu_s: float
    #: Items in the journal by state after the run.
    states: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.items / self.wall_s


def unavailable() -> str | None:
    """Why the table cannot run here (no asyncpg, no PostgreSQL server binaries), or None."""
    try:
        import asyncpg  # noqa: F401

        from tests._postgres import HINT, find_bindir
    except ImportError as exc:
        return (
            f"needs {exc.name}: pip install -e '.[cli,postgres]' pytest "
            "(asyncpg, and the tests' PostgreSQL helper)"
        )
    if find_bindir() is None:
        return HINT
    return None


@dataclass
class Database:
    """The throwaway server: its URL and its data directory."""

    url: str
    data: Path

    def cpu_seconds(self) -> float:
        """CPU the server's processes have used: the postmaster's own and its children's,
        live ones (backends, background workers) and those it reaped (ended backends)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                pid = int(stat.parent.name)
                if pid == postmaster:
                    total += sum(int(f) for f in fields[11:15])  # own and reaped children
                elif int(fields[1]) == postmaster:
                    total += int(fields[11]) + int(fields[12])
        return total / _TICKS


@contextlib.contextmanager
def database_server() -> Iterator[Database]:
    """A throwaway PostgreSQL server for the block (``unavailable()`` first)."""
    from tests._postgres import postgres_server

    with postgres_server() as server:
        yield Database(server.url(), server.directory / "data")


def measure(
    database: Database, workers: int, items: int, concurrency: int, log: Callable[[str], None]
) -> WorkersRun:
    """``workers`` processes running one batch of ``items`` items on a fresh database."""
    from tests._postgres import fresh_database

    log(f"  {workers} worker(s), {items} items, one PostgreSQL journal")
    url = asyncio.run(fresh_database(database.url))
    job = str(JOB_SECONDS)
    with serve("benchmarks.emulated", "--nanogpt", job, "--lipsync", job) as emulators:
        spec: dict[str, Any] = {name: emulators.info[name] for name in _EMULATORS}
        spec |= {"journal_url": url, "items": items, "concurrency": concurrency}
        with contextlib.ExitStack() as stack:
            logs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in range(workers)]
            procs = [
                stack.enter_context(
                    _stopped(spawn_client("benchmarks.client_worker", {**spec, "index": i}, err))
                )
                for i, err in enumerate(logs)
            ]
            for proc, err in zip(procs, logs, strict=True):
                _ready(proc, err)
            before = emulators.get("/bench/stats")
            postgres_before = database.cpu_seconds()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            reports = [_report(proc, err) for proc, err in zip(procs, logs, strict=True)]
            after = emulators.get("/bench/stats")
            postgres_cpu = database.cpu_seconds() - postgres_before
    start = min(r["started"] for r in reports)
    return WorkersRun(
        workers=workers,
        items=items,
        wall_s=max(r["last_made"] for r in reports) - start,
        exit_s=max(r["finished"] for r in reports) - start,
        creates=_creates(after) - _creates(before),
        made=[r["made"] for r in reports],
        failed=sum(r["failed"] for r in reports),
        cpu_s=sum(r["cpu_s"] for r in reports),
        emulator_cpu_s=after["cpu_s"] - before["cpu_s"],
        postgres_cpu_s=postgres_cpu,
        states=asyncio.run(_states(url)),
    )


def _creates(stats: dict[str, Any]) -> int:
    counts = stats["requests"]
    return sum(int(counts[name].get(CREATE_ROUTES[name], 0)) for name in _EMULATORS)


@contextlib.contextmanager
def _stopped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """The worker, killed (by its own pid) if still running when the block is left."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _failed(proc: subprocess.Popen[str], err: IO[str], what: str) -> BenchError:
    err.seek(0)
    return BenchError(f"worker {what} ({proc.returncode}):\n{err.read()[-4000:]}")


def _ready(proc: subprocess.Popen[str], err: IO[str]) -> None:
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.wait(timeout=30)
        raise _failed(proc, err, "did not start")


def _report(proc: subprocess.Popen[str], err: IO[str]) -> dict[str, Any]:
    try:
        out, _ = proc.communicate(timeout=_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"a worker ran over {_TIMEOUT:g} s") from exc
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise _failed(proc, err, "failed")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


async def _states(url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT state, count(*) FROM prism_async.items WHERE batch = $1 GROUP BY state",
            _BATCH,
        )
    finally:
        await conn.close()
    return {str(state): int(count) for state, count in rows}
