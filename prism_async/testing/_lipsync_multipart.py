"""Reading the lipsync create request: JSON, or multipart with streamed files."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from typing import Any
from urllib.parse import quote, unquote

import attrs
from aiohttp import BodyPartReader, web

from prism_async.testing._lipsync_store import fingerprint

__all__ = ["BadRequest", "CreateRequest", "read_create"]

_CHUNK = 64 * 1024
#: Nested fields that multipart requests carry as JSON strings (newest docs).
_JSON_FIELDS = frozenset({"input", "options", "segments", "dubParams", "dialogueEdit"})
_FILE_FIELDS = ("video", "audio")
#: Where uploaded files are said to be stored (nothing is served there).
UPLOAD_HOST = "https://uploads.sync-emulator.invalid"


class BadRequest(Exception):
    """The body cannot be read at all (not JSON, a nested field not JSON...)."""


@attrs.frozen(kw_only=True)
class UploadedFile:
    filename: str
    size: int
    sha256: str


@attrs.define(kw_only=True)
class CreateRequest:
    """A create body with uploaded files merged in, and what identifies it for idempotency."""

    body: Any
    fingerprint: str
    uploads: dict[str, UploadedFile] = attrs.field(factory=dict)


async def read_create(request: web.Request) -> CreateRequest:
    """Read a create (or cost) request in either documented encoding."""
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request)
    if request.content_type not in ("application/json", "application/octet-stream"):
        raise BadRequest("Content-Type must be application/json or multipart/form-data")
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise BadRequest("body must be valid JSON") from None
    return CreateRequest(body=body, fingerprint=fingerprint({"json": body}))


async def _read_multipart(request: web.Request) -> CreateRequest:
    fields: dict[str, Any] = {}
    uploads: dict[str, UploadedFile] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.name:
            raise BadRequest("multipart parts must be named form fields")
        name = part.name
        if name in fields or name in uploads:
            raise BadRequest(f"{name} must be given once")
        if name in _FILE_FIELDS:
            uploads[name] = await _stream(part, name)
            continue
        text = await part.text()
        if name in _JSON_FIELDS:
            try:
                fields[name] = json.loads(text)
            except ValueError:
                raise BadRequest(f"{name} must be a valid JSON string") from None
        else:
            fields[name] = text
    identity = {"fields": fields, "files": {k: attrs.asdict(v) for k, v in uploads.items()}}
    body = copy.deepcopy(fields)
    items = body.setdefault("input", [])
    if isinstance(items, list):
        for kind, upload in uploads.items():
            _merge(items, kind, upload)
    return CreateRequest(body=body, fingerprint=fingerprint(identity), uploads=uploads)


async def _stream(part: BodyPartReader, name: str) -> UploadedFile:
    """Read a file part chunk by chunk, never whole, counting and hashing it."""
    digest = hashlib.sha256()
    size = 0
    while chunk := await part.read_chunk(_CHUNK):
        size += len(chunk)
        digest.update(chunk)
    # aiohttp's client percent-encodes file names in Content-Disposition; store them decoded.
    filename = unquote(part.filename or name)
    return UploadedFile(filename=filename, size=size, sha256=digest.hexdigest())


def _merge(items: list[Any], kind: str, upload: UploadedFile) -> None:
    """A file takes precedence over the URL input of its type (the first such item).

    Only an item that has a URL (or an asset id) is one: the documents have no input item
    without a url for a file to fill in, so such an item is left as it is and refused
    (``input.N.url should not be empty``; a segment's refId then names no input)."""
    url = f"{UPLOAD_HOST}/{uuid.uuid4()}/{quote(upload.filename, safe='')}"
    for item in items:
        if (
            isinstance(item, dict)
            and item.get("type") == kind
            and (item.get("url") is not None or item.get("assetId") is not None)
        ):
            item["url"] = url
            item.pop("assetId", None)
            return
    if kind == "video":
        items.insert(0, {"type": "video", "url": url})
    else:
        items.append({"type": kind, "url": url})
