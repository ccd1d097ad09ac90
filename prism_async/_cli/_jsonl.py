"""The batch file format: one JSON object per line, each a request naming its provider.

::

    {"key": "a1", "provider": "nanogpt", "model": "veo2-video", "prompt": "A lighthouse"}
    {"provider": "nanogpt", "type": "video", "model": "kling-v21-standard", "image": "cat.png"}

``provider`` is required; ``key`` is optional (``line-N`` by default); ``type`` picks the
request (``video``, the default; ``template``; ``lipsync``) and the other fields are that
request's. File fields take a local path (relative to the batch file), an http(s) URL or
a data URI. Blank lines and lines starting with ``#`` are skipped. A malformed line is
reported with its number and the others go on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prism_async._cli import _requests
from prism_async.batch import BatchItem

__all__ = ["LineError", "count_lines", "parse_line", "parse_lines", "read_items", "requests_in"]

OnError = Callable[[int, str], None]


class LineError(ValueError):
    """A line that is not a request."""


def read_items(path: Path, on_error: OnError) -> Iterator[BatchItem]:
    """The requests of a batch file, read lazily; ``on_error(line, message)`` for the
    lines that are not requests.

    Args:
        path: The JSONL file.
        on_error: Told of each malformed line; reading goes on.
    """
    with path.open(encoding="utf-8") as lines:
        yield from parse_lines(lines, path.parent, on_error)


def parse_lines(lines: Iterable[str], base: Path, on_error: OnError) -> Iterator[BatchItem]:
    """The requests of a batch's lines (a file's, or stdin's read whole), local paths
    relative to ``base``; ``on_error(line, message)`` for the lines that are not requests."""
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            yield parse_line(text, number, base)
        except LineError as exc:
            on_error(number, str(exc))


def parse_line(text: str, number: int, base: Path) -> BatchItem:
    """One line as a :class:`BatchItem`.

    Raises:
        LineError: The line is not JSON, or not a request.
    """
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise LineError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise LineError(f"expected a JSON object, got {type(record).__name__}")
    fields: dict[str, Any] = dict(record)
    key = fields.pop("key", f"line-{number}")
    if not isinstance(key, str) or not key:
        raise LineError("key: expected a non-empty string")
    provider = fields.pop("provider", None)
    if not isinstance(provider, str) or not provider:
        raise LineError("provider: required (nanogpt, prism or lipsync)")
    kind = fields.pop("type", "video")
    build = _requests.BUILDERS.get(kind) if isinstance(kind, str) else None
    if build is None:
        raise LineError(f"type: {kind!r} is not one of {', '.join(_requests.BUILDERS)}")
    try:
        request = build(fields, base)
    except _requests.FieldError as exc:
        raise LineError(str(exc)) from None
    return BatchItem(key=key, provider=provider, request=request)


def count_lines(path: Path) -> int:
    """How many lines may hold a request (for a progress estimate)."""
    with path.open(encoding="utf-8") as lines:
        return requests_in(lines)


def requests_in(lines: Iterable[str]) -> int:
    """How many of ``lines`` may hold a request (not blank, not a ``#`` comment)."""
    return sum(1 for line in lines if line.strip() and not line.lstrip().startswith("#"))
