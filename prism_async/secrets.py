"""An API key that never shows itself in a repr, a str, a log line or an error."""

from __future__ import annotations

import attrs

__all__ = ["Secret"]


@attrs.frozen(repr=False)
class Secret:
    """Wraps a credential. Only :meth:`reveal` gives the value, and only the transport and
    the webhook verifier call it."""

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    @classmethod
    def of(cls, value: str | Secret) -> Secret:
        return value if isinstance(value, Secret) else cls(value)
