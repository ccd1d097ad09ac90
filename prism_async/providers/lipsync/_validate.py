"""Refusing, before any byte is sent, what the lipsync API documents as invalid."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from typing import Any

from prism_async._requests import AudioTrack, LipsyncSegment, Speech
from prism_async.providers import (
    LipsyncRequest,
    Media,
    MediaKind,
    UnsupportedRequestError,
    refuser,
)
from prism_async.providers.lipsync._body import resolve_extra

__all__ = [
    "EMOTIONS",
    "MAX_AUDIO_SECONDS",
    "MODEL_MODES",
    "OUTPUT_FORMATS",
    "REACT_MODEL",
    "SPEEDUPS",
    "SYNC_MODES",
    "validate",
    "validate_idempotency_key",
]

NAME = "lipsync"
SYNC_MODES = frozenset({"bounce", "loop", "cut_off", "silence", "remap"})
MODEL_MODES = frozenset({"lips", "face", "head"})
EMOTIONS = frozenset({"happy", "sad", "angry", "disgusted", "surprised", "neutral"})
REACT_MODEL = "react-1"
# Legacy GenerationOptions (lipsync-openapi-2025-03.json): enums given by the spec.
SPEEDUPS = frozenset({1, 2, 3, 4})
OUTPUT_FORMATS = frozenset({"mp4", "mov"})
# "Audio longer than 300 s fails (generation_audio_length_exceeded)" (reference §2.4, §2.6):
# a crop ending later than that needs a longer track, so it would fail after being sent.
MAX_AUDIO_SECONDS = 300
_OUTPUT_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._~-]{1,128}")


refuse = refuser(NAME)


def _number(value: object) -> float | None:
    """The value as a finite float, or None when it is not a number (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _check_unit(field: str, value: object) -> None:
    if value is None:
        return
    number = _number(value)
    if number is None or not 0 <= number <= 1:
        raise refuse(field, f"{value!r} is outside 0-1")


def _check_seconds(field: str, value: object) -> float:
    number = _number(value)
    if number is None or number < 0:
        raise refuse(field, f"{value!r} is not a number of seconds, 0 or more")
    return number


def validate_idempotency_key(key: str) -> None:
    """1 to 128 characters of ``[A-Za-z0-9._~-]``, as the idempotency guide requires."""
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise refuse("idempotency_key", "must be 1-128 characters of A-Z a-z 0-9 . _ ~ -")


def validate(request: LipsyncRequest) -> None:
    """Refuse what the docs call invalid, naming the field. ``extra`` is resolved first:
    a documented field given there is checked as its typed attribute is."""
    request = resolve_extra(request)
    if not isinstance(request.model, str) or not request.model.strip():
        raise refuse("model", "required")
    if request.video is None:
        raise refuse("video", "required: the face video to lip-sync")
    check_media("video", request.video)
    _check_video_spans(request)
    if not request.audio:
        raise refuse("audio", "at least one audio track or speech script is required")
    refs = _check_tracks(request.audio, segmented=bool(request.segments))
    _check_segments(request.segments, refs, request.model)
    check_options("options", request.options, request.model)
    if request.webhook_url is not None and not (
        isinstance(request.webhook_url, str)
        and request.webhook_url.startswith(("https://", "http://"))
    ):
        raise refuse("webhook_url", "must be an http(s) URL")
    name = request.output_file_name
    if name is not None and not (isinstance(name, str) and _OUTPUT_FILE_NAME.fullmatch(name)):
        raise refuse(
            "output_file_name",
            "must be 1-255 characters of A-Z a-z 0-9 _ - (no extension: .mp4 is added)",
        )
    project = request.project_id
    if project is not None and not (isinstance(project, str) and project.strip()):
        raise refuse("project_id", "must be a non-empty string (the project's id)")
    for field in ("dub_params", "dialogue_edit"):
        if getattr(request, field) is not None and not isinstance(getattr(request, field), Mapping):
            raise refuse(field, "must be a mapping (sent as a JSON object)")
    for key in request.extra:
        if not isinstance(key, str) or not key:
            raise refuse("extra", f"{key!r}: field names are non-empty strings")


def _check_video_spans(request: LipsyncRequest) -> None:
    """The deprecated ``segments_secs``/``segments_frames`` of the video input item: each
    a ``[start, end]`` pair (OpenAPI ``minItems``/``maxItems`` 2), start before end."""
    for field, whole in (("video_segments_secs", False), ("video_segments_frames", True)):
        spans = getattr(request, field)
        if not spans:
            continue
        if not isinstance(spans, tuple):
            raise refuse(field, "must be a list of [start, end] pairs")
        if request.video is not None and request.video.kind is MediaKind.PATH:
            raise refuse(
                field,
                "rides on the video input item, and a local video goes as a file part with"
                " no item: give the video as a URL or an asset id (or use segments)",
            )
        unit = "frame" if whole else "second"
        for index, span in enumerate(spans):
            name = f"{field}[{index}]"
            if len(span) != 2:
                raise refuse(name, f"{list(span)!r} is not a [start, end] pair")
            start, end = (_number(v) for v in span)
            if start is None or end is None or start < 0:
                raise refuse(name, f"{list(span)!r}: start and end are {unit}s, 0 or more")
            if whole and not (start.is_integer() and end.is_integer()):
                raise refuse(name, f"{list(span)!r}: frames are whole numbers")
            if start >= end:
                raise refuse(name, f"{list(span)!r}: start must be before end")


def check_media(field: str, media: Media) -> None:
    """URLs and storage keys go as they are; local files go through multipart."""
    if media.kind is MediaKind.URL:
        if not media.value.startswith(("https://", "http://")):
            raise refuse(field, "a URL must be http(s)")
    elif media.kind in (MediaKind.BYTES, MediaKind.DATA_URI):
        raise UnsupportedRequestError(
            field,
            "the lipsync API takes a URL, an asset id or a local file: write the data to a file",
            provider=NAME,
        )
    elif not media.value:
        raise refuse(field, "empty")


def _check_tracks(tracks: tuple[AudioTrack, ...], *, segmented: bool) -> set[str]:
    if len(tracks) > 1 and not segmented:
        raise refuse("audio", f"{len(tracks)} tracks given: several tracks need segments")
    refs: set[str] = set()
    local = 0
    for index, track in enumerate(tracks):
        field = f"audio[{index}]"
        if (track.audio is None) == (track.speech is None):
            raise refuse(field, "give either audio or speech, exactly one")
        if track.audio is not None:
            check_media(f"{field}.audio", track.audio)
            if track.audio.kind is MediaKind.PATH:
                local += 1
                if segmented:
                    raise refuse(
                        f"{field}.audio",
                        "a local audio file cannot be placed by segments: the upload form's"
                        " file part carries no refId, and the API takes no input item without"
                        " a url (its refId would name no input). Give this track as a URL"
                        " (or an asset id), or send a single local file without segments",
                    )
        if track.speech is not None:
            _check_speech(f"{field}.speech", track.speech)
        if track.ref_id is None:
            if segmented:
                raise refuse(f"{field}.ref_id", "required when segments are used")
            continue
        if not isinstance(track.ref_id, str) or not track.ref_id:
            raise refuse(f"{field}.ref_id", "must be a non-empty string")
        if track.ref_id in refs:
            raise refuse(f"{field}.ref_id", f"{track.ref_id!r} is used by another track")
        refs.add(track.ref_id)
    if local > 1:
        raise UnsupportedRequestError(
            "audio",
            "the upload form takes one local audio file: give the other tracks as URLs",
            provider=NAME,
        )
    return refs


def _check_speech(field: str, speech: Speech) -> None:
    for name in ("script", "voice_id", "provider"):
        value = getattr(speech, name)
        if not isinstance(value, str) or not value.strip():
            raise refuse(f"{field}.{name}", "required")
    _check_unit(f"{field}.stability", speech.stability)
    _check_unit(f"{field}.similarity_boost", speech.similarity_boost)


def _check_segments(segments: tuple[LipsyncSegment, ...], refs: set[str], model: str) -> None:
    spans: list[tuple[float, float, int]] = []
    for index, segment in enumerate(segments):
        field = f"segments[{index}]"
        start = _check_seconds(f"{field}.start", segment.start)
        end = _check_seconds(f"{field}.end", segment.end)
        if start >= end:
            raise refuse(f"{field}.end", f"must be after start (start {start:g}, end {end:g})")
        if segment.ref_id not in refs:
            raise refuse(f"{field}.ref_id", f"{segment.ref_id!r} names no audio track")
        _check_crop(field, segment)
        check_options(f"{field}.options_override", segment.options_override, model)
        spans.append((start, end, index))
    spans.sort()
    for (_, prev_end, prev), (start, _, this) in itertools.pairwise(spans):
        if start < prev_end:
            raise refuse(f"segments[{this}]", f"overlaps segments[{prev}]")


def _check_crop(field: str, segment: LipsyncSegment) -> None:
    if segment.audio_start is None and segment.audio_end is None:
        return
    if segment.audio_start is None or segment.audio_end is None:
        missing = "audio_start" if segment.audio_start is None else "audio_end"
        raise refuse(f"{field}.{missing}", "an audio crop needs both audio_start and audio_end")
    start = _check_seconds(f"{field}.audio_start", segment.audio_start)
    end = _check_seconds(f"{field}.audio_end", segment.audio_end)
    if start >= end:
        raise refuse(f"{field}.audio_end", f"must be after audio_start ({start:g} >= {end:g})")
    if end > MAX_AUDIO_SECONDS:
        raise refuse(
            f"{field}.audio_end",
            f"{end:g} s is past the documented {MAX_AUDIO_SECONDS} s audio limit"
            " (longer audio fails with generation_audio_length_exceeded)",
        )


def _check_legacy_options(field: str, options: Mapping[str, Any]) -> None:
    """The legacy GenerationOptions, as the OpenAPI file types them (sets where it gives
    them; ``output_resolution`` is ``[width, height]``)."""
    if "speedup" in options and (
        _number(options["speedup"]) is None or options["speedup"] not in SPEEDUPS
    ):
        raise refuse(f"{field}.speedup", f"{options['speedup']!r} is not one of 1, 2, 3, 4")
    if "output_format" in options and options["output_format"] not in OUTPUT_FORMATS:
        raise refuse(
            f"{field}.output_format", f"{options['output_format']!r} is not one of mov, mp4"
        )
    if "pads" in options:
        pads = options["pads"]
        if not isinstance(pads, (list, tuple)) or any(_number(v) is None for v in pads):
            raise refuse(f"{field}.pads", "must be a list of numbers (default [0, 5, 0, 0])")
    if "fps" in options:
        fps = _number(options["fps"])
        if fps is None or fps <= 0:
            raise refuse(f"{field}.fps", f"{options['fps']!r} is not a frame rate above 0")
    if "output_resolution" in options:
        size = options["output_resolution"]
        if not (
            isinstance(size, (list, tuple)) and len(size) == 2 and all(_dimension(v) for v in size)
        ):
            raise refuse(f"{field}.output_resolution", "must be [width, height], e.g. [1280, 720]")
    if "active_speaker" in options and not isinstance(options["active_speaker"], bool):
        raise refuse(f"{field}.active_speaker", "must be true or false")


def _dimension(value: object) -> bool:
    """A width or height: a positive whole number, or its digits (the spec types them as
    strings, its example as numbers)."""
    if isinstance(value, str):
        return value.isdigit() and int(value) > 0
    number = _number(value)
    return number is not None and number > 0 and number == int(number)


def check_options(field: str, options: Mapping[str, Any], model: str) -> None:
    """The documented options, SDK and legacy; other keys pass untouched."""
    if not isinstance(options, Mapping):
        raise refuse(field, "must be a mapping")
    if "sync_mode" in options and options["sync_mode"] not in SYNC_MODES:
        raise refuse(
            f"{field}.sync_mode",
            f"{options['sync_mode']!r} is not one of {', '.join(sorted(SYNC_MODES))}",
        )
    if "temperature" in options:
        if options["temperature"] is None:
            raise refuse(f"{field}.temperature", "None is outside 0-1")
        _check_unit(f"{field}.temperature", options["temperature"])
    if "occlusion_detection_enabled" in options and not isinstance(
        options["occlusion_detection_enabled"], bool
    ):
        raise refuse(f"{field}.occlusion_detection_enabled", "must be true or false")
    if "active_speaker_detection" in options and not isinstance(
        options["active_speaker_detection"], Mapping
    ):
        raise refuse(
            f"{field}.active_speaker_detection",
            "must be a mapping (auto_detect, frame_number and coordinates, bounding_boxes)",
        )
    _check_legacy_options(field, options)
    for key, allowed in (("model_mode", MODEL_MODES), ("prompt", EMOTIONS)):
        if key not in options:
            continue
        if model != REACT_MODEL:
            raise refuse(f"{field}.{key}", f"only the {REACT_MODEL} model takes it")
        if options[key] not in allowed:
            raise refuse(
                f"{field}.{key}", f"{options[key]!r} is not one of {', '.join(sorted(allowed))}"
            )
