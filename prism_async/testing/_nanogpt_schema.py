"""The NanoGPT emulator's copy of the documented generate-video body, and its checks.

``OPENAPI_BODY`` is the OpenAPI ``VideoGenerationRequest`` (shared/specs/nanogpt-openapi.json)
with descriptions and defaults left out; ``GUIDE_BODY`` adds the fields the guide documents
(reference §3.2) with their sets and ranges. Written from the documents, never from the
client's tables, so a client that drifts from them fails a test instead of being mirrored.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BODY", "GUIDE_BODY", "OPENAPI_BODY", "check_body"]

OPENAPI_BODY: dict[str, dict[str, Any]] = {
    "model": {"type": "string"},
    "prompt": {"type": "string"},
    "script": {"type": "string"},
    "conversationUUID": {"type": "string"},
    "projectId": {"type": "string"},
    "framework": {
        "type": "string",
        "enum": ["default", "emotional_story", "product_showcase", "tutorial"],
    },
    "shortRequestEnhancer": {"type": "boolean"},
    "targetLengthInWords": {"type": "integer"},
    "targetLengthInSeconds": {"type": "integer"},
    "directorNotes": {"type": "string"},
    "aspectRatio": {"type": "string", "enum": ["9:16", "16:9"]},
    "scriptConfig": {
        "type": "object",
        "properties": {
            "style": {
                "type": "string",
                "enum": [
                    "default",
                    "no_style",
                    "engaging_conversational",
                    "dixit_biography",
                    "kind_biography",
                    "hero_journey",
                    "emotional_story",
                    "dramatic_reveal",
                    "heartwarming_stories",
                    "educational_history",
                    "news_brief",
                ],
            },
            "targetLengthInSeconds": {"type": "integer", "minimum": 5, "maximum": 600},
        },
    },
    "imageConfig": {
        "type": "object",
        "properties": {
            "model": {
                "type": "string",
                "enum": [
                    "flux_schnell",
                    "flux_lora",
                    "flux_pro",
                    "flux_pro_ultra",
                    "flux-kontext",
                    "recraft",
                    "sdxl",
                    "sdxl_lora",
                    "sd35_large",
                    "sd35_medium",
                    "sd35_large_turbo",
                    "leonardo_flux_precision",
                    "leonardo_phoenix_quality",
                    "leonardo_phoenix_ultra",
                    "reve-v1",
                    "hidream_fast",
                    "hidream_dev",
                    "hidream_full",
                    "gpt_image_1",
                    "imagen4_preview",
                    "midjourney",
                ],
            },
            "loraConfig": {
                "type": "object",
                "properties": {
                    "loraSlug": {
                        "type": "string",
                        "enum": [
                            "ghibsky-comic-book",
                            "colour-sketches",
                            "sketch-paint",
                            "90s-anime",
                            "2000s-crime-thrillers",
                            "xno-symbol-flux",
                        ],
                    }
                },
            },
        },
    },
    "videoConfig": {
        "type": "object",
        "properties": {
            "enabled": {"type": "boolean"},
            "model": {
                "type": "string",
                "enum": [
                    "ltx_video_13b_distilled",
                    "ltx_video",
                    "stable_video",
                    "motion",
                    "kling_v1_6_std_5s",
                    "kling_v2_1_std_5s",
                    "ltx_video_13b_dev",
                    "skyreels",
                    "vidu",
                    "kling_v1_6_std_10s",
                    "kling_v2_1_std_10s",
                    "kling_v2_1_pro_5s",
                    "luma_ray2",
                    "kling_pro_5s",
                    "minimax",
                    "wan_i2v",
                    "motion_2",
                    "kling_v2_1_pro_10s",
                    "wan_pro",
                    "luma_ray2_hd",
                    "kling_pro_10s",
                    "kling_v2_1_master_5s",
                    "kling_v2_master_5s",
                    "veo2",
                    "kling_v2_1_master_10s",
                    "kling_v2_master_10s",
                ],
            },
        },
    },
    "voiceoverConfig": {
        "type": "object",
        "properties": {
            "enabled": {"type": "boolean"},
            "voiceId": {
                "type": "string",
                "enum": [
                    "9BWtsMINqrJLrRacOk9x",
                    "CwhRBWXzGAHq8TQ4Fs17",
                    "EXAVITQu4vr4xnSDxMaL",
                    "FGY2WhTYpPnrIDTdsKH5",
                    "IKne3meq5aSn9XLyUdCD",
                    "JBFqnCBsd6RMkjVDRZzb",
                    "N2lVS1w4EtoT3dr4eOWO",
                    "SAz9YHcvj6GT2YYXdXww",
                    "TX3LPaxmHKxFdv7VOQHJ",
                    "XB0fDUnXU5powFXDhCwa",
                    "Xb7hH8MSUJpSbSDYk0k2",
                    "XrExE9yKIg1WjnnlVkGX",
                    "bIHbv24MWmeRgasZH58o",
                    "cgSgspJ2msm6clMCkdW9",
                    "cjVigY5qzO86Huf0OWal",
                    "nPczCjzI2devNBz1zQrb",
                    "onwK4e9ZLuTAKqWW03F9",
                    "pqHfZKP75CvOlQylNhV4",
                    "pFZP5JQG7iQjIQuC4Bku",
                    "KHCvMklQZZo0O30ERnVn",
                    "Nh2zY9kknu6z4pZy6FhD",
                    "LlZr3QuzbW4WrPjgATHG",
                    "YExhVa4bZONzeingloMX",
                    "m1VE7dnwBN0zMer3LcKv",
                    "zWDA589rUKXuLnPRDtAG",
                    "YYHkBdgrAwQWIaH6m2ai",
                ],
            },
        },
    },
    "captionsConfig": {
        "type": "object",
        "properties": {
            "captionsEnabled": {"type": "boolean"},
            "captionsStyle": {
                "type": "string",
                "enum": [
                    "default",
                    "minimal",
                    "neon",
                    "cinematic",
                    "fancy",
                    "tiktok",
                    "highlight",
                    "gradient",
                    "intellectual",
                    "vida",
                    "manuscripts",
                    "subtitle",
                    "modern",
                    "bounce",
                    "popcorn",
                    "typewriter",
                    "handwritten",
                    "karaoke",
                    "retro",
                    "gaming",
                ],
            },
        },
    },
    "effectsConfig": {
        "type": "object",
        "properties": {
            "transition": {
                "type": "string",
                "enum": ["fade", "random", "slide", "wipe", "flip", "none"],
            },
            "floating": {"type": "boolean"},
        },
    },
    "musicConfig": {
        "type": "object",
        "properties": {
            "enabled": {"type": "boolean"},
            "musicSlug": {
                "type": "string",
                "enum": [
                    "",
                    "temple_of_treasures",
                    "gentle_ambient_loop",
                    "serene_ambience",
                    "soothing_ambience",
                    "soothing_ambient_backdrop",
                    "tranquil_ambience",
                    "dreamscape",
                    "belonging_resonance",
                    "vivid_memories",
                    "cinematic_intro",
                    "cinematic_teaser",
                    "dramatic_cinematic_score",
                    "thriller_cinema_trailer",
                    "fractured_paintings",
                    "promise_of_tomorrow",
                    "spooky_orchestral_theme",
                    "light_upbeat_melody",
                    "puzzle_time",
                    "stomping_drums_rhythm",
                    "stomps_and_claps_rhythm_track",
                    "news_theme",
                    "adventurous_intro",
                    "burlesque_sweetheart",
                    "highway_nocturne_national_sweetheart",
                    "haptic_sensation",
                ],
            },
            "volume": {"type": "number", "minimum": 0, "maximum": 1},
            "loop": {"type": "boolean"},
        },
    },
    "voice": {"type": "string"},
    "captionsShow": {"type": "boolean"},
    "captionsStyle": {
        "type": "string",
        "enum": [
            "default",
            "minimal",
            "neon",
            "cinematic",
            "fancy",
            "tiktok",
            "highlight",
            "gradient",
            "instagram",
            "vida",
            "manuscripts",
        ],
    },
    "effects": {
        "type": "object",
        "properties": {"transition": {"type": "string"}, "floating": {"type": "boolean"}},
    },
    "quality": {"type": "string", "enum": ["low", "medium", "high"]},
    "motion": {
        "type": "object",
        "properties": {
            "enabled": {"type": "boolean"},
            "strength": {"type": "integer", "minimum": 1, "maximum": 10},
        },
    },
    "music": {"type": "string"},
    "duration": {"type": ["string", "integer"]},
    "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", "1:1", "4:3", "3:4"]},
    "negative_prompt": {"type": "string"},
    "cfg_scale": {"type": "number", "minimum": 0, "maximum": 20},
    "imageDataUrl": {"type": "string"},
    "imageUrl": {"type": "string"},
    "imageAttachmentId": {"type": "string"},
    "videoUrl": {"type": "string"},
    "videoDataUrl": {"type": "string"},
    "video": {"type": "string"},
    "videoAttachmentId": {"type": "string"},
    "prompt_optimizer": {"type": "boolean"},
    "num_inference_steps": {"type": "integer", "minimum": 1, "maximum": 50},
    "pro_mode": {"type": "boolean"},
    "resolution": {"type": "string", "enum": ["720p", "1080p", "540p"]},
    "num_frames": {"type": ["integer", "string"]},
    "frames_per_second": {"type": "integer", "minimum": 5, "maximum": 24},
    "seed": {"type": "integer"},
    "enable_safety_checker": {"type": "boolean"},
    "showExplicitContent": {"type": "boolean"},
    "enable_prompt_expansion": {"type": "boolean"},
    "acceleration": {"type": "boolean"},
    "shift": {"type": "number"},
    "age_slider": {"type": "integer", "minimum": 18, "maximum": 60},
    "audioEnabled": {"type": "boolean"},
    "video_quality": {"type": "string", "enum": ["Standard", "High"]},
    "aspect": {"type": "string", "enum": ["Portrait", "Landscape", "Square"]},
}

#: Fields the guide documents beyond the OpenAPI (or wider than it), as the API takes them.
GUIDE_BODY: dict[str, dict[str, Any]] = {
    "storyConfig": {"type": "object"},
    "seconds": {"type": "string", "enum": ["4", "8", "12"]},
    "aspect_ratio": {
        "type": "string", "enum": ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "auto"]
    },
    "resolution": {
        "type": "string",
        "enum": ["480p", "540p", "580p", "720p", "1080p", "1792x1024", "2k", "4k"],
    },
    "orientation": {"type": "string", "enum": ["landscape", "portrait"]},
    "size": {"type": "string"},
    "mode": {
        "type": "string",
        "enum": [
            "text-to-video", "image-to-video", "reference-to-video", "video-edit", "animate",
            "replace",
        ],
    },
    "generateAudio": {"type": "boolean"},
    "enhancePrompt": {"type": "boolean"},
    "camera_fixed": {"type": "boolean"},
    "seed": {"type": ["integer", "string"]},  # "number or string" in the guide
    "motion": {"type": ["object", "string"], "properties": {
        "enabled": {"type": "boolean"},
        "strength": {"type": "integer", "minimum": 1, "maximum": 10},
    }},  # an object in the OpenAPI, a string ("low", "high") in the guide
    "voice_id": {"type": "string"},
    "voice_language": {"type": "string", "enum": ["en", "zh"]},
    "voice_speed": {"type": "number", "minimum": 0.8, "maximum": 2.0},
    "audioDuration": {"type": "number"},
    "targetFaceIndex": {"type": "integer", "minimum": 0},
    "referenceImages": {"type": "array"},
    "referenceVideos": {"type": "array"},
}  # fmt: skip

BODY: dict[str, dict[str, Any]] = {**OPENAPI_BODY, **GUIDE_BODY}


def _type_of(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else type(value).__name__


def _check(path: str, rule: dict[str, Any], value: object) -> str | None:
    types = rule.get("type", [])
    types = [types] if isinstance(types, str) else types
    kind = _type_of(value)
    if kind not in types and not (kind == "integer" and "number" in types):
        return f"{path} must be of type {' or '.join(types)}"
    enum = rule.get("enum")
    if enum is not None and value not in enum:
        return f"Invalid {path} {value!r}; expected one of {', '.join(map(repr, enum))}"
    if kind in ("integer", "number"):
        number: float = value  # type: ignore[assignment]
        if "minimum" in rule and number < rule["minimum"]:
            return f"{path} must be at least {rule['minimum']}"
        if "maximum" in rule and number > rule["maximum"]:
            return f"{path} must be at most {rule['maximum']}"
    if kind == "object":
        for key, child in rule.get("properties", {}).items():
            if key in value:  # type: ignore[operator]
                problem = _check(f"{path}.{key}", child, value[key])  # type: ignore[index]
                if problem is not None:
                    return problem
    return None


def check_body(body: dict[str, Any]) -> str | None:
    """Why a generate-video body is refused (the API's 400 message), or None. A documented
    field must have its documented type, set and range; unknown keys are ignored, as the
    API ignores them."""
    for key, rule in BODY.items():
        if key in body:
            problem = _check(key, rule, body[key])
            if problem is not None:
                return problem
    model = str(body.get("model", ""))
    if model.lower().startswith("sora") and "duration" in body:
        return f'{model} takes its length as seconds ("4", "8" or "12"), not duration'
    return None
