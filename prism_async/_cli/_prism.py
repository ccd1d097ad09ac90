"""The Prism parts of the command line: template generation, templates, characters."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

import prism_async._registry as registry
from prism_async._client import Client
from prism_async._errors import RequestValidationError
from prism_async._media import Media
from prism_async.providers.prism import (
    Character,
    CharacterRequest,
    PrismProvider,
    TemplateRequest,
)

__all__ = ["characters_command", "template_request", "templates_command"]


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for text in items:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise RequestValidationError(flag, f"expected key=value, got {text!r}")
        pairs[key] = value
    return pairs


def template_request(args: argparse.Namespace) -> TemplateRequest:
    """``--template ID --var key=value --character key=ID``. A value ``@path`` is a local
    file (uploaded); any other value is sent as it is (text, a URL, a storage key or a
    data URI)."""
    variables: dict[str, str | Media] = {}
    for key, value in _pairs(args.var, "--var").items():
        variables[key] = Media.from_path(value[1:]) if value.startswith("@") else value
    return TemplateRequest(
        template_id=args.template,
        variables=variables,
        character_variables=_pairs(args.character, "--character"),
    )


def _provider(environ: Mapping[str, str]) -> PrismProvider:
    provider = registry.from_env("prism", environ)
    assert isinstance(provider, PrismProvider)
    return provider


async def templates_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    provider = _provider(environ)
    async with Client(provider) as client:
        page = await client.run(provider.templates_flow(q=args.search, limit=args.limit))
    for template in page.items:
        keys = [v.key + ("*" if v.required else "") for v in template.input_variables or ()]
        if args.json:
            record = {"id": template.id, "title": template.title, "variables": keys}
            print(json.dumps(record))
        else:
            print(f"{template.id:<28} {template.title or '':<36} {' '.join(keys)}")
    return 0


async def characters_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    provider = _provider(environ)
    characters: tuple[Character, ...]
    async with Client(provider) as client:
        if args.action == "create":
            created = await client.run(
                provider.create_character_flow(
                    CharacterRequest(
                        name=args.name,
                        description=args.description,
                        images=tuple(Media.parse(i) for i in args.image),
                    )
                )
            )
            characters = (created,)
        else:
            characters = (await client.run(provider.characters_flow(q=args.search))).items
    for character in characters:
        if args.json:
            print(json.dumps({"id": character.id, "name": character.name}))
        else:
            print(f"{character.id}  {character.name}")
    return 0
