"""Request bodies of the Prism Videos emulator: JSON and multipart, validated as documented."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import BodyPartReader, hdrs, web

from prism_async.testing._prism_catalog import ASPECT_RATIOS
from prism_async.testing._prism_state import KEY_KINDS, ApiError, invalid, is_http_url

__all__ = [
    "CharacterForm",
    "FilePart",
    "TemplateForm",
    "check_character",
    "read_character_form",
    "read_json_object",
    "read_template_form",
    "validate_create",
]

_CREATE_FIELDS = frozenset(
    {"prompt", "modelName", "aspectRatio", "duration", "resolution", "count", "hasAudio"}
    | set(KEY_KINDS)
    | {"templateId"}
)
_LIST_KEY_FIELDS = frozenset(
    {"ingredientImageKeys", "characterReferenceImageKeys", "referenceVideoKeys"}
)
_VARIABLE_PART = re.compile(r"^variables\[(?P<key>[^\]]+)\]$")


@attrs.frozen(kw_only=True)
class FilePart:
    """A file sent in a multipart request."""

    filename: str
    content_type: str
    data: bytes


@attrs.define(kw_only=True)
class TemplateForm:
    variables: dict[str, str | FilePart]
    character_variables: dict[str, str]
    webhook_url: str | None


@attrs.define(kw_only=True)
class CharacterForm:
    name: Any
    description: Any
    images: list[str | FilePart]


def _is_multipart(request: web.Request) -> bool:
    return request.content_type.startswith("multipart/")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The JSON object body, or 400 validation_error "Invalid JSON request body"."""
    try:
        body = json.loads(await request.text())
    except ValueError:
        raise invalid("Invalid JSON request body") from None
    if not isinstance(body, dict):
        raise invalid("Invalid JSON request body: expected an object")
    return body


async def _parts(request: web.Request, max_bytes: int) -> list[tuple[str, str | FilePart]]:
    """Every part of a multipart body as (name, text or file), files read in chunks."""
    try:
        return await _read_parts(request, max_bytes)
    except (AssertionError, ValueError, KeyError):
        raise invalid("Malformed multipart body") from None


async def _read_parts(request: web.Request, max_bytes: int) -> list[tuple[str, str | FilePart]]:
    reader = await request.multipart()
    parts: list[tuple[str, str | FilePart]] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.name:
            raise invalid("Malformed multipart body: every part needs a name")
        if part.filename is None:
            parts.append((part.name, await part.text()))
            continue
        chunks: list[bytes] = []
        size = 0
        while chunk := await part.read_chunk(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise invalid(f"{part.name}: file larger than {max_bytes} bytes")
            chunks.append(chunk)
        content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
        file = FilePart(filename=part.filename, content_type=content_type, data=b"".join(chunks))
        parts.append((part.name, file))
    return parts


def _json_field(raw: str | FilePart, name: str) -> dict[str, Any]:
    if isinstance(raw, FilePart):
        raise invalid(f"{name} must be a JSON object field, not a file")
    try:
        value = json.loads(raw)
    except ValueError:
        raise invalid(f"{name} must be a JSON object") from None
    if not isinstance(value, dict):
        raise invalid(f"{name} must be a JSON object")
    return value


def _string_map(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"{name} must be an object")
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid(f"{name}.{key} must be a string")
    return value


async def read_template_form(request: web.Request, max_bytes: int) -> TemplateForm:
    """The body of Generate Video from a template, JSON or multipart.

    The docs leave the multipart encoding UNCERTAIN beyond "attach the file directly to
    variables[KEY]". The emulator accepts: a text field ``variables`` holding a JSON object,
    a text field ``character_variables`` holding a JSON object, a text field
    ``webhook_url``, and parts named ``variables[<key>]`` (a file for image, video and
    audio variables, or a text value for any variable). Any other part name is a 400.
    """
    if not _is_multipart(request):
        body = await read_json_object(request)
        unknown = set(body) - {"variables", "character_variables", "webhook_url"}
        if unknown:
            raise invalid(f"Unknown field: {sorted(unknown)[0]}")
        if "variables" not in body:
            raise invalid("variables is required")
        webhook = body.get("webhook_url")
        if webhook is not None and not isinstance(webhook, str):
            raise invalid("webhook_url must be a string")
        return TemplateForm(
            variables=_string_map(body["variables"], "variables"),
            character_variables=_string_map(
                body.get("character_variables") or {}, "character_variables"
            ),
            webhook_url=webhook,
        )
    variables: dict[str, str | FilePart] = {}
    characters: dict[str, str] = {}
    webhook_url: str | None = None
    seen_variables = False
    for name, value in await _parts(request, max_bytes):
        match = _VARIABLE_PART.match(name)
        if match is not None:
            variables[match["key"]] = value
            seen_variables = True
        elif name == "variables":
            variables.update(_string_map(_json_field(value, name), name))
            seen_variables = True
        elif name == "character_variables":
            characters.update(_string_map(_json_field(value, name), name))
        elif name == "webhook_url" and isinstance(value, str):
            webhook_url = value
        else:
            raise invalid(f"Unknown multipart field: {name}")
    if not seen_variables:
        raise invalid("variables is required")
    return TemplateForm(
        variables=variables, character_variables=characters, webhook_url=webhook_url
    )


async def read_character_form(request: web.Request, max_bytes: int) -> CharacterForm:
    """The body of Create Character: JSON with image URLs, or multipart with files."""
    if not _is_multipart(request):
        body = await read_json_object(request)
        unknown = set(body) - {"name", "description", "images"}
        if unknown:
            raise invalid(f"Unknown field: {sorted(unknown)[0]}")
        images = body.get("images")
        if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
            raise invalid("images must be an array of HTTP(S) image URLs")
        return CharacterForm(
            name=body.get("name"), description=body.get("description"), images=list(images)
        )
    name: Any = None
    description: Any = None
    files: list[str | FilePart] = []
    for part_name, value in await _parts(request, max_bytes):
        if part_name in ("images", "images[]"):
            if not isinstance(value, FilePart):
                raise invalid("images: multipart requests take local image files")
            files.append(value)
        elif part_name == "name" and isinstance(value, str):
            name = value
        elif part_name == "description" and isinstance(value, str):
            description = value
        else:
            raise invalid(f"Unknown multipart field: {part_name}")
    return CharacterForm(name=name, description=description, images=files)


def check_character(form: CharacterForm) -> None:
    """The documented limits of Create Character, each a 400 naming the field."""
    if not isinstance(form.name, str) or not 1 <= len(form.name) <= 60:
        raise invalid("name is required and must be 1-60 characters")
    if form.description is not None and (
        not isinstance(form.description, str) or len(form.description) > 300
    ):
        raise invalid("description must be a string of at most 300 characters")
    if not 1 <= len(form.images) <= 10:
        raise invalid(f"images must hold 1-10 images (got {len(form.images)})")
    for image in form.images:
        if isinstance(image, FilePart):
            if not image.content_type.lower().startswith("image/"):
                raise invalid(f"images: {image.filename} is not an image")
        elif image.lower().startswith("data:"):
            raise invalid("images: base64 / data URI values are not supported")
        elif not is_http_url(image):
            raise invalid("images: only HTTP(S) image URLs are supported (not S3 keys)")


def validate_create(
    body: dict[str, Any], key_kind: Callable[[str], str | None], priced: frozenset[str]
) -> int:
    """Check a Create Generation body as documented; returns ``count``.

    Unknown fields are refused (400 naming the field) so a misspelt field name in a client
    fails loudly instead of being silently ignored.
    """
    unknown = set(body) - _CREATE_FIELDS
    if unknown:
        raise invalid(f"Unknown field: {sorted(unknown)[0]}")
    for field in ("prompt", "modelName"):
        if not isinstance(body.get(field), str) or not body[field].strip():
            raise invalid(f"{field} is required")
    aspect = body.get("aspectRatio")
    if aspect is not None and aspect not in ASPECT_RATIOS:
        raise invalid(f"aspectRatio must be one of {', '.join(sorted(ASPECT_RATIOS))}")
    duration = body.get("duration")
    if duration is not None and not (isinstance(duration, str) and re.fullmatch(r"\d+s", duration)):
        raise invalid('duration must be a string such as "8s"')
    resolution = body.get("resolution")
    if resolution is not None and not (
        isinstance(resolution, str) and re.fullmatch(r"\d{3,4}p|4[kK]", resolution)
    ):
        raise invalid('resolution must be a string such as "720p" or "1080p"')
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 4:
        raise invalid("count must be an integer from 1 to 4")
    if "hasAudio" in body and not isinstance(body["hasAudio"], bool):
        raise invalid("hasAudio must be a boolean")
    for field, kind in KEY_KINDS.items():
        if field not in body or body[field] is None:
            continue
        value = body[field]
        if field in _LIST_KEY_FIELDS:
            if not isinstance(value, list):
                raise invalid(f"{field} must be an array of S3 keys")
            keys = value
        else:
            keys = [value]
        for key in keys:
            if not isinstance(key, str):
                raise invalid(f"{field} must hold S3 key strings")
            found = key_kind(key)
            if found is None:
                raise invalid(f"{field}: unknown S3 key {key!r} (upload it first)")
            if found != kind:
                raise invalid(f"{field}: {key!r} is {found}, expected {kind}")
    if body["modelName"] not in priced:
        model = body["modelName"]
        raise ApiError(400, "pricing_error", f"No pricing available for model {model!r}")
    return count
