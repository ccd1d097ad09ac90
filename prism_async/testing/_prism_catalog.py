"""The fixed content of the Prism Videos emulator: templates, public characters, assets."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ASPECT_RATIOS",
    "COMMUNITY_ASSETS",
    "INGREDIENTS_CATEGORY",
    "PRICED_MODELS",
    "PUBLIC_CHARACTERS",
    "TEMPLATES",
    "TemplateSpec",
]

# The documented aspect ratios of Create Generation.
ASPECT_RATIOS = frozenset({"auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"})

# Models the emulator can price. The docs have no models-list endpoint; "veo-3.1" is the
# documented example. Any other modelName answers 400 pricing_error.
PRICED_MODELS = frozenset(
    {"veo-3.1", "veo-3.1-fast", "veo-3", "kling-2.5", "sora-2", "seedance-1-pro", "wan-2.5"}
)

# Templates whose category is this accept ``character_variables`` (the docs: "only
# supported for ingredients-to-video templates"). The docs do not say how a client tells
# which templates these are; the emulator exposes it through ``category``.
INGREDIENTS_CATEGORY = "ingredients-to-video"

# A template as the emulator serves it. The two doc versions conflict on the shape: the
# older one has category / duration_sec / input_variables / prompt_template, the newer one
# kind / model_name. The emulator serves the union, so a client written against either
# version finds what it reads. ``broken`` (never served) makes generate answer 422.
TemplateSpec = dict[str, Any]


def _var(
    key: str,
    label: str,
    type_: str,
    *,
    required: bool,
    default_value: str | None = None,
    max_length: int | None = None,
) -> dict[str, Any]:
    var: dict[str, Any] = {"key": key, "label": label, "type": type_, "required": required}
    if default_value is not None:
        var["default_value"] = default_value
    if max_length is not None:
        var["max_length"] = max_length
    return var


def _template(
    id_: str,
    title: str,
    description: str | None,
    *,
    category: str,
    duration_sec: int | None,
    model_name: str,
    variables: list[dict[str, Any]],
    prompt_template: str | None,
    kind: str = "video",
    broken: bool = False,
) -> TemplateSpec:
    return {
        "id": id_,
        "title": title,
        "description": description,
        "category": category,
        "duration_sec": duration_sec,
        "input_variables": variables,
        "prompt_template": prompt_template,
        "kind": kind,
        "model_name": model_name,
        "broken": broken,
    }


STUDIO_BACKDROP_KEY = "community/defaults/studio-backdrop.png"

_FEATURED: list[TemplateSpec] = [
    _template(
        "featured-ugc-pitch",
        "UGC Product Pitch",
        "A creator pitches your product to camera, selfie style.",
        category="ugc",
        duration_sec=8,
        model_name="veo-3.1",
        variables=[
            _var("product", "Product name", "text", required=True, max_length=80),
            _var("tone", "Tone", "text", required=False, default_value="upbeat"),
            _var("product_image", "Product image", "image", required=True),
        ],
        prompt_template="A handheld selfie video of a creator pitching {{product}} in an "
        "{{tone}} tone.",
    ),
    _template(
        "featured-product-spin",
        "Product 360 Spin",
        "Your product turns on a pedestal in a clean studio.",
        category="product",
        duration_sec=5,
        model_name="veo-3.1-fast",
        variables=[
            _var("product", "Product name", "text", required=True, max_length=80),
            _var(
                "background",
                "Background image",
                "image",
                required=False,
                default_value=STUDIO_BACKDROP_KEY,
            ),
            _var("music", "Background music", "audio", required=False),
        ],
        prompt_template="A slow 360 degree turn of {{product}} on a pedestal.",
    ),
    _template(
        "featured-character-story",
        "Character Story",
        "A character of yours uses a product in a short scene (ingredients to video).",
        category=INGREDIENTS_CATEGORY,
        duration_sec=8,
        model_name="veo-3.1",
        variables=[
            _var("scene", "Scene", "text", required=True, max_length=200),
            _var("person_image", "Person", "image", required=True),
            _var("product_image", "Product", "image", required=False),
        ],
        prompt_template="{{scene}}",
    ),
    _template(
        "featured-video-restyle",
        "Video Restyle",
        "Restyles a clip of yours.",
        category="edit",
        duration_sec=None,
        model_name="kling-2.5",
        variables=[
            _var("source_video", "Source clip", "video", required=True),
            _var("style", "Style", "text", required=False, default_value="anime"),
        ],
        prompt_template="Restyle the clip as {{style}}.",
    ),
    _template(
        "broken-template",
        "Broken Template",
        "A template whose configuration is incomplete; generating from it answers 422.",
        category="internal",
        duration_sec=None,
        model_name="veo-3.1",
        variables=[],
        prompt_template=None,
        broken=True,
    ),
]

_FILLER_SUBJECTS = ("city skyline", "ocean waves", "forest path", "coffee pour", "desk setup")

_FILLER: list[TemplateSpec] = [
    _template(
        f"featured-stock-{n:02d}",
        f"Stock Scene {n}",
        f"A stock b-roll shot: {subject}.",
        category="stock",
        duration_sec=5,
        model_name="wan-2.5",
        variables=[_var("subject", "Subject", "text", required=False, default_value=subject)],
        prompt_template="Cinematic b-roll of {{subject}}.",
    )
    for n, subject in enumerate((*_FILLER_SUBJECTS, "mountain sunrise"), start=1)
]

TEMPLATES: dict[str, TemplateSpec] = {t["id"]: t for t in (*_FEATURED, *_FILLER)}

# Public characters (isPublic: true), visible to every key. Fixed ids so tests can use them.
PUBLIC_CHARACTERS: list[dict[str, Any]] = [
    {
        "id": "5d0c4c2e-1f0a-4b8e-9a51-0c7e5f1a0001",
        "name": "Ava Presenter",
        "description": "Friendly studio presenter, shoulder-length hair.",
        "created_at": 1767225600000,
    },
    {
        "id": "5d0c4c2e-1f0a-4b8e-9a51-0c7e5f1a0002",
        "name": "Marco Chef",
        "description": "Chef in a white jacket, warm kitchen light.",
        "created_at": 1767225660000,
    },
    {
        "id": "5d0c4c2e-1f0a-4b8e-9a51-0c7e5f1a0003",
        "name": "Robo Mascot",
        "description": None,
        "created_at": 1767225720000,
    },
]

# Community assets searchable by every key; their asset_s3_key values are valid *Key inputs.
COMMUNITY_ASSETS: list[dict[str, Any]] = [
    {
        "id": f"post_{n:03d}",
        "asset_id": f"asset_c{n:03d}",
        "asset_s3_key": key,
        "asset_url": None,
        "asset_type": kind,
        "prompt": prompt,
        "model_name": model,
        "published_at": 1767225600000 + n * 60_000,
        "created_at": None,
        "metadata": None,
        "source": "community",
    }
    for n, (key, kind, prompt, model) in enumerate(
        [
            (STUDIO_BACKDROP_KEY, "image", "Clean white studio backdrop", None),
            ("community/posts/post_001/sneaker.png", "image", "Red sneaker product shot", None),
            ("community/posts/post_002/beach.mp4", "video", "Drone shot over a beach", "veo-3"),
            ("community/posts/post_003/portrait.png", "image", "Studio portrait, soft light", None),
            ("community/posts/post_004/city.mp4", "video", "Neon city at night", "kling-2.5"),
        ]
    )
]
