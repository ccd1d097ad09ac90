"""Prism's own request types: Create Generation, template generation, character creation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from prism_async.providers import Media

if TYPE_CHECKING:
    from prism_async.providers.prism._models import Template

__all__ = ["CharacterRequest", "PrismVideoRequest", "TemplateRequest"]


def _dict(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(value)


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class PrismVideoRequest:
    """``POST /api/generations``: every documented field, snake_case.

    Media fields fill the ``*Key`` / ``*Keys`` wire fields: a local path or bytes is
    uploaded first (presign, then PUT) and its returned key sent; a storage key
    (``Media.from_key``, e.g. an asset's ``asset_s3_key``) is sent as it is. A URL or a data
    URI is refused: Create Generation takes storage keys only. ``extra`` carries raw wire
    fields; a documented one (``aspectRatio``, ``duration``...) given there sets its typed
    field, checked as that field, and wins over it; ``None`` values are dropped and an
    undocumented key is logged once (see :class:`~prism_async.providers.ExtraFields`).

    Args:
        model: ``modelName``, an exact Prism model id (``veo-3.1``).
        prompt: What to generate (required by the API).
        aspect_ratio: One of ``auto``, ``21:9``, ``16:9``, ``4:3``, ``1:1``, ``3:4``, ``9:16``.
        duration: Seconds as an int (sent as ``"8s"``) or the wire string (``"8s"``).
        resolution: ``720p``, ``1080p``...
        count: Videos to queue, 1-4; each one is a job.
        has_audio: Ask for generated audio where the model supports it.
        start_frame: ``startFrameKey`` image.
        end_frame: ``endFrameKey`` image.
        ingredient_images: ``ingredientImageKeys``, visual references.
        character_reference_images: ``characterReferenceImageKeys``.
        source_video: ``sourceVideoKey``, for edit-capable models.
        reference_videos: ``referenceVideoKeys``.
        audio: ``audioKey``, for audio-driven models.
        template_id: ``templateId``, links the generation to a template.
        extra: Raw wire fields (documented ones go through their typed field).
    """

    model: str
    prompt: str
    aspect_ratio: str | None = None
    duration: int | str | None = None
    resolution: str | None = None
    count: int = 1
    has_audio: bool | None = None
    start_frame: Media | None = None
    end_frame: Media | None = None
    ingredient_images: tuple[Media, ...] = attrs.field(default=(), converter=_tuple)
    character_reference_images: tuple[Media, ...] = attrs.field(default=(), converter=_tuple)
    source_video: Media | None = None
    reference_videos: tuple[Media, ...] = attrs.field(default=(), converter=_tuple)
    audio: Media | None = None
    template_id: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)


@attrs.frozen(kw_only=True)
class TemplateRequest:
    """``POST /api/templates/{id}/generate``: a video from a template.

    Required variables are checked before anything is paid for. With ``template`` given
    (from ``template_flow`` or ``templates_flow``), the check runs against it and no extra
    request is made. Without it, the submit first fetches the template
    (``GET /api/templates/{id}``, which costs nothing) unless ``fetch_template`` is False.
    Where the template's schema does not list its variables (the newer docs' shape), the
    check cannot run and the server's 400 is the only guard.

    Args:
        template_id: The template's id (``featured-ugc-pitch``).
        variables: Variable key to value: text as ``str``; image, video and audio as a
            ``Media`` (URL, storage key, data URI, bytes, local path) or a ``str`` (sent as
            it is: a URL, storage key or data URI). A local path sends the whole request as
            ``multipart/form-data``.
        character_variables: Image variable key to a character id; for the same key it wins
            over ``variables`` and the template's default (ingredients-to-video templates).
        webhook_url: Prism POSTs here when the generation completes or fails.
        template: The template, if known, to check the variables against.
        fetch_template: Fetch the template to check the variables when ``template`` is None.
    """

    template_id: str
    variables: Mapping[str, str | Media] = attrs.field(factory=dict, converter=_dict)
    character_variables: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    webhook_url: str | None = None
    template: Template | None = attrs.field(default=None, eq=False)
    fetch_template: bool = True


@attrs.frozen(kw_only=True)
class CharacterRequest:
    """``POST /api/characters``: a private character from 1-10 images.

    Args:
        name: 1-60 characters.
        images: All HTTP(S) URLs (sent as JSON) or all local files (sent as multipart
            ``images[]``). Data URIs, bytes and storage keys are refused, as the docs say.
        description: At most 300 characters.
    """

    name: str
    images: tuple[Media, ...] = attrs.field(converter=_tuple)
    description: str | None = None
