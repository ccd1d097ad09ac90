"""The README's webhook examples are the files in examples/, and they run as written:
against the lipsync emulator, the result comes by its signed callback, not by polling."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from prism_async.testing import EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["webhooks_aiohttp.py", "webhooks_starlette.py"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_readme_shows_the_example_file_verbatim(name: str) -> None:
    readme = (ROOT / "README.md").read_text()
    code = (ROOT / "examples" / name).read_text()
    assert f"```python\n{code}```" in readme


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(emu: LipsyncEmulator, server: EmulatorServer, port: int) -> dict[str, str]:
    return {
        "SYNC_API_KEY": emu.api_key,
        "SYNC_BASE_URL": server.base_url("lipsync"),
        "SYNC_WEBHOOK_SECRET": emu.webhook_secret,
        "PRISM_ASYNC_WEBHOOK_URL": f"http://127.0.0.1:{port}/hooks",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }


def lipsync_emulator() -> LipsyncEmulator:
    return LipsyncEmulator(webhook_secret="whsec_example", queue_seconds=0.05, run_seconds=0.3)


async def test_the_aiohttp_example_hears_its_result_by_webhook() -> None:
    emu = lipsync_emulator()
    async with EmulatorServer([emu]) as server:
        env = {**os.environ, **environment(emu, server, free_port())}
        script = str(ROOT / "examples" / "webhooks_aiohttp.py")
        done = await anyio.run_process([sys.executable, script], env=env, check=False)
    assert done.returncode == 0, done.stderr.decode()
    status, url = done.stdout.decode().split()
    assert status == "succeeded" and url.endswith(".mp4")
    assert emu.counts.by_route["generation"] == 0  # no status request: the callback told


async def test_the_starlette_example_answers_when_the_webhook_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    emu = lipsync_emulator()
    async with EmulatorServer([emu]) as server:
        port = free_port()
        for key, value in environment(emu, server, port).items():
            monkeypatch.setenv(key, value)
        spec = importlib.util.spec_from_file_location(
            "webhooks_starlette", ROOT / "examples" / "webhooks_starlette.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        config = uvicorn.Config(module.app, host="127.0.0.1", port=port, log_level="warning")
        uvicorn_server = uvicorn.Server(config)
        answer: dict[str, Any] = {}
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(uvicorn_server.serve)
            while not uvicorn_server.started:
                await anyio.sleep(0.01)
            asked = {"video": "https://example.com/face.mp4", "audio": "https://example.com/a.wav"}
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"http://127.0.0.1:{port}/lipsync", json=asked) as response,
            ):
                assert response.status == 200, await response.text()
                answer = json.loads(await response.text())
            uvicorn_server.should_exit = True
    assert answer["status"] == "succeeded"
    assert emu.counts.by_route["generation"] == 0
