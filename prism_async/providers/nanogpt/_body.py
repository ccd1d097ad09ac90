"""Validation and wire bodies for NanoGPT's generate-video and extend, before any byte goes."""

from __future__ import annotations

import re
from typing import Any

from prism_async.errors import RequestValidationError, UnsupportedRequestError
from prism_async.http import Flow
from prism_async.media import Media, MediaKind
from prism_async.providers._common import inline_data_uri
from prism_async.providers.nanogpt._requests import ExtendRequest, NanoGPTVideoRequest
from prism_async.requests import VideoRequest

__all__ = ["INLINE_LIMIT", "extend_body", "from_video_request", "video_body_flow"]

NAME = "nanogpt"
# "Uploads sent inline through the API (data URLs) must be ≤4 MB." Read here as the
# decoded file size (4 MiB); the docs do not say whether the encoded text is meant.
INLINE_LIMIT = 4 * 1024 * 1024
ASPECT_RATIOS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "auto"})
SORA_SECONDS = frozenset({"4", "8", "12"})
ORIENTATIONS = frozenset({"landscape", "portrait"})
MODES = frozenset(
    {"text-to-video", "image-to-video", "reference-to-video", "video-edit", "animate", "replace"}
)
VOICE_LANGUAGES = frozenset({"en", "zh"})
_DURATION = re.compile(r"^\d+(\.\d+)?s?$")

# Typed fields and the wire keys they are sent as (media fields are handled apart).
_PLAIN_FIELDS = {
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "script": "script",
    "story_config": "storyConfig",
    "duration": "duration",
    "seconds": "seconds",
    "aspect_ratio": "aspect_ratio",
    "resolution": "resolution",
    "orientation": "orientation",
    "size": "size",
    "mode": "mode",
    "generate_audio": "generateAudio",
    "enhance_prompt": "enhancePrompt",
    "pro_mode": "pro_mode",
    "enable_prompt_expansion": "enable_prompt_expansion",
    "enable_safety_checker": "enable_safety_checker",
    "camera_fixed": "camera_fixed",
    "seed": "seed",
    "cfg_scale": "cfg_scale",
    "conversation_uuid": "conversationUUID",
    "audio_duration": "audioDuration",
    "target_face_index": "targetFaceIndex",
    "voice_id": "voice_id",
    "voice_language": "voice_language",
    "voice_speed": "voice_speed",
}
# Media field -> (URL key, inline key, storage-key key or None).
_MEDIA_FIELDS: dict[str, tuple[str, str, str | None]] = {
    "image": ("imageUrl", "imageDataUrl", "imageAttachmentId"),
    "video": ("videoUrl", "videoDataUrl", "videoAttachmentId"),
    "audio": ("audioUrl", "audioDataUrl", None),
    "swap_image": ("swapImage", "swapImage", None),
    "target_video": ("targetVideo", "targetVideo", None),
}


def _refuse(field: str, reason: str) -> RequestValidationError:
    return RequestValidationError(field, reason, provider=NAME)


def from_video_request(request: VideoRequest) -> NanoGPTVideoRequest:
    """Map the provider-neutral request; refuse what NanoGPT cannot express."""
    if request.count != 1:
        raise UnsupportedRequestError(
            "count",
            "NanoGPT makes one video per request: submit the request once per video",
            provider=NAME,
        )
    if request.end_image is not None:
        raise UnsupportedRequestError(
            "end_image", "NanoGPT's generate-video has no end-frame input", provider=NAME
        )
    return NanoGPTVideoRequest(
        model=request.model,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        duration=None if request.duration is None else str(request.duration),
        aspect_ratio=request.aspect_ratio,
        resolution=request.resolution,
        generate_audio=request.audio,
        seed=request.seed,
        image=request.image,
        video=request.video,
        extra=request.extra,
    )


def _check_choice(field: str, value: str | None, allowed: frozenset[str]) -> None:
    if value is not None and value not in allowed:
        raise _refuse(field, f"{value!r} is not one of {', '.join(sorted(allowed))}")


def _check_range(field: str, value: float | None, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not low <= value <= high:
        raise _refuse(field, f"{value!r} is outside {low}-{high}")


def _has_media(request: NanoGPTVideoRequest) -> bool:
    singles = (request.image, request.video, request.audio, request.swap_image)
    return any(m is not None for m in singles) or bool(
        request.reference_images or request.reference_videos
    )


def validate(request: NanoGPTVideoRequest) -> None:
    """Refuse what the docs call invalid, naming the field."""
    if not request.model or not request.model.strip():
        raise _refuse("model", "required")
    has_script = bool(request.script) or request.story_config is not None
    if not request.prompt and not has_script:
        if request.mode in ("text-to-video", "video-edit"):
            raise _refuse("prompt", f"required for mode {request.mode}")
        if not _has_media(request):
            raise _refuse("prompt", "required for text-to-video (no image, video or script given)")
    _check_choice("aspect_ratio", request.aspect_ratio, ASPECT_RATIOS)
    _check_choice("seconds", request.seconds, SORA_SECONDS)
    _check_choice("orientation", request.orientation, ORIENTATIONS)
    _check_choice("mode", request.mode, MODES)
    _check_choice("voice_language", request.voice_language, VOICE_LANGUAGES)
    _check_range("voice_speed", request.voice_speed, 0.8, 2.0)
    _check_range("cfg_scale", request.cfg_scale, 0, 20)
    if request.duration is not None and not _DURATION.match(request.duration):
        raise _refuse("duration", f"{request.duration!r} is not a number of seconds like '5'")
    if request.target_face_index is not None and request.target_face_index < 0:
        raise _refuse("target_face_index", "must be 0 or more")
    if request.audio_duration is not None and request.audio_duration <= 0:
        raise _refuse("audio_duration", "must be more than 0 seconds")


def video_body_flow(request: NanoGPTVideoRequest) -> Flow[dict[str, Any]]:
    """The JSON body, reading local files inline (each refused over 4 MB before sending)."""
    validate(request)
    body: dict[str, Any] = {"model": request.model}
    for field, key in _PLAIN_FIELDS.items():
        value = getattr(request, field)
        if value is not None:
            body[key] = dict(value) if field == "story_config" else value
    for field, (url_key, inline_key, store_key) in _MEDIA_FIELDS.items():
        media: Media | None = getattr(request, field)
        if media is not None:
            key, value = yield from _media(field, media, url_key, inline_key, store_key)
            body[key] = value
    for field, key in (
        ("reference_images", "referenceImages"),
        ("reference_videos", "referenceVideos"),
    ):
        items: tuple[Media, ...] = getattr(request, field)
        if items:
            values = []
            for index, media in enumerate(items):
                _, value = yield from _media(f"{field}[{index}]", media, key, key, None)
                values.append(value)
            body[key] = values
    body.update(request.extra)
    return body


def _media(
    field: str, media: Media, url_key: str, inline_key: str, store_key: str | None
) -> Flow[tuple[str, str]]:
    if media.kind is MediaKind.URL:
        if not media.value.startswith(("https://", "http://")):
            raise _refuse(field, "a URL must be http(s)")
        return url_key, media.value
    if media.kind is MediaKind.KEY:
        if store_key is None:
            raise UnsupportedRequestError(
                field, "NanoGPT takes no library attachment for this input", provider=NAME
            )
        return store_key, media.value
    uri = yield from inline_data_uri(media, field=field, max_bytes=INLINE_LIMIT)
    return inline_key, uri


def extend_body(request: ExtendRequest) -> dict[str, Any]:
    """The extend body: ``runId`` (preferred over the legacy ``taskId``) and ``index``."""
    if not request.run_id or not request.run_id.strip():
        raise _refuse("run_id", "required")
    if isinstance(request.index, bool) or not isinstance(request.index, int):
        raise _refuse("index", f"{request.index!r} is not a whole number")
    if not 0 <= request.index <= 3:
        raise _refuse("index", f"{request.index} is outside 0-3 (one of the job's four videos)")
    return {"runId": request.run_id, "index": request.index}
