"""The installed version, read from the distribution's metadata when first asked for.

The version is written once, in pyproject.toml; the wheel's metadata carries it, and
this module reads it back. ``importlib.metadata`` is imported on first use only, so that
``import prism_async`` stays cheap (the import-time benchmark measures it).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

__all__ = ["DISTRIBUTION", "version"]

DISTRIBUTION = "prism-async"

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@functools.cache
def version() -> str:
    """``X.Y.Z`` as installed; from a source tree that is not installed, pyproject.toml's
    ``version``; else ``0+unknown``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:
        pass
    try:
        text = _PYPROJECT.read_text(encoding="utf-8")
    except OSError:
        return "0+unknown"
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, flags=re.MULTILINE)
    return found.group(1) if found else "0+unknown"
