"""The machine and code a run measured: CPUs, CPU model, Python, library versions, commit."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["describe"]

_ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> list[str]:
    """One line per fact."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--", "prism_async")
    if dirty:
        commit += f" + uncommitted changes to {len(dirty.splitlines())} files in prism_async/"
    return [
        f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"commit: {commit}",
        f"CPUs: {os.cpu_count()} ({_cpu_model()})",
        f"Python: {platform.python_version()} ({platform.python_implementation()})",
        f"aiohttp {_version('aiohttp')}, anyio {_version('anyio')}, attrs {_version('attrs')}, "
        f"cattrs {_version('cattrs')}, syncsdk {_version('syncsdk')}, "
        f"httpx {_version('httpx')}",
    ]
