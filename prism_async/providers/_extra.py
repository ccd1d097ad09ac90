"""How a provider reads a request's ``extra``: the one place its raw wire fields are sorted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import attrs

from prism_async._errors import RequestValidationError

__all__ = ["ExtraFields"]

_log = logging.getLogger("prism_async.providers")
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()

R = TypeVar("R")


def _mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value)


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen(kw_only=True)
class ExtraFields:
    """The fields a provider documents, to sort a request's ``extra`` by.

    :meth:`apply` reads ``extra`` so:

    - a ``None`` value is dropped (never sent as JSON null, never clears a typed field);
    - a key in ``typed`` (a typed attribute's name or its wire name) sets that attribute,
      so the attribute's own check runs on it (``extra={"resolution": "9999p"}`` is
      refused naming ``resolution``, before any request); it wins over the value the
      attribute had. Two keys for the same attribute (``generate_audio`` and
      ``generateAudio``) are refused;
    - any other key is sent as given; a key that is not in ``documented`` either is
      logged once per process and provider as a warning on the ``prism_async.providers``
      logger (a typo becomes visible; it is not an error, since APIs take model-specific
      fields beyond their documents).

    Args:
        provider: The provider's registered name (for messages).
        typed: Key (attribute name or wire name) to the request attribute it sets.
        documented: Documented wire fields that have no typed attribute: sent raw, silently.
    """

    provider: str
    typed: Mapping[str, str] = attrs.field(converter=_mapping)
    documented: frozenset[str] = attrs.field(default=frozenset(), converter=_names)

    def split(self, extra: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(typed attribute -> value, raw wire fields)`` from ``extra``, ``None`` dropped
        and each unknown key warned about (once per process and provider)."""
        typed: dict[str, Any] = {}
        keys: dict[str, str] = {}
        raw: dict[str, Any] = {}
        for key, value in extra.items():
            if value is None:
                continue
            attribute = self.typed.get(key)
            if attribute is None:
                if key not in self.documented:
                    self._warn(key)
                raw[key] = value
                continue
            if attribute in typed:
                raise RequestValidationError(
                    attribute,
                    f"given twice in extra (as {keys[attribute]!r} and {key!r})",
                    provider=self.provider,
                )
            typed[attribute] = value
            keys[attribute] = key
        return typed, raw

    def apply(self, request: R) -> tuple[R, dict[str, Any]]:
        """The request with its documented ``extra`` fields moved into their typed
        attributes, and the raw wire fields left to send (``request.extra`` is unchanged).

        The request must be an attrs class with an ``extra`` mapping.
        """
        typed, raw = self.split(getattr(request, "extra"))  # noqa: B009 - any request type
        if typed:
            request = attrs.evolve(request, **typed)  # type: ignore[misc]
        return request, raw

    def _warn(self, key: str) -> None:
        with _warned_lock:
            if (self.provider, key) in _warned:
                return
            _warned.add((self.provider, key))
        _log.warning(
            "%s: extra field %r is not a documented field; it is sent as given", self.provider, key
        )
