"""The Client facade: submit, get, wait, generate, and many jobs as they complete."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import ssl as _ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

import prism_async._registry as registry
from prism_async._clock import Clock, SystemClock
from prism_async._downloads import Downloader
from prism_async._engine import BeforeCreate, Engine, EngineConfig
from prism_async._errors import (
    CancelNotSupported,
    GenerationFailed,
    PollTimeout,
    PrismAsyncError,
    RequestValidationError,
    SubmissionOutcomeUnknown,
)
from prism_async._events import OnJobEvent
from prism_async._http import Flow
from prism_async._provider import SupportsCancel, VideoProvider
from prism_async._results import (
    GenerationResult,
    JobHandle,
    JobOutcome,
    JobStatus,
    SubmitReceipt,
)
from prism_async._secrets import Secret
from prism_async._telemetry import job_span
from prism_async._transport import AiohttpTransport, Transport, TransportConfig
from prism_async._transport import http_timeout as _http_timeout  # get() has a parameter so named

if TYPE_CHECKING:
    import aiohttp

    from prism_async.webhooks import Delivery, WebhookReceiver

__all__ = ["CANCEL_GRACE", "Client"]

log = logging.getLogger("prism_async.client")

T = TypeVar("T")
Job = JobHandle | str

#: Seconds a cancel sent because a wait timed out or was cancelled may take, at most.
CANCEL_GRACE = 10.0


class Client:
    """One client for any number of providers. Use it as an async context::

        async with Client(NanoGPTProvider(api_key=...)) as client:
            result = await client.generate(VideoRequest(model="veo2-video", prompt="..."))

    Args:
        *providers: Provider adapters; names must be unique.
        transport: Moves the bytes; by default one aiohttp session owned by the client.
        transport_config: Timeouts, pool and retries of the default transport.
        proxy: A proxy URL for every exchange (``http://user:pass@proxy:3128``; the
            credentials never appear in a repr, log or error). Without one, the
            environment's ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are followed (read
            when the client opens), unless ``trust_env`` is False.
        trust_env: Follow the environment's proxy variables (default True).
        session: Your own ``aiohttp.ClientSession``: its settings (headers, cookies,
            timeout, proxy, ``trust_env``) apply, and the client never closes it.
        connector: Your own ``aiohttp.BaseConnector`` (pool, DNS, local address); the
            client never closes it. Not with ``session``.
        ssl: An :class:`ssl.SSLContext` (a corporate CA) for every HTTPS exchange.
        clock: Time for polling, deadlines and budgets (inject a virtual one in tests).
        config: Scheduling settings.
        webhook_base_url: The public URL where :attr:`webhooks` is mounted. With one,
            each job submitted to a provider with callbacks names its own callback URL
            there, and its wait ends on the callback, a safety-net poll catching a lost
            one (see :mod:`prism_async.webhooks`). :meth:`from_env` reads it from
            ``PRISM_ASYNC_WEBHOOK_URL``; this constructor never reads the environment.
        webhook_secret: The lipsync signing secret (``whsec_...``; :meth:`from_env`:
            ``SYNC_WEBHOOK_SECRET``); without one, lipsync jobs are polled.
        on_webhook: Called with every verified delivery
            (:class:`~prism_async.webhooks.Delivery`), also those for jobs nobody here
            waits on.
        on_event: Called with every job event of this client (submitted, polled, status
            changed, finished: :mod:`prism_async._events`); it must not block. Per call,
            ``submit``, ``wait`` and ``generate`` take an ``on_event`` of their own.
    """

    def __init__(
        self,
        *providers: VideoProvider,
        transport: Transport | None = None,
        transport_config: TransportConfig | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        session: aiohttp.ClientSession | None = None,
        connector: aiohttp.BaseConnector | None = None,
        ssl: _ssl.SSLContext | bool | None = None,
        clock: Clock | None = None,
        config: EngineConfig | None = None,
        webhook_base_url: str | None = None,
        webhook_secret: str | Secret | None = None,
        on_webhook: Callable[[Delivery], Any] | None = None,
        on_event: OnJobEvent | None = None,
    ) -> None:
        if not providers:
            raise ValueError("a Client needs at least one provider")
        self.providers: Mapping[str, VideoProvider] = {}
        for provider in providers:
            if provider.name in self.providers:
                raise ValueError(f"two providers named {provider.name!r}")
            self.providers = {**self.providers, provider.name: provider}
        self._owned = transport is None
        clock = clock or SystemClock()
        if transport is None:
            # One clock for every wait: polling, budgets, deadlines and the backoff.
            transport = AiohttpTransport(
                transport_config,
                clock=clock,
                proxy=proxy,
                trust_env=trust_env,
                session=session,
                connector=connector,
                ssl=ssl,
                providers=_base_urls(providers),
            )
        elif any(v is not None for v in (transport_config, proxy, session, connector, ssl)):
            raise RequestValidationError(
                "transport",
                "a transport of your own takes no transport_config, proxy, session, "
                "connector or ssl: configure it instead",
            )
        self.transport: Transport = transport
        self.engine = Engine(self.transport, clock=clock, config=config)
        if on_event is not None:
            self.engine.events.listen(on_event)
        self.webhook_base_url = webhook_base_url or None
        #: The receiver to mount at ``webhook_base_url`` (None without one).
        self.webhooks: WebhookReceiver | None = None
        if self.webhook_base_url:
            self.webhooks = _receiver(self.webhook_base_url, providers, webhook_secret, on_webhook)
            self.webhooks.listener = self.engine.webhook

    @classmethod
    def from_env(
        cls, *names: str, environ: Mapping[str, str] | None = None, **kwargs: object
    ) -> Client:
        """A client for the named registered providers, keys and base URLs from the
        environment (``NANOGPT_API_KEY``, ``NANOGPT_BASE_URL``...). With no names: every
        registered provider whose key variable is set. Webhooks too, unless given:
        ``PRISM_ASYNC_WEBHOOK_URL`` and ``SYNC_WEBHOOK_SECRET``."""
        env = os.environ if environ is None else environ
        if "webhook_base_url" not in kwargs and env.get("PRISM_ASYNC_WEBHOOK_URL"):
            kwargs["webhook_base_url"] = env["PRISM_ASYNC_WEBHOOK_URL"]
            kwargs.setdefault("webhook_secret", env.get("SYNC_WEBHOOK_SECRET"))
        chosen = names or tuple(n for n in registry.available() if registry.load(n).env_key in env)
        if not chosen:
            raise ValueError("no provider key found in the environment")
        return cls(*(registry.from_env(n, env) for n in chosen), **kwargs)  # type: ignore[arg-type]

    async def __aenter__(self) -> Client:
        if self._owned and isinstance(self.transport, AiohttpTransport):
            await self.transport.open()
        await self.engine.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.engine.__aexit__(exc_type, exc, tb)
        finally:
            if self._owned and isinstance(self.transport, AiohttpTransport):
                await self.transport.aclose()

    def provider(self, name: str | None = None) -> VideoProvider:
        """The provider called ``name``; with None, the only one."""
        if name is None:
            if len(self.providers) != 1:
                raise RequestValidationError(
                    "provider", f"choose one of {', '.join(self.providers)}"
                )
            return next(iter(self.providers.values()))
        try:
            return self.providers[name]
        except KeyError:
            raise RequestValidationError(
                "provider", f"{name!r} is not configured (have: {', '.join(self.providers)})"
            ) from None

    async def submit(
        self,
        request: object,
        *,
        provider: str | None = None,
        idempotency_key: str | None = None,
        before_create: BeforeCreate | None = None,
        on_event: OnJobEvent | None = None,
    ) -> SubmitReceipt:
        """Submit one request (one paid create): a receipt holding a handle per job it
        started, and what the create answered about them (credits charged or the cost
        estimate, the remaining balance, asset ids, latency estimates...).

        The receipt *is* the tuple of handles (iterate, index or compare it as before);
        ``receipt.handles`` gives the plain tuple.

        Args:
            request: A :class:`~prism_async._requests.VideoRequest` or a provider's own type.
            provider: The provider's name; may be left out when the client has one.
            idempotency_key: One key per logical submission, to reuse when submitting the
                same thing again after a crash (honoured where the API supports it).
            before_create: Awaited once, just before the paid create's bytes leave (a
                connection is in hand): the place to note "about to create" durably. If it
                raises, nothing is sent.
            on_event: Hears this submission's :class:`~prism_async._events.JobSubmitted`.

        Raises:
            SubmissionOutcomeUnknown: The create may have reached the API and no
                definitive answer came back: a job may exist and be charged for. Do not
                submit it again blindly: check with the provider, or (where the provider
                honours idempotency keys) submit again with ``exc.idempotency_key``.
            ConnectError: Nothing was sent; submitting again is safe.
        """
        chosen = self.provider(provider)
        key = idempotency_key or secrets.token_hex(16)  # 128 random bits, as uuid4
        callback, request = self._with_callback(chosen, request)
        try:
            handles = await self.engine.submit(
                chosen,
                request,
                idempotency_key=key,
                before_create=before_create,
                on_event=on_event,
            )
        except SubmissionOutcomeUnknown:
            raise  # a job may exist and call back: its URL stays good
        except BaseException:
            if callback is not None and self.webhooks is not None:
                self.webhooks.discard(callback)
            raise
        if callback is not None:
            self._expect_callbacks(chosen, callback, handles)
        return SubmitReceipt.of(handles)

    def _with_callback(self, provider: VideoProvider, request: object) -> tuple[str | None, object]:
        """``(callback URL, request naming it)``, or ``(None, request)`` where the job is
        polled (no receiver, no callbacks for this provider or request, no secret)."""
        hooks = self.webhooks
        if hooks is None or self.webhook_base_url is None:
            return None, request
        capable = hooks.providers.get(provider.name)
        if capable is None or not hooks.accepts(provider.name):
            return None, request
        url = hooks.callback_url(self.webhook_base_url, provider.name)
        named = capable.with_webhook(request, url)
        if named is None:
            hooks.discard(url)
            return None, request
        return url, named

    def _expect_callbacks(
        self, provider: VideoProvider, url: str, handles: tuple[JobHandle, ...]
    ) -> None:
        assert self.webhooks is not None
        self.engine.expect_webhook(provider, handles)
        self.webhooks.bind(url, handles)
        for call in self.webhooks.claim(provider.name, handles):  # came before the answer
            self.engine.webhook(provider.name, call)

    async def get(self, job: Job, *, http_timeout: float | None = None) -> GenerationResult:
        """The job's current state.

        Args:
            http_timeout: Seconds each try of the status exchange may take on the wall
                clock (instead of ``TransportConfig.total_timeout``). None: the enclosing
                :func:`~prism_async.http_timeout` block's, if any.
        """
        handle = self._handle(job)
        # Without one of its own, an enclosing http_timeout() block still holds.
        bound = contextlib.nullcontext() if http_timeout is None else _http_timeout(http_timeout)
        with bound:
            return await self.engine.fetch(self.provider(handle.provider), handle)

    async def wait(
        self,
        job: Job,
        *,
        timeout: float | None = None,
        raise_on_failure: bool = True,
        cancel_on_timeout: bool = False,
        on_event: OnJobEvent | None = None,
    ) -> GenerationResult:
        """Wait until the job ends.

        Args:
            job: The job's handle (or its text).
            timeout: Seconds to wait (the engine's default when None).
            raise_on_failure: Raise GenerationFailed for a failed or canceled end.
            cancel_on_timeout: Opt-in, never the default: when ``timeout`` passes, or the
                awaiting task is cancelled, ask the API to cancel the job (shielded, at
                most :data:`CANCEL_GRACE` seconds). Refused up front, with
                CancelNotSupported, for a provider whose API cannot cancel. The lipsync
                API cancels only a job still PENDING: where the cancel is refused, the
                PollTimeout is raised as without it and the job goes on.
            on_event: Hears the job's events while this wait lasts.

        Raises:
            GenerationFailed: It ended failed or canceled (unless ``raise_on_failure`` is
                False, when the failed result is returned); a job canceled on timeout
                ends so, the PollTimeout as its ``__cause__``.
            PollTimeout: ``timeout`` seconds passed first; the job itself goes on.
            CancelNotSupported: ``cancel_on_timeout`` for a provider without cancel.
        """
        handle = self._handle(job)
        provider = self.provider(handle.provider)
        if cancel_on_timeout and not isinstance(provider, SupportsCancel):
            raise CancelNotSupported(provider=provider.name, job_id=handle.id)
        stop = self.engine.events.listen(on_event, (handle,)) if on_event is not None else None
        try:
            with job_span("wait", handle.provider, handle.id):
                return await self._wait(
                    provider, handle, timeout, raise_on_failure, cancel_on_timeout=cancel_on_timeout
                )
        finally:
            if stop is not None:
                stop()

    async def _wait(
        self,
        provider: VideoProvider,
        handle: JobHandle,
        timeout: float | None,
        raise_on_failure: bool,
        *,
        cancel_on_timeout: bool,
    ) -> GenerationResult:
        try:
            result = await self.engine.wait(provider, handle, timeout=timeout)
        except PollTimeout as timed_out:
            if not cancel_on_timeout:
                raise
            canceled = await self._cancel_quietly(provider, handle)
            if canceled is None or not canceled.is_terminal:
                raise
            if raise_on_failure:
                raise GenerationFailed(canceled) from timed_out
            return canceled
        except anyio.get_cancelled_exc_class():
            if cancel_on_timeout:
                await self._cancel_quietly(provider, handle)
            raise
        if raise_on_failure and result.status is not JobStatus.SUCCEEDED:
            raise GenerationFailed(result)
        return result

    async def cancel(self, job: Job) -> GenerationResult:
        """Ask the API to cancel the job: its state as the API then reports it (lipsync:
        CANCELED, at no cost, for a job still PENDING). Waits on the job here end with
        that result.

        Raises:
            CancelNotSupported: The provider's API has no cancel (NanoGPT, Prism); nothing
                is sent.
            BadRequestError: The API refused: the job cannot be canceled any more (lipsync:
                it is no longer PENDING).
        """
        handle = self._handle(job)
        return await self.engine.cancel(self.provider(handle.provider), handle)

    async def _cancel_quietly(
        self, provider: VideoProvider, handle: JobHandle
    ) -> GenerationResult | None:
        """A cancel that a wait's end asked for: shielded, bounded, never raising (the
        wait's own exception is what the caller gets); None where it failed."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
            try:
                return await self.engine.cancel(provider, handle)
            except PrismAsyncError as exc:
                log.warning("could not cancel %s: %s (the job goes on)", handle, exc)
        return None

    async def generate(
        self,
        request: object,
        *,
        provider: str | None = None,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
        on_event: OnJobEvent | None = None,
    ) -> GenerationResult:
        """Submit one request for one video and wait for it (raises GenerationFailed).

        ``cancel_on_timeout`` and ``on_event`` are :meth:`wait`'s; a provider that cannot
        cancel is refused before anything is submitted.
        """
        if getattr(request, "count", 1) != 1:  # refused before paying for videos not awaited
            raise RequestValidationError(
                "count", "generate() waits for one video: use submit() and as_completed()"
            )
        if cancel_on_timeout:  # refused before paying, not after the wait
            chosen = self.provider(provider)
            if not isinstance(chosen, SupportsCancel):
                raise CancelNotSupported(provider=chosen.name)
        handles = await self.submit(request, provider=provider, on_event=on_event)
        if len(handles) != 1:  # pragma: no cover - a provider answering more jobs than asked
            raise RequestValidationError("count", f"one video asked, {len(handles)} started")
        return await self.wait(
            handles[0], timeout=timeout, cancel_on_timeout=cancel_on_timeout, on_event=on_event
        )

    def as_completed(
        self, jobs: Iterable[Job], *, timeout: float | None = None
    ) -> AsyncIterator[JobOutcome]:
        """Yield each job's outcome as it ends. Failed generations are results, not errors."""
        handles = [self._handle(job) for job in jobs]
        return self.engine.as_completed(
            ((self.provider(h.provider), h) for h in handles), timeout=timeout
        )

    async def run(self, flow: Flow[T], *, provider: str | None = None) -> T:
        """Drive one of a provider's own flows (model lists, templates...)."""
        return await self.engine.run(self.provider(provider), flow)

    async def download(
        self, result: GenerationResult, directory: Path | str, *, timeout: float | None = None
    ) -> tuple[Path, ...]:
        """Download a succeeded result's outputs into ``directory``; the paths.

        Streamed through a temporary file, checked, renamed into place; a file already
        there is kept; an expired presigned URL is replaced by a fresh status fetch (see
        :class:`~prism_async._downloads.Downloader`, which batches use too). ``timeout``
        bounds each output's download, retries included (TransportTimeout).
        """
        downloader = Downloader(
            self.transport, directory, refresh=self.get, clock=self.engine.clock, timeout=timeout
        )
        files = await downloader.fetch(result)
        return tuple(f.path for f in files)

    @staticmethod
    def _handle(job: Job) -> JobHandle:
        return job if isinstance(job, JobHandle) else JobHandle.parse(job)


def _base_urls(providers: Iterable[VideoProvider]) -> dict[str, str]:
    """Each provider's base URL -> its name (for the transport's logs and spans)."""
    urls = ((getattr(p, "base_url", None), p.name) for p in providers)
    return {url: name for url, name in urls if isinstance(url, str) and url}


def _receiver(
    base_url: str,
    providers: Iterable[VideoProvider],
    secret: str | Secret | None,
    on_webhook: Callable[[Delivery], Any] | None,
) -> WebhookReceiver:
    if not base_url.startswith(("https://", "http://")):
        raise RequestValidationError(
            "webhook_base_url", f"must be an HTTP(S) URL the providers can reach: {base_url!r}"
        )
    from prism_async.webhooks import WebhookReceiver

    return WebhookReceiver(providers, secret=secret, on_delivery=on_webhook)
