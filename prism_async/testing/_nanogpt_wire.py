"""The NanoGPT emulator's wire side: jobs, request validation, error and status bodies."""

from __future__ import annotations

import base64
import binascii
import enum
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
from aiohttp import web

from prism_async.testing._jobs import Outcome, Phase, SimJob
from prism_async.testing._nanogpt_catalog import VIDEO_MODELS
from prism_async.testing._nanogpt_schema import check_body

__all__ = [
    "MAX_INLINE_BYTES",
    "NanoJob",
    "State",
    "content_policy",
    "error_response",
    "flat_status",
    "insufficient_balance",
    "legacy_error",
    "legacy_status",
    "nested_status",
    "openapi_error",
    "rate_limited",
    "unauthorized",
    "validate_generate",
]

#: The documented cap on an inline (data URL) upload, decoded.
MAX_INLINE_BYTES = 4 * 1024 * 1024

IMAGE_FIELDS = ("imageDataUrl", "image_data_url", "imageUrl", "imageAttachmentId", "image")
VIDEO_FIELDS = ("videoUrl", "videoDataUrl", "video", "videoAttachmentId")
AUDIO_FIELDS = ("audioDataUrl", "audioUrl", "audio")
OTHER_MEDIA = ("reference_image", "referenceImages", "referenceVideos", "swapImage", "targetVideo")
# Inline fields and the MIME family their data URL must carry.
DATA_URL_FIELDS = {
    "imageDataUrl": "image",
    "image_data_url": "image",
    "image": "image",
    "videoDataUrl": "video",
    "video": "video",
    "audioDataUrl": "audio",
    "audio": "audio",
}
_DATA_URL = re.compile(r"^data:([\w.+-]+)/([\w.+-]+)((?:;[\w.+-]+=[^;,]*)*);base64,(.*)$", re.S)

RATE_LIMIT_MESSAGE = "Rate limit exceeded. Please wait before generating another video."
NSFW_ERROR = "Content policy violation"
NSFW_FRIENDLY = "Content flagged as inappropriate. Please modify your prompt and try again."
FAILED_ERROR = "Generation failed: upstream provider error"
FAILED_FRIENDLY = "The video could not be generated. You have been refunded."


class State(str, enum.Enum):
    """A job's state as NanoGPT reports it (nested / legacy spelling)."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def flat(self) -> str:
        """The OpenAPI UnifiedVideoStatusResponse spelling."""
        return _FLAT[self]

    @property
    def terminal(self) -> bool:
        return self in (State.COMPLETED, State.FAILED, State.CANCELED)


_FLAT = {
    State.IN_QUEUE: "queued",
    State.IN_PROGRESS: "processing",
    State.COMPLETED: "completed",
    State.FAILED: "failed",
    State.CANCELED: "cancelled",
}
_DETAILS = {
    State.IN_QUEUE: "Video is queued",
    State.IN_PROGRESS: "Video is being generated",
    State.COMPLETED: "Video generation completed",
    State.FAILED: "Video generation failed",
    State.CANCELED: "Video generation was canceled",
}


@attrs.define(kw_only=True)
class NanoJob:
    """One NanoGPT video job: the simulated run plus what NanoGPT bills and reports."""

    sim: SimJob
    model: str
    cost: Decimal
    #: For an extend job: the run it extends and the chosen video index.
    extends: str | None = None
    index: int | None = None
    refunded: bool = False

    @property
    def id(self) -> str:
        return self.sim.id

    @property
    def owner(self) -> str:
        return self.sim.owner

    @property
    def state(self) -> State:
        sim = self.sim
        if sim.canceled:
            return State.CANCELED
        if sim.phase is Phase.QUEUED:
            return State.IN_QUEUE
        if sim.phase is Phase.RUNNING:
            return State.IN_PROGRESS
        return State.COMPLETED if sim.outcome is Outcome.SUCCEED else State.FAILED

    @property
    def nsfw(self) -> bool:
        return self.sim.outcome is Outcome.MODERATION


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as the API writes timestamps."""
    if moment is None:
        return None
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# --- error bodies ---------------------------------------------------------------------------


def legacy_error(status: int, message: str, **extra: Any) -> web.Response:
    """The simple envelope: ``{"error": "<message>", "status": <int>}``."""
    return web.json_response({"error": message, **extra, "status": status}, status=status)


def openapi_error(status: int, message: str) -> web.Response:
    """The OpenAPI ``Error`` schema: ``{"error": <int>, "message": "..."}``."""
    return web.json_response({"error": status, "message": message}, status=status)


def openai_error(
    status: int, message: str, type_: str, code: str | None = None, param: str | None = None
) -> web.Response:
    """The OpenAI-style envelope used on /api/v1 and for auth."""
    error: dict[str, Any] = {"message": message, "type": type_}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return web.json_response({"error": error}, status=status)


def unauthorized() -> web.Response:
    return openai_error(401, "Invalid API key", "authentication_error")


def rate_limited(retry_after: int | None) -> web.Response:
    response = legacy_error(429, RATE_LIMIT_MESSAGE)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def insufficient_balance(required: Decimal) -> web.Response:
    return legacy_error(402, "Insufficient balance", requiredBalance=float(required))


def content_policy() -> web.Response:
    """The video guide's envelope for a prompt refused at submit (not charged)."""
    body = {
        "error": {
            "message": "Your prompt was flagged by our content policy. Please revise it.",
            "type": "CONTENT_POLICY_VIOLATION",
        },
        "refundMessage": "You have not been charged for this request.",
    }
    return web.json_response(body, status=400)


def error_response(status: int, message: str) -> web.Response:
    """A documented-looking body for any status (used for injected faults)."""
    if status == 401:
        return unauthorized()
    if status == 402:
        return legacy_error(402, "Insufficient balance", requiredBalance=0.0)
    if status == 429:
        return rate_limited(None)
    if status >= 500:
        return openai_error(status, f"Internal server error ({message})", "server_error")
    return openapi_error(status, message)


# --- validation -----------------------------------------------------------------------------


def _given(body: dict[str, Any], field: str) -> bool:
    value = body.get(field)
    return value is not None and value != "" and value != []


def _any_given(body: dict[str, Any], fields: tuple[str, ...]) -> bool:
    return any(_given(body, f) for f in fields)


def check_data_url(field: str, value: object, family: str) -> str | None:
    """Why an inline upload is refused, or None if it is acceptable."""
    if not isinstance(value, str):
        return f"{field} must be a string"
    if field in ("image", "video", "audio") and not value.startswith("data:"):
        return None  # these alternate fields may also carry a URL
    match = _DATA_URL.match(value)
    if match is None:
        return f"{field} must be a base64 data URL (data:<mime>;base64,...)"
    if match.group(1).lower() != family:
        return f"{field} must carry {family}/* data, not {match.group(1)}/{match.group(2)}"
    payload = match.group(4)
    if len(payload) > (MAX_INLINE_BYTES // 3 + 2) * 4 + 64:  # too big even before decoding
        return _too_large(field)
    try:
        decoded = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return f"{field} is not valid base64"
    if len(decoded) > MAX_INLINE_BYTES:
        return _too_large(field)
    return None


def _too_large(field: str) -> str:
    return f"{field} exceeds the 4 MB inline upload limit; host the file and pass a URL instead"


def validate_generate(body: dict[str, Any]) -> web.Response | None:
    """The 400 a POST /api/generate-video body earns, or None if it is acceptable."""
    model_id = body.get("model")
    if not _given(body, "model"):
        return legacy_error(400, "model is required")
    if not isinstance(model_id, str):
        return legacy_error(400, "model must be a string")
    model = VIDEO_MODELS.get(model_id)
    if model is None:
        message = f"The model `{model_id}` does not exist or is not a video model"
        return openai_error(400, message, "invalid_request_error", "model_not_found", "model")
    problem = check_body(body)  # every documented field: its type, set and range
    if problem is not None:
        return legacy_error(400, problem)
    has_image = _any_given(body, IMAGE_FIELDS)
    has_video = _any_given(body, VIDEO_FIELDS)
    has_media = has_image or has_video or _any_given(body, AUDIO_FIELDS + OTHER_MEDIA)
    has_text = bool((body.get("prompt") or "").strip()) or bool((body.get("script") or "").strip())
    if not has_text and not has_media:
        return legacy_error(
            400, "prompt is required (or provide an image, video or audio input, or a script)"
        )
    for field, family in DATA_URL_FIELDS.items():
        if _given(body, field):
            problem = check_data_url(field, body[field], family)
            if problem is not None:
                return legacy_error(400, problem)
    if model.requires == "image" and not has_image:
        return legacy_error(
            400,
            f"{model.name} requires an input image. Please provide imageDataUrl or imageUrl.",
        )
    if model.requires == "video" and not has_video:
        return legacy_error(
            400, f"{model.name} requires an input video. Please provide videoUrl or videoDataUrl."
        )
    return None


# --- status bodies --------------------------------------------------------------------------


def _raw(state: State, unknown: str | None, *, flat: bool) -> str:
    if unknown is not None and not state.terminal:
        return unknown
    return state.flat if flat else state.value


def nested_status(job: NanoJob, video_url: str, unknown: str | None) -> dict[str, Any]:
    """The docs pages' shape of GET /api/video/status."""
    state = job.state
    data: dict[str, Any] = {
        "status": _raw(state, unknown, flat=False),
        "requestId": job.id,
        "details": _DETAILS[state],
    }
    if state is State.COMPLETED:
        data["output"] = {"video": {"url": video_url}}
        data["cost"] = float(job.cost)
    elif state is State.FAILED:
        data |= _failure(job)
    return {"requestId": job.id, "model": job.model, "data": data}


def flat_status(job: NanoJob, video_url: str, unknown: str | None) -> dict[str, Any]:
    """The OpenAPI UnifiedVideoStatusResponse shape of GET /api/video/status."""
    state = job.state
    sim = job.sim
    body: dict[str, Any] = {
        "requestId": job.id,
        "status": _raw(state, unknown, flat=True),
        "progress": sim.progress,
        "estimatedTimeRemaining": round(sim.remaining, 1),
        "videoUrl": video_url if state is State.COMPLETED else None,
        "error": None,
        "createdAt": iso(sim.created_at),
        "completedAt": iso(sim.completed_at) if state.terminal else None,
    }
    if sim.outcome is Outcome.NEVER and not state.terminal:
        body["estimatedTimeRemaining"] = None
    if state is State.FAILED:
        failure = _failure(job)
        body |= {"progress": None, "estimatedTimeRemaining": None}
        body |= {"error": failure["error"], "isNSFWError": job.nsfw}
    return body


def legacy_status(job: NanoJob, video_url: str, unknown: str | None) -> dict[str, Any]:
    """The deprecated GET /api/generate-video/status shape."""
    state = job.state
    data: dict[str, Any] = {
        "status": _raw(state, unknown, flat=False),
        "request_id": job.id,
        "error": None,
        "isNSFWError": None,
        "userFriendlyError": None,
    }
    if state is State.COMPLETED:
        data["output"] = {"video": {"url": video_url}}
        data["cost"] = float(job.cost)
    elif state is State.FAILED:
        data |= _failure(job)
    return {"data": data}


def _failure(job: NanoJob) -> dict[str, Any]:
    if job.nsfw:
        return {"error": NSFW_ERROR, "isNSFWError": True, "userFriendlyError": NSFW_FRIENDLY}
    return {"error": FAILED_ERROR, "isNSFWError": False, "userFriendlyError": FAILED_FRIENDLY}
