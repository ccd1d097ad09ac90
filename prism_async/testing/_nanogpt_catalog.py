"""The NanoGPT emulator's model catalog: a handful of video models and one text model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

__all__ = ["TEXT_MODELS", "VIDEO_MODELS", "VideoModel", "text_model_list", "video_model_list"]

_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z, a fixed "created" stamp for every model


@attrs.frozen(kw_only=True)
class VideoModel:
    """One video model as the emulator knows it."""

    id: str
    name: str
    description: str
    owned_by: str
    input_modalities: tuple[str, ...]
    text_to_video: bool = True
    image_to_video: bool = True
    video_to_video: bool = False
    audio_generation: bool = False
    #: The media kind the model cannot run without ("image" or "video"), if any.
    requires: str | None = None
    supported_parameters: dict[str, Any] = attrs.field(factory=dict)


_RATIOS = ["16:9", "9:16", "1:1", "4:3", "3:4"]

VIDEO_MODELS: dict[str, VideoModel] = {
    m.id: m
    for m in (
        VideoModel(
            id="veo2-video",
            name="Veo 2",
            description="Google Veo 2 text-to-video and image-to-video.",
            owned_by="google",
            input_modalities=("text", "image"),
            supported_parameters={
                "duration": ["5s", "6s", "7s", "8s"],
                "aspect_ratio": ["16:9", "9:16"],
                "negative_prompt": True,
                "seed": True,
            },
        ),
        VideoModel(
            id="veo3-video",
            name="Veo 3",
            description="Google Veo 3 with optional generated audio (8 s clips).",
            owned_by="google",
            input_modalities=("text", "image"),
            audio_generation=True,
            supported_parameters={
                "duration": ["8s"],
                "aspect_ratio": ["16:9", "9:16"],
                "generateAudio": True,
                "enhancePrompt": True,
            },
        ),
        VideoModel(
            id="sora-2",
            name="Sora 2",
            description="OpenAI Sora 2 text-to-video and image-to-video.",
            owned_by="openai",
            input_modalities=("text", "image"),
            audio_generation=True,
            supported_parameters={
                "seconds": ["4", "8", "12"],
                "orientation": ["landscape", "portrait"],
                "pro_mode": True,
            },
        ),
        VideoModel(
            id="kling-v21-standard",
            name="Kling 2.1 Standard",
            description="Kling 2.1 Standard image-to-video (an input image is required).",
            owned_by="kuaishou",
            input_modalities=("image", "text"),
            text_to_video=False,
            requires="image",
            supported_parameters={
                "duration": ["5", "10"],
                "aspect_ratio": _RATIOS,
                "negative_prompt": True,
                "cfg_scale": {"min": 0, "max": 1},
            },
        ),
        VideoModel(
            id="midjourney-video",
            name="Midjourney Video",
            description="Midjourney video: four variations per job, extendable by index.",
            owned_by="midjourney",
            input_modalities=("text", "image"),
            supported_parameters={"aspect_ratio": _RATIOS, "extend": True},
        ),
        VideoModel(
            id="video-upscaler",
            name="Video Upscaler",
            description="Upscales a source video (an input video is required).",
            owned_by="nanogpt",
            input_modalities=("video",),
            text_to_video=False,
            image_to_video=False,
            video_to_video=True,
            requires="video",
            supported_parameters={
                "resolution": ["1080p", "2k", "4k"],
                "videoDuration": True,
                "adjust_fps_for_interpolation": True,
            },
        ),
    )
}


def video_model_list(*, detailed: bool, price: Decimal, generated_at: str) -> dict[str, Any]:
    """The body of GET /api/v1/video-models."""
    data: list[dict[str, Any]] = []
    for model in VIDEO_MODELS.values():
        entry: dict[str, Any] = {
            "id": model.id,
            "object": "model",
            "created": _CREATED,
            "owned_by": model.owned_by,
        }
        if detailed:
            entry |= {
                "name": model.name,
                "description": model.description,
                "architecture": {
                    "modality": "video",
                    "input_modalities": list(model.input_modalities),
                    "output_modalities": ["video"],
                },
                "pricing": {"currency": "USD", "unit": "per_video", "per_video": float(price)},
                "capabilities": {
                    "video_generation": True,
                    "text_to_video": model.text_to_video,
                    "image_to_video": model.image_to_video,
                    "video_to_video": model.video_to_video,
                    "audio_generation": model.audio_generation,
                },
                "supported_parameters": dict(model.supported_parameters),
            }
        data.append(entry)
    meta = {"count": len(data), "generated_at": generated_at}
    return {"object": "list", "data": data, "meta": meta}


TEXT_MODELS: tuple[dict[str, Any], ...] = (
    {
        "id": "openai/gpt-4o-mini",
        "object": "model",
        "created": _CREATED,
        "owned_by": "openai",
        "name": "GPT-4o Mini",
        "description": "OpenAI's affordable, intelligent small model for fast, lightweight tasks",
        "context_length": 128000,
        "architecture": {
            "modality": "text+image->text",
            "input_modalities": ["text", "image"],
            "output_modalities": ["text"],
        },
        "capabilities": {"vision": True, "video_input": False, "tool_calling": True},
        "pricing": {
            "prompt": 0.15,
            "completion": 0.6,
            "currency": "USD",
            "unit": "per_million_tokens",
        },
    },
)

_BRIEF_KEYS = ("id", "object", "created", "owned_by")


def text_model_list(*, detailed: bool) -> dict[str, Any]:
    """The body of GET /api/v1/models (the text catalog: no video models)."""
    if detailed:
        data = [dict(m) for m in TEXT_MODELS]
    else:
        data = [{k: m[k] for k in _BRIEF_KEYS} for m in TEXT_MODELS]
    return {"object": "list", "data": data}
