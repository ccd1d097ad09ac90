"""Template generation: checking variables against a known template, and the body (JSON,
or multipart when a variable is a local file)."""

from __future__ import annotations

import json
from typing import Any

from prism_async.providers import (
    FilePart,
    Flow,
    Media,
    MediaKind,
    Multipart,
    stat_file,
    to_data_uri,
)
from prism_async.providers.prism._api import refuse
from prism_async.providers.prism._models import Template, TemplateVariable
from prism_async.providers.prism._requests import TemplateRequest
from prism_async.providers.prism._uploads import IMAGE_LIMIT

__all__ = ["check_template_request", "template_body_flow"]


def _is_http(value: str) -> bool:
    return value.lower().startswith(("https://", "http://"))


def check_template_request(request: TemplateRequest, template: Template | None = None) -> None:
    """Refuse a template request the API would refuse, naming the field.

    Always: an empty template id, a non-HTTP(S) webhook URL, a value of the wrong type.
    With ``template`` and its variables known: a variable the template lacks, a character
    for a variable that is not an image, a text value out of its length bounds, a file of
    the wrong media type, and a required variable with no value (or whitespace only), no
    character and no default (the documented precedence: character, then value, then
    default).

    Args:
        request: The request to check.
        template: The template, if known.

    Raises:
        RequestValidationError: The request is invalid; ``field`` names where.
    """
    if not request.template_id or not request.template_id.strip():
        raise refuse("template_id", "required")
    if request.webhook_url is not None and not _is_http(request.webhook_url):
        raise refuse("webhook_url", "must be an HTTP(S) URL")
    for key, value in request.variables.items():
        _check_value(f"variables.{key}", value)
    for key, character in request.character_variables.items():
        if not isinstance(character, str) or not character.strip():
            raise refuse(f"character_variables.{key}", "must be a character id")
    if template is None or template.input_variables is None:
        return
    specs = {v.key: v for v in template.input_variables}
    known = ", ".join(specs) or "none"
    for key in request.variables:
        if key not in specs:
            raise refuse(
                f"variables.{key}", f"template {template.id} has no such variable (it has: {known})"
            )
    for key in request.character_variables:
        spec = specs.get(key)
        if spec is None or spec.type != "image":
            raise refuse(
                f"character_variables.{key}",
                f"template {template.id} has no image variable {key!r} to take a character",
            )
    for spec in template.input_variables:
        if spec.key in request.character_variables:
            continue
        given = request.variables.get(spec.key)
        # Whitespace fills a {{key}} of the prompt with nothing: as good as no value.
        if given is None or (isinstance(given, str) and not given.strip()):
            if spec.required and spec.default_value is None:
                raise refuse(
                    f"variables.{spec.key}",
                    f"required by template {template.id}, which has no default for it"
                    + (": give a value or a character" if spec.type == "image" else ""),
                )
            continue
        _check_against(spec, given)


def _check_value(field: str, value: object) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, Media):
        raise refuse(field, f"expected a str or a Media, got {type(value).__name__}")
    if value.kind is MediaKind.URL and not _is_http(value.value):
        raise refuse(field, "a URL must be HTTP(S)")
    if value.kind is MediaKind.KEY and not value.value.strip():
        raise refuse(field, "empty storage key")
    if value.kind in (MediaKind.PATH, MediaKind.BYTES) and not value.content_type:
        raise refuse(field, f"cannot tell the content type of {value.value}: give one")


def _check_against(spec: TemplateVariable, value: str | Media) -> None:
    field = f"variables.{spec.key}"
    if not spec.is_media:
        if isinstance(value, Media):
            raise refuse(field, f"is a {spec.type} variable: give a string, not a file")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise refuse(field, f"longer than its maximum of {spec.max_length} characters")
        if spec.min_length is not None and len(value) < spec.min_length:
            raise refuse(field, f"shorter than its minimum of {spec.min_length} characters")
        return
    content_type = value.content_type if isinstance(value, Media) else None
    if content_type and content_type.split("/", 1)[0].lower() != spec.type:
        raise refuse(field, f"{content_type} given for a {spec.type} variable")


def template_body_flow(request: TemplateRequest) -> Flow[tuple[Any, Multipart | None]]:
    """The body as ``(json, None)``, or ``(None, multipart)`` when a value is a local file.

    The multipart encoding (UNCERTAIN in the docs beyond "attach the file directly to
    ``variables[KEY]``"): a text field ``variables`` holding the JSON object of every value
    that is not a file, a text field ``character_variables`` holding its JSON object, a
    text field ``webhook_url``, then one file part ``variables[KEY]`` per local file. Bytes
    and data URIs go as data URIs, URLs and storage keys as they are. Image files over the
    documented 20 MB are refused before any request.
    """
    values: dict[str, str] = {}
    files: list[tuple[str, FilePart]] = []
    for key, value in request.variables.items():
        field = f"variables.{key}"
        if isinstance(value, str):
            values[key] = value
            continue
        is_image = (value.content_type or "").lower().startswith("image/")
        if value.kind is MediaKind.PATH:
            size = yield from stat_file(value.path, field=field)
            _check_size(field, value, size, is_image)
            part = FilePart(
                path=value.path, content_type=value.content_type or "", filename=value.name
            )
            files.append((f"variables[{key}]", part))
        elif value.kind is MediaKind.BYTES:
            data = value.data or b""
            _check_size(field, value, len(data), is_image)
            values[key] = to_data_uri(data, value.content_type or "")
        else:
            values[key] = value.value
    if not files:
        body: dict[str, Any] = {"variables": values}
        if request.character_variables:
            body["character_variables"] = dict(request.character_variables)
        if request.webhook_url is not None:
            body["webhook_url"] = request.webhook_url
        return body, None
    fields: list[tuple[str, str | FilePart]] = [("variables", json.dumps(values))]
    if request.character_variables:
        fields.append(("character_variables", json.dumps(dict(request.character_variables))))
    if request.webhook_url is not None:
        fields.append(("webhook_url", request.webhook_url))
    fields.extend(files)
    return None, Multipart(fields=tuple(fields))


def _check_size(field: str, media: Media, size: int, is_image: bool) -> None:
    if is_image and size > IMAGE_LIMIT:
        raise refuse(
            field, f"{media.name} is {size} bytes, over the documented image limit of 20 MB"
        )
