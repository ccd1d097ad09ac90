"""An API key that never shows itself in a repr, a str, a log line, an error or a dump.

:class:`Secret` is deliberately not an attrs class: ``attrs.asdict`` and
``cattrs.unstructure`` of a value that holds one (an ``HttpRequest``'s headers) recurse
into attrs classes, and would copy the key out. A plain class with ``__slots__`` is left
as it is by both, and its repr stays masked.
"""

from __future__ import annotations

__all__ = ["Secret"]


class Secret:
    """Wraps a credential. Only :meth:`reveal` gives the value, and only the transport and
    the webhook verifier call it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    @classmethod
    def of(cls, value: str | Secret) -> Secret:
        return value if isinstance(value, Secret) else cls(value)
