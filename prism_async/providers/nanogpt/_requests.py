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

    Every field of the OpenAPI ``VideoGenerationRequest`` has an attribute here (snake_case
    of its wire name; LongStories' ``aspectRatio`` is ``story_aspect_ratio``), checked
    against its documented type, set or range before anything is sent. ``duration`` is sent
    in the model family's own field and form: ``seconds`` for Sora, ``"5s"`` for Veo,
    ``"5"`` otherwise.

    Media fields take a :class:`~prism_async._media.Media`: a URL goes as ``*Url``; a local
    file, bytes or a data URI go inline as ``*DataUrl`` (at most 4 MB); a storage key goes
    as ``*AttachmentId`` where the API has one. ``extra`` carries the guide's model-specific
    fields (``movementAmplitude``, ``guidance_scale``...) as given. A field with a typed
    attribute given there (by attribute or wire name: ``frames_per_second``,
    ``generateAudio``) sets that attribute, is checked as it, and wins over it; ``None``
    values are dropped; an undocumented key is logged once (see
    :class:`~prism_async.providers.ExtraFields`).
    """

    model: str
    prompt: str | None = None
    negative_prompt: str | None = None
    script: str | None = None
    story_config: Mapping[str, Any] | None = None
    duration: str | int | None = None
    seconds: str | int | None = None
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
    # LongStories (OpenAPI ``VideoGenerationRequest``); ``*_config`` objects are sent as
    # given, their documented keys checked (``script_config={"targetLengthInSeconds": 700}``
    # is refused: 5-600).
    project_id: str | None = None
    framework: str | None = None
    short_request_enhancer: bool | None = None
    target_length_in_words: int | None = None
    target_length_in_seconds: int | None = None
    director_notes: str | None = None
    story_aspect_ratio: str | None = None
    script_config: Mapping[str, Any] | None = None
    image_config: Mapping[str, Any] | None = None
    video_config: Mapping[str, Any] | None = None
    voiceover_config: Mapping[str, Any] | None = None
    captions_config: Mapping[str, Any] | None = None
    effects_config: Mapping[str, Any] | None = None
    music_config: Mapping[str, Any] | None = None
    voice: str | None = None
    captions_show: bool | None = None
    captions_style: str | None = None
    effects: Mapping[str, Any] | None = None
    quality: str | None = None
    motion: Mapping[str, Any] | str | None = None
    music: str | None = None
    # Model-specific controls (Wan, Hunyuan, MiniMax, PromptChan).
    prompt_optimizer: bool | None = None
    num_inference_steps: int | None = None
    num_frames: int | str | None = None
    frames_per_second: int | None = None
    show_explicit_content: bool | None = None
    acceleration: bool | None = None
    shift: float | None = None
    age_slider: int | None = None
    audio_enabled: bool | None = None
    video_quality: str | None = None
    aspect: str | None = None
    #: Sent as the alternate ``video`` field (URL or inline data URL), for the few models
    #: that require it (``wan-wavespeed-25-extend``); prefer ``video`` (sent as ``videoUrl``).
    alternate_video: Media | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)


@attrs.frozen(kw_only=True)
class ExtendRequest:
    """``POST /api/generate-video/extend``: extend one of the four videos of a Midjourney
    job. ``index`` (0-3) picks which.

    ``run_id`` is sent as ``runId``, the guide's preferred spelling, and as ``taskId``,
    its legacy alias that the OpenAPI lists as required, so either reading finds the run.
    """

    run_id: str
    index: int
