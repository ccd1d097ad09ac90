"""``prism-async emulate``: every built-in emulator on one loopback server, until Ctrl-C."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import anyio

from prism_async.testing import EmulatorApp, EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator

__all__ = ["serve"]

# Environment variable names a client reads, by emulator prefix.
_ENV = {"nanogpt": "NANOGPT", "prism": "PRISM", "lipsync": "SYNC"}


def emulators(balances: Iterable[tuple[str | None, Decimal]] = ()) -> list[EmulatorApp]:
    """One emulator of each API, with their default (real-time) durations and balances
    (NanoGPT $1,000,000, Prism 10,000,000 credits). ``balances``: ``(None, N)`` sets both
    accounts (N dollars, N credits), ``("nanogpt", N)`` or ``("prism", N)`` one (it wins over
    a plain N, whatever the order); of two values for the same account, the last."""
    chosen = dict(balances)
    nano = chosen.get("nanogpt", chosen.get(None))
    credits = chosen.get("prism", chosen.get(None))
    return [
        NanoGPTEmulator() if nano is None else NanoGPTEmulator(balance=nano),
        PrismEmulator() if credits is None else PrismEmulator(credits=int(credits)),
        LipsyncEmulator(),
    ]


async def serve(
    *, host: str, port: int, balances: Iterable[tuple[str | None, Decimal]] = ()
) -> None:
    async with EmulatorServer(emulators(balances), host=host, port=port) as server:
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
