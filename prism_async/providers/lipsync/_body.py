"""The create body of the lipsync API: JSON, or the multipart form when a file is local."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from prism_async._requests import AudioTrack, LipsyncSegment, Speech
from prism_async.providers import (
    ExtraFields,
    FilePart,
    Flow,
    LipsyncRequest,
    Media,
    MediaKind,
    Multipart,
    RequestValidationError,
    UnsupportedRequestError,
    VideoRequest,
    stat_file,
)

__all__ = [
    "EXTRA_FIELDS",
    "MAX_UPLOAD_BYTES",
    "OPTION_KEYS",
    "Payload",
    "as_lipsync",
    "payload_flow",
    "resolve_extra",
    "wire_body",
]


NAME = "lipsync"
# CONFLICT (reference §2.2.2, §2.6): older docs say multipart files "must be under 20 MB;
# use URLs for larger files", the newest a 5 GiB parser limit "subject to plan and proxy
# limits". The conservative 20 MB (decimal) is enforced; larger files go as URLs or assets.
MAX_UPLOAD_BYTES = 20 * 1000 * 1000
_FALLBACK_TYPES = {"video": "video/mp4", "audio": "audio/mpeg"}

#: Documented create fields that have a typed attribute (reference §2.2.1: SDK 0.2.7 and
#: the newest docs), by wire name or attribute name: given through ``extra`` they go
#: through the attribute and its checks.
_TYPED_FIELDS = {
    "model": "model",
    "webhookUrl": "webhook_url",
    "outputFileName": "output_file_name",
    "projectId": "project_id",
    "dubParams": "dub_params",
    "dialogueEdit": "dialogue_edit",
}
EXTRA_FIELDS = ExtraFields(
    provider=NAME,
    typed={**_TYPED_FIELDS, **{attribute: attribute for attribute in _TYPED_FIELDS.values()}},
)
#: Documented create fields built from the request's structure: never raw through ``extra``.
_STRUCTURAL_FIELDS = {
    "input": "video and audio",
    "segments": "segments",
    "options": "options",
}
#: Documented ``options`` keys: SDK 0.2.7 and the legacy GenerationOptions of the OpenAPI
#: file (lipsync-openapi-2025-03.json). Given through ``extra`` they join ``options``.
OPTION_KEYS = frozenset(
    {
        "sync_mode",
        "model_mode",
        "prompt",
        "temperature",
        "active_speaker_detection",
        "occlusion_detection_enabled",
        "pads",
        "speedup",
        "output_format",
        "fps",
        "output_resolution",
        "active_speaker",
    }
)

#: A create body: JSON, or a multipart form with the nested fields as JSON strings.
Payload = dict[str, Any] | Multipart


def as_lipsync(request: object) -> LipsyncRequest:
    """The request as a LipsyncRequest; anything else is refused.

    Raises:
        UnsupportedRequestError: A text-to-video request, or a type lipsync does not take.
    """
    if isinstance(request, LipsyncRequest):
        return request
    if isinstance(request, VideoRequest):
        raise UnsupportedRequestError(
            "request",
            "the lipsync API only lip-syncs a video to audio or speech: send a LipsyncRequest"
            " (text-to-video is not offered)",
            provider=NAME,
        )
    raise UnsupportedRequestError(
        "request", f"lipsync does not take a {type(request).__name__}", provider=NAME
    )


def resolve_extra(request: LipsyncRequest) -> LipsyncRequest:
    """The request with ``extra`` sorted out by the shared rules (:class:`ExtraFields`):
    ``None`` values dropped; each documented field moved to its typed attribute (it wins
    over the value the attribute had, and the attribute's checks then run on it); a
    documented option (``sync_mode``...) moved into ``options`` the same way; only the
    other keys left in ``extra``, each unknown one logged once as a warning.

    Raises:
        RequestValidationError: ``extra`` names a field built from the request's structure
            (``input``, ``segments``, ``options``), or two keys for one attribute.
    """
    if not request.extra:
        return request
    options = dict(request.options)
    rest: dict[str, Any] = {}
    for key, value in request.extra.items():
        if value is None:
            continue
        if key in _STRUCTURAL_FIELDS:
            raise RequestValidationError(
                f"extra.{key}",
                f"built from the request: set its {_STRUCTURAL_FIELDS[key]} instead",
                provider=NAME,
            )
        if key in OPTION_KEYS:
            options[key] = value
        else:
            rest[key] = value
    typed, raw = EXTRA_FIELDS.split(rest)
    return attrs.evolve(request, options=options, extra=raw, **typed)


def _media_item(kind: str, media: Media) -> dict[str, Any]:
    if media.kind is MediaKind.KEY:  # a registered asset (newest docs: assetId for url)
        return {"type": kind, "assetId": media.value}
    return {"type": kind, "url": media.value}


def _speech_item(speech: Speech) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "name": speech.provider,
        "voiceId": speech.voice_id,
        "script": speech.script,
    }
    if speech.stability is not None:
        provider["stability"] = speech.stability
    if speech.similarity_boost is not None:
        provider["similarityBoost"] = speech.similarity_boost
    return {"type": "text", "provider": provider}


def _track_item(track: AudioTrack) -> dict[str, Any] | None:
    if track.speech is not None:
        item = _speech_item(track.speech)
    elif track.audio is not None and track.audio.kind is MediaKind.PATH:
        # The file part alone makes the item. The documents have no input item without a
        # url for a file to fill in, so a local file cannot carry a refId: validate()
        # refuses one used by segments, and without segments a refId has no use.
        return None
    elif track.audio is not None:
        item = _media_item("audio", track.audio)
    else:  # pragma: no cover - refused by validate()
        raise RequestValidationError("audio", "a track without audio", provider=NAME)
    if track.ref_id is not None:
        item["refId"] = track.ref_id
    return item


def _segment(segment: LipsyncSegment) -> dict[str, Any]:
    audio: dict[str, Any] = {"refId": segment.ref_id}
    if segment.audio_start is not None and segment.audio_end is not None:
        audio["startTime"] = segment.audio_start
        audio["endTime"] = segment.audio_end
    item: dict[str, Any] = {
        "startTime": segment.start,
        "endTime": segment.end,
        "audioInput": audio,
    }
    if segment.options_override:
        item["optionsOverride"] = dict(segment.options_override)
    return item


def _is_local(media: Media | None) -> bool:
    return media is not None and media.kind is MediaKind.PATH


def wire_body(request: LipsyncRequest) -> dict[str, Any]:
    """The create fields in their current spelling. A local file's item is left out of
    ``input``: its form part supplies it (the documented multipart form). ``extra`` is
    resolved first (:func:`resolve_extra`); its unknown keys go last, at the top level."""
    request = resolve_extra(request)
    items: list[dict[str, Any]] = []
    if request.video is not None and not _is_local(request.video):
        video = _media_item("video", request.video)
        for key, spans in (
            ("segments_secs", request.video_segments_secs),
            ("segments_frames", request.video_segments_frames),
        ):
            if spans:
                video[key] = [list(span) for span in spans]
        items.append(video)
    items.extend(item for item in map(_track_item, request.audio) if item is not None)
    body: dict[str, Any] = {"model": request.model, "input": items}
    if request.options:
        body["options"] = dict(request.options)
    if request.segments:
        body["segments"] = [_segment(s) for s in request.segments]
    if request.webhook_url is not None:
        body["webhookUrl"] = request.webhook_url
    if request.output_file_name is not None:
        body["outputFileName"] = request.output_file_name
    if request.project_id is not None:
        body["projectId"] = request.project_id
    if request.dub_params is not None:
        body["dubParams"] = _plain(request.dub_params)
    if request.dialogue_edit is not None:
        body["dialogueEdit"] = _plain(request.dialogue_edit)
    body.update(request.extra)
    return body


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _file_part(kind: str, media: Media) -> FilePart:
    return FilePart(
        path=media.path,
        content_type=media.content_type or _FALLBACK_TYPES[kind],
        filename=media.name,
    )


def payload_flow(request: LipsyncRequest) -> Flow[Payload]:
    """The body of a validated request: JSON, or multipart with each local file
    stat-checked (it must exist, within the upload limit) and streamed by the transport."""
    body = wire_body(request)
    files: list[tuple[str, str, FilePart]] = []  # (field named in errors, form name, file)
    if request.video is not None and _is_local(request.video):
        files.append(("video", "video", _file_part("video", request.video)))
    for index, track in enumerate(request.audio):
        if track.audio is not None and _is_local(track.audio):
            files.append((f"audio[{index}].audio", "audio", _file_part("audio", track.audio)))
    if not files:
        return body
    fields: list[tuple[str, str | FilePart]] = [
        (key, value if isinstance(value, str) else _compact(value))
        for key, value in body.items()
        if value != []  # every input item is a file: the form carries no input field
    ]
    for field, name, part in files:
        size = yield from stat_file(part.path, field=field)
        if size >= MAX_UPLOAD_BYTES:  # "under 20 MB"
            raise RequestValidationError(
                field,
                f"{part.filename} is {size} bytes; the documented upload limit is under"
                f" {MAX_UPLOAD_BYTES} bytes (20 MB): give a URL or an asset id instead",
                provider=NAME,
            )
        fields.append((name, part))
    return Multipart(fields=tuple(fields))


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
