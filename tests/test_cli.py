"""The command line, run as a user runs it, against the emulators on loopback."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prism_async.testing import EmulatorApp, EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests._cli import REQUIRED_KEYS, export, run_cli

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmulatorServer]:
    emulators: list[EmulatorApp] = [
        NanoGPTEmulator(queue_seconds=0.1, run_seconds=0.2),
        LipsyncEmulator(queue_seconds=0.1, run_seconds=0.2),
        PrismEmulator(run_seconds=0.2),
    ]
    async with EmulatorServer(emulators) as server:
        export(server, monkeypatch)
        yield server


async def test_generate_prints_one_json_result_and_exits_0(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "fog", "--json"
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert set(record) >= REQUIRED_KEYS
    assert record["status"] == "succeeded"
    assert record["outputs"][0]["url"]
    assert record["cost"]["unit"] == "USD"


async def test_set_passes_a_raw_wire_field_and_download_writes_the_file(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = await run_cli(
        "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "fog",
        "--set", "num_frames=81", "--set", "style=anime", "--download", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    emulator = server.emulators["nanogpt"]
    sent = next(iter(emulator.jobs.values())).sim.request  # type: ignore[attr-defined]
    assert sent["num_frames"] == 81
    assert sent["style"] == "anime"
    assert len(list(tmp_path.glob("*.mp4"))) == 1
    assert "downloaded" in capsys.readouterr().err


async def test_bad_input_exits_2_with_one_line_and_no_traceback(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x",
        "--aspect-ratio", "5:4",
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "aspect_ratio" in err
    assert "Traceback" not in err
    assert server.emulators["nanogpt"].counts.total == 0  # type: ignore[attr-defined]


async def test_a_failed_generation_exits_1_and_says_why(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x [moderation]"
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "moderation" in captured.err
    assert "Traceback" not in captured.err


async def test_no_wait_prints_a_handle_that_wait_and_status_accept(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x", "--no-wait"
    )
    printed = capsys.readouterr().out
    assert code == 0
    (handle,) = shlex.split(printed)  # shell-quoted: pasted into a shell, it is one word
    assert handle.startswith("nanogpt:vid_")
    assert await run_cli("wait", handle, "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"
    job_id = handle.split(":", 1)[1].split("?", 1)[0]
    assert await run_cli("status", "--provider", "nanogpt", job_id, "--json") == 0
    assert json.loads(capsys.readouterr().out)["id"] == job_id


async def test_a_missing_key_is_named(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NANOGPT_API_KEY")
    code = await run_cli("generate", "--provider", "nanogpt", "--model", "m", "--prompt", "x")
    assert code == 2
    assert "NANOGPT_API_KEY" in capsys.readouterr().err


async def test_lipsync_with_audio_tracks_and_segments(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "generate", "--provider", "lipsync", "--model", "lipsync-2",
        "--video", "https://example.com/face.mp4",
        "--audio", "a=https://example.com/one.wav", "--script", "b=Hello there",
        "--voice", "voice-1", "--segment", "0:4:a", "--segment", "4:8:b:0:3",
        "--set", "sync_mode=cut_off", "--json",
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["status"] == "succeeded"


def test_emulate_prints_each_base_url_and_key() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "prism_async", "emulate", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(10)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    text = "".join(lines)
    for name, env in (("nanogpt", "NANOGPT"), ("prism", "PRISM"), ("lipsync", "SYNC")):
        assert f"/{name}" in text
        assert f"export {env}_API_KEY=" in text
    assert "/nanogpt/api" in text


async def test_prism_templates_and_characters_are_listed_and_created(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert await run_cli("templates", "--json") == 0
    templates = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "featured-ugc-pitch" in {t["id"] for t in templates}
    face = tmp_path / "face.png"
    face.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    code = await run_cli("characters", "create", "--name", "Ada", "--image", str(face), "--json")
    created = json.loads(capsys.readouterr().out)
    assert code == 0
    assert created["name"] == "Ada"
    assert await run_cli("characters", "list", "--json") == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert created["id"] in {c["id"] for c in listed}


async def test_prism_template_generation_uploads_an_at_path_variable(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    image = tmp_path / "product.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    code = await run_cli(
        "generate", "--provider", "prism", "--template", "featured-ugc-pitch",
        "--var", "product=Lamp", "--var", f"product_image=@{image}", "--no-wait",
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert shlex.split(out.out)[0].startswith("prism:")


async def test_prism_template_missing_a_required_variable_is_refused(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "generate", "--provider", "prism", "--template", "featured-ugc-pitch",
        "--var", "product=Lamp", "--no-wait",
    )  # fmt: skip
    assert code == 2
    assert "product_image" in capsys.readouterr().err
    assert server.emulators["prism"].creates == 0  # type: ignore[attr-defined]
