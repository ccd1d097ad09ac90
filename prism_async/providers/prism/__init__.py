"""Prism Videos: generations with uploaded references, templates, characters and assets."""

from prism_async.providers.prism._models import Asset, Character, Page, Template, TemplateVariable
from prism_async.providers.prism._provider import DEFAULT_BASE_URL, PrismProvider
from prism_async.providers.prism._requests import (
    CharacterRequest,
    PrismVideoRequest,
    TemplateRequest,
)
from prism_async.providers.prism._templates import check_template_request
from prism_async.providers.prism._uploads import IMAGE_LIMIT

__all__ = [
    "DEFAULT_BASE_URL",
    "IMAGE_LIMIT",
    "Asset",
    "Character",
    "CharacterRequest",
    "Page",
    "PrismProvider",
    "PrismVideoRequest",
    "Template",
    "TemplateRequest",
    "TemplateVariable",
    "check_template_request",
]
