"""Provider-neutral generation requests. Each provider maps them onto its wire format and
refuses, with a clear error, what it cannot express."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from prism_async._media import Media
from prism_async._results import FrozenDict

__all__ = ["AudioTrack", "LipsyncRequest", "LipsyncSegment", "Speech", "VideoRequest"]


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """Raw wire fields, frozen deeply: a request never changes and can be hashed."""
    return FrozenDict(value)


@attrs.frozen(kw_only=True)
class VideoRequest:
    """Text-to-video, image-to-video or video-to-video, for any provider.

    Args:
        model: The provider's model id.
        prompt: What to generate.
        image: A start frame or source image (image-to-video).
        end_image: An end frame, where the provider takes one.
        video: A source video (edit, extend, upscale).
        duration: Seconds (each provider writes it its own way: ``"8s"``, ``"8"``).
        aspect_ratio: ``16:9``, ``9:16``, ``1:1``...; each provider checks its own set.
        resolution: ``720p``, ``1080p``...
        audio: Ask for generated audio.
        negative_prompt: What to avoid.
        seed: A seed where supported.
        count: How many videos (each one a job).
        extra: Raw wire fields passed through untouched (model-specific options).
    """

    model: str
    prompt: str | None = None
    image: Media | None = None
    end_image: Media | None = None
    video: Media | None = None
    duration: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    audio: bool | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    count: int = 1
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)


def _optional_mapping(value: Any) -> Any:
    """A mapping frozen like ``options``; anything else is kept for validation to refuse."""
    return FrozenDict(value) if isinstance(value, Mapping) else value


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


def _pairs(value: Any) -> Any:
    """Spans as a tuple of tuples; anything else is kept for validation to refuse."""
    try:
        return tuple(tuple(pair) for pair in value)
    except TypeError:
        return value


@attrs.frozen(kw_only=True)
class Speech:
    """A text-to-speech script, voiced by a TTS provider instead of a recorded track.

    Args:
        script: The words to speak.
        voice_id: A cloned-voice id or the TTS provider's voice id.
        provider: The TTS provider (``elevenlabs``, the only one documented).
        stability: Voice stability, 0-1, where the TTS provider takes it.
        similarity_boost: Closeness to the original voice, 0-1.
    """

    script: str
    voice_id: str
    provider: str = "elevenlabs"
    stability: float | None = None
    similarity_boost: float | None = None


@attrs.frozen(kw_only=True)
class AudioTrack:
    """One audio input: a recorded track (``audio``) or a script to voice (``speech``).

    Args:
        audio: A recorded track (URL, local file or storage key).
        speech: A text-to-speech script, instead of ``audio``.
        ref_id: The name segments use to pick this track (required with segments).
    """

    audio: Media | None = None
    speech: Speech | None = None
    ref_id: str | None = None


@attrs.frozen(kw_only=True)
class LipsyncSegment:
    """A span of the video lip-synced to one track, optionally to a crop of it.

    Args:
        start: Seconds into the video where the segment starts.
        end: Seconds into the video where it ends.
        ref_id: The :class:`AudioTrack` voiced here.
        audio_start: Seconds into the track where the crop starts (with ``audio_end``).
        audio_end: Seconds into the track where the crop ends (with ``audio_start``).
        options_override: Options for this segment only (same keys as the request's).
    """

    start: float
    end: float
    ref_id: str
    audio_start: float | None = None
    audio_end: float | None = None
    options_override: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)


@attrs.frozen(kw_only=True)
class LipsyncRequest:
    """Lip-sync a video to audio or speech, for any provider that offers it.

    Args:
        model: The provider's model id (``lipsync-2``, ``react-1``...).
        video: The face video.
        audio: The tracks: one, or several named by ``ref_id`` and placed by ``segments``.
        segments: Spans of the video, each voiced by one track.
        options: Generation options (``sync_mode``, ``temperature``...), as the provider
            names them.
        webhook_url: Where the provider posts the finished generation.
        output_file_name: The output's base name, without extension.
        project_id: The project the generation belongs to (``projectId``, newest docs).
        dub_params: Dubbing parameters (``dubParams``, newest docs; sent as given).
        dialogue_edit: A dialogue edit (``dialogueEdit``, newest docs; sent as given).
        video_segments_secs: Deprecated (OpenAPI, Mar 2025): ``(start, end)`` seconds of
            the video to lip-sync, sent on the video input item as ``segments_secs``.
            Prefer ``segments``.
        video_segments_frames: Deprecated likewise: ``(start, end)`` frames, sent as
            ``segments_frames``.
        extra: Raw create fields the request does not model, sent at the top level.
            ``None`` values are dropped; a documented field given here goes through its
            attribute and its checks (``projectId`` becomes ``project_id``, an option such
            as ``sync_mode`` joins ``options``); an unknown key is sent as it is, with a
            warning logged once per key.
    """

    model: str
    video: Media | None = None
    audio: tuple[AudioTrack, ...] = attrs.field(default=(), converter=_tuple)
    segments: tuple[LipsyncSegment, ...] = attrs.field(default=(), converter=_tuple)
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    webhook_url: str | None = None
    output_file_name: str | None = None
    project_id: str | None = None
    dub_params: Mapping[str, Any] | None = attrs.field(default=None, converter=_optional_mapping)
    dialogue_edit: Mapping[str, Any] | None = attrs.field(default=None, converter=_optional_mapping)
    video_segments_secs: tuple[tuple[float, float], ...] = attrs.field(default=(), converter=_pairs)
    video_segments_frames: tuple[tuple[int, int], ...] = attrs.field(default=(), converter=_pairs)
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
