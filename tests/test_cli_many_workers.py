"""``prism-async batch --journal postgresql://...`` as real processes: SIGTERM drains a
worker (exit 0, its running jobs given back), another worker takes them over without a
second create, and ``batch status`` shows each worker's part."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import asyncpg
import pytest

from prism_async.testing import EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from tests._postgres import fresh_database

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.timeout(120),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

ITEMS = 3


@pytest.fixture
async def lipsync() -> AsyncIterator[tuple[LipsyncEmulator, EmulatorServer]]:
    # Jobs long enough to be running when the first worker is drained.
    emulator = LipsyncEmulator(queue_seconds=0.0, run_seconds=4.0, concurrency_limit=100)
    async with EmulatorServer([emulator]) as server:
        yield emulator, server


def environment(emulator: LipsyncEmulator, server: EmulatorServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env |= {"SYNC_API_KEY": emulator.api_key, "SYNC_BASE_URL": server.base_url("lipsync")}
    return env


def batch_file(tmp_path: Path) -> Path:
    lines = [
        json.dumps(
            {
                "key": f"lip-{n}",
                "provider": "lipsync",
                "type": "lipsync",
                "video": "https://v.example/face.mp4",
                "audio": f"https://a.example/{n}.wav",
            }
        )
        for n in range(ITEMS)
    ]
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


async def owners(url: str) -> dict[str, int | None]:
    conn = await asyncpg.connect(url.partition("?")[0])
    try:
        rows = await conn.fetch("SELECT key, owner FROM prism_async.items ORDER BY key")
    finally:
        await conn.close()
    return {row["key"]: row["owner"] for row in rows}


async def test_sigterm_drains_a_worker_and_another_takes_its_jobs_over_without_a_second_create(
    lipsync: tuple[LipsyncEmulator, EmulatorServer], postgres_url: str, tmp_path: Path
) -> None:
    emulator, server = lipsync
    url = await fresh_database(postgres_url) + "?batch=cli&lease=30"
    env = environment(emulator, server)
    argv = [sys.executable, "-m", "prism_async", "batch", str(batch_file(tmp_path))]
    argv += ["--journal", url]

    async with await anyio.open_process(argv, env=env) as first:
        with anyio.fail_after(30):
            while emulator.creates < ITEMS:
                assert first.returncode is None, "the first worker ended early"
                await anyio.sleep(0.02)
            while len(await owners(url)) < ITEMS:
                await anyio.sleep(0.02)
        first.send_signal(signal.SIGTERM)
        with anyio.fail_after(20):
            await first.wait()
        assert first.stdout is not None
        out = b"".join([chunk async for chunk in first.stdout]).decode()
    assert first.returncode == 0
    assert "drained on SIGTERM" in out and "given back to the other workers" in out
    # Given back: no owner, so the next worker takes them over at once, not after 30 s.
    assert set((await owners(url)).values()) == {None}

    second = await anyio.run_process([*argv, "--out", str(tmp_path / "out.jsonl")], env=env)
    assert second.returncode == 0, second.stderr.decode()
    outcomes = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(o["key"] for o in outcomes) == [f"lip-{n}" for n in range(ITEMS)]
    assert all(o["ok"] and not o["from_journal"] for o in outcomes)
    assert emulator.creates == ITEMS  # taken over and waited on, never created again

    status = await anyio.run_process(
        [sys.executable, "-m", "prism_async", "batch", "status", "--journal", url, "--json"],
        env=env,
    )
    summary = json.loads(status.stdout)
    assert summary["states"]["finished"] == ITEMS
    (worker,) = summary["workers"]  # the second worker, which took every item over
    assert summary["workers"][worker]["finished"] == ITEMS
