"""The template, character and asset endpoints of the Prism Videos emulator."""

from __future__ import annotations

import copy
import mimetypes
import re
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from prism_async.testing._prism_catalog import COMMUNITY_ASSETS, INGREDIENTS_CATEGORY, TEMPLATES
from prism_async.testing._prism_forms import (
    FilePart,
    TemplateForm,
    check_character,
    read_character_form,
    read_template_form,
)
from prism_async.testing._prism_state import (
    ApiError,
    Character,
    Generation,
    MediaStore,
    decode_data_uri,
    epoch_ms,
    invalid,
    is_http_url,
    page,
    parse_int,
)

if TYPE_CHECKING:
    from prism_async._clock import Clock

__all__ = ["CatalogViews"]

_MEDIA_TYPES = frozenset({"image", "video", "audio"})


def _public_template(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in spec.items() if k != "broken"}


def _min_query(request: web.Request, name: str, *, required: bool) -> str | None:
    value = request.query.get(name)
    if value is None or (value == "" and not required):
        if required:
            raise invalid(f"{name} is required")
        return None
    if len(value.strip()) < 2:
        raise invalid(f"{name} must be at least 2 characters")
    return value.strip().lower()


class CatalogViews:
    """Handlers mixed into ``PrismEmulator``; they use its state through ``self``."""

    if TYPE_CHECKING:
        clock: Clock
        media: MediaStore
        generations: dict[str, Generation]
        characters: dict[str, Character]
        max_upload_bytes: int
        credits_per_video: int

        def _owner(self, request: web.Request) -> str: ...
        def _charge(self, owner: str, cost: int) -> None: ...
        def _latency(self) -> dict[str, int] | None: ...
        def key_kind(self, key: str, owner: str) -> str | None: ...
        def signed_url(self, generation: Generation) -> str: ...
        def _start(
            self,
            request: web.Request,
            owner: str,
            *,
            prompt: str,
            model_name: str,
            template_id: str | None,
            webhook_url: str | None,
            body: dict[str, Any],
        ) -> Generation: ...

    # -- templates ---------------------------------------------------------------------

    async def _templates(self, request: web.Request) -> web.Response:
        # The docs conflict: the older version filters by ``category``, the newer searches
        # with ``q`` (title and description, case-insensitive, at least 2 characters). Both
        # are honoured; the template objects carry both versions' fields (see the catalog).
        self._owner(request)
        q = _min_query(request, "q", required=False)
        category = request.query.get("category") or None
        limit = parse_int(request.query, "limit", default=50, minimum=1, maximum=100)
        offset = parse_int(request.query, "offset", default=0, minimum=0)
        items = [
            _public_template(t)
            for t in TEMPLATES.values()
            if (category is None or t["category"] == category)
            and (q is None or q in f"{t['title']}\n{t['description'] or ''}".lower())
        ]
        return web.json_response(page(items, offset, limit))

    async def _template(self, request: web.Request) -> web.Response:
        self._owner(request)
        spec = TEMPLATES.get(request.match_info["template_id"])
        if spec is None:
            raise ApiError(404, "not_found", "Template not found")
        return web.json_response({"data": _public_template(spec)})

    async def _template_generate(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        template_id = request.match_info["template_id"]
        spec = TEMPLATES.get(template_id)
        if spec is None:
            raise ApiError(404, "not_found", "Template not found")
        if spec["broken"]:
            raise ApiError(422, "invalid_template", "Template has invalid configuration")
        form = await read_template_form(request, self.max_upload_bytes)
        resolved = self._resolve_variables(spec, form, owner)
        webhook_url = form.webhook_url
        if webhook_url is not None and not is_http_url(webhook_url):
            raise invalid("webhook_url must be an HTTP(S) URL")
        self._charge(owner, self.credits_per_video)
        prompt = re.sub(
            r"\{\{\s*(\w+)\s*\}\}",
            lambda m: str(resolved.get(m[1], "")),
            spec["prompt_template"] or "",
        )
        generation = self._start(
            request,
            owner,
            prompt=prompt,
            model_name=spec["model_name"],
            template_id=template_id,
            webhook_url=webhook_url,
            body={"variables": resolved, "template_id": template_id},
        )
        return web.json_response(
            {
                "generations": [{"generation_id": generation.id, "status": "generating"}],
                "template_id": template_id,
                "credits_charged": self.credits_per_video,
                "latency_estimate_sec": self._latency(),
            }
        )

    def _resolve_variables(
        self, spec: dict[str, Any], form: TemplateForm, owner: str
    ) -> dict[str, str]:
        """Each variable's value: character_variables, then variables, then default_value."""
        specs: dict[str, dict[str, Any]] = {v["key"]: v for v in spec["input_variables"]}
        for key in form.variables:
            if key not in specs:
                raise invalid(f"Unknown variable: {key}")
        for key, character_id in form.character_variables.items():
            if spec["category"] != INGREDIENTS_CATEGORY:
                raise invalid(
                    "character_variables are only supported for ingredients-to-video templates"
                )
            if key not in specs or specs[key]["type"] != "image":
                raise invalid(f"character_variables.{key}: not an image variable")
            character = self.characters.get(character_id)
            if character is None or character.owner not in (None, owner):
                raise invalid(f"character_variables.{key}: unknown character {character_id!r}")
        resolved: dict[str, str] = {}
        for key, var in specs.items():
            if key in form.character_variables:
                resolved[key] = f"character:{form.character_variables[key]}"
                continue
            value = form.variables.get(key)
            if value is None or value == "":
                if var.get("default_value") is not None:
                    resolved[key] = var["default_value"]
                elif var["required"]:
                    raise invalid(f"Missing required variable: {key}")
                continue
            resolved[key] = self._variable_value(var, value, owner)
        return resolved

    def _variable_value(self, var: dict[str, Any], value: str | FilePart, owner: str) -> str:
        key, kind = var["key"], var["type"]
        field = f"variables.{key}"
        if kind not in _MEDIA_TYPES:
            if not isinstance(value, str):
                raise invalid(f"{field} is a text variable, not a file")
            if var.get("max_length") is not None and len(value) > var["max_length"]:
                raise invalid(f"{field} is longer than {var['max_length']} characters")
            return value
        if isinstance(value, FilePart):
            mime = value.content_type.lower()
            if mime.split("/", 1)[0] != kind:
                raise invalid(f"{field}: file is {mime}, expected {kind}/*")
            ext = mimetypes.guess_extension(mime) or ""
            return self.media.store_new(owner, mime, value.data, ext)
        if is_http_url(value):
            return value  # the real server downloads and re-hosts it
        if value.lower().startswith("data:"):
            mime, data = decode_data_uri(value, field, kind)
            return self.media.store_new(owner, mime, data, mimetypes.guess_extension(mime) or "")
        found = self.key_kind(value, owner)
        if found is None:
            raise invalid(
                f"{field}: expected an HTTP(S) URL, an uploaded S3 key or a base64 data URI"
            )
        if found != kind:
            raise invalid(f"{field}: {value!r} is {found}, expected {kind}")
        return value

    # -- characters --------------------------------------------------------------------

    async def _characters(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        q = _min_query(request, "q", required=False)
        limit = parse_int(request.query, "limit", default=24, minimum=1, maximum=60)
        offset = parse_int(request.query, "offset", default=0, minimum=0)
        items = [
            c.to_json()
            for c in self.characters.values()
            if c.owner in (None, owner) and (q is None or q in c.name.lower())
        ]
        return web.json_response(page(items, offset, limit))

    async def _characters_create(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        form = await read_character_form(request, self.max_upload_bytes)
        check_character(form)
        character = Character(
            id=str(uuid.uuid4()),
            name=form.name,
            description=form.description or None,
            created_at=epoch_ms(self.clock.now()),
            owner=owner,
            image_count=len(form.images),
        )
        self.characters[character.id] = character
        return web.json_response({"data": character.to_json()}, status=201)

    # -- assets ------------------------------------------------------------------------

    def _history_assets(self, owner: str) -> list[dict[str, Any]]:
        return [
            {
                "id": g.id,
                "asset_id": f"asset_{g.id[4:]}",
                "asset_s3_key": f"users/{owner}/generations/{g.id}.mp4",
                "asset_url": self.signed_url(g),
                "asset_type": "video",
                "prompt": g.prompt,
                "model_name": g.model_name,
                "published_at": None,
                "created_at": epoch_ms(g.job.created_at),
                "metadata": {"template_id": g.template_id} if g.template_id else None,
                "source": "history",
            }
            for g in self.generations.values()
            if g.owner == owner and g.status == "completed"
        ]

    def asset_kind(self, key: str, owner: str) -> str | None:
        """The asset type of a community asset key or of one of ``owner``'s videos."""
        for asset in COMMUNITY_ASSETS:
            if asset["asset_s3_key"] == key:
                return str(asset["asset_type"])
        match = re.fullmatch(rf"users/{re.escape(owner)}/generations/(gen_\w+)\.mp4", key)
        if match is not None:
            generation = self.generations.get(match[1])
            if generation is not None and generation.status == "completed":
                return "video"
        return None

    async def _assets(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        q = _min_query(request, "q", required=True)
        kind = request.query.get("type", "all")
        if kind not in ("all", "image", "video"):
            raise invalid("type must be one of all, image, video")
        source = request.query.get("source", "all")
        if source not in ("all", "community", "history"):
            raise invalid("source must be one of all, community, history")
        limit = parse_int(request.query, "limit", default=24, minimum=1, maximum=60)
        offset = parse_int(request.query, "offset", default=0, minimum=0)
        pool: list[dict[str, Any]] = []
        if source in ("all", "community"):
            pool.extend(copy.deepcopy(COMMUNITY_ASSETS))
        if source in ("all", "history"):
            pool.extend(self._history_assets(owner))
        items = [
            a
            for a in pool
            if (kind == "all" or a["asset_type"] == kind) and q and q in a["prompt"].lower()
        ]
        return web.json_response(page(items, offset, limit))
