"""Table 5: import time of ``prism_async`` against ``aiohttp``, each in a fresh interpreter
(interpreter start-up excluded), alternating, median of the mode's runs after one warm-up
each (which compiles any stale bytecode). ``import prism_async`` imports aiohttp itself,
so the ratio can never go below 1. The modules prism_async adds on top of aiohttp's, by
their own import time, come from one ``python -X importtime`` run of each.
"""

from __future__ import annotations

from benchmarks.lab import Lab
from benchmarks.procs import run_script
from benchmarks.stats import median
from benchmarks.table import Table, Target, fmt

__all__ = ["build", "heaviest_additions", "import_seconds"]

_RATIO = 1.3
_TIMED = (
    "import sys, time\n"
    "start = time.perf_counter()\n"
    "__import__(sys.argv[1])\n"
    "print(time.perf_counter() - start)\n"
)
_IMPORTTIME = "import importlib, sys; importlib.import_module(sys.argv[1])"
_SHOWN = 6


def import_seconds(module: str) -> float:
    return float(run_script(_TIMED, [module]))


def _self_times(module: str) -> dict[str, int]:
    """Each module imported with ``module``: its own import time, microseconds."""
    err = run_script(_IMPORTTIME, [module], importtime=True)
    times: dict[str, int] = {}
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        times[name.strip()] = int(own)
    return times


def heaviest_additions(count: int = _SHOWN) -> list[tuple[str, int]]:
    """The modules ``import prism_async`` loads that ``import aiohttp`` does not, by their
    own import time, heaviest first."""
    base = _self_times("aiohttp")
    added = {n: t for n, t in _self_times("prism_async").items() if n not in base}
    return sorted(added.items(), key=lambda item: -item[1])[:count]


def build(lab: Lab) -> Table:
    runs = lab.mode.import_runs
    for module in ("aiohttp", "prism_async"):
        import_seconds(module)  # warm-up
    times: dict[str, list[float]] = {"aiohttp": [], "prism_async": []}
    for _ in range(runs):
        for module, seen in times.items():
            seen.append(import_seconds(module))
    base = median(times["aiohttp"])
    table = Table(
        f"Table 5: import time, fresh interpreter, median of {runs} ({lab.mode.name})",
        ["import", "ms", "ratio to aiohttp"],
    )
    for module, seen in times.items():
        table.add(f"import {module}", fmt(median(seen) * 1000, 1), f"{median(seen) / base:.2f}x")
    ratio = median(times["prism_async"]) / base
    table.targets.append(
        Target(
            f"import prism_async at most {_RATIO}x import aiohttp", ratio <= _RATIO, f"{ratio:.2f}x"
        )
    )
    heavy = ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in heaviest_additions())
    table.notes.append(
        f"heaviest modules beyond aiohttp's (own time, one -X importtime run): {heavy}"
    )
    return table
