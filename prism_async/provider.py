"""The contract every provider adapter meets: sans-IO translation between requests,
HTTP exchanges and normalized results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import attrs

from prism_async.http import Flow
from prism_async.results import GenerationResult, JobHandle

__all__ = ["PollHint", "Rate", "VideoProvider"]


@attrs.frozen(kw_only=True)
class Rate:
    """A request budget: at most ``requests`` in any window of ``per_seconds``."""

    requests: int
    per_seconds: float = 60.0


@attrs.frozen(kw_only=True)
class PollHint:
    """What a provider advises about the next poll of a job.

    Args:
        delay: Seconds until the next status fetch, where the provider's data says
            (Prism's latency estimate, NanoGPT's estimated time remaining). None lets the
            engine use its capped backoff with jitter.
        long_poll: The status flow holds on the server until the job changes, so the
            engine may poll again at once.
    """

    delay: float | None = None
    long_poll: bool = False


@runtime_checkable
class VideoProvider(Protocol):
    """A provider adapter. It never awaits and never imports aiohttp: it builds flows
    (generators of :mod:`prism_async.http` effects) that the engine drives.

    Attributes:
        name: The registered name (``nanogpt``), also the first part of a job handle.
        rates: Request budgets by request kind (``submit``, ``status``...), from the
            provider's documented limits; the engine keeps every exchange within them.
        idempotent_submits: Whether submits carry an idempotency key the API honours, so
            that a submission whose outcome is unknown can be replayed without paying twice.
    """

    name: str
    rates: Mapping[str, Rate]
    idempotent_submits: bool

    def submit_flow(self, request: object, *, idempotency_key: str) -> Flow[tuple[JobHandle, ...]]:
        """Submit one request (one paid create), returning a handle per job it started.

        Raises:
            RequestValidationError: The request is invalid for this provider; raised before
                the flow yields anything, so no byte is sent.
        """
        ...

    def status_flow(self, handle: JobHandle, *, wait: bool = False) -> Flow[GenerationResult]:
        """Fetch a job's current state. ``wait`` asks for the provider's long poll, if any."""
        ...

    def poll_hint(self, handle: JobHandle, result: GenerationResult) -> PollHint:
        """Advice for the next poll of a job that is not finished."""
        ...
