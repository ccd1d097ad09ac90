"""Processes: a server in one, the client under test in another (a fresh interpreter per
measurement), so that the CPU a client reports is its own and nothing else's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "BenchError",
    "Server",
    "python_command",
    "run_client",
    "run_script",
    "serve",
    "spawn_client",
]

# The repository root: `python -m benchmarks.<module>` must find the package from here.
_ROOT = Path(__file__).resolve().parent.parent
_START_TIMEOUT = 30.0


class BenchError(RuntimeError):
    """A benchmark process failed; the message carries its stderr."""


def python_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONHASHSEED", "0")
    return env


class Server:
    """A running server process: its address and what it reports about itself."""

    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info

    @property
    def root(self) -> str:
        return str(self.info["root"])

    def get(self, path: str) -> Any:
        """GET ``path`` of the server's bench routes, decoded from JSON."""
        try:
            with urllib.request.urlopen(self.root + path, timeout=60) as response:
                return json.loads(response.read())
        except OSError as exc:
            raise BenchError(f"GET {path} from the server failed: {exc}") from exc


@contextmanager
def serve(module: str, *args: str) -> Iterator[Server]:
    """Start ``python -m module args`` and wait for the JSON line telling where it listens;
    stop it (SIGTERM, by its own pid) on leaving."""
    process = subprocess.Popen(
        python_command(module, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=_ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            _, err = process.communicate(timeout=_START_TIMEOUT)
            raise BenchError(f"server {module} did not start:\n{err}")
        yield Server(process, json.loads(line))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def run_client(module: str, spec: dict[str, Any], *, timeout: float = 900.0) -> dict[str, Any]:
    """Run one client measurement in a fresh interpreter: ``python -m module SPEC_JSON``;
    its last stdout line is the JSON report."""
    try:
        done = subprocess.run(
            python_command(module, json.dumps(spec)),
            capture_output=True,
            text=True,
            env=_env(),
            cwd=_ROOT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"client {module} ran over {timeout:g} s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BenchError(f"client {module} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def spawn_client(module: str, spec: dict[str, Any], stderr: IO[str]) -> subprocess.Popen[str]:
    """Start one client process (``python -m module SPEC_JSON``) that the caller talks to:
    stdin and stdout are pipes, stderr goes to ``stderr`` (a file: a pipe left unread could
    fill up and stall the client)."""
    return subprocess.Popen(
        python_command(module, json.dumps(spec)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=_env(),
        cwd=_ROOT,
    )


def run_script(code: str, args: Sequence[str] = (), *, importtime: bool = False) -> str:
    """Run ``python -c code`` in a fresh interpreter; its stdout (its stderr, where
    ``-X importtime`` writes, with ``importtime``)."""
    options = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [sys.executable, *options, "-c", code, *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=_ROOT,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"script failed:\n{done.stderr[-4000:]}")
    return done.stderr if importtime else done.stdout
