"""The snippets' environment: the emulators, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.docs._snippets import serve_emulators


@pytest.fixture(scope="session")
def snippet_env() -> Iterator[dict[str, str]]:
    """The environment every snippet runs in (providers pointed at the emulators)."""
    with serve_emulators() as env:
        yield env
