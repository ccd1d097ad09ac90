"""NanoGPT's documented generate-video fields: each typed attribute, its wire key, and the
type, set or range the documents give it, checked before any byte is sent.

Sources: the OpenAPI ``VideoGenerationRequest`` (shared/specs/nanogpt-openapi.json) and the
guide's tables (reference §3.2). Where they differ the wider documented set is kept
(``aspect_ratio`` adds ``21:9`` and ``auto``; ``resolution`` the guide's eight tokens) so a
value the API documents is never refused here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from prism_async.providers import refuser

__all__ = ["FIELDS", "Field", "check_field"]

refuse = refuser("nanogpt")


def _names(values: tuple[str, ...] | frozenset[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


@attrs.frozen(kw_only=True)
class Field:
    """One documented field: ``kinds`` are JSON kinds ("string", "integer", "number",
    "boolean", "object", "array"); ``choices`` a documented set of strings; ``low``/``high``
    a documented inclusive range; ``nested`` the documented keys of an object."""

    attribute: str
    wire: str
    kinds: tuple[str, ...]
    choices: frozenset[str] | None = attrs.field(default=None, converter=_names)
    low: float | None = None
    high: float | None = None
    nested: tuple[Field, ...] = ()


def _f(attribute: str, wire: str, *kinds: str, **rules: Any) -> Field:
    return Field(attribute=attribute, wire=wire, kinds=kinds, **rules)


def _n(wire: str, *kinds: str, **rules: Any) -> Field:
    return Field(attribute=wire, wire=wire, kinds=kinds, **rules)


ASPECT_RATIOS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "auto"})
# The union of the documented tokens: the guide's table (reference §3.2, seed
# nanogpt-generate-video "resolution") lists all eight; the OpenAPI enum only 720p, 1080p,
# 540p. Which ones a model takes is "model-dependent" and left to the API.
RESOLUTIONS = frozenset({"480p", "540p", "580p", "720p", "1080p", "1792x1024", "2k", "4k"})
MODES = frozenset(
    {"text-to-video", "image-to-video", "reference-to-video", "video-edit", "animate", "replace"}
)
SORA_SECONDS = frozenset({"4", "8", "12"})
_CAPTION_STYLES = (
    "default", "minimal", "neon", "cinematic", "fancy", "tiktok", "highlight", "gradient",
    "intellectual", "vida", "manuscripts", "subtitle", "modern", "bounce", "popcorn",
    "typewriter", "handwritten", "karaoke", "retro", "gaming",
)  # fmt: skip
_LEGACY_CAPTION_STYLES = (
    "default", "minimal", "neon", "cinematic", "fancy", "tiktok", "highlight", "gradient",
    "instagram", "vida", "manuscripts",
)  # fmt: skip
_SCRIPT_STYLES = (
    "default", "no_style", "engaging_conversational", "dixit_biography", "kind_biography",
    "hero_journey", "emotional_story", "dramatic_reveal", "heartwarming_stories",
    "educational_history", "news_brief",
)  # fmt: skip
_IMAGE_MODELS = (
    "flux_schnell", "flux_lora", "flux_pro", "flux_pro_ultra", "flux-kontext", "recraft", "sdxl",
    "sdxl_lora", "sd35_large", "sd35_medium", "sd35_large_turbo", "leonardo_flux_precision",
    "leonardo_phoenix_quality", "leonardo_phoenix_ultra", "reve-v1", "hidream_fast",
    "hidream_dev", "hidream_full", "gpt_image_1", "imagen4_preview", "midjourney",
)  # fmt: skip
_LORA_SLUGS = (
    "ghibsky-comic-book", "colour-sketches", "sketch-paint", "90s-anime",
    "2000s-crime-thrillers", "xno-symbol-flux",
)  # fmt: skip
_STORY_VIDEO_MODELS = (
    "ltx_video_13b_distilled", "ltx_video", "stable_video", "motion", "kling_v1_6_std_5s",
    "kling_v2_1_std_5s", "ltx_video_13b_dev", "skyreels", "vidu", "kling_v1_6_std_10s",
    "kling_v2_1_std_10s", "kling_v2_1_pro_5s", "luma_ray2", "kling_pro_5s", "minimax",
    "wan_i2v", "motion_2", "kling_v2_1_pro_10s", "wan_pro", "luma_ray2_hd", "kling_pro_10s",
    "kling_v2_1_master_5s", "kling_v2_master_5s", "veo2", "kling_v2_1_master_10s",
    "kling_v2_master_10s",
)  # fmt: skip
_VOICE_IDS = (
    "9BWtsMINqrJLrRacOk9x", "CwhRBWXzGAHq8TQ4Fs17", "EXAVITQu4vr4xnSDxMaL",
    "FGY2WhTYpPnrIDTdsKH5", "IKne3meq5aSn9XLyUdCD", "JBFqnCBsd6RMkjVDRZzb",
    "N2lVS1w4EtoT3dr4eOWO", "SAz9YHcvj6GT2YYXdXww", "TX3LPaxmHKxFdv7VOQHJ",
    "XB0fDUnXU5powFXDhCwa", "Xb7hH8MSUJpSbSDYk0k2", "XrExE9yKIg1WjnnlVkGX",
    "bIHbv24MWmeRgasZH58o", "cgSgspJ2msm6clMCkdW9", "cjVigY5qzO86Huf0OWal",
    "nPczCjzI2devNBz1zQrb", "onwK4e9ZLuTAKqWW03F9", "pqHfZKP75CvOlQylNhV4",
    "pFZP5JQG7iQjIQuC4Bku", "KHCvMklQZZo0O30ERnVn", "Nh2zY9kknu6z4pZy6FhD",
    "LlZr3QuzbW4WrPjgATHG", "YExhVa4bZONzeingloMX", "m1VE7dnwBN0zMer3LcKv",
    "zWDA589rUKXuLnPRDtAG", "YYHkBdgrAwQWIaH6m2ai",
)  # fmt: skip
_MUSIC_SLUGS = (
    "", "temple_of_treasures", "gentle_ambient_loop", "serene_ambience", "soothing_ambience",
    "soothing_ambient_backdrop", "tranquil_ambience", "dreamscape", "belonging_resonance",
    "vivid_memories", "cinematic_intro", "cinematic_teaser", "dramatic_cinematic_score",
    "thriller_cinema_trailer", "fractured_paintings", "promise_of_tomorrow",
    "spooky_orchestral_theme", "light_upbeat_melody", "puzzle_time", "stomping_drums_rhythm",
    "stomps_and_claps_rhythm_track", "news_theme", "adventurous_intro", "burlesque_sweetheart",
    "highway_nocturne_national_sweetheart", "haptic_sensation",
)  # fmt: skip
_TRANSITIONS = ("fade", "random", "slide", "wipe", "flip", "none")

#: Every documented generate-video field that is not a media input, in wire order.
FIELDS: tuple[Field, ...] = (
    _n("prompt", "string"),
    _n("negative_prompt", "string"),
    _n("script", "string"),
    _f("story_config", "storyConfig", "object"),
    _f("conversation_uuid", "conversationUUID", "string"),
    _f("project_id", "projectId", "string"),
    _n("framework", "string", choices=("default", "emotional_story", "product_showcase",
                                         "tutorial")),
    _f("short_request_enhancer", "shortRequestEnhancer", "boolean"),
    _f("target_length_in_words", "targetLengthInWords", "integer"),
    _f("target_length_in_seconds", "targetLengthInSeconds", "integer"),
    _f("director_notes", "directorNotes", "string"),
    _f("story_aspect_ratio", "aspectRatio", "string", choices=("9:16", "16:9")),
    _f("script_config", "scriptConfig", "object", nested=(
        _n("style", "string", choices=_SCRIPT_STYLES),
        _n("targetLengthInSeconds", "integer", low=5, high=600),
    )),
    _f("image_config", "imageConfig", "object", nested=(
        _n("model", "string", choices=_IMAGE_MODELS),
        _n("loraConfig", "object", nested=(_n("loraSlug", "string", choices=_LORA_SLUGS),)),
    )),
    _f("video_config", "videoConfig", "object", nested=(
        _n("enabled", "boolean"),
        _n("model", "string", choices=_STORY_VIDEO_MODELS),
    )),
    _f("voiceover_config", "voiceoverConfig", "object", nested=(
        _n("enabled", "boolean"),
        _n("voiceId", "string", choices=_VOICE_IDS),
    )),
    _f("captions_config", "captionsConfig", "object", nested=(
        _n("captionsEnabled", "boolean"),
        _n("captionsStyle", "string", choices=_CAPTION_STYLES),
    )),
    _f("effects_config", "effectsConfig", "object", nested=(
        _n("transition", "string", choices=_TRANSITIONS),
        _n("floating", "boolean"),
    )),
    _f("music_config", "musicConfig", "object", nested=(
        _n("enabled", "boolean"),
        _n("musicSlug", "string", choices=_MUSIC_SLUGS),
        _n("volume", "number", low=0, high=1),
        _n("loop", "boolean"),
    )),
    _n("voice", "string"),
    _f("captions_show", "captionsShow", "boolean"),
    _f("captions_style", "captionsStyle", "string", choices=_LEGACY_CAPTION_STYLES),
    _n("effects", "object", nested=(_n("transition", "string"), _n("floating", "boolean"))),
    _n("quality", "string", choices=("low", "medium", "high")),
    # An object in the OpenAPI (legacy LongStories); a string ("low", "high") in the guide.
    _n("motion", "object", "string", nested=(
        _n("enabled", "boolean"),
        _n("strength", "integer", low=1, high=10),
    )),
    _n("music", "string"),
    _n("duration", "string"),
    _n("seconds", "string", choices=SORA_SECONDS),
    _n("aspect_ratio", "string", choices=ASPECT_RATIOS),
    _n("resolution", "string", choices=RESOLUTIONS),
    _n("orientation", "string", choices=("landscape", "portrait")),
    _n("size", "string"),
    _n("mode", "string", choices=MODES),
    _f("generate_audio", "generateAudio", "boolean"),
    _f("enhance_prompt", "enhancePrompt", "boolean"),
    _n("pro_mode", "boolean"),
    _n("enable_prompt_expansion", "boolean"),
    _n("enable_safety_checker", "boolean"),
    _f("show_explicit_content", "showExplicitContent", "boolean"),
    _n("camera_fixed", "boolean"),
    _n("seed", "integer", "string"),
    _n("cfg_scale", "number", low=0, high=20),
    _n("prompt_optimizer", "boolean"),
    _n("num_inference_steps", "integer", low=1, high=50),
    _n("num_frames", "integer", "string"),
    _n("frames_per_second", "integer", low=5, high=24),
    _n("acceleration", "boolean"),
    _n("shift", "number"),
    _n("age_slider", "integer", low=18, high=60),
    _f("audio_enabled", "audioEnabled", "boolean"),
    _n("video_quality", "string", choices=("Standard", "High")),
    _n("aspect", "string", choices=("Portrait", "Landscape", "Square")),
    _f("audio_duration", "audioDuration", "number"),
    _f("target_face_index", "targetFaceIndex", "integer", low=0),
    _n("voice_id", "string"),
    _n("voice_language", "string", choices=("en", "zh")),
    _n("voice_speed", "number", low=0.8, high=2.0),
)  # fmt: skip


def _kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _fits(kind: str, kinds: tuple[str, ...]) -> bool:
    return kind in kinds or (kind == "integer" and "number" in kinds)


def check_field(field: Field, value: object, *, name: str | None = None) -> None:
    """Refuse ``value`` unless it has the field's documented type, set and range; ``name``
    is the field as named in the error (an attribute, or ``attribute.key`` when nested)."""
    name = name or field.attribute
    kind = _kind_of(value)
    if not _fits(kind, field.kinds):
        expected = " or ".join(_a(k) for k in field.kinds)
        raise refuse(name, f"{value!r} is not {expected} (it is {_a(kind)})")
    if field.choices is not None and isinstance(value, str) and value not in field.choices:
        allowed = ", ".join(repr(c) for c in sorted(field.choices))
        raise refuse(name, f"{value!r} is not one of {allowed}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise refuse(name, f"{value!r} is not a finite number")
        if field.low is not None and value < field.low:
            raise refuse(name, f"{value!r} is below the documented minimum {field.low:g}")
        if field.high is not None and value > field.high:
            raise refuse(name, f"{value!r} is above the documented maximum {field.high:g}")
    if field.nested and isinstance(value, Mapping):
        for child in field.nested:
            if value.get(child.wire) is not None:
                check_field(child, value[child.wire], name=f"{name}.{child.wire}")
