"""The command line never pays twice and never loses a paid job: the money cases of the
single-call and batch commands, counted on the emulators."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from prism_async._cli import EXIT_JOURNAL, EXIT_OUTCOME_UNKNOWN, EXIT_REFUSED
from prism_async._results import JobHandle
from prism_async.testing import EmulatorServer, Fault, FaultKind
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests._cli import PREFIXES, export, run_cli

pytestmark = pytest.mark.anyio


@pytest.fixture
async def nanogpt(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[NanoGPTEmulator, EmulatorServer]]:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.2, balance=Decimal(100))
    async with EmulatorServer([emulator]) as server:
        export(server, monkeypatch)
        yield emulator, server


@pytest.fixture
async def lipsync(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[LipsyncEmulator, EmulatorServer]]:
    emulator = LipsyncEmulator(queue_seconds=0.0, run_seconds=0.2, concurrency_limit=8)
    async with EmulatorServer([emulator]) as server:
        export(server, monkeypatch)
        yield emulator, server


def nano_batch(path: Path, count: int) -> Path:
    lines = [
        {"key": f"k{n}", "provider": "nanogpt", "model": "veo2-video", "prompt": f"p{n}"}
        for n in range(count)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def lipsync_batch(path: Path, count: int) -> Path:
    lines = [
        {
            "key": f"lip{n}",
            "provider": "lipsync",
            "type": "lipsync",
            "model": "lipsync-2",
            "video": f"https://a.example/face-{n}.mp4",
            "audio": f"https://a.example/voice-{n}.wav",
        }
        for n in range(count)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def outcomes(path: Path) -> dict[str, dict[str, object]]:
    return {r["key"]: r for r in map(json.loads, path.read_text().splitlines())}


# --- 4. A single create whose answer is lost --------------------------------------------------


async def test_generate_says_a_job_may_have_been_charged_and_exits_with_its_own_code(
    nanogpt: tuple[NanoGPTEmulator, EmulatorServer], capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = nanogpt[0]
    emulator.faults.inject("generate", Fault(kind=FaultKind.LOSE_RESPONSE))
    code = await run_cli(
        "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x"
    )
    err = capsys.readouterr().err
    assert code == EXIT_OUTCOME_UNKNOWN
    assert "may have been created and charged" in err
    assert "Do not run the same command again blindly" in err
    assert "Traceback" not in err
    assert emulator.creates == 1


# --- 1. Through the batch command: a lost answer, then an outage (lipsync) --------------------


async def test_a_batch_resumed_after_an_outage_creates_each_lipsync_item_once(
    lipsync: tuple[LipsyncEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = lipsync
    batch, journal = lipsync_batch(tmp_path / "b.jsonl", 5), tmp_path / "j.sqlite"
    out = tmp_path / "out.jsonl"
    emulator.faults.inject("create", Fault(kind=FaultKind.LOSE_RESPONSE, outage=60.0))
    first = await run_cli("batch", str(batch), "--journal", str(journal), "--out", str(out))
    assert first == 1
    assert not any(o["ok"] for o in outcomes(out).values())
    assert not any(o["uncertain"] for o in outcomes(out).values())  # replayable: not on you
    await server.come_up()
    second = await run_cli("batch", str(batch), "--journal", str(journal), "--out", str(out))
    assert second == 0
    assert all(o["ok"] for o in outcomes(out).values())
    assert emulator.creates == 5


# --- 4 and 5. Through the batch command: NanoGPT, lost answers and a server that is down ------


async def test_a_lost_nanogpt_answer_in_a_batch_is_uncertain_and_never_sent_again(
    nanogpt: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator = nanogpt[0]
    batch, journal = nano_batch(tmp_path / "b.jsonl", 3), tmp_path / "j.sqlite"
    out = tmp_path / "out.jsonl"
    emulator.faults.inject("generate", Fault(kind=FaultKind.LOSE_RESPONSE))
    for _ in range(2):
        code = await run_cli("batch", str(batch), "--journal", str(journal), "--out", str(out))
        assert code == 1
        assert sum(bool(o["uncertain"]) for o in outcomes(out).values()) == 1
    assert emulator.creates == 3  # the lost one is not created a second time


async def test_batch_items_sent_while_the_server_was_down_are_not_uncertain(
    nanogpt: tuple[NanoGPTEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = nanogpt
    batch, journal = nano_batch(tmp_path / "b.jsonl", 4), tmp_path / "j.sqlite"
    out = tmp_path / "out.jsonl"
    async with server.outage():
        assert await run_cli("batch", str(batch), "--journal", str(journal), "--out", str(out))
    assert not any(o["uncertain"] for o in outcomes(out).values())
    with sqlite3.connect(journal) as conn:
        states = {state for (state,) in conn.execute("SELECT state FROM items")}
    assert states <= {"unsent"}  # never sent: nothing for a human to check
    assert await run_cli("batch", str(batch), "--journal", str(journal), "--out", str(out)) == 0
    assert emulator.creates == 4


# --- 6. A truncated journal, and a folder that cannot take the downloads ----------------------


async def test_a_zero_byte_journal_is_one_line_and_no_create(
    nanogpt: tuple[NanoGPTEmulator, EmulatorServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator = nanogpt[0]
    journal = tmp_path / "j.sqlite"
    journal.write_bytes(b"")
    code = await run_cli(
        "batch", str(nano_batch(tmp_path / "b.jsonl", 3)), "--journal", str(journal)
    )
    err = capsys.readouterr().err
    assert code == EXIT_JOURNAL
    assert err.count("\n") == 1 and "empty" in err and str(journal) in err
    assert emulator.counts.total == 0


async def test_generate_refuses_a_download_folder_it_cannot_write_before_paying(
    nanogpt: tuple[NanoGPTEmulator, EmulatorServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator = nanogpt[0]
    (tmp_path / "file").write_text("")
    code = await run_cli(
        "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x",
        "--download", str(tmp_path / "file" / "videos"),
    )  # fmt: skip
    assert code == EXIT_REFUSED
    assert "--download" in capsys.readouterr().err
    assert emulator.counts.total == 0


# --- 3. A journal on a disk that fills up ------------------------------------------------------

# The child fills "the disk" for real: RLIMIT_FSIZE caps the size of any file it writes, so
# SQLite's writes to the journal fail as on a full disk, while the small fallback file still
# fits. SIGXFSZ is ignored so that the write fails instead of killing the process. The
# providers' request budgets are raised: the emulator's account allows this pace.
FULL_DISK_CHILD = """
import resource, signal, sys
limit = int(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from prism_async._provider import Rate
from prism_async.providers.nanogpt import NanoGPTProvider
NanoGPTProvider.rates = {k: Rate(requests=100_000, per_seconds=1.0) for k in NanoGPTProvider.rates}
from prism_async._cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
async def test_a_journal_that_fills_the_disk_loses_no_paid_job(tmp_path: Path) -> None:
    emulator = NanoGPTEmulator(
        queue_seconds=0.0, run_seconds=0.2, balance=Decimal(1000), submit_limit_per_minute=10**6
    )
    items = 60
    batch, journal = nano_batch(tmp_path / "b.jsonl", items), tmp_path / "j.sqlite"
    async with EmulatorServer([emulator]) as server:
        keys = {f"{prefix}_API_KEY" for prefix in PREFIXES.values()}
        env = {k: v for k, v in os.environ.items() if k not in keys}
        env |= {"NANOGPT_API_KEY": emulator.api_key, "NANOGPT_BASE_URL": server.base_url("nanogpt")}
        argv = [sys.executable, "-c", FULL_DISK_CHILD, str(64 * 1024)]
        argv += ["batch", str(batch), "--journal", str(journal), "--concurrency", "8"]
        with anyio.fail_after(60):
            done = await anyio.run_process(argv, env=env, check=False)
    err = done.stderr.decode()
    assert done.returncode == EXIT_JOURNAL, err
    assert "Traceback" not in err
    assert "cannot write" in err.splitlines()[-1]  # one closing line that says why
    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT handles FROM items WHERE handles IS NOT NULL").fetchall()
    journaled = {JobHandle.parse(h).id for (text,) in rows for h in json.loads(text)}
    fallback = tmp_path / "j.sqlite.unrecorded.jsonl"
    lines = (
        [json.loads(line) for line in fallback.read_text().splitlines()]
        if fallback.exists()
        else []
    )
    saved = {JobHandle.parse(h).id for line in lines for h in line["handles"]}
    assert set(emulator.jobs) <= journaled | saved  # every paid job is in a file
    assert emulator.creates < items  # no create started once the journal failed
