"""The contract every provider adapter meets: sans-IO translation between requests,
HTTP exchanges and normalized results; and the optional capabilities a provider may
declare besides (cancel, list, cost estimate, model catalog, a plan's job limit).

Provider authors import all of it from :mod:`prism_async.providers`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from prism_async._http import Flow
from prism_async._results import Cost, GenerationResult, JobHandle
from prism_async._secrets import Secret

__all__ = [
    "ModelInfo",
    "PollHint",
    "Rate",
    "SupportsCancel",
    "SupportsCostEstimate",
    "SupportsJobLimit",
    "SupportsList",
    "SupportsModels",
    "SupportsWebhooks",
    "VideoProvider",
    "WebhookCall",
]


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
        floor: A documented minimum pause between polls (Prism: 10 s). The engine's
            clamps never undercut it (:class:`~prism_async._policy.PollPolicy`).
    """

    delay: float | None = None
    long_poll: bool = False
    floor: float | None = None


@runtime_checkable
class VideoProvider(Protocol):
    """A provider adapter. It never awaits and never imports aiohttp: it builds flows
    (generators of :mod:`prism_async._http` effects) that the engine drives.

    Optional capabilities are protocols of their own, checked with ``isinstance`` (a
    provider may also subclass them, to have mypy check that it keeps its word):
    :class:`SupportsCancel`, :class:`SupportsList`, :class:`SupportsCostEstimate`,
    :class:`SupportsModels` and :class:`SupportsJobLimit`.

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


# -- optional capabilities -------------------------------------------------------------


@runtime_checkable
class SupportsCancel(Protocol):
    """The provider can cancel a job (lipsync: a PENDING one, at no cost)."""

    def cancel_flow(self, handle: JobHandle) -> Flow[GenerationResult]:
        """Ask the API to cancel the job; its state as the API then reports it."""
        ...


@runtime_checkable
class SupportsList(Protocol):
    """The provider can list the account's jobs."""

    def list_flow(self, status: str | None = None) -> Flow[Sequence[GenerationResult]]:
        """The jobs the API lists, optionally only those of one raw ``status``.

        Raises:
            RequestValidationError: ``status`` is not one the API documents.
        """
        ...


@runtime_checkable
class SupportsCostEstimate(Protocol):
    """The provider can price a request before it is submitted."""

    def estimate_cost_flow(self, request: object) -> Flow[Cost]:
        """What the request would cost (``Cost.estimated`` set); nothing is created.

        Raises:
            RequestValidationError: The request is invalid (checked at the call).
        """
        ...


class ModelInfo(Protocol):
    """What a model catalog entry has at least (a provider's own type may hold more)."""

    @property
    def id(self) -> str:
        """The model id a request names."""
        ...

    @property
    def name(self) -> str | None:
        """A display name, where the API gives one."""
        ...

    @property
    def input_modalities(self) -> Sequence[str]:
        """What the model takes (``text``, ``image``, ``video``...)."""
        ...


@runtime_checkable
class SupportsModels(Protocol):
    """The provider can list the models it offers (``prism-async models``)."""

    def models_flow(self) -> Flow[Sequence[ModelInfo]]:
        """The model catalog."""
        ...


@runtime_checkable
class SupportsJobLimit(Protocol):
    """The provider knows the plan's concurrency: how many of the account's jobs may be in
    flight at once (lipsync: PENDING plus PROCESSING generations).

    Attributes:
        max_jobs_in_flight: The limit, for a batch runner to stay under; None when it is
            not known (the engine then waits for a slot when the API says so, with a
            :class:`~prism_async._errors.ConcurrencyLimitError`).
    """

    max_jobs_in_flight: int | None


@attrs.frozen(kw_only=True)
class WebhookCall:
    """What a provider read from a webhook delivery.

    Args:
        job_id: The job the delivery is about.
        result: The job's state as the delivery tells it, where the delivery is signed and
            so can be believed; None where it is not (the engine then confirms it with one
            status fetch).
    """

    job_id: str
    result: GenerationResult | None = None


@runtime_checkable
class SupportsWebhooks(Protocol):
    """The API calls back when a job ends, at a URL given with the create (Prism's
    template generations, the lipsync API).

    Attributes:
        webhooks_signed: Whether deliveries carry a signature to verify (lipsync). An
            unsigned delivery (Prism) is trusted only through the unguessable token in
            its callback URL, and its result only after one status fetch.
    """

    webhooks_signed: bool

    def with_webhook(self, request: object, url: str) -> object | None:
        """``request`` carrying ``url`` as its callback, or None where this kind of
        request takes none (or already names its own): such a job is polled."""
        ...

    def read_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        secret: Secret | None,
        tolerance: float,
        now: float,
    ) -> WebhookCall:
        """Verify (where signed) and read a delivery.

        Args:
            headers: The delivery's headers, names in lower case.
            body: Its raw body, as received.
            secret: The signing secret, for signed deliveries.
            tolerance: Seconds a signed timestamp may be off, a finite positive number.
            now: Unix seconds to judge the timestamp by.

        Raises:
            WebhookVerificationError: Forged, tampered, stale or unreadable.
        """
        ...
