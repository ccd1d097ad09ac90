"""Query checks for the list endpoints, and the Create Character body."""

from __future__ import annotations

from typing import Any

from prism_async.providers import (
    FilePart,
    Flow,
    MediaKind,
    Multipart,
    UnsupportedRequestError,
    stat_file,
)
from prism_async.providers.prism._api import NAME, refuse
from prism_async.providers.prism._requests import CharacterRequest
from prism_async.providers.prism._uploads import IMAGE_LIMIT

__all__ = ["ASSET_SOURCES", "ASSET_TYPES", "character_body_flow", "check_choice", "list_params"]

ASSET_TYPES = frozenset({"all", "image", "video"})
ASSET_SOURCES = frozenset({"all", "community", "history"})
NAME_MAX = 60
DESCRIPTION_MAX = 300
IMAGES_MAX = 10


def list_params(
    *, q: str | None, limit: int, offset: int, max_limit: int, q_required: bool = False
) -> list[tuple[str, str]]:
    """``q``, ``limit`` and ``offset`` checked as documented (q at least 2 characters)."""
    params: list[tuple[str, str]] = []
    if q is None:
        if q_required:
            raise refuse("q", "required")
    elif len(q.strip()) < 2:
        raise refuse("q", f"{q!r} is shorter than 2 characters")
    else:
        params.append(("q", q))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= max_limit:
        raise refuse("limit", f"{limit!r} is outside 1-{max_limit}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise refuse("offset", f"{offset!r} is negative")
    params += [("limit", str(limit)), ("offset", str(offset))]
    return params


def check_choice(field: str, value: str, allowed: frozenset[str]) -> None:
    if value not in allowed:
        raise refuse(field, f"{value!r} is not one of {', '.join(sorted(allowed))}")


def _check_character(request: CharacterRequest) -> None:
    name = request.name
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise refuse("name", f"must be 1-{NAME_MAX} characters (got {len(name or '')})")
    description = request.description
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise refuse(
            "description", f"{len(description)} characters, over the maximum of {DESCRIPTION_MAX}"
        )
    if not 1 <= len(request.images) <= IMAGES_MAX:
        raise refuse("images", f"{len(request.images)} images: give 1-{IMAGES_MAX}")
    kinds = set()
    for index, media in enumerate(request.images):
        field = f"images[{index}]"
        if media.kind in (MediaKind.DATA_URI, MediaKind.KEY):
            raise UnsupportedRequestError(
                field,
                "Create Character takes HTTP(S) URLs or local files; data URIs and storage "
                "keys are refused by the API",
                provider=NAME,
            )
        if media.kind is MediaKind.BYTES:
            raise UnsupportedRequestError(
                field, "give a local file or an HTTP(S) URL, not bytes in memory", provider=NAME
            )
        if media.kind is MediaKind.URL and not media.value.lower().startswith(
            ("https://", "http://")
        ):
            raise refuse(field, "must be an HTTP(S) URL")
        if media.kind is MediaKind.PATH and not (media.content_type or "").startswith("image/"):
            raise refuse(field, f"{media.value} is not an image file (type {media.content_type})")
        kinds.add(media.kind)
    if len(kinds) > 1:
        raise refuse(
            "images", "give all URLs (sent as JSON) or all local files (multipart), not both"
        )


def character_body_flow(request: CharacterRequest) -> Flow[tuple[Any, Multipart | None]]:
    """``(json, None)`` for image URLs; ``(None, multipart)`` with ``images[]`` files,
    each refused over the documented 20 MB image limit before any request."""
    _check_character(request)
    if request.images[0].kind is MediaKind.URL:
        body: dict[str, Any] = {"name": request.name, "images": [m.value for m in request.images]}
        if request.description is not None:
            body["description"] = request.description
        return body, None
    fields: list[tuple[str, str | FilePart]] = [("name", request.name)]
    if request.description is not None:
        fields.append(("description", request.description))
    for index, media in enumerate(request.images):
        size = yield from stat_file(media.path, field=f"images[{index}]")
        if size > IMAGE_LIMIT:
            raise refuse(
                f"images[{index}]",
                f"{media.name} is {size} bytes, over the documented image limit of 20 MB",
            )
        part = FilePart(path=media.path, content_type=media.content_type or "", filename=media.name)
        fields.append(("images[]", part))
    return None, Multipart(fields=tuple(fields))
