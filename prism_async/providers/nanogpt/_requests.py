"""NanoGPT's own request types: every documented field of generate-video, and extend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from prism_async.providers import Media

__all__ = ["ExtendRequest", "NanoGPTVideoRequest"]


def _dict(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(value)


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class NanoGPTVideoRequest:
    """``POST /api/generate-video``: text-, image- and video-to-video.

    Media fields take a :class:`~prism_async._media.Media`: a URL goes as ``*Url``; a local
    file, bytes or a data URI go inline as ``*DataUrl`` (at most 4 MB); a storage key goes
    as ``*AttachmentId`` where the API has one. ``extra`` carries model-specific fields
    (``num_frames``, ``movementAmplitude``, LongStories configs...) as given. A field with a
    typed attribute given there (by attribute or wire name: ``resolution``,
    ``generateAudio``) sets that attribute, is checked as it, and wins over it; ``None``
    values are dropped; an undocumented key is logged once (see
    :class:`~prism_async.providers.ExtraFields`).
    """

    model: str
    prompt: str | None = None
    negative_prompt: str | None = None
    script: str | None = None
    story_config: Mapping[str, Any] | None = None
    duration: str | None = None
    seconds: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    orientation: str | None = None
    size: str | None = None
    mode: str | None = None
    generate_audio: bool | None = None
    enhance_prompt: bool | None = None
    pro_mode: bool | None = None
    enable_prompt_expansion: bool | None = None
    enable_safety_checker: bool | None = None
    camera_fixed: bool | None = None
    seed: int | str | None = None
    cfg_scale: float | None = None
    conversation_uuid: str | None = None
    image: Media | None = None
    reference_images: tuple[Media, ...] = attrs.field(default=(), converter=_tuple)
    reference_videos: tuple[Media, ...] = attrs.field(default=(), converter=_tuple)
    video: Media | None = None
    audio: Media | None = None
    audio_duration: float | None = None
    swap_image: Media | None = None
    target_video: Media | None = None
    target_face_index: int | None = None
    voice_id: str | None = None
    voice_language: str | None = None
    voice_speed: float | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)


@attrs.frozen(kw_only=True)
class ExtendRequest:
    """``POST /api/generate-video/extend``: extend one of the four videos of a Midjourney
    job. ``index`` (0-3) picks which."""

    run_id: str
    index: int
