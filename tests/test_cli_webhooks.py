"""The command line with webhooks, as real processes against the real emulators on loopback:
``generate`` and ``batch`` with ``--webhook-url URL --listen HOST:PORT`` end their waits on
the emulator's signed callbacks (no status request), and ``prism-async webhooks serve``
prints what it verifies and refuses the rest.

The emulated jobs are short and the safety-net poll is the default (300 s): a command that
ends within these tests' few seconds ended on its callbacks.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import aiohttp
import anyio
import pytest
from anyio.abc import Process

from prism_async._cli import EXIT_REFUSED, main
from prism_async.batch import ItemState, JournalEntry, SQLiteJournal
from prism_async.providers.lipsync import sign
from prism_async.providers.prism import PrismProvider
from prism_async.testing import EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from prism_async.webhooks import WebhookReceiver
from tests.test_cli_processes import (
    child_env,
    cli,
    lipsync_items,
    nanogpt_env,
    shown,
    write_jsonl,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SECRET = "whsec_cli_test_secret"
VIDEO = "https://media.example/face.mp4"
AUDIO = "https://media.example/voice.wav"


def free_port() -> int:
    """A loopback port nobody listens on (a child binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def hooks(port: int) -> list[str]:
    """The webhook flags for a receiver on ``port``, at ``/hooks``."""
    return ["--webhook-url", f"http://127.0.0.1:{port}/hooks", "--listen", f"127.0.0.1:{port}"]


@contextlib.asynccontextmanager
async def lipsync_server() -> AsyncIterator[tuple[LipsyncEmulator, dict[str, str]]]:
    """A quick lipsync emulator signing with ``SECRET``, and a child environment for it
    (the secret in ``SYNC_WEBHOOK_SECRET``)."""
    emulator = LipsyncEmulator(
        webhook_secret=SECRET,
        queue_seconds=0.05,
        run_seconds=0.3,
        concurrency_limit=16,
        create_limit_per_minute=1000,
    )
    async with EmulatorServer([emulator]) as server:
        env = child_env(
            SYNC_API_KEY=emulator.api_key,
            SYNC_BASE_URL=server.base_url("lipsync"),
            SYNC_WEBHOOK_SECRET=SECRET,
        )
        yield emulator, env


def status_gets(emulator: LipsyncEmulator) -> int:
    """Status requests the emulator answered."""
    return emulator.counts.by_route["generation"]


async def run(argv: Sequence[str], env: dict[str, str]) -> CompletedProcess[bytes]:
    with anyio.fail_after(20):
        return await anyio.run_process(list(argv), env=env, check=False)


# -- generate ------------------------------------------------------------------------------


async def test_generate_ends_on_the_signed_callback_with_no_status_request() -> None:
    port = free_port()
    async with lipsync_server() as (emulator, env):
        argv = cli("generate", "--provider", "lipsync", "--video", VIDEO, "--audio", AUDIO)
        started = time.monotonic()
        done = await run([*argv, "--json", *hooks(port)], env)
        elapsed = time.monotonic() - started

    assert done.returncode == 0, shown(done)
    (line,) = done.stdout.decode().splitlines()
    record = json.loads(line)
    assert record["status"] == "succeeded"
    assert record["outputs"][0]["url"]
    assert emulator.creates == 1
    (sent,) = emulator.webhooks_sent
    assert sent[0] == f"http://127.0.0.1:{port}/hooks/lipsync"
    assert status_gets(emulator) == 0  # ended by the callback: no status request at all
    assert elapsed < 15  # not by the 300 s safety net
    err = done.stderr.decode()
    assert f"receiving webhooks on 127.0.0.1:{port} at /hooks" in err
    assert SECRET not in err and SECRET not in done.stdout.decode()  # never printed


async def test_generate_takes_the_secret_from_the_flag_too() -> None:
    port = free_port()
    async with lipsync_server() as (emulator, env):
        del env["SYNC_WEBHOOK_SECRET"]
        argv = cli("generate", "--provider", "lipsync", "--video", VIDEO, "--audio", AUDIO)
        done = await run([*argv, *hooks(port), "--webhook-secret", SECRET], env)
    assert done.returncode == 0, shown(done)
    assert status_gets(emulator) == 0
    assert SECRET not in done.stderr.decode() + done.stdout.decode()


async def test_without_webhook_flags_the_cli_polls_whatever_the_environment_says() -> None:
    async with lipsync_server() as (emulator, env):
        # A URL for some other app's receiver: nothing in the CLI's process would take
        # the callbacks there, so the CLI polls instead of waiting on the safety net.
        env["PRISM_ASYNC_WEBHOOK_URL"] = f"http://127.0.0.1:{free_port()}/elsewhere"
        argv = cli("generate", "--provider", "lipsync", "--video", VIDEO, "--audio", AUDIO)
        done = await run(argv, env)
    assert done.returncode == 0, shown(done)
    assert emulator.webhooks_sent == []  # the job named no callback
    assert status_gets(emulator) >= 1


async def test_a_prism_template_job_ends_on_its_callback_confirmed_by_one_status_fetch() -> None:
    port = free_port()
    emulator = PrismEmulator(run_seconds=0.3)
    async with EmulatorServer([emulator]) as server:
        env = child_env(PRISM_API_KEY=emulator.api_key, PRISM_BASE_URL=server.base_url("prism"))
        env.pop("SYNC_WEBHOOK_SECRET", None)  # Prism's tokens need no secret in one process
        argv = cli("generate", "--provider", "prism", "--template", "featured-ugc-pitch")
        argv += ["--var", "product=Lamp", "--var", "product_image=https://media.example/l.png"]
        done = await run([*argv, "--json", *hooks(port)], env)
    assert done.returncode == 0, shown(done)
    assert json.loads(done.stdout)["status"] == "succeeded"
    assert emulator.webhooks_sent[0][0].startswith(f"http://127.0.0.1:{port}/hooks/prism/")
    assert emulator.counts.by_route["generation"] == 1  # the one confirming fetch


async def test_a_lipsync_job_without_a_signing_secret_is_polled_with_a_warning() -> None:
    port = free_port()
    async with lipsync_server() as (emulator, env):
        del env["SYNC_WEBHOOK_SECRET"]  # lipsync deliveries could not be verified
        argv = cli("generate", "--provider", "lipsync", "--video", VIDEO, "--audio", AUDIO)
        done = await run([*argv, *hooks(port)], env)
    assert done.returncode == 0, shown(done)
    assert "no signing secret for lipsync webhooks" in done.stderr.decode()
    assert emulator.webhooks_sent == []
    assert status_gets(emulator) >= 1


async def test_a_provider_without_callbacks_is_polled_with_a_warning() -> None:
    port = free_port()
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.2, balance=Decimal(10))
    async with EmulatorServer([emulator]) as server:
        env = nanogpt_env(emulator, server)
        argv = cli("generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x")
        done = await run([*argv, *hooks(port)], env)
    assert done.returncode == 0, shown(done)
    assert "warning: --webhook-url: nanogpt does not call back" in done.stderr.decode()


# -- batch ---------------------------------------------------------------------------------

ITEMS = 4


async def journal_entries(path: Path) -> dict[str, JournalEntry]:
    async with SQLiteJournal(path) as journal:
        entries = {}
        for n in range(ITEMS):
            entry = await journal.lookup(f"lip{n}")
            assert entry is not None, f"lip{n} is not in {path.name}"
            entries[entry.key] = entry
        return entries


def comparable(entry: JournalEntry) -> dict[str, Any]:
    """A journal entry without what differs between two runs of one batch: the job id
    (also in its output's URL), the create's key, the times."""
    (result,) = entry.results.values()
    kept = {k: v for k, v in result.items() if k not in ("id", "created_at", "completed_at")}
    kept = json.loads(json.dumps(kept).replace(result["id"], "<id>"))
    return {
        "state": entry.state,
        "provider": entry.provider,
        "fingerprint": entry.fingerprint,
        "handles": len(entry.handles),
        "result": kept,
        "error": entry.error,
    }


async def test_a_batch_with_webhooks_journals_every_item_as_a_polled_batch_does(
    tmp_path: Path,
) -> None:
    batch = write_jsonl(tmp_path / "lipsync.jsonl", lipsync_items(ITEMS))
    polled_journal, hooked_journal = tmp_path / "polled.sqlite", tmp_path / "hooked.sqlite"
    polled_out, hooked_out = tmp_path / "polled.jsonl", tmp_path / "hooked.jsonl"
    async with lipsync_server() as (emulator, env):
        polled = await run(
            cli("batch", str(batch), "--journal", str(polled_journal), "--out", str(polled_out)),
            env,
        )
        assert polled.returncode == 0, shown(polled)
        polls = status_gets(emulator)
        assert polls >= ITEMS and emulator.webhooks_sent == []

        port = free_port()
        argv = cli("batch", str(batch), "--journal", str(hooked_journal), *hooks(port))
        hooked = await run([*argv, "--out", str(hooked_out)], env)
        assert hooked.returncode == 0, shown(hooked)
        assert status_gets(emulator) == polls  # the second run fetched no status
        assert len(emulator.webhooks_sent) == ITEMS
        assert emulator.creates == 2 * ITEMS

    by_poll, by_callback = (
        await journal_entries(polled_journal),
        await journal_entries(hooked_journal),
    )
    assert all(e.state is ItemState.FINISHED for e in by_callback.values())
    assert {k: comparable(e) for k, e in by_callback.items()} == {
        k: comparable(e) for k, e in by_poll.items()
    }
    for out in (polled_out, hooked_out):
        outcomes = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(o["key"] for o in outcomes) == [f"lip{n}" for n in range(ITEMS)]
        assert all(o["ok"] for o in outcomes)


# -- webhooks serve ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(port: int, *flags: str) -> AsyncIterator[Process]:
    """``prism-async webhooks serve --port PORT FLAGS`` as a child, once it listens."""
    argv = cli("webhooks", "serve", "--port", str(port), *flags)
    env = child_env()
    env.pop("SYNC_WEBHOOK_SECRET", None)
    async with await anyio.open_process(argv, env=env) as child:
        try:
            assert child.stderr is not None
            said = b""
            with anyio.fail_after(10):
                while b"listening on" not in said:
                    said += await child.stderr.receive()
            yield child
        finally:
            if child.returncode is None:
                child.kill()
            with anyio.CancelScope(shield=True), anyio.fail_after(10):
                await child.wait()


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as got:
        return got.status


def generation(job_id: str) -> bytes:
    payload = {
        "id": job_id,
        "status": "COMPLETED",
        "model": "lipsync-2",
        "input": [],
        "createdAt": "2026-12-05T10:00:00Z",
        "outputUrl": "https://cdn.example/out.mp4",
    }
    return json.dumps(payload, separators=(",", ":")).encode()


async def read_line(child: Process) -> dict[str, Any]:
    assert child.stdout is not None
    text = b""
    with anyio.fail_after(5):
        while not text.endswith(b"\n"):
            text += await child.stdout.receive()
    record: dict[str, Any] = json.loads(text)
    return record


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_webhooks_serve_prints_a_signed_delivery_and_refuses_a_tampered_one(
    stop: signal.Signals,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/lipsync"
    async with serving(port, "--webhook-secret", SECRET) as child:
        body = generation("gen-123")
        signed = {"Sync-Signature": sign(body, SECRET, timestamp=int(time.time()))}
        tampered = body.replace(b"out.mp4", b"evil.mp4")
        assert await post(url, tampered, signed) == 401
        forged = {"Sync-Signature": sign(body, "whsec_guess", timestamp=int(time.time()))}
        assert await post(url, body, forged) == 401
        assert await post(f"http://127.0.0.1:{port}/hooks/nanogpt", body, signed) == 404
        assert await post(url, body, signed) == 200

        record = await read_line(child)  # only the signed delivery is printed
        assert record["provider"] == "lipsync"
        assert record["job_id"] == "gen-123"
        assert record["waited_on"] is False
        assert record["result"]["status"] == "succeeded"
        assert record["result"]["outputs"][0]["url"] == "https://cdn.example/out.mp4"

        child.send_signal(stop)
        with anyio.fail_after(10):
            await child.wait()
        assert child.stdout is not None and child.stderr is not None
        rest = b"".join([chunk async for chunk in child.stdout])
        err = b"".join([chunk async for chunk in child.stderr]).decode()
    assert child.returncode == 0, err
    assert rest == b""  # nothing else was printed
    assert "webhook refused (401)" in err and "Traceback" not in err
    assert SECRET not in err


async def test_webhooks_serve_takes_prism_tokens_minted_with_the_same_secret_alone() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/hooks"
    prism = PrismProvider(api_key="k", base_url="http://127.0.0.1:9")
    ours = WebhookReceiver([prism], secret=SECRET)  # the submitting process's receiver
    theirs = WebhookReceiver([prism], secret="whsec_another")
    body = json.dumps({"id": "prism-job-1", "status": "completed"}).encode()
    async with serving(port, "--webhook-secret", SECRET) as child:
        assert await post(theirs.callback_url(base, "prism"), body, {}) == 404
        assert await post(ours.callback_url(base, "prism"), body, {}) == 200
        record = await read_line(child)
    assert record == {
        "provider": "prism",
        "job_id": "prism-job-1",
        "result": None,  # unsigned: to be confirmed by a status fetch
        "waited_on": False,
    }


async def test_webhooks_serve_mounted_at_the_root() -> None:
    port = free_port()
    async with serving(port, "--path", "/", "--webhook-secret", SECRET) as child:
        body = generation("gen-1")
        signed = {"Sync-Signature": sign(body, SECRET, timestamp=int(time.time()))}
        assert await post(f"http://127.0.0.1:{port}/hooks/lipsync", body, signed) == 404
        assert await post(f"http://127.0.0.1:{port}/lipsync", body, signed) == 200
        assert (await read_line(child))["job_id"] == "gen-1"


# -- usage errors: exit 2 naming the flag, before any request -------------------------------


def exit_status(argv: list[str]) -> int:
    """``main(argv)``'s exit status, argparse's own exit included."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


async def run_main(argv: list[str]) -> int:
    # main() runs its own event loop (anyio.run), so it runs in a worker thread here.
    return await anyio.to_thread.run_sync(exit_status, argv)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--webhook-url", "http://127.0.0.1:9/hooks"], "--listen"),
        (["--listen", "127.0.0.1:8080"], "--webhook-url"),
        (
            ["--webhook-url", "ftp://example.com/hooks", "--listen", "127.0.0.1:8080"],
            "--webhook-url",
        ),
        (["--webhook-url", "example.com/hooks", "--listen", "127.0.0.1:8080"], "--webhook-url"),
        (["--webhook-url", "https://example.com/h?x=1", "--listen", "0.0.0.0:80"], "--webhook-url"),
        (["--webhook-url", "https://example.com/hooks", "--listen", "127.0.0.1"], "--listen"),
        (["--webhook-url", "https://example.com/hooks", "--listen", "h:70000"], "--listen"),
        (["--webhook-url", "https://example.com/hooks", "--listen", "h:0"], "--listen"),
        (["--webhook-url", "https://example.com/hooks", "--listen", ":8080"], "--listen"),
        (["--webhook-url", "https://example.com/hooks", "--listen", "h:http"], "--listen"),
    ],
)
@pytest.mark.parametrize("command", ["generate", "batch"])
async def test_a_bad_webhook_flag_exits_2_naming_it_before_any_request(
    command: str,
    flags: list[str],
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator = LipsyncEmulator(webhook_secret=SECRET)
    async with EmulatorServer([emulator]) as server:
        for name in ("NANOGPT_API_KEY", "PRISM_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("SYNC_API_KEY", emulator.api_key)
        monkeypatch.setenv("SYNC_BASE_URL", server.base_url("lipsync"))
        if command == "generate":
            argv = ["generate", "--provider", "lipsync", "--video", VIDEO, "--audio", AUDIO]
        else:
            argv = ["batch", str(write_jsonl(tmp_path / "b.jsonl", lipsync_items(1)))]
        code = await run_main([*argv, *flags])
        err = capsys.readouterr().err
    assert code == EXIT_REFUSED, err
    assert named in err, err
    assert "Traceback" not in err
    assert emulator.counts.total == 0  # nothing was sent


async def test_no_wait_with_webhooks_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_API_KEY", "k")
    monkeypatch.setenv("SYNC_BASE_URL", "http://127.0.0.1:9")
    argv = ["generate", "--provider", "lipsync", "--video", VIDEO, "--audio", AUDIO]
    code = await run_main([*argv, "--no-wait", *hooks(8080)])
    assert code == EXIT_REFUSED
    assert "--no-wait" in capsys.readouterr().err


async def test_a_port_already_taken_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = LipsyncEmulator(webhook_secret=SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with EmulatorServer([emulator]) as server:
            monkeypatch.setenv("SYNC_API_KEY", emulator.api_key)
            monkeypatch.setenv("SYNC_BASE_URL", server.base_url("lipsync"))
            argv = ["generate", "--provider", "lipsync", "--video", VIDEO, "--audio", AUDIO]
            code = await run_main([*argv, *hooks(port)])
    err = capsys.readouterr().err
    assert code == EXIT_REFUSED, err
    assert f"--listen: cannot listen on 127.0.0.1:{port}" in err
    assert emulator.creates == 0


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--port", "8080"], "--webhook-secret"),  # every delivery would be refused
        (["--port", "0"], "--port"),
        (["--port", "99999"], "--port"),
        (["--port", "8080", "--path", "hooks"], "--path"),
        ([], "--port"),
    ],
)
def test_webhooks_serve_refuses_a_bad_flag(
    flags: list[str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("SYNC_WEBHOOK_SECRET", raising=False)
    assert exit_status(["webhooks", "serve", *flags]) == EXIT_REFUSED
    assert named in capsys.readouterr().err


async def test_webhooks_serve_on_a_port_already_taken_exits_2_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = cli("webhooks", "serve", "--port", str(port), "--webhook-secret", SECRET)
        done = await run(argv, child_env())
    assert done.returncode == EXIT_REFUSED, shown(done)
    assert f"--port: cannot listen on 127.0.0.1:{port}" in done.stderr.decode()


def test_the_help_tells_how_prism_tokens_are_verified(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["webhooks", "serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "only when it is given the same --webhook-secret" in text
