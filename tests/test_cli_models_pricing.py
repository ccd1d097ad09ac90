"""``prism-async models`` shows each model's price where the catalog gives one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest

from prism_async._cli import main
from prism_async.testing import EmulatorServer
from prism_async.testing.nanogpt import NanoGPTEmulator

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer([NanoGPTEmulator()]) as server:
        monkeypatch.setenv("NANOGPT_BASE_URL", server.base_url("nanogpt"))
        monkeypatch.setenv("NANOGPT_API_KEY", server.api_key("nanogpt"))
        yield server


async def test_models_prints_the_price_of_each_model(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await anyio.to_thread.run_sync(main, ["models", "--provider", "nanogpt"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    veo = next(line for line in lines if line.startswith("veo2-video "))
    assert veo.endswith("0.35 USD per video")


async def test_models_json_carries_the_pricing_object(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await anyio.to_thread.run_sync(main, ["models", "--provider", "nanogpt", "--json"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    veo = next(r for r in records if r["id"] == "veo2-video")
    assert veo["pricing"]["currency"] == "USD"
    assert veo["pricing"]["per_video"] == 0.35
