"""Prism's provider name and its refusal of invalid input, shared by its modules."""

from __future__ import annotations

from prism_async.providers import Api, refuser

__all__ = ["NAME", "Api", "refuse"]

NAME = "prism"
#: ``refuse(field, reason)``: the RequestValidationError for input Prism documents as invalid.
refuse = refuser(NAME)
