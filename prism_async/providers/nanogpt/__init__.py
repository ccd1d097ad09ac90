"""NanoGPT's video API: ``runId`` jobs, a unified status route, extend, model discovery."""

from prism_async.providers.nanogpt._provider import DEFAULT_BASE_URL, NanoGPTProvider
from prism_async.providers.nanogpt._requests import ExtendRequest, NanoGPTVideoRequest
from prism_async.providers.nanogpt._wire import VideoModel

__all__ = [
    "DEFAULT_BASE_URL",
    "ExtendRequest",
    "NanoGPTProvider",
    "NanoGPTVideoRequest",
    "VideoModel",
]
