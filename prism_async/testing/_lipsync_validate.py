"""Request validation for the lipsync emulator, as the Sync.so v2 documents describe it.

Each check yields a NestJS-style message that names the field (``input.1.refId ...``); the
emulator answers 400 with all of them in ``message``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "EMOTIONS",
    "MODELS",
    "MODEL_MODES",
    "STATUSES",
    "SYNC_MODES",
    "valid_idempotency_key",
    "valid_output_file_name",
    "validate_create",
]

# The newest docs' five, and the older three the OpenAPI (Mar 2025) still lists.
MODELS = (
    "sync-3", "lipsync-2", "lipsync-2-pro", "lipsync-1.9.0-beta", "react-1", "lipsync-1.8.0",
    "lipsync-1.7.1", "lipsync-1.6.0",
)  # fmt: skip
SYNC_MODES = ("bounce", "loop", "cut_off", "silence", "remap")
MODEL_MODES = ("lips", "face", "head")
EMOTIONS = ("happy", "sad", "angry", "disgusted", "surprised", "neutral")
STATUSES = ("PENDING", "PROCESSING", "COMPLETED", "FAILED", "REJECTED", "CANCELED", "TIMED_OUT")
TTS_PROVIDERS = ("elevenlabs",)
SPEEDUPS = (1, 2, 3, 4)
OUTPUT_FORMATS = ("mp4", "mov")

_OUTPUT_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._~-]{1,128}")


def valid_output_file_name(name: str) -> bool:
    """``[A-Za-z0-9_-]``, 1 to 255 characters (the ``.mp4`` is added by the API)."""
    return _OUTPUT_FILE_NAME.fullmatch(name) is not None


def valid_idempotency_key(key: str) -> bool:
    """1 to 128 characters of ``[A-Za-z0-9._~-]`` (newest docs)."""
    return _IDEMPOTENCY_KEY.fullmatch(key) is not None


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _seconds(value: object) -> float | None:
    """A time in seconds (a number, 0 or more), or None when it is not one."""
    if isinstance(value, (int, float)) and _is_number(value) and value >= 0:
        return float(value)
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_of(field: str, values: tuple[str, ...]) -> str:
    return f"{field} must be one of the following values: {', '.join(values)}"


def validate_create(body: object) -> list[str]:
    """Every problem with a create (or cost) body; empty when it is acceptable."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors: list[str] = []
    model = body.get("model")
    if model is None:
        errors.append("model should not be empty")
    elif model not in MODELS:
        errors.append(_one_of("model", MODELS))
    uses_segments = body.get("segments") is not None
    refs = list(_check_input(body.get("input"), uses_segments, errors))
    if "options" in body and body["options"] is not None:
        errors.extend(_check_options("options", body["options"], model))
    if uses_segments:
        errors.extend(_check_segments(body["segments"], refs, model))
    webhook = body.get("webhookUrl")
    if webhook is not None and not (
        isinstance(webhook, str) and webhook.startswith(("http://", "https://"))
    ):
        errors.append("webhookUrl must be a URL address")
    project = body.get("projectId")
    if project is not None and not (isinstance(project, str) and project.strip()):
        errors.append("projectId must be a non-empty string")
    for key in ("dubParams", "dialogueEdit"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            errors.append(f"{key} must be an object")
    name = body.get("outputFileName")
    if name is not None and not (isinstance(name, str) and valid_output_file_name(name)):
        errors.append(
            "outputFileName must contain only letters, digits, underscores and hyphens, "
            "1 to 255 characters"
        )
    return errors


def _check_input(items: object, uses_segments: bool, errors: list[str]) -> Iterator[str]:
    """Check ``input``; yield the refIds of its audio and text items."""
    if not isinstance(items, list):
        errors.append("input must be an array")
        return
    videos = 0
    speech = 0
    seen: set[str] = set()
    for i, item in enumerate(items):
        field = f"input.{i}"
        if not isinstance(item, dict):
            errors.append(f"{field} must be an object")
            continue
        kind = item.get("type")
        if kind == "video":
            videos += 1
            errors.extend(_check_media(field, item))
            errors.extend(_check_spans(field, item))
            continue
        if kind == "audio":
            problems = list(_check_media(field, item))
        elif kind == "text":
            problems = list(_check_provider(f"{field}.provider", item.get("provider")))
        else:
            errors.append(_one_of(f"{field}.type", ("video", "audio", "text")))
            continue
        errors.extend(problems)
        speech += 1
        ref = item.get("refId")
        if problems:
            continue  # not an input: a segment's refId to it names no input
        if ref is None:
            if uses_segments:
                errors.append(f"{field}.refId is required when segments are used")
        elif not isinstance(ref, str) or not ref:
            errors.append(f"{field}.refId must be a non-empty string")
        elif ref in seen:
            errors.append(f"{field}.refId must be unique; {ref!r} is used twice")
        else:
            seen.add(ref)
            yield ref
    if videos == 0:
        errors.append("input must include one video item")
    elif videos > 1:
        errors.append("input must include only one video item")
    if speech == 0:
        errors.append("input must include at least one audio or text item")
    elif speech > 1 and not uses_segments:
        errors.append("input may include only one audio or text item unless segments are used")


def _check_media(field: str, item: Mapping[str, Any]) -> Iterator[str]:
    url, asset = item.get("url"), item.get("assetId")
    if url is None and asset is None:
        yield f"{field}.url should not be empty"
    if url is not None and not (isinstance(url, str) and url):
        yield f"{field}.url must be a non-empty string"
    if asset is not None and not (isinstance(asset, str) and asset):
        yield f"{field}.assetId must be a non-empty string"


def _check_spans(field: str, item: Mapping[str, Any]) -> Iterator[str]:
    """VideoInputItem's ``segments_secs``/``segments_frames`` (OpenAPI Mar 2025): arrays of
    ``[start, end]`` number pairs (``minItems`` = ``maxItems`` = 2)."""
    for key in ("segments_secs", "segments_frames"):
        if key not in item:
            continue
        spans = item[key]
        ok = isinstance(spans, list) and all(
            isinstance(span, list) and len(span) == 2 and all(_is_number(v) for v in span)
            for span in spans
        )
        if not ok:
            yield f"{field}.{key} must be an array of [start, end] number pairs"


def _check_provider(field: str, provider: object) -> Iterator[str]:
    if not isinstance(provider, dict):
        yield f"{field} must be an object"
        return
    if provider.get("name") not in TTS_PROVIDERS:
        yield _one_of(f"{field}.name", TTS_PROVIDERS)
    for key in ("voiceId", "script"):
        value = provider.get(key)
        if not (isinstance(value, str) and value.strip()):
            yield f"{field}.{key} should not be empty"
    for key in ("stability", "similarityBoost"):
        value = provider.get(key)
        if value is not None and not (_is_number(value) and 0 <= value <= 1):
            yield f"{field}.{key} must be a number from 0 to 1"


def _check_options(field: str, options: object, model: object) -> Iterator[str]:
    if not isinstance(options, dict):
        yield f"{field} must be an object"
        return
    if "sync_mode" in options and options["sync_mode"] not in SYNC_MODES:
        yield _one_of(f"{field}.sync_mode", SYNC_MODES)
    if "temperature" in options:
        value = options["temperature"]
        if not (_is_number(value) and 0 <= value <= 1):
            yield f"{field}.temperature must be a number from 0 to 1"
    if "occlusion_detection_enabled" in options and not isinstance(
        options["occlusion_detection_enabled"], bool
    ):
        yield f"{field}.occlusion_detection_enabled must be a boolean value"
    if "active_speaker_detection" in options:
        yield from _check_speaker(f"{field}.active_speaker_detection", options)
    yield from _check_legacy_options(field, options)
    for key, allowed in (("model_mode", MODEL_MODES), ("prompt", EMOTIONS)):
        if key not in options:
            continue
        if model != "react-1":
            yield f"{field}.{key} is only valid for the react-1 model"
        elif options[key] not in allowed:
            yield _one_of(f"{field}.{key}", allowed)


def _check_legacy_options(field: str, options: Mapping[str, Any]) -> Iterator[str]:
    """GenerationOptions of the OpenAPI file (Mar 2025): the enums and types it gives."""
    if "speedup" in options and not (
        _is_number(options["speedup"]) and options["speedup"] in SPEEDUPS
    ):
        yield f"{field}.speedup must be one of the following values: 1, 2, 3, 4"
    if "output_format" in options and options["output_format"] not in OUTPUT_FORMATS:
        yield _one_of(f"{field}.output_format", OUTPUT_FORMATS)
    if "pads" in options and not (
        isinstance(options["pads"], list) and all(_is_number(v) for v in options["pads"])
    ):
        yield f"{field}.pads must be an array of numbers"
    if "fps" in options and not (_is_number(options["fps"]) and options["fps"] > 0):
        yield f"{field}.fps must be a positive number"
    if "output_resolution" in options:
        size = options["output_resolution"]
        if not (isinstance(size, list) and len(size) == 2 and all(_dimension(v) for v in size)):
            yield f"{field}.output_resolution must be an array [width, height]"
    if "active_speaker" in options and not isinstance(options["active_speaker"], bool):
        yield f"{field}.active_speaker must be a boolean value"


def _dimension(value: object) -> bool:
    if isinstance(value, str):
        return value.isdigit() and int(value) > 0
    if not (isinstance(value, (int, float)) and _is_number(value)):
        return False
    return value > 0 and float(value).is_integer()


def _check_speaker(field: str, options: Mapping[str, Any]) -> Iterator[str]:
    asd = options["active_speaker_detection"]
    if not isinstance(asd, dict):
        yield f"{field} must be an object"
        return
    if "auto_detect" in asd and not isinstance(asd["auto_detect"], bool):
        yield f"{field}.auto_detect must be a boolean value"
    if "frame_number" in asd and not (_is_int(asd["frame_number"]) and asd["frame_number"] >= 0):
        yield f"{field}.frame_number must be a non-negative integer"
    if "coordinates" in asd:
        xy = asd["coordinates"]
        if not (isinstance(xy, list) and len(xy) == 2 and all(_is_number(v) for v in xy)):
            yield f"{field}.coordinates must be an array [x, y]"
    if "bounding_boxes" in asd:
        boxes = asd["bounding_boxes"]
        ok = isinstance(boxes, list) and all(
            box is None
            or (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box))
            for box in boxes
        )
        if not ok:
            yield f"{field}.bounding_boxes must be an array of [x1, y1, x2, y2] or null"


def _check_segments(segments: object, refs: list[str], model: object) -> Iterator[str]:
    if not isinstance(segments, list) or not segments:
        yield "segments must be a non-empty array"
        return
    spans: list[tuple[float, float, int]] = []
    for i, segment in enumerate(segments):
        field = f"segments.{i}"
        if not isinstance(segment, dict):
            yield f"{field} must be an object"
            continue
        start, end = _seconds(segment.get("startTime")), _seconds(segment.get("endTime"))
        for key, value in (("startTime", start), ("endTime", end)):
            if value is None:
                yield f"{field}.{key} must be a number of seconds, 0 or more"
        if start is not None and end is not None:
            if start >= end:
                yield f"{field}.startTime must be less than {field}.endTime"
            else:
                spans.append((start, end, i))
        yield from _check_audio_input(f"{field}.audioInput", segment.get("audioInput"), refs)
        override = segment.get("optionsOverride")
        if override is not None:
            yield from _check_options(f"{field}.optionsOverride", override, model)
    spans.sort()
    for (_, prev_end, prev), (start, _, this) in itertools.pairwise(spans):
        if start < prev_end:
            yield f"segments.{this} overlaps segments.{prev}"


def _check_audio_input(field: str, audio: object, refs: list[str]) -> Iterator[str]:
    if not isinstance(audio, dict):
        yield f"{field} must be an object"
        return
    ref = audio.get("refId")
    if not isinstance(ref, str) or not ref:
        yield f"{field}.refId should not be empty"
    elif ref not in refs:
        yield f"{field}.refId {ref!r} names no audio or text item in input"
    start, end = audio.get("startTime"), audio.get("endTime")
    if (start is None) != (end is None):
        yield f"{field}.startTime and {field}.endTime must be given together"
        return
    if start is None:
        return
    if not (_is_number(start) and _is_number(end) and start >= 0):
        yield f"{field}.startTime and {field}.endTime must be numbers of seconds, 0 or more"
    elif start >= end:
        yield f"{field}.startTime must be less than {field}.endTime"
