"""Prism's catalog values: templates, characters, assets, and a page of them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from prism_async.providers import Media

__all__ = ["Asset", "Character", "Page", "Template", "TemplateVariable"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a paginated list; ask for the next with ``offset=page.next_offset``."""

    items: tuple[T, ...]
    offset: int
    limit: int
    has_more: bool

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.items)


@attrs.frozen(kw_only=True)
class TemplateVariable:
    """One input of a template (older docs' ``input_variables`` entries)."""

    key: str
    type: str
    required: bool = False
    label: str | None = None
    placeholder: str | None = None
    description: str | None = None
    default_value: str | None = None
    max_length: int | None = None
    min_length: int | None = None
    slot: str | None = None

    @property
    def is_media(self) -> bool:
        return self.type in ("image", "video", "audio")


@attrs.frozen(kw_only=True)
class Template:
    """A template, in either documented shape.

    ``input_variables`` is None when the response did not list them (the newer docs'
    shape), which means "unknown", not "none".
    """

    id: str
    title: str | None = None
    description: str | None = None
    kind: str | None = None
    model_name: str | None = None
    category: str | None = None
    duration_sec: float | None = None
    prompt_template: str | None = None
    input_variables: tuple[TemplateVariable, ...] | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    def variable(self, key: str) -> TemplateVariable | None:
        """The variable called ``key``, or None (also when the variables are unknown)."""
        return next((v for v in self.input_variables or () if v.key == key), None)


@attrs.frozen(kw_only=True)
class Character:
    """A character usable in ``character_variables``."""

    id: str
    name: str
    description: str | None = None
    created_at: datetime | None = None


@attrs.frozen(kw_only=True)
class Asset:
    """A search hit: a community post or one of the key owner's generations."""

    id: str
    asset_s3_key: str
    asset_type: str
    asset_id: str | None = None
    asset_url: str | None = None
    prompt: str | None = None
    model_name: str | None = None
    source: str | None = None
    published_at: datetime | None = None
    created_at: datetime | None = None
    metadata: Mapping[str, Any] | None = None

    @property
    def media(self) -> Media:
        """The asset as a storage-key input for Create Generation's ``*Key`` fields."""
        return Media.from_key(self.asset_s3_key)
