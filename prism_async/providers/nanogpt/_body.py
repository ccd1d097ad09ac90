"""Validation and wire bodies for NanoGPT's generate-video and extend, before any byte goes."""

from __future__ import annotations

import re
from typing import Any

import attrs

from prism_async.providers import (
    ExtraFields,
    Flow,
    Media,
    MediaKind,
    Seconds,
    UnsupportedRequestError,
    VideoRequest,
    check_duration,
    check_prompt,
    inline_data_uri,
    refuser,
    seconds_of,
)
from prism_async.providers.nanogpt._requests import ExtendRequest, NanoGPTVideoRequest

__all__ = [
    "DEFAULT_DURATION",
    "DURATIONS",
    "EXTRA_FIELDS",
    "INLINE_LIMIT",
    "RESOLUTIONS",
    "duration_rule",
    "extend_body",
    "from_video_request",
    "video_body_flow",
]

NAME = "nanogpt"
refuse = refuser(NAME)
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
# The union of the documented tokens: the guide's table (reference §3.2, seed
# nanogpt-generate-video "resolution") lists all eight; the OpenAPI enum only 720p, 1080p,
# 540p. Which ones a model takes is "model-dependent" and left to the API.
RESOLUTIONS = frozenset({"480p", "540p", "580p", "720p", "1080p", "1792x1024", "2k", "4k"})

# Documented durations by model family (reference §3.2 `duration` and `seconds`), matched
# by model id prefix; the first match wins.
DURATIONS: tuple[tuple[str, Seconds], ...] = (
    # Veo2: 5-8 s in the docs' table, 5-30 s in a comment (CONFLICT): the narrower is kept.
    ("veo2", Seconds(low=5, high=8)),
    # Veo3: "fixed 8 s" (reference §3.2).
    ("veo3", Seconds(low=8, high=8, values=frozenset({8}))),
    # Kling: "5" or "10" (reference §3.2; OpenAPI "'5' for Kling").
    ("kling", Seconds(low=5, high=10, values=frozenset({5, 10}))),
    # Sora: its selector is `seconds`, "4", "8" or "12" (reference §3.2).
    ("sora", Seconds(low=4, high=12, values=frozenset({4, 8, 12}))),
)
# Any other model: "Limits vary per model"; the largest documented example is "60" (seed
# nanogpt-generate-video, `duration`), so nothing longer is sent.
DEFAULT_DURATION = Seconds(low=1, high=60)

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


# Documented generate-video wire fields with no typed attribute yet: sent raw from
# ``extra``, without a warning. The OpenAPI body (shared/specs/nanogpt-openapi.json) and
# the guide's tables (reference §3.2); media wire keys are here too (a typed media field
# is a Media, so a raw ``imageUrl`` string is sent as given, and wins, as before).
UNTYPED_FIELDS = frozenset(
    {
        # OpenAPI
        "acceleration", "age_slider", "aspect", "aspectRatio", "audioEnabled",
        "captionsConfig", "captionsShow", "captionsStyle", "directorNotes", "effects",
        "effectsConfig", "frames_per_second", "framework", "imageConfig", "motion", "music",
        "musicConfig", "num_frames", "num_inference_steps", "projectId", "prompt_optimizer",
        "quality", "scriptConfig", "shift", "shortRequestEnhancer", "showExplicitContent",
        "targetLengthInSeconds", "targetLengthInWords", "videoConfig", "video_quality",
        "voice", "voiceoverConfig",
        # the guide (reference §3.2)
        "pro", "camera_fix", "cameraFixed", "voiceId", "guidance_scale", "interpolator_model",
        "num_interpolated_frames", "movementAmplitude", "style", "effectType", "effect",
        "cameraMovement", "motionMode", "soundEffectSwitch", "soundEffectPrompt", "animation",
        "language", "characters", "videoDuration", "billedDuration",
        "adjust_fps_for_interpolation",
        # media wire keys
        "imageUrl", "imageDataUrl", "imageAttachmentId", "image", "image_data_url",
        "reference_image", "referenceImages", "referenceVideos", "audioUrl", "audioDataUrl",
        "audio", "videoUrl", "videoDataUrl", "videoAttachmentId", "video", "swapImage",
        "targetVideo",
    }
)  # fmt: skip
# ``extra`` keys that set a typed attribute (its name or its wire name), so its check runs.
EXTRA_FIELDS = ExtraFields(
    provider=NAME,
    typed={
        "model": "model",
        **{field: field for field in _PLAIN_FIELDS},
        **{key: field for field, key in _PLAIN_FIELDS.items()},
    },
    documented=UNTYPED_FIELDS,
)
# Given through ``extra`` (or ``--set duration=5``) as a number, sent as its wire text.
_TEXT_NUMBERS = ("duration", "seconds")


def with_extra(request: NanoGPTVideoRequest) -> tuple[NanoGPTVideoRequest, dict[str, Any]]:
    """The request with the documented fields of its ``extra`` in their typed attributes
    (see :class:`~prism_async.providers.ExtraFields`), and the raw fields left to send."""
    typed, raw = EXTRA_FIELDS.split(request.extra)
    for field in _TEXT_NUMBERS:
        value = typed.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            typed[field] = str(value)
    return (attrs.evolve(request, **typed) if typed else request), raw


def duration_rule(model: str) -> Seconds:
    """The documented durations of a model's family (by id prefix), or the general ones."""
    lowered = model.strip().lower()
    return next(
        (rule for prefix, rule in DURATIONS if lowered.startswith(prefix)), DEFAULT_DURATION
    )


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
    if request.duration is not None:  # checked as a number, before it becomes wire text
        check_duration(
            request.duration, duration_rule(request.model), provider=NAME, model=request.model
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
        raise refuse(field, f"{value!r} is not one of {', '.join(sorted(allowed))}")


def _check_range(field: str, value: float | None, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not low <= value <= high:
        raise refuse(field, f"{value!r} is outside {low}-{high}")


def _has_media(request: NanoGPTVideoRequest) -> bool:
    singles = (request.image, request.video, request.audio, request.swap_image)
    return any(m is not None for m in singles) or bool(
        request.reference_images or request.reference_videos
    )


def validate(request: NanoGPTVideoRequest) -> None:
    """Refuse what the docs call invalid, naming the field."""
    if not request.model or not request.model.strip():
        raise refuse("model", "required")
    check_prompt(request.prompt, provider=NAME)
    check_prompt(request.negative_prompt, provider=NAME, field="negative_prompt")
    check_prompt(request.script, provider=NAME, field="script")
    has_script = bool(request.script) or request.story_config is not None
    if not request.prompt and not has_script:
        if request.mode in ("text-to-video", "video-edit"):
            raise refuse("prompt", f"required for mode {request.mode}")
        if not _has_media(request):
            raise refuse("prompt", "required for text-to-video (no image, video or script given)")
    _check_choice("aspect_ratio", request.aspect_ratio, ASPECT_RATIOS)
    _check_choice("seconds", request.seconds, SORA_SECONDS)
    _check_choice("orientation", request.orientation, ORIENTATIONS)
    _check_choice("mode", request.mode, MODES)
    _check_choice("voice_language", request.voice_language, VOICE_LANGUAGES)
    _check_choice("resolution", request.resolution, RESOLUTIONS)
    _check_range("voice_speed", request.voice_speed, 0.8, 2.0)
    _check_range("cfg_scale", request.cfg_scale, 0, 20)
    _check_durations(request)
    if request.target_face_index is not None and request.target_face_index < 0:
        raise refuse("target_face_index", "must be 0 or more")
    audio_duration = request.audio_duration
    if audio_duration is not None and (
        isinstance(audio_duration, str) or seconds_of(audio_duration) is None
    ):
        raise refuse(
            "audio_duration", f"{audio_duration!r} is not a finite number of seconds above 0"
        )


def _check_durations(request: NanoGPTVideoRequest) -> None:
    """``duration`` as wire text, within the model family's documented limits (Sora's own
    ``seconds`` is checked against its documented values apart)."""
    if request.duration is None:
        return
    rule = duration_rule(request.model)
    if not isinstance(request.duration, str) or not _DURATION.match(request.duration):
        raise refuse(
            "duration",
            f"{request.duration!r} is not a number of seconds like '5'; nanogpt documents"
            f" {rule} for model {request.model}",
        )
    check_duration(request.duration, rule, provider=NAME, model=request.model)


def video_body_flow(request: NanoGPTVideoRequest) -> Flow[dict[str, Any]]:
    """The JSON body, reading local files inline (each refused over 4 MB before sending)."""
    request, raw = with_extra(request)
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
    body.update(raw)
    return body


def _media(
    field: str, media: Media, url_key: str, inline_key: str, store_key: str | None
) -> Flow[tuple[str, str]]:
    if media.kind is MediaKind.URL:
        if not media.value.startswith(("https://", "http://")):
            raise refuse(field, "a URL must be http(s)")
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
        raise refuse("run_id", "required")
    if isinstance(request.index, bool) or not isinstance(request.index, int):
        raise refuse("index", f"{request.index!r} is not a whole number")
    if not 0 <= request.index <= 3:
        raise refuse("index", f"{request.index} is outside 0-3 (one of the job's four videos)")
    return {"runId": request.run_id, "index": request.index}
