"""Records, errors and small helpers of the Prism Videos emulator."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import datetime, timezone
from typing import Any

import attrs
from aiohttp import web

from prism_async.testing._jobs import Outcome, Phase, SimJob

__all__ = [
    "DEFAULT_ERROR_CODES",
    "KEY_KINDS",
    "ApiError",
    "Character",
    "Generation",
    "MediaStore",
    "PendingUpload",
    "add_request_id",
    "decode_data_uri",
    "epoch_ms",
    "error_body",
    "invalid",
    "is_http_url",
    "iso_ms",
    "new_id",
    "page",
    "parse_int",
    "s3_error",
    "variant",
]

# The code an injected fault status answers with (any other status: ``server_error``).
# 500 is ``server_error`` unless a test asks for ``generation_error``, and an injected 503
# is a transient ``server_error``, not ``free_tier_paused`` (set ``paused`` for that, or
# ``PrismEmulator.error_codes[503]``).
DEFAULT_ERROR_CODES: dict[int, str] = {
    400: "validation_error",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "validation_error",
    422: "invalid_template",
    429: "rate_limited",
    500: "server_error",
}


class ApiError(Exception):
    """An error the emulator answers with the documented ``{error, message}`` body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def invalid(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)


def new_id(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:20]


def iso_ms(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as Get Generation shows it."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    """Unix epoch milliseconds, as characters and assets show times."""
    return int(moment.timestamp() * 1000)


def parse_int(
    query: Any, name: str, *, default: int, minimum: int, maximum: int | None = None
) -> int:
    """An integer query parameter, or 400 naming it."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name} must be an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise invalid(f"{name} must be {bound}")
    return value


def page(items: list[dict[str, Any]], offset: int, limit: int) -> dict[str, Any]:
    return {
        "data": items[offset : offset + limit],
        "pagination": {"offset": offset, "limit": limit, "has_more": offset + limit < len(items)},
    }


@attrs.define(kw_only=True)
class PendingUpload:
    """A presigned PUT waiting for its bytes."""

    s3_key: str
    owner: str
    content_type: str
    max_bytes: int
    expires: float  # clock monotonic seconds
    used: bool = False


@attrs.define(kw_only=True)
class Character:
    id: str
    name: str
    description: str | None
    created_at: int  # epoch ms
    owner: str | None  # None: public
    image_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at,
        }


@attrs.define(kw_only=True)
class Generation:
    """One emulated video generation."""

    job: SimJob
    cost: int  # credits charged for this one video
    prompt: str
    model_name: str
    template_id: str | None
    file_url: str  # absolute URL of the file route, without the query string
    share_url: str
    webhook_url: str | None = None
    settled: bool = False  # ended, and its credits refunded if it failed

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def owner(self) -> str:
        return self.job.owner

    @property
    def status(self) -> str:
        if self.job.phase is not Phase.DONE:
            return "generating"
        return "completed" if self.job.outcome is Outcome.SUCCEED else "failed"

    @property
    def error(self) -> str | None:
        if self.status != "failed":
            return None
        if self.job.outcome is Outcome.MODERATION:
            return "Content policy violation"
        return "Generation timed out"


# What each *Key field of Create Generation (and each variable type) holds.
KEY_KINDS: dict[str, str] = {
    "startFrameKey": "image",
    "endFrameKey": "image",
    "ingredientImageKeys": "image",
    "characterReferenceImageKeys": "image",
    "sourceVideoKey": "video",
    "referenceVideoKeys": "video",
    "audioKey": "audio",
}

_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?:;[\w=.+-]+)*;base64,(?P<b64>.*)$", re.S
)


@attrs.define
class MediaStore:
    """Uploaded bytes by storage key, with their owner and MIME type."""

    uploads: dict[str, bytes] = attrs.field(factory=dict)
    owners: dict[str, str] = attrs.field(factory=dict)
    types: dict[str, str] = attrs.field(factory=dict)

    def put(self, key: str, owner: str, content_type: str, data: bytes) -> None:
        self.uploads[key] = data
        self.owners[key] = owner
        self.types[key] = content_type

    def store_new(self, owner: str, content_type: str, data: bytes, ext: str = "") -> str:
        key = f"users/{owner}/user-uploads/{new_id('batch_')}/{new_id('file_')}{ext}"
        self.put(key, owner, content_type, data)
        return key

    def kind_of_upload(self, key: str, owner: str) -> str | None:
        """The media kind (image, video, audio) of ``owner``'s uploaded ``key``, if any."""
        if key in self.uploads and self.owners.get(key) == owner:
            return self.types[key].split("/", 1)[0]
        return None


def decode_data_uri(value: str, field: str, kind: str) -> tuple[str, bytes]:
    """The MIME type and bytes of a base64 data URI for a ``kind`` value, or 400."""
    match = _DATA_URI.match(value)
    if match is None:
        raise invalid(f"{field}: malformed data URI (expected data:<mime>;base64,<data>)")
    mime = match["mime"].lower()
    if mime.split("/", 1)[0] != kind:
        raise invalid(f"{field}: data URI is {mime}, expected {kind}/*")
    try:
        data = base64.b64decode(match["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{field}: data URI is not valid base64") from None
    return mime, data


def is_http_url(value: str) -> bool:
    return re.match(r"^https?://[^\s/]+", value, re.I) is not None


def variant(body: dict[str, Any]) -> str:
    if body.get("sourceVideoKey"):
        return "video-to-video"
    if body.get("ingredientImageKeys") or body.get("characterReferenceImageKeys"):
        return "reference-to-video"
    if body.get("startFrameKey"):
        return "image-to-video"
    return "text-to-video"


def s3_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Request-ID", new_id("req_"))
