"""What the command-line tests share: ``main()`` run beside the emulators, the emulators'
URLs and keys put in the environment as a user exports them, and the keys of every
``--json`` result line."""

from __future__ import annotations

import anyio.to_thread
import pytest

from prism_async._cli import main
from prism_async.testing import EmulatorServer

#: The keys of every result object ``--json`` prints.
REQUIRED_KEYS = {
    "provider", "id", "status", "outputs", "error", "progress", "cost", "created_at",
    "completed_at",
}  # fmt: skip

#: Each provider's environment variables: ``<PREFIX>_BASE_URL`` and ``<PREFIX>_API_KEY``.
PREFIXES = {"nanogpt": "NANOGPT", "prism": "PRISM", "lipsync": "SYNC"}


async def run_cli(*argv: str) -> int:
    """The exit status of ``prism-async ARGV``. ``main()`` runs its own event loop
    (anyio.run), so it runs in a worker thread beside the emulators' loop."""
    return await anyio.to_thread.run_sync(main, list(argv))


def export(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the environment at ``server``'s emulators; a provider it does not serve has
    no key (so the command line does not configure it)."""
    for name, prefix in PREFIXES.items():
        if name in server.emulators:
            monkeypatch.setenv(f"{prefix}_BASE_URL", server.base_url(name))
            monkeypatch.setenv(f"{prefix}_API_KEY", server.api_key(name))
        else:
            monkeypatch.delenv(f"{prefix}_API_KEY", raising=False)
