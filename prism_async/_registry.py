"""Provider discovery through the ``prism_async.providers`` entry-point group.

The built-in providers register there exactly as a third-party provider would, in its own
``pyproject.toml``::

    [project.entry-points."prism_async.providers"]
    myapi = "my_package:MyProvider"

An entry point names a class with an ``env_key`` (its API key variable) and a
``from_env(environ)`` class method. How to write one: :mod:`prism_async.providers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from prism_async._provider import VideoProvider

__all__ = ["GROUP", "ProviderFactory", "available", "from_env", "load"]

GROUP = "prism_async.providers"


class ProviderFactory(Protocol):
    """What an entry point names: a provider class that configures itself from the
    environment (its ``*_API_KEY`` and ``*_BASE_URL`` variables)."""

    env_key: str

    def from_env(self, environ: Mapping[str, str]) -> VideoProvider: ...


def available() -> tuple[str, ...]:
    """The registered provider names, sorted."""
    return tuple(sorted({ep.name for ep in _entry_points()}))


def load(name: str) -> ProviderFactory:
    """The provider class registered as ``name``.

    Raises:
        KeyError: No provider has that name; the message lists the ones that exist.
    """
    for ep in _entry_points():
        if ep.name == name:
            factory: ProviderFactory = ep.load()
            return factory
    raise KeyError(f"no provider named {name!r} (available: {', '.join(available()) or 'none'})")


def from_env(name: str, environ: Mapping[str, str]) -> VideoProvider:
    """Build provider ``name`` from the environment."""
    return load(name).from_env(environ)


def _entry_points() -> Any:
    """The group's entry points. ``importlib.metadata`` is imported here, on first use:
    it costs tens of milliseconds that ``import prism_async`` need not pay."""
    from importlib.metadata import entry_points

    return entry_points(group=GROUP)
