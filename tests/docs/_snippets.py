"""The documentation's code blocks, found and run as programs.

Every fenced block of README.md and of docs/**/*.md is a :class:`Snippet`. A ``python``
block runs as a standalone script (``python -``) and an ``sh`` block with
``bash -euo pipefail``, each in a fresh temporary directory that holds a few sample inputs
(:data:`SAMPLE_FILES`: the files the examples name, as a user would have their own), with
the environment of :func:`serve_emulators`: every provider's key and base URL pointing at
emulators on loopback, and ``prism-async`` on ``PATH``. A block directly preceded by a
line ``<!-- snippet: skip reason -->`` is not run; blocks in any other language (``text``,
``json``, ``toml``...) are not run either.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import struct
import subprocess
import sys
import threading
import wave
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import attrs

from prism_async.testing import FAKE_MP4, EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator

__all__ = [
    "RUNNABLE",
    "Snippet",
    "extract",
    "run_snippet",
    "sample_files",
    "serve_emulators",
]

#: The fence languages that run, and how.
RUNNABLE = {"python": ("{python}", "-"), "sh": ("bash", "-euo", "pipefail", "-s")}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w+-]*)")
_SKIP = re.compile(r"^\s*<!--\s*snippet:\s*skip\b\s*(?P<reason>.*?)\s*-->\s*$")
_EMULATED_SECONDS = 0.2  # every emulated job queues and runs this long in all


@attrs.frozen
class Snippet:
    """One fenced code block: where it starts (1-based line of its opening fence), its
    language, its code (the fence's indentation removed) and, if marked, why it is skipped."""

    path: str
    line: int
    lang: str
    code: str
    skip: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.lang in RUNNABLE


def extract(text: str, path: str) -> list[Snippet]:
    """Every fenced block of the Markdown ``text`` (named ``path`` in the snippets' ids)."""
    snippets: list[Snippet] = []
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        opening = _FENCE.match(lines[n])
        if opening is None:
            n += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        end = n + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            line = lines[end]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            end += 1
        marker = _SKIP.match(lines[n - 1]) if n > 0 else None
        skip = (marker["reason"] or "marked skip") if marker else None
        code = "\n".join(body) + "\n"
        snippets.append(Snippet(path, n + 1, opening["lang"].lower(), code, skip))
        n = end + 1
    return snippets


def _wav(seconds: float = 2.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack("<h", 0) * int(seconds * rate))
    return out.getvalue()


def _png() -> bytes:
    import prism_async._cli

    return (Path(prism_async._cli.__file__).parent / "assets" / "sample.png").read_bytes()


def sample_files() -> dict[str, bytes]:
    """The input files every snippet's directory starts with: the images, video and
    recording the examples name."""
    png, mp4, wav = _png(), FAKE_MP4, _wav()
    return {
        "frame.png": png,
        "product.png": png,
        "lamp.png": png,
        "ada1.png": png,
        "ada2.png": png,
        "face.mp4": mp4,
        "voice.wav": wav,
    }


def run_snippet(
    snippet: Snippet, directory: Path, env: Mapping[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``snippet`` in ``directory`` (its sample files written there first)."""
    for name, data in sample_files().items():
        (directory / name).write_bytes(data)
    command = [part.format(python=sys.executable) for part in RUNNABLE[snippet.lang]]
    return subprocess.run(
        command,
        input=snippet.code,
        cwd=directory,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


#: Seconds an emulated lipsync job stays PENDING (long enough for a CLI process to cancel it).
_LIPSYNC_PENDING = 2.0


def _emulators() -> list[NanoGPTEmulator | PrismEmulator | LipsyncEmulator]:
    """One emulator of each API, with jobs that end within a fraction of a second and
    balances no session of snippets can spend. Lipsync jobs stay PENDING a little longer:
    the cancel examples cancel a job that is still pending (the only one the API cancels),
    a command or two after creating it."""
    quick = _EMULATED_SECONDS
    return [
        NanoGPTEmulator(queue_seconds=0.0, run_seconds=quick, balance=Decimal(10**6)),
        PrismEmulator(queue_seconds=0.0, run_seconds=quick, credits=10**9),
        LipsyncEmulator(queue_seconds=_LIPSYNC_PENDING, run_seconds=quick, concurrency_limit=100),
    ]


@contextlib.contextmanager
def serve_emulators(base: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Serve the emulators on loopback from a background thread for the block; yield the
    snippets' environment (``base``, default ``os.environ``, plus every provider's key and
    base URL, the lipsync signing secret, and the interpreter's ``bin`` first on PATH)."""
    started = threading.Event()
    stop: asyncio.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None
    server: EmulatorServer | None = None
    failure: list[BaseException] = []

    async def serve() -> None:
        nonlocal stop, loop, server
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        async with EmulatorServer(list(_emulators())) as running:
            server = running
            started.set()
            await stop.wait()

    def thread_main() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the caller
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=thread_main, name="docs-emulators", daemon=True)
    thread.start()
    started.wait(30)
    if failure or server is None:
        raise RuntimeError(f"the emulators did not start: {failure!r}")
    env = dict(os.environ if base is None else base)
    names = {"nanogpt": "NANOGPT", "prism": "PRISM", "lipsync": "SYNC"}
    for name, emulator in server.emulators.items():
        env[f"{names[name]}_API_KEY"] = emulator.api_key
        env[f"{names[name]}_BASE_URL"] = server.base_url(name)
    lipsync = server.emulators["lipsync"]
    assert isinstance(lipsync, LipsyncEmulator)
    env["SYNC_WEBHOOK_SECRET"] = lipsync.webhook_secret
    env.pop("PRISM_ASYNC_WEBHOOK_URL", None)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    try:
        yield env
    finally:
        assert loop is not None and stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
