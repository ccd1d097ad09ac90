"""One value for an input file, wherever it lives; each provider decides how to deliver it."""

from __future__ import annotations

import base64
import enum
import mimetypes
import re
from os import PathLike
from pathlib import Path

import attrs

__all__ = ["Media", "MediaKind", "data_uri_size"]

_DATA_URI = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?),", re.ASCII)


class MediaKind(str, enum.Enum):
    PATH = "path"
    BYTES = "bytes"
    URL = "url"
    DATA_URI = "data_uri"
    KEY = "key"


@attrs.frozen(kw_only=True)
class Media:
    """An input file: a local path, bytes in memory, a URL, a data URI or a provider's
    storage key. Build one with the ``from_*`` constructors or :meth:`parse`."""

    kind: MediaKind
    value: str = attrs.field(repr=lambda v: v if len(v) <= 60 else v[:57] + "...")
    data: bytes | None = attrs.field(default=None, repr=False)
    content_type: str | None = None

    @classmethod
    def from_path(cls, path: str | PathLike[str], content_type: str | None = None) -> Media:
        text = str(Path(path))
        return cls(
            kind=MediaKind.PATH,
            value=text,
            content_type=content_type or mimetypes.guess_type(text)[0],
        )

    @classmethod
    def from_bytes(cls, data: bytes, content_type: str, name: str = "upload") -> Media:
        return cls(kind=MediaKind.BYTES, value=name, data=data, content_type=content_type)

    @classmethod
    def from_url(cls, url: str) -> Media:
        return cls(kind=MediaKind.URL, value=url, content_type=mimetypes.guess_type(url)[0])

    @classmethod
    def from_data_uri(cls, uri: str) -> Media:
        match = _DATA_URI.match(uri)
        if not match or ";base64" not in (match.group("params") or ""):
            raise ValueError("not a base64 data URI (expected 'data:<type>;base64,...')")
        return cls(kind=MediaKind.DATA_URI, value=uri, content_type=match.group("type"))

    @classmethod
    def from_key(cls, key: str) -> Media:
        return cls(kind=MediaKind.KEY, value=key)

    @classmethod
    def parse(cls, text: str) -> Media:
        """Read a command-line value: an http(s) URL, a data URI, else a local path."""
        if text.startswith(("https://", "http://")):
            return cls.from_url(text)
        if text.startswith("data:"):
            return cls.from_data_uri(text)
        return cls.from_path(text)

    @property
    def path(self) -> Path:
        if self.kind is not MediaKind.PATH:
            raise ValueError(f"{self.kind.value} media has no path")
        return Path(self.value)

    @property
    def name(self) -> str:
        """A file name for uploads."""
        if self.kind is MediaKind.PATH:
            return Path(self.value).name
        return self.value.rsplit("/", 1)[-1] if self.kind is not MediaKind.DATA_URI else "inline"


def data_uri_size(uri: str) -> int:
    """The decoded size in bytes of a base64 data URI's payload (without decoding it)."""
    payload = uri.partition(",")[2]
    padding = len(payload) - len(payload.rstrip("="))
    return len(payload) * 3 // 4 - padding


def to_data_uri(data: bytes, content_type: str) -> str:
    """Encode bytes as a base64 data URI."""
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
