"""Batch-file fields to request values, one builder per ``type``.

Each builder takes the line's remaining fields and refuses an unknown or mistyped one with
a message that names it. What the provider itself refuses (an undocumented aspect ratio, a
missing file) is found when the item is submitted, before anything is sent, and reported
as that item's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prism_async._media import Media
from prism_async._requests import AudioTrack, LipsyncRequest, LipsyncSegment, Speech, VideoRequest

__all__ = ["BUILDERS", "FieldError", "media"]


class FieldError(ValueError):
    """A field of a line that does not fit its request."""


Builder = Callable[[dict[str, Any], Path], object]

# Field kinds: a JSON type to check, or "media" (path, URL or data URI).
_MEDIA = "media"
_Kinds = Mapping[str, object]

_VIDEO: _Kinds = {
    "model": str,
    "prompt": str,
    "image": _MEDIA,
    "end_image": _MEDIA,
    "video": _MEDIA,
    "duration": int,
    "aspect_ratio": str,
    "resolution": str,
    "audio": bool,
    "negative_prompt": str,
    "seed": int,
    "count": int,
    "extra": dict,
}


def media(value: object, base: Path, field: str) -> Media:
    """A file field: an http(s) URL, a data URI, ``{"key": ...}`` (a provider's storage
    key), or a local path (relative to the batch file's folder)."""
    if isinstance(value, dict) and set(value) == {"key"} and isinstance(value["key"], str):
        return Media.from_key(value["key"])
    if not isinstance(value, str) or not value:
        raise FieldError(f"{field}: expected a path, a URL or a data URI")
    if value.startswith(("https://", "http://", "data:")):
        try:
            return Media.parse(value)
        except ValueError as exc:
            raise FieldError(f"{field}: {exc}") from None
    path = Path(value).expanduser()
    return Media.from_path(path if path.is_absolute() else base / path)


def _check(fields: Mapping[str, Any], kinds: _Kinds, prefix: str = "") -> None:
    """Refuse unknown fields and values of the wrong JSON type."""
    for name, value in fields.items():
        if name not in kinds:
            known = ", ".join(sorted(kinds))
            raise FieldError(f"{prefix}{name}: unknown field (known: {known})")
        kind = kinds[name]
        if value is None or not isinstance(kind, type) or kind is object:
            continue
        wanted: tuple[type, ...] = (int, float) if kind is float else (kind,)
        if not isinstance(value, wanted) or (isinstance(value, bool) and kind is not bool):
            raise FieldError(f"{prefix}{name}: expected {_json_name(kind)}, got {value!r}")


def _convert(
    fields: Mapping[str, Any], kinds: _Kinds, base: Path, prefix: str = ""
) -> dict[str, Any]:
    _check(fields, kinds, prefix)
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        out[name] = media(value, base, prefix + name) if kinds[name] == _MEDIA else value
    return out


def _json_name(kind: type) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    names.update({dict: "an object", list: "a list"})
    return names.get(kind, kind.__name__)


def _required(fields: Mapping[str, Any], *names: str, prefix: str = "") -> None:
    for name in names:
        if fields.get(name) in (None, ""):
            raise FieldError(f"{prefix}{name}: required")


def video(fields: dict[str, Any], base: Path) -> object:
    """``type: video``: a :class:`~prism_async._requests.VideoRequest` (any provider)."""
    _required(fields, "model")
    return VideoRequest(**_convert(fields, _VIDEO, base))


def _variable(value: object, base: Path, field: str) -> str | Media:
    """A template variable: text (or a URL, storage key or data URI) sent as it is, or a
    file as ``{"path": ...}``, ``{"url": ...}`` or ``{"key": ...}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((kind, text),) = value.items()
        if isinstance(text, str) and kind == "path":
            path = Path(text).expanduser()
            return Media.from_path(path if path.is_absolute() else base / path)
        if isinstance(text, str) and kind == "url":
            return Media.from_url(text)
        if isinstance(text, str) and kind == "key":
            return Media.from_key(text)
    raise FieldError(f'{field}: expected a string, or {{"path"|"url"|"key": "..."}}')


def _object(fields: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = fields.get(name) or {}
    if not isinstance(value, dict):
        raise FieldError(f"{name}: expected an object")
    return value


def template(fields: dict[str, Any], base: Path) -> object:
    """``type: template``: a Prism ``TemplateRequest`` (``template_id``, ``variables``,
    ``character_variables``, ``webhook_url``)."""
    from prism_async.providers.prism import TemplateRequest

    _check(
        fields,
        {"template_id": str, "variables": dict, "character_variables": dict, "webhook_url": str},
    )
    _required(fields, "template_id")
    variables = {
        k: _variable(v, base, f"variables.{k}") for k, v in _object(fields, "variables").items()
    }
    characters = _object(fields, "character_variables")
    if not all(isinstance(v, str) for v in characters.values()):
        raise FieldError("character_variables: expected character ids (strings)")
    return TemplateRequest(
        template_id=fields["template_id"],
        variables=variables,
        character_variables=dict(characters),
        webhook_url=fields.get("webhook_url"),
    )


_TRACK: _Kinds = {"audio": _MEDIA, "speech": dict, "ref_id": str}
_SPEECH: _Kinds = {
    "script": str,
    "voice_id": str,
    "provider": str,
    "stability": float,
    "similarity_boost": float,
}
_SEGMENT: _Kinds = {
    "start": float,
    "end": float,
    "ref_id": str,
    "audio_start": float,
    "audio_end": float,
    "options_override": dict,
}
_LIPSYNC: _Kinds = {
    "model": str,
    "video": _MEDIA,
    "audio": object,
    "segments": list,
    "options": dict,
    "webhook_url": str,
    "output_file_name": str,
    "project_id": str,
    "dub_params": dict,
    "dialogue_edit": dict,
    "extra": dict,
}


def _track(value: object, base: Path, field: str) -> AudioTrack:
    if isinstance(value, str):
        return AudioTrack(audio=media(value, base, field))
    if not isinstance(value, dict):
        raise FieldError(f"{field}: expected a path or URL, or an object")
    track = _convert(value, _TRACK, base, prefix=f"{field}.")
    if "speech" in track:
        speech = _convert(track["speech"], _SPEECH, base, prefix=f"{field}.speech.")
        _required(speech, "script", "voice_id", prefix=f"{field}.speech.")
        track["speech"] = Speech(**speech)
    return AudioTrack(**track)


def lipsync(fields: dict[str, Any], base: Path) -> object:
    """``type: lipsync``: a ``LipsyncRequest`` (``model``, ``video``, ``audio``: one track
    or a list, each a path/URL or ``{"audio"|"speech", "ref_id"}``; ``segments``;
    ``options``; ``output_file_name``)."""
    converted = _convert(fields, _LIPSYNC, base)
    converted.setdefault("model", "lipsync-2")
    audio = fields.get("audio")
    tracks = audio if isinstance(audio, list) else ([] if audio is None else [audio])
    converted["audio"] = tuple(_track(t, base, f"audio[{n}]") for n, t in enumerate(tracks))
    segments = []
    for n, raw in enumerate(fields.get("segments") or ()):
        if not isinstance(raw, dict):
            raise FieldError(f"segments[{n}]: expected an object")
        segment = _convert(raw, _SEGMENT, base, prefix=f"segments[{n}].")
        _required(segment, "start", "end", "ref_id", prefix=f"segments[{n}].")
        segments.append(LipsyncSegment(**segment))
    converted["segments"] = tuple(segments)
    return LipsyncRequest(**converted)


BUILDERS: dict[str, Builder] = {"video": video, "template": template, "lipsync": lipsync}
