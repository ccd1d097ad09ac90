"""Validation and the wire body of Create Generation, uploads included."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from prism_async.providers import (
    ExtraFields,
    Flow,
    Media,
    Seconds,
    UnsupportedRequestError,
    VideoRequest,
    check_duration,
    check_prompt,
)
from prism_async.providers.prism._api import NAME, Api, refuse
from prism_async.providers.prism._requests import PrismVideoRequest
from prism_async.providers.prism._uploads import Upload, check_key_media, sized, upload

__all__ = [
    "ASPECT_RATIOS",
    "DURATION",
    "EXTRA_FIELDS",
    "MAX_COUNT",
    "NEUTRAL_NAMES",
    "create_body_flow",
    "from_video_request",
    "validate",
]

ASPECT_RATIOS = frozenset({"auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"})
MAX_COUNT = 4
_DURATION = re.compile(r"^[1-9]\d*s$")
# No range is documented, per model or at all (reference §1.7, open question 4); the
# largest documented value is "10s" (§1.2.2 `duration`: "5s", "8s", "10s"), so nothing
# longer is sent.
DURATION = Seconds(low=1, high=10)

# Media field -> (wire key, media kind). Singles first, then the lists.
_SINGLE = {
    "start_frame": ("startFrameKey", "image"),
    "end_frame": ("endFrameKey", "image"),
    "source_video": ("sourceVideoKey", "video"),
    "audio": ("audioKey", "audio"),
}
_MULTI = {
    "ingredient_images": ("ingredientImageKeys", "image"),
    "character_reference_images": ("characterReferenceImageKeys", "image"),
    "reference_videos": ("referenceVideoKeys", "video"),
}
# How a VideoRequest names the fields it maps onto, so its errors name the caller's field.
NEUTRAL_NAMES: Mapping[str, str] = {
    "start_frame": "image",
    "end_frame": "end_image",
    "source_video": "video",
}

# ``extra`` keys that set a typed attribute (its name or its wire name), so its check runs;
# the media ``*Key`` wire fields are documented and sent raw (reference §1.2.2).
EXTRA_FIELDS = ExtraFields(
    provider=NAME,
    typed={
        **{field: field for field in ("model", "prompt", "duration", "resolution", "count")},
        "modelName": "model",
        "aspect_ratio": "aspect_ratio",
        "aspectRatio": "aspect_ratio",
        "has_audio": "has_audio",
        "hasAudio": "has_audio",
        "template_id": "template_id",
        "templateId": "template_id",
    },
    documented=[key for key, _ in (*_SINGLE.values(), *_MULTI.values())],
)


def from_video_request(request: VideoRequest) -> PrismVideoRequest:
    """Map the provider-neutral request; refuse, naming the field, what Prism cannot say."""
    for field in ("negative_prompt", "seed"):
        if getattr(request, field) is not None:
            raise UnsupportedRequestError(
                field, "Prism's Create Generation has no such input", provider=NAME
            )
    if request.prompt is None:
        raise refuse("prompt", "required by Prism")
    check_prompt(request.prompt, provider=NAME)
    return PrismVideoRequest(
        model=request.model,
        prompt=request.prompt,
        aspect_ratio=request.aspect_ratio,
        duration=request.duration,
        resolution=request.resolution,
        count=request.count,
        has_audio=request.audio,
        start_frame=request.image,
        end_frame=request.end_image,
        source_video=request.video,
        extra=request.extra,
    )


def wire_duration(value: int | str | None) -> str | None:
    """``8`` or ``"8s"`` as the wire's ``"8s"``, within the documented :data:`DURATION`."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise refuse("duration", f"{value!r} is not a number of seconds")
    if isinstance(value, int):
        check_duration(value, DURATION, provider=NAME, model=None)
        return f"{value}s"
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        raise refuse(
            "duration", f"{value!r} is not a duration like 8 or '8s' (documented: {DURATION})"
        )
    check_duration(value, DURATION, provider=NAME, model=None)
    return value


def _media_fields(
    request: PrismVideoRequest, names: Mapping[str, str]
) -> list[tuple[str, str, str, Media, bool]]:
    """(field as the caller named it, wire key, kind, media, is list) for every media input."""
    found = []
    for field, (key, kind) in _SINGLE.items():
        media: Media | None = getattr(request, field)
        if media is not None:
            found.append((names.get(field, field), key, kind, media, False))
    for field, (key, kind) in _MULTI.items():
        items: tuple[Media, ...] = getattr(request, field)
        for index, media in enumerate(items):
            found.append((f"{field}[{index}]", key, kind, media, True))
    return found


def validate(request: PrismVideoRequest, names: Mapping[str, str] | None = None) -> None:
    """Refuse what the docs call invalid, naming the field (renamed through ``names``)."""
    if not isinstance(request.model, str) or not request.model.strip():
        raise refuse("model", "required (an exact Prism model id such as veo-3.1)")
    if not isinstance(request.prompt, str):
        raise refuse("prompt", "required")
    check_prompt(request.prompt, provider=NAME)
    if request.aspect_ratio is not None and request.aspect_ratio not in ASPECT_RATIOS:
        allowed = ", ".join(sorted(ASPECT_RATIOS))
        raise refuse("aspect_ratio", f"{request.aspect_ratio!r} is not one of {allowed}")
    wire_duration(request.duration)
    count = request.count
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise refuse("count", f"{count!r} is outside 1-{MAX_COUNT}")
    if request.resolution is not None and not request.resolution.strip():
        raise refuse("resolution", "empty")
    if request.template_id is not None and not request.template_id.strip():
        raise refuse("template_id", "empty")
    for field, _, kind, media, _ in _media_fields(request, names or {}):
        check_key_media(field, media, kind)


def create_body_flow(
    api: Api, request: PrismVideoRequest, names: Mapping[str, str] | None = None
) -> Flow[dict[str, Any]]:
    """The JSON body: validated, every file sized (refused over the limit before any
    request), then each uploaded once and its key put in its ``*Key`` field.

    Args:
        api: Where uploads go.
        request: The request.
        names: Field names to report errors under (a mapped VideoRequest's own names).
    """
    request, raw = EXTRA_FIELDS.apply(request)
    validate(request, names)
    planned: list[tuple[str, bool, Upload | str]] = []
    for field, key, kind, media, is_list in _media_fields(request, names or {}):
        checked = check_key_media(field, media, kind)
        item = yield from sized(field, checked, image_limit=kind == "image")
        planned.append((key, is_list, item))
    body: dict[str, Any] = {"prompt": request.prompt, "modelName": request.model}
    optional = {
        "aspectRatio": request.aspect_ratio,
        "duration": wire_duration(request.duration),
        "resolution": request.resolution,
        "count": request.count,
        "hasAudio": request.has_audio,
        "templateId": request.template_id,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    uploaded: dict[Media, str] = {}  # the same file given twice goes up once
    for key, is_list, item in planned:
        if isinstance(item, Upload):
            if item.media not in uploaded:
                uploaded[item.media] = yield from upload(api, item)
            value = uploaded[item.media]
        else:
            value = item
        if is_list:
            body.setdefault(key, []).append(value)
        else:
            body[key] = value
    body.update(raw)
    return body
