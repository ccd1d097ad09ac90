"""What every benchmark server process shares: telling the parent where it listens, and
running until the parent stops it."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

__all__ = ["announce", "until_stopped"]


def announce(info: dict[str, object]) -> None:
    """Print the server's address (and whatever else the parent needs) as one JSON line."""
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()


async def until_stopped() -> None:
    """Return on SIGTERM or SIGINT (the parent ends a server with SIGTERM)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
