"""Validation and wire bodies for NanoGPT's generate-video and extend, before any byte goes."""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
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
from prism_async.providers.nanogpt._validate import (
    ASPECT_RATIOS,
    FIELDS,
    RESOLUTIONS,
    check_field,
)

__all__ = [
    "ASPECT_RATIOS",
    "DEFAULT_DURATION",
    "DURATIONS",
    "EXTEND_WIRE_ATTRIBUTES",
    "EXTRA_FIELDS",
    "INLINE_LIMIT",
    "RESOLUTIONS",
    "WIRE_ATTRIBUTES",
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
_DURATION = re.compile(r"^\d+(\.\d+)?s?$")

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
_PLAIN_FIELDS = {field.attribute: field.wire for field in FIELDS}
#: Every typed field's value in one C call: a request sets few of its ~60 fields, and
#: a getattr each cost a create several microseconds (benchmarks/README.md).
_VALUES = operator.attrgetter(*(field.attribute for field in FIELDS))
_BY_ATTRIBUTE = {field.attribute: field for field in FIELDS}
# Media field -> (URL key, inline key, storage-key key or None).
_MEDIA_FIELDS: dict[str, tuple[str, str, str | None]] = {
    "image": ("imageUrl", "imageDataUrl", "imageAttachmentId"),
    "video": ("videoUrl", "videoDataUrl", "videoAttachmentId"),
    "audio": ("audioUrl", "audioDataUrl", None),
    "swap_image": ("swapImage", "swapImage", None),
    "target_video": ("targetVideo", "targetVideo", None),
    "alternate_video": ("video", "video", None),
}
#: Every documented wire field of generate-video and the typed attribute that sends it.
WIRE_ATTRIBUTES: dict[str, str] = {
    "model": "model",
    **{field.wire: field.attribute for field in FIELDS},
    **{
        key: field
        for field, keys in _MEDIA_FIELDS.items()
        for key in keys
        if key is not None and field != "alternate_video"
    },
    "video": "alternate_video",
    "referenceImages": "reference_images",
    "referenceVideos": "reference_videos",
}
#: Every documented extend wire field and the attribute that sends it.
EXTEND_WIRE_ATTRIBUTES = {"runId": "run_id", "taskId": "run_id", "index": "index"}


# Documented generate-video wire fields with no typed attribute: sent raw from ``extra``,
# without a warning. The guide's model-specific extras (reference §3.2); media wire keys are
# here too (a typed media field is a Media, so a raw ``imageUrl`` string is sent as given,
# and wins, as before).
UNTYPED_FIELDS = frozenset(
    {
        # the guide (reference §3.2); every OpenAPI field has a typed attribute
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
# Given as a whole number (the attribute, ``extra`` or ``--set duration=5``), sent as its
# wire text: the OpenAPI types ``duration`` as a string or an integer, the guide as text.
_TEXT_NUMBERS = ("duration", "seconds")


def with_extra(request: NanoGPTVideoRequest) -> tuple[NanoGPTVideoRequest, dict[str, Any]]:
    """The request with the documented fields of its ``extra`` in their typed attributes
    (see :class:`~prism_async.providers.ExtraFields`), and the raw fields left to send."""
    typed, raw = EXTRA_FIELDS.split(request.extra)
    for field in _TEXT_NUMBERS:
        value = typed.get(field, getattr(request, field))
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
        duration=None if request.duration is None else _number_text(request.duration),
        aspect_ratio=request.aspect_ratio,
        resolution=request.resolution,
        generate_audio=request.audio,
        seed=request.seed,
        image=request.image,
        video=request.video,
        extra=request.extra,
    )


def _number_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def duration_field(model: str, duration: str) -> tuple[str, str]:
    """The wire key and text a model family documents for a duration: Sora's ``seconds``
    (``"8"``), Veo's ``"8s"`` (the OpenAPI: "'5s' for Veo2"), anyone else's ``"5"``."""
    lowered = model.strip().lower()
    number = duration[:-1] if duration.endswith("s") else duration
    if lowered.startswith("sora"):
        return "seconds", number
    if lowered.startswith("veo"):
        return "duration", f"{number}s"
    return "duration", number


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
    for field, value in zip(FIELDS, _VALUES(request), strict=True):
        if value is not None and field.attribute != "duration":
            check_field(field, value)
    _check_durations(request)
    audio_duration = request.audio_duration
    if audio_duration is not None and seconds_of(audio_duration) is None:
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
    key, _ = duration_field(request.model, request.duration)
    if key == "seconds" and request.seconds is not None:
        raise refuse(
            "duration",
            f"model {request.model} takes its duration as seconds, and seconds is given too;"
            " give one",
        )


def video_body_flow(request: NanoGPTVideoRequest) -> Flow[dict[str, Any]]:
    """The JSON body, reading local files inline (each refused over 4 MB before sending)."""
    request, raw = with_extra(request)
    validate(request)
    body: dict[str, Any] = {"model": request.model}
    for typed, value in zip(FIELDS, _VALUES(request), strict=True):
        if value is None:
            continue
        key = typed.wire
        if typed.attribute == "duration":
            key, value = duration_field(request.model, value)
        body[key] = _plain(value)
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


def _plain(value: Any) -> Any:
    """A value as JSON takes it (mappings as dicts, all the way down)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


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
    return {"runId": request.run_id, "taskId": request.run_id, "index": request.index}
