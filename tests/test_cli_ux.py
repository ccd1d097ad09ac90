"""The command line's rough edges (issue 14, and --json of issue 13): --version, a batch
from stdin, what a timeout prints and exits with, one result object per --json line,
retries reported on the library's logger, the emulators' balances and secret."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from prism_async import Client, VideoRequest
from prism_async._cli import EXIT_FAILED, EXIT_TIMEOUT
from prism_async._cli._emulate import emulators
from prism_async._cli._parser import build_parser
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.testing import EmulatorApp, EmulatorServer
from prism_async.testing._faults import Fault, FaultKind
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests._cli import REQUIRED_KEYS, export, run_cli

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmulatorServer]:
    emulators_: list[EmulatorApp] = [
        NanoGPTEmulator(queue_seconds=0.1, run_seconds=0.2),
        PrismEmulator(run_seconds=0.2),
        LipsyncEmulator(queue_seconds=0.1, run_seconds=0.2),
    ]
    async with EmulatorServer(emulators_) as server:
        export(server, monkeypatch)
        yield server


def project_version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'^version = "([^"]+)"', text, flags=re.MULTILINE)
    assert found is not None
    return found.group(1)


# --- --version ------------------------------------------------------------------------------


def test_version_prints_the_installed_version_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prism_async", "--version"], capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"prism-async {project_version()}\n"


def test_dunder_version_reads_the_same_single_source() -> None:
    import prism_async

    assert prism_async.__version__ == project_version()


def test_importing_the_package_does_not_import_importlib_metadata() -> None:
    code = "import sys, prism_async; print('importlib.metadata' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


# --- batch - ---------------------------------------------------------------------------------


async def test_batch_dash_reads_the_batch_from_stdin(
    server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    lines = [
        {"key": "a", "provider": "nanogpt", "model": "veo2-video", "prompt": "fog"},
        {"key": "b", "provider": "prism", "model": "veo-3.1", "prompt": "sea"},
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(json.dumps(x) + "\n" for x in lines)))
    out = tmp_path / "results.jsonl"
    code = await run_cli("batch", "-", "--out", str(out))
    assert code == 0, capsys.readouterr().err
    keys = {json.loads(line)["key"] for line in out.read_text().splitlines()}
    assert keys == {"a", "b"}


async def test_a_batch_file_named_status_still_runs_as_dot_slash_status(
    server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    line = {"key": "a", "provider": "nanogpt", "model": "veo2-video", "prompt": "fog"}
    (tmp_path / "status").write_text(json.dumps(line) + "\n")
    assert await run_cli("batch", "./status", "--out", "r.jsonl") == 0
    assert json.loads((tmp_path / "r.jsonl").read_text())["key"] == "a"


# --- --json and timeouts --------------------------------------------------------------------


async def test_a_timeout_prints_the_last_known_result_and_exits_with_its_own_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = NanoGPTEmulator(queue_seconds=0.0, run_seconds=60.0)
    async with EmulatorServer([slow]) as server:
        monkeypatch.setenv("NANOGPT_BASE_URL", server.base_url("nanogpt"))
        monkeypatch.setenv("NANOGPT_API_KEY", server.api_key("nanogpt"))
        code = await run_cli(
            "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x",
            "--timeout", "0.5", "--json",
        )  # fmt: skip
    captured = capsys.readouterr()
    assert code == EXIT_TIMEOUT
    assert EXIT_TIMEOUT not in (0, EXIT_FAILED)
    (line,) = captured.out.splitlines()
    record = json.loads(line)
    assert set(record) >= REQUIRED_KEYS | {"handle"}
    assert record["status"] in ("queued", "running")
    assert record["handle"].startswith("nanogpt:")
    assert "prism-async wait" in captured.err


def test_the_help_documents_the_exit_codes() -> None:
    text = build_parser().format_help()
    assert "Exit status" in text
    assert "5 a wait timed out" in text


async def test_no_wait_json_prints_one_result_object_per_job(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "generate", "--provider", "prism", "--model", "veo-3.1", "--prompt", "x",
        "--count", "2", "--no-wait", "--json",
    )  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    records = [json.loads(line) for line in lines]
    assert len(records) == 2
    for record in records:
        assert set(record) >= REQUIRED_KEYS | {"handle"}
        assert record["status"] in ("queued", "running")
        assert record["handle"].startswith("prism:")
        assert record["provider"] == "prism"


async def test_no_wait_json_says_the_status_the_create_answered(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # A direct generation is created queued; a template generate answers "generating".
    direct = ("--provider", "prism", "--model", "veo-3.1", "--prompt", "x")
    assert await run_cli("generate", *direct, "--no-wait", "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "queued"
    template = (
        "--provider", "prism", "--template", "featured-product-spin",
        "--var", "product=Desk lamp",
    )  # fmt: skip
    assert await run_cli("generate", *template, "--no-wait", "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "running"


async def test_every_json_line_of_generate_wait_and_status_is_a_result_object(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x")
    assert await run_cli("generate", *base, "--no-wait", "--json") == 0
    handle = json.loads(capsys.readouterr().out)["handle"]
    printed: list[str] = []
    for argv in (["wait", handle, "--json"], ["status", handle, "--json"]):
        assert await run_cli(*argv) == 0
        printed += capsys.readouterr().out.splitlines()
    assert await run_cli("generate", *base, "--json") == 0
    printed += capsys.readouterr().out.splitlines()
    assert len(printed) == 3
    for line in printed:
        record = json.loads(line)
        assert set(record) >= REQUIRED_KEYS | {"handle"}
        assert record["status"] == "succeeded"


# --- retries are logged by the library, not by stamina --------------------------------------


async def test_a_retried_request_prints_no_stamina_warning_under_the_cli(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    nano = server.emulators["nanogpt"]
    assert isinstance(nano, NanoGPTEmulator)
    nano.faults.inject("status", Fault(kind=FaultKind.STATUS, status=503, retry_after="0"))
    code = await run_cli(
        "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x", "--json"
    )
    err = capsys.readouterr().err
    assert code == 0
    assert nano.counts.by_route["status"] >= 2  # the 503 was retried
    assert "stamina" not in err
    assert "retry" not in err.lower()


async def test_a_retry_is_logged_on_the_library_logger_with_its_try_number(
    server: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    nano = server.emulators["nanogpt"]
    assert isinstance(nano, NanoGPTEmulator)
    nano.faults.inject("status", Fault(kind=FaultKind.STATUS, status=503, retry_after="0"))
    provider = NanoGPTProvider(
        api_key=server.api_key("nanogpt"), base_url=server.base_url("nanogpt")
    )
    caplog.set_level(logging.INFO, logger="prism_async")
    async with Client(provider) as client:
        result = await client.generate(VideoRequest(model="veo2-video", prompt="x"))
    assert result.status.value == "succeeded"
    retries = [r for r in caplog.records if "try 1 failed" in r.getMessage()]
    assert retries, [r.getMessage() for r in caplog.records]
    assert all(r.name.startswith("prism_async.") for r in retries)
    assert "/video/status" in retries[0].getMessage()
    assert not [r for r in caplog.records if r.name.startswith("stamina")]


def test_the_library_configures_no_handler() -> None:
    import prism_async  # noqa: F401

    for name in ("prism_async", "prism_async._transport"):
        assert not [
            h for h in logging.getLogger(name).handlers if not isinstance(h, logging.NullHandler)
        ]


# --- emulators ------------------------------------------------------------------------------


def test_the_emulators_start_with_generous_balances() -> None:
    nano, prism, _ = emulators()
    assert isinstance(nano, NanoGPTEmulator) and isinstance(prism, PrismEmulator)
    assert nano.balance == Decimal(1_000_000)
    assert prism.credits == 10_000_000
    assert NanoGPTEmulator().balance == Decimal(1_000_000)
    assert PrismEmulator().credits == 10_000_000


@pytest.mark.parametrize(
    ("argv", "nano", "credits"),
    [
        (["--balance", "25"], Decimal(25), 25),
        (["--balance", "nanogpt=3.5"], Decimal("3.5"), 10_000_000),
        (["--balance", "prism=700", "--balance", "9"], Decimal(9), 700),
    ],
)
def test_emulate_balance_sets_one_or_every_account(
    argv: list[str], nano: Decimal, credits: int
) -> None:
    args = build_parser().parse_args(["emulate", *argv])
    made = emulators(args.balance)
    assert isinstance(made[0], NanoGPTEmulator) and isinstance(made[1], PrismEmulator)
    assert (made[0].balance, made[1].credits) == (nano, credits)


@pytest.mark.parametrize("value", ["lipsync=5", "-1", "lots", "nan"])
def test_emulate_refuses_a_bad_balance(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["emulate", "--balance", value])
    assert exited.value.code == 2
    assert "--balance" in capsys.readouterr().err


def test_emulate_prints_the_lipsync_webhook_secret_and_takes_a_balance() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "prism_async", "emulate", "--port", "0", "--balance", "50"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(11)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    text = "".join(lines)
    assert "export SYNC_WEBHOOK_SECRET=whsec_" in text
    assert "webhook secret whsec_" in text


# --- prism-async examples -------------------------------------------------------------------


async def test_examples_copies_a_runnable_batch_and_the_scripts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prism_async._cli._jsonl import read_items

    target = tmp_path / "ex"
    assert await run_cli("examples", str(target)) == 0
    names = {p.name for p in target.iterdir()}
    expected = {"batch.jsonl", "sample.png", "nanogpt_text_to_video.py", "prism_template.py"}
    assert names >= expected | {"lipsync.py", "webhooks_aiohttp.py"}
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(names)
    errors: list[tuple[int, str]] = []
    items = list(read_items(target / "batch.jsonl", lambda n, m: errors.append((n, m))))
    assert errors == []
    assert items
    (target / "batch.jsonl").write_text("mine\n")
    assert await run_cli("examples", str(target)) == 0  # a file already there is kept
    assert (target / "batch.jsonl").read_text() == "mine\n"
    assert "kept" in capsys.readouterr().out


async def test_the_readme_batch_command_runs_on_the_copied_examples(
    server: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("examples", str(tmp_path)) == 0
    out = tmp_path / "results.jsonl"
    code = await run_cli("batch", str(tmp_path / "batch.jsonl"), "--out", str(out))
    assert code == 0, capsys.readouterr().err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and all(r["ok"] for r in records)
