"""Benchmarks of prism-async's own cost: measured and printed, never asserted in tests.

Run with ``nox -s bench`` or ``python -m benchmarks [--quick|--full] [--only TABLES]``
(``--only cpu,sdk,memory,lag,import,webhooks,workers``; ``--save FILE`` also writes the tables as
Markdown). Quick mode (the default) takes under a minute on two cores, full mode under
ten. See ``benchmarks/README.md`` for what each table measures and the latest results.

Every measurement runs the server in one process and the client under test in another,
a fresh interpreter each time, which reports its own CPU time, wall time and what it saw;
the server counts the requests. The tables:

1. ``cpu``: client CPU per HTTP exchange and per job, prism-async beside the plain
   aiohttp loop (one task per job: create, then sleep and GET until done), same jobs and
   the same fixed cadence, at 100, 1,000 and 10,000 NanoGPT jobs on a fast fake server.
2. ``sdk``: the official lipsync SDK (``syncsdk``'s ``AsyncSync``, which long-polls with
   ``generations.get``) beside prism-async on the same lipsync workload, on the lipsync
   emulator: CPU per job, wall time, requests per job, detection lag.
3. ``memory``: memory per in-flight job and event-loop lag at 10,000 jobs.
4. ``lag``: detection lag and status requests per job for NanoGPT (plain polling), Prism
   (its hinted cadence) and lipsync (long poll), on the emulators.
5. ``import``: ``import prism_async`` against ``import aiohttp``.
6. ``webhooks``: 1,000 lipsync jobs waited on by long poll and by signed callback (the
   client serving its receiver): status requests per job, detection lag,
   callback-to-result latency and CPU per job.
7. ``workers``: items per second of one batch of NanoGPT and lipsync items run by one
   worker process and by three sharing one PostgreSQL journal (the tests' throwaway
   server; skipped, saying why, without asyncpg or the server binaries).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    table_cpu,
    table_import,
    table_lag,
    table_memory,
    table_sdk,
    table_webhooks,
    table_workers,
)
from benchmarks.lab import Lab
from benchmarks.machine import describe
from benchmarks.modes import FULL, QUICK
from benchmarks.procs import BenchError
from benchmarks.table import Table

# In the order they run: import time first, while the machine is quiet.
TABLES: dict[str, Callable[[Lab], Table]] = {
    "import": table_import.build,
    "cpu": table_cpu.build,
    "memory": table_memory.build,
    "sdk": table_sdk.build,
    "lag": table_lag.build,
    "webhooks": table_webhooks.build,
    "workers": table_workers.build,
}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="mode", const=QUICK, help="default")
    size.add_argument("--full", action="store_const", dest="mode", const=FULL)
    parser.add_argument(
        "--only", default=",".join(TABLES), help=f"comma-separated, of: {', '.join(TABLES)}"
    )
    parser.add_argument("--save", type=Path, help="also write the tables here, as Markdown")
    args = parser.parse_args(argv)
    args.mode = args.mode or QUICK
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(TABLES)
    if unknown:
        parser.error(f"unknown table(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str]) -> None:
    args = _parse(argv)
    started = time.perf_counter()
    lab = Lab(args.mode)
    header = [f"prism-async benchmarks, {args.mode.name} mode", ""]
    header += [f"- {line}" for line in describe()]
    print("\n".join(header) + "\n", flush=True)
    if "sdk" in args.only or "lag" in args.only:
        # The light runs of tables 2 and 4 together (side by side in quick mode).
        wanted = table_lag.runs(lab) if "lag" in args.only else []
        wanted += [r for r in table_sdk.RUNS if "sdk" in args.only and r not in wanted]
        wanted = [r for r in wanted if r[1] != "syncsdk" or table_sdk.sdk_installed()]
    else:
        wanted = []
    out = [*header, ""]
    failed = []
    for name in (n for n in TABLES if n in args.only):
        lab.log(f"table {name}")
        try:
            if name in ("sdk", "lag"):
                lab.prefetch(wanted)
            text = TABLES[name](lab).render()
        except BenchError as exc:  # a client or server process failed: say so, go on
            failed.append(name)
            text = f"### Table {name}: FAILED\n\n```\n{exc}\n```\n"
        print(text, flush=True)
        out.append(text)
    elapsed = time.perf_counter() - started
    print(f"{args.mode.name} mode took {elapsed:.0f} s", flush=True)
    if args.save:
        out.append(f"({args.mode.name} mode took {elapsed:.0f} s)\n")
        args.save.write_text("\n".join(out), encoding="utf-8")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main(sys.argv[1:])
