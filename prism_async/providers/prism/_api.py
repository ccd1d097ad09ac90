"""Prism's provider name, shared by its modules."""

from __future__ import annotations

from prism_async.providers._api import Api

__all__ = ["NAME", "Api"]

NAME = "prism"
