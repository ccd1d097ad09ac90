"""``prism-async cancel``, ``batch --cancel-on-timeout`` and ``generate``'s live line, run
as a user runs them, against the emulators on loopback."""

from __future__ import annotations

import json
import os
import pty
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from prism_async import JobHandle
from prism_async.testing import EmulatorApp, EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests._cli import export, run_cli

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmulatorServer]:
    # Lipsync jobs stay PENDING for a minute: there is time to cancel them.
    emulators: list[EmulatorApp] = [
        NanoGPTEmulator(queue_seconds=0.1, run_seconds=0.6),
        LipsyncEmulator(queue_seconds=60, run_seconds=60),
    ]
    async with EmulatorServer(emulators) as server:
        export(server, monkeypatch)
        yield server


def cancels(server: EmulatorServer) -> int:
    emulator = server.emulators["lipsync"]
    assert isinstance(emulator, LipsyncEmulator)
    return emulator.counts.by_route["cancel"]


LIPSYNC = [
    "generate", "--provider", "lipsync", "--video", "https://media.example/face.mp4",
    "--audio", "https://media.example/voice.wav",
]  # fmt: skip


async def submitted(*argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert await run_cli(*argv, "--no-wait") == 0
    (handle,) = shlex.split(capsys.readouterr().out)  # printed as a shell word
    return handle


async def test_cancel_prints_the_canceled_job_and_exits_0(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = await submitted(*LIPSYNC, capsys=capsys)
    assert await run_cli("cancel", handle) == 0
    status, printed = capsys.readouterr().out.split()[:2]
    assert status == "canceled" and JobHandle.parse(printed).id == JobHandle.parse(handle).id
    assert cancels(server) == 1


async def test_cancel_json_prints_one_result_object(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = await submitted(*LIPSYNC, capsys=capsys)
    job_id = JobHandle.parse(handle).id
    assert await run_cli("cancel", "--provider", "lipsync", job_id, "--json") == 0
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["status"] == "canceled" and record["id"] == job_id


async def test_a_job_not_cancelable_exits_2_saying_why(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = await submitted(*LIPSYNC, capsys=capsys)
    assert await run_cli("cancel", handle) == 0
    capsys.readouterr()
    assert await run_cli("cancel", handle) == 2  # canceled already: no longer PENDING
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "only a PENDING generation" in captured.err
    assert cancels(server) == 2


async def test_cancel_on_a_provider_without_cancel_exits_2_sending_nothing(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    nano = server.emulators["nanogpt"]
    code = await run_cli("cancel", "nanogpt:vid_123")
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "nanogpt API has no way to cancel" in err
    assert "Traceback" not in err
    assert nano.counts.total == 0  # type: ignore[attr-defined]


async def test_batch_cancel_on_timeout_cancels_and_journals_the_jobs_that_time_out(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    batch = tmp_path / "batch.jsonl"
    line = {
        "key": "lip",
        "provider": "lipsync",
        "type": "lipsync",
        "video": "https://media.example/face.mp4",
        "audio": "https://media.example/voice.wav",
    }
    batch.write_text(json.dumps(line) + "\n")
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "journal.sqlite"
    argv = ["batch", str(batch), "--journal", str(journal), "--out", str(out), "--timeout", "0.5"]
    assert await run_cli(*argv, "--cancel-on-timeout") == 1
    (record,) = map(json.loads, out.read_text().splitlines())
    assert record["result"]["status"] == "canceled"
    assert "deadline passed" in record["error"]
    assert cancels(server) == 1
    capsys.readouterr()
    assert await run_cli("batch", "status", "--journal", str(journal), "--json") == 0
    assert json.loads(capsys.readouterr().out)["states"]["finished"] == 1


async def test_batch_sends_no_cancel_without_the_flag(
    server: EmulatorServer, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.jsonl"
    line = {"provider": "lipsync", "type": "lipsync", "video": "https://m.example/f.mp4"}
    batch.write_text(json.dumps({**line, "audio": "https://m.example/v.wav"}) + "\n")
    out = tmp_path / "out.jsonl"
    assert await run_cli("batch", str(batch), "--out", str(out), "--timeout", "0.5") == 1
    (record,) = map(json.loads, out.read_text().splitlines())
    assert record["result"] is None and "deadline passed" in record["error"]
    assert cancels(server) == 0


# --- generate's live line -------------------------------------------------------------------

GENERATE = [
    sys.executable, "-m", "prism_async", "generate", "--provider", "nanogpt",
    "--model", "veo2-video", "--prompt", "fog",
]  # fmt: skip


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    env.update(TERM="xterm-256color", COLUMNS="120")
    return env


def run_on_a_terminal(argv: list[str]) -> tuple[int, bytes]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; its exit status and all
    it wrote there."""
    master, slave = pty.openpty()
    try:
        child = subprocess.Popen(argv, stdout=slave, stderr=slave, env=child_env())
    finally:
        os.close(slave)
    seen = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child has gone and the terminal is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    return child.wait(timeout=30), bytes(seen)


def nano_job_line(text: str) -> bool:
    """Whether ``text`` holds the live line: a NanoGPT job's handle, a status and the
    elapsed time (``0m00s``)."""
    states = ("submitted", "queued", "running", "succeeded")
    return any(
        "nanogpt:vid_" in row and any(s in row for s in states) and "0m0" in row
        for row in text.splitlines()
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
async def test_generate_shows_a_live_line_on_a_terminal(server: EmulatorServer) -> None:
    pytest.importorskip("rich")
    code, seen = await anyio.to_thread.run_sync(run_on_a_terminal, GENERATE)
    text = seen.decode(errors="replace").replace("\r", "\n")
    assert code == 0, text
    assert nano_job_line(text), text
    assert "succeeded" in text


async def test_generate_on_a_pipe_writes_exactly_the_result(server: EmulatorServer) -> None:
    done = await anyio.run_process([*GENERATE, "--json"], env=child_env(), check=False)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.decode().splitlines()
    assert json.loads(line)["status"] == "succeeded"
    assert not nano_job_line(done.stderr.decode())
    assert b"\x1b" not in done.stdout + done.stderr  # no terminal control codes at all
