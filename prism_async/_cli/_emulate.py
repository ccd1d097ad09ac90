"""``prism-async emulate``: every built-in emulator on one loopback server, until Ctrl-C."""

from __future__ import annotations

import anyio

from prism_async.testing import EmulatorApp, EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator

__all__ = ["serve"]

# Environment variable names a client reads, by emulator prefix.
_ENV = {"nanogpt": "NANOGPT", "prism": "PRISM", "lipsync": "SYNC"}


def emulators() -> list[EmulatorApp]:
    """One emulator of each API, with their default (real-time) durations."""
    return [NanoGPTEmulator(), PrismEmulator(), LipsyncEmulator()]


async def serve(*, host: str, port: int) -> None:
    async with EmulatorServer(emulators(), host=host, port=port) as server:
        print(f"prism-async emulators listening on {server.root} (Ctrl-C to stop)")
        for name, emulator in server.emulators.items():
            env = _ENV.get(name, name.upper())
            # The lipsync emulator signs its webhook deliveries with this secret.
            secret = getattr(emulator, "webhook_secret", None)
            signing = f"   webhook secret {secret}" if secret else ""
            print(
                f"  {name:<8} base URL {server.base_url(name)}   API key "
                f"{server.api_key(name)}{signing}"
            )
            print(f"           export {env}_BASE_URL={server.base_url(name)}")
            print(f"           export {env}_API_KEY={server.api_key(name)}", flush=True)
            if secret:
                print(f"           export {env}_WEBHOOK_SECRET={secret}", flush=True)
        await anyio.sleep_forever()
