"""The per-provider example scripts in examples/ run as a user runs them: a fresh Python
process, the provider's key and base URL in the environment, against the emulators."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

from prism_async.testing import EmulatorApp, EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
VARIABLES = {"nanogpt": "NANOGPT", "prism": "PRISM", "lipsync": "SYNC"}


@pytest.mark.parametrize(
    ("script", "provider", "route"),
    [
        ("nanogpt_text_to_video.py", "nanogpt", "generate"),
        ("prism_template.py", "prism", "template_generate"),
        ("lipsync.py", "lipsync", "create"),
    ],
)
async def test_the_example_script_generates_one_video(
    script: str, provider: str, route: str
) -> None:
    emulator: EmulatorApp
    if provider == "nanogpt":
        emulator = NanoGPTEmulator(queue_seconds=0.05, run_seconds=0.2)
    elif provider == "prism":
        emulator = PrismEmulator(run_seconds=0.2)
    else:
        emulator = LipsyncEmulator(queue_seconds=0.05, run_seconds=0.2)
    async with EmulatorServer([emulator]) as server:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.pop("PRISM_ASYNC_WEBHOOK_URL", None)
        env[f"{VARIABLES[provider]}_API_KEY"] = server.api_key(provider)
        env[f"{VARIABLES[provider]}_BASE_URL"] = server.base_url(provider)
        done = await anyio.run_process(
            [sys.executable, str(EXAMPLES / script)], env=env, check=False
        )
    assert done.returncode == 0, done.stderr.decode()
    status, url, *_ = done.stdout.decode().split()
    assert status == "succeeded"
    assert url.startswith(("http://", "https://"))
    assert emulator.counts.by_route[route] == 1
