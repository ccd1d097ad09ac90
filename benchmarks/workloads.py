"""The requests and provider settings each benchmark workload uses with prism-async.

Only public API: the three providers, ``VideoRequest``, ``LipsyncRequest`` and
``PollPolicy``/``EngineConfig``.
"""

from __future__ import annotations

from typing import Any

from prism_async import (
    AudioTrack,
    EngineConfig,
    LipsyncRequest,
    Media,
    PollPolicy,
    VideoProvider,
    VideoRequest,
)

__all__ = ["engine_config", "provider_for", "request_for"]

#: Any URL will do: the lipsync emulator never fetches its inputs.
_FACE = Media.from_url("https://media.example/face.mp4")
_VOICE = Media.from_url("https://media.example/voice.wav")


def provider_for(spec: dict[str, Any]) -> VideoProvider:
    """The provider of ``spec["provider"]`` at ``spec["base_url"]``, with the budgets named
    in ``spec["lift"]`` removed (``"all"``, or a list of request kinds such as
    ``["submit"]``): a documented limit would otherwise set the pace of the run."""
    name, base_url, key = spec["provider"], spec["base_url"], spec["api_key"]
    provider: VideoProvider
    if name == "nanogpt":
        from prism_async.providers.nanogpt import NanoGPTProvider

        provider = NanoGPTProvider(api_key=key, base_url=base_url)
    elif name == "lipsync":
        from prism_async.providers.lipsync import LipsyncProvider

        provider = LipsyncProvider(api_key=key, base_url=base_url)
    elif name == "prism":
        from prism_async.providers.prism import PrismProvider

        provider = PrismProvider(api_key=key, base_url=base_url)
    else:
        raise ValueError(f"unknown provider {name!r}")
    lift = spec.get("lift", [])
    if lift == "all":
        provider.rates = {}
    elif lift:
        provider.rates = {k: v for k, v in provider.rates.items() if k not in lift}
    return provider


def request_for(provider: str, index: int) -> object:
    """The request for job number ``index`` (the same text-to-video or lip-sync job for
    every client)."""
    if provider == "lipsync":
        return LipsyncRequest(
            model="lipsync-2",
            video=_FACE,
            audio=[AudioTrack(audio=_VOICE)],
            output_file_name=f"bench-{index}",
        )
    model = "veo-3.1" if provider == "prism" else "veo2-video"
    return VideoRequest(model=model, prompt=f"bench {index}")


def engine_config(spec: dict[str, Any]) -> EngineConfig | None:
    """A fixed poll cadence when ``spec["interval"]`` is set (first poll ``first_delay``
    after the submit, default the interval, then every ``interval`` seconds, no backoff,
    no jitter); None keeps the library's defaults."""
    interval = spec.get("interval")
    if interval is None:
        return None
    first = float(spec.get("first_delay", interval))
    policy = PollPolicy(
        first_delay=first,
        min_interval=float(interval),
        max_interval=float(interval),
        backoff=1.0,
        jitter=0.0,
    )
    return EngineConfig(poll=policy)
