"""``prism-async batch`` on JSONL files, against an in-process emulator over loopback."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from prism_async._cli._jsonl import LineError, parse_line, read_items
from prism_async._requests import VideoRequest
from prism_async.providers.lipsync import LipsyncRequest
from prism_async.providers.prism import TemplateRequest
from prism_async.testing import FAKE_MP4, EmulatorServer
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests._cli import export, run_cli

REPO = Path(__file__).parent.parent


@pytest.fixture
async def nanogpt(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[NanoGPTEmulator]:
    """A NanoGPT emulator (real time, quick jobs) that the CLI finds through the env."""
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.2, balance=Decimal(100))
    async with EmulatorServer([emulator]) as server:
        export(server, monkeypatch)
        yield emulator


def line(key: str, prompt: str, **fields: object) -> str:
    return json.dumps(
        {"key": key, "provider": "nanogpt", "model": "veo2-video", "prompt": prompt, **fields}
    )


@pytest.mark.anyio
async def test_a_malformed_line_is_reported_by_number_and_the_others_are_done(
    nanogpt: NanoGPTEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "batch.jsonl"
    lines = [
        line("a", "A lighthouse"),
        '{"key": "b", "provider": "nanogpt", "model": ',  # cut short
        line("c", "Autumn leaves"),
        line("d", "Rain", promt="typo"),
        "",
        line("e", "Neon at night", image="../assets/missing.png"),
        line("f", "Waves"),
    ]
    batch.write_text("\n".join(lines) + "\n")
    results, videos = tmp_path / "results.jsonl", tmp_path / "videos"

    status = await run_cli("batch", str(batch), "--out", str(results), "--download", str(videos))

    captured = capsys.readouterr()
    assert status == 1  # a malformed line and a refused item count as failures
    assert "line 2: not JSON" in captured.err
    assert "line 4: promt: unknown field" in captured.err
    outcomes = {r["key"]: r for r in map(json.loads, results.read_text().splitlines())}
    assert sorted(outcomes) == ["a", "c", "e", "f"]
    assert sorted(k for k, r in outcomes.items() if r["ok"]) == ["a", "c", "f"]
    assert "file not found" in outcomes["e"]["error"]  # refused before anything was sent
    assert nanogpt.creates == 3
    assert sorted(p.read_bytes() for p in videos.iterdir()) == [FAKE_MP4] * 3
    assert "prism-async batch batch.jsonl" in captured.out  # the summary table
    assert "2 malformed line(s) skipped" in captured.out


@pytest.mark.anyio
async def test_a_batch_run_again_with_its_journal_pays_for_nothing_new(
    nanogpt: NanoGPTEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(line(k, f"scene {k}") for k in "xyz") + "\n")
    journal = tmp_path / "journal.sqlite"

    assert await run_cli("batch", str(batch), "--journal", str(journal), "--concurrency", "3") == 0
    assert await run_cli("batch", str(batch), "--journal", str(journal)) == 0

    assert nanogpt.creates == 3
    out = capsys.readouterr().out
    assert out.count("ok ") == 6


@pytest.mark.anyio
async def test_fail_fast_exits_non_zero_and_submits_nothing_after_the_failure(
    nanogpt: NanoGPTEmulator, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.jsonl"
    rows = [line("bad", "storm [fail]")] + [line(f"n{i}", f"scene {i}") for i in range(5)]
    batch.write_text("\n".join(rows) + "\n")

    status = await run_cli("batch", str(batch), "--fail-fast", "--concurrency", "1")

    assert status == 1
    assert nanogpt.creates == 1


def test_every_line_of_the_shipped_example_is_a_request() -> None:
    errors: list[tuple[int, str]] = []
    example = REPO / "examples" / "batch.jsonl"
    items = list(read_items(example, lambda n, message: errors.append((n, message))))
    assert errors == []
    assert {type(i.request) for i in items} == {VideoRequest, TemplateRequest, LipsyncRequest}
    assert len({i.key for i in items}) == len(items)
    image = next(
        i.request.image for i in items if isinstance(i.request, VideoRequest) and i.request.image
    )
    assert image.path.is_file()  # relative to the example's folder


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"model": "m"}', "provider: required"),
        ('{"provider": "nanogpt", "type": "audio"}', "type: 'audio' is not one of"),
        ('{"provider": "nanogpt", "prompt": "x"}', "model: required"),
        (
            '{"provider": "nanogpt", "model": "m", "duration": "5s"}',
            "duration: expected an integer",
        ),
        ('{"provider": "nanogpt", "model": "m", "count": true}', "count: expected an integer"),
        ('{"provider": "prism", "type": "template"}', "template_id: required"),
        (
            '{"provider": "lipsync", "type": "lipsync", "segments": [{"start": 0}]}',
            "segments[0].end: required",
        ),
        (
            '{"provider": "lipsync", "type": "lipsync", "audio": [{"speech": {"script": "hi"}}]}',
            "audio[0].speech.voice_id: required",
        ),
    ],
)
def test_a_line_that_is_not_a_request_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(LineError, match=re.escape(message)):
        parse_line(text, 7, Path("."))


def test_relative_paths_are_read_from_the_batch_file_folder(tmp_path: Path) -> None:
    item = parse_line(line("k", "p", image="frames/cat.png"), 1, tmp_path)
    assert isinstance(item.request, VideoRequest) and item.request.image is not None
    assert item.request.image.path == tmp_path / "frames" / "cat.png"
    assert parse_line('{"provider": "nanogpt", "model": "m"}', 9, tmp_path).key == "line-9"
