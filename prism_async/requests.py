"""Provider-neutral generation requests. Each provider maps them onto its wire format and
refuses, with a clear error, what it cannot express."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from prism_async.media import Media

__all__ = ["VideoRequest"]


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(value)


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
