"""The webhook receiver's core, free of any web framework.

It takes a delivery as (method, path, headers, body) and answers (status, body) at once;
what the delivery means is carried out just after the answer (on the next turn of the
event loop), so a slow consumer never makes the provider wait.

Routes, relative to where the receiver is mounted (the ``webhook_base_url``):

- ``POST /<provider>`` for providers whose deliveries are signed (lipsync,
  ``Sync-Signature``, checked against the signing secret and the timestamp tolerance);
- ``POST /<provider>/<token>`` for unsigned ones (Prism): the token in the callback URL
  is unguessable (:mod:`prism_async.webhooks._tokens`) and bound to the jobs of the
  submit that used it; the delivery's result is then confirmed by one status fetch.

Refused, logged without any secret, and never ending a wait: a forged, tampered or stale
signature (401), a guessed or unknown token (404), a delivery naming a job its token was
not given for (401), an unknown route (404), a body over ``max_body`` bytes (413), another
method than POST (405). A verified delivery is answered 200 and handed on: to the engine
that waits on the job (the client sets :attr:`WebhookReceiver.listener`), and to the
optional ``on_delivery`` callback with ``waited_on`` telling whether anyone here waited.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from prism_async._errors import WebhookVerificationError
from prism_async._provider import SupportsWebhooks, VideoProvider, WebhookCall
from prism_async._results import GenerationResult, JobHandle
from prism_async._secrets import Secret
from prism_async.webhooks import _tokens

__all__ = ["Delivery", "Listener", "WebhookReceiver"]

log = logging.getLogger("prism_async.webhooks")

#: Told of each verified delivery; answers whether someone waits on the job.
Listener = Callable[[str, WebhookCall], bool]

_ROUTE = re.compile(r"/*(?P<provider>[A-Za-z0-9_.-]+)(?:/(?P<token>[A-Za-z0-9_-]+))?/*")
#: Unsigned deliveries kept for tokens not bound yet (their create is still being
#: answered), and verified deliveries kept for jobs not claimed yet, at most.
_KEPT = 4096
_EARLY_PER_TOKEN = 16


@attrs.frozen(kw_only=True)
class Delivery:
    """A verified delivery, as ``on_delivery`` receives it.

    Args:
        provider: The provider's name.
        job_id: The job it is about.
        result: The job's state as the delivery tells it, where it is signed; None for an
            unsigned one (confirm it with ``Client.get`` before believing it).
        waited_on: Whether a wait in this process took it.
    """

    provider: str
    job_id: str
    result: GenerationResult | None
    waited_on: bool


class WebhookReceiver:
    """Takes webhook deliveries for the given providers.

    Args:
        providers: The providers whose deliveries are taken (those that support webhooks).
        secret: The signing secret of signed deliveries (lipsync's ``whsec_...``), also
            the key tokens are derived from, so that receivers sharing it accept each
            other's tokens. Without one, tokens are good for this process only, and
            signed deliveries are refused.
        tolerance: Seconds a signed timestamp may differ from now, a finite positive number.
        max_body: The largest delivery accepted, in bytes.
        on_delivery: Called with every verified :class:`Delivery`, after the answer (a
            coroutine function is run as a task). Its errors are logged, never answered.
        clock: Unix seconds now (signed timestamps are judged by it).
    """

    def __init__(
        self,
        providers: Iterable[VideoProvider],
        *,
        secret: str | Secret | None = None,
        tolerance: float = 300.0,
        max_body: int = 1 << 20,
        on_delivery: Callable[[Delivery], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance > 0):
            raise ValueError(f"tolerance must be a finite positive number: {tolerance!r}")
        if max_body < 1:
            raise ValueError(f"max_body must be 1 or more: {max_body!r}")
        self.providers: Mapping[str, SupportsWebhooks] = {
            p.name: p for p in providers if isinstance(p, SupportsWebhooks)
        }
        self._secret = Secret.of(secret) if secret else None
        self._key = _tokens.key_from(self._secret.reveal() if self._secret else None)
        self.tolerance = float(tolerance)
        self.max_body = max_body
        self.on_delivery = on_delivery
        self._clock = clock
        #: Set by the client: the engine that ends waits.
        self.listener: Listener | None = None
        #: token -> the job ids it was given for (None: minted, its submit not answered).
        self._bound: dict[str, frozenset[str] | None] = {}
        self._early: dict[str, list[tuple[str, WebhookCall]]] = {}
        self._unclaimed: dict[tuple[str, str], WebhookCall] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        for name, chosen in self.providers.items():
            if chosen.webhooks_signed and self._secret is None:
                log.warning(
                    "no signing secret for %s webhooks (webhook_secret= or "
                    "SYNC_WEBHOOK_SECRET): its jobs are polled",
                    name,
                )

    def __repr__(self) -> str:
        return f"WebhookReceiver(providers={sorted(self.providers)!r})"

    # -- the client's side -------------------------------------------------------------

    def accepts(self, provider: str) -> bool:
        """Whether deliveries of ``provider`` can be taken (a signed one needs the secret)."""
        chosen = self.providers.get(provider)
        return chosen is not None and (not chosen.webhooks_signed or self._secret is not None)

    def callback_url(self, base_url: str, provider: str) -> str:
        """The URL a job's create names as its callback (a fresh token for unsigned ones)."""
        chosen = self.providers[provider]
        url = f"{base_url.rstrip('/')}/{provider}"
        if chosen.webhooks_signed:
            return url
        token = _tokens.mint(self._key)
        self._bound[token] = None
        while len(self._bound) > _KEPT * 4:  # never answered: forget the oldest
            del self._bound[next(iter(self._bound))]
        return f"{url}/{token}"

    def bind(self, url: str, handles: Iterable[JobHandle]) -> None:
        """The jobs a callback URL's create started: its token takes deliveries about them
        alone. Deliveries that came first are handed on now."""
        token = url.rstrip("/").rsplit("/", 1)[-1]
        if token not in self._bound:
            return  # a signed provider's URL: nothing to bind
        self._bound[token] = frozenset(h.id for h in handles)
        for provider, call in self._early.pop(token, []):
            self._accept(provider, token, call)

    def discard(self, url: str) -> None:
        """Forget a callback URL whose create was not sent (or took no callback)."""
        token = url.rstrip("/").rsplit("/", 1)[-1]
        if self._bound.get(token, ()) is None:
            del self._bound[token]
            self._early.pop(token, None)

    def claim(self, provider: str, handles: Iterable[JobHandle]) -> list[WebhookCall]:
        """Signed deliveries that came for these jobs before anyone expected them."""
        return [
            call
            for h in handles
            if (call := self._unclaimed.pop((provider, h.id), None)) is not None
        ]

    # -- the provider's side -----------------------------------------------------------

    async def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes]:
        """Answer one delivery: ``(status, body)``. ``path`` is relative to the mount
        point; ``headers`` may use any case."""
        if method.upper() != "POST":
            return 405, b"method not allowed"
        if len(body) > self.max_body:
            return self._refuse(413, "a delivery over the size limit", None)
        route = _ROUTE.fullmatch(path or "/")
        name = route["provider"] if route else None
        provider = self.providers.get(name) if name else None
        if route is None or name is None or provider is None:
            return self._refuse(404, "no such webhook route", None)
        token = route["token"]
        signed = provider.webhooks_signed
        if signed == (token is not None):
            return self._refuse(404, "no such webhook route", name)
        if token is not None and not _tokens.verified(self._key, token):
            return self._refuse(404, "a token this receiver never minted", name)
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            call = provider.read_webhook(
                lowered,
                body,
                secret=self._secret,
                tolerance=self.tolerance,
                now=self._clock(),
            )
        except WebhookVerificationError as exc:
            return self._refuse(401, exc.message, name)
        if token is not None:
            jobs = self._bound.get(token)
            if token not in self._bound:
                pass  # minted by a receiver sharing the key: not waited on here
            elif jobs is None:
                early = self._early.setdefault(token, [])
                if len(early) < _EARLY_PER_TOKEN:
                    early.append((name, call))
                return 200, b"ok"
            elif call.job_id not in jobs:
                return self._refuse(401, "a delivery about a job its token was not for", name)
        self._accept(name, token, call)
        return 200, b"ok"

    def _refuse(self, status: int, reason: str, provider: str | None) -> tuple[int, bytes]:
        log.warning("webhook refused (%d) for %s: %s", status, provider or "?", reason)
        return status, reason.encode()

    def _accept(self, provider: str, token: str | None, call: WebhookCall) -> None:
        asyncio.get_running_loop().call_soon(self._dispatch, provider, token, call)

    def _dispatch(self, provider: str, token: str | None, call: WebhookCall) -> None:
        waited_on = False
        if self.listener is not None:
            waited_on = self.listener(provider, call)
        if not waited_on and token is None:  # perhaps for a job whose submit is answering
            while len(self._unclaimed) >= _KEPT:
                del self._unclaimed[next(iter(self._unclaimed))]
            self._unclaimed[provider, call.job_id] = call
        if self.on_delivery is None:
            return
        delivery = Delivery(
            provider=provider, job_id=call.job_id, result=call.result, waited_on=waited_on
        )
        try:
            outcome = self.on_delivery(delivery)
            if inspect.isawaitable(outcome):
                task = asyncio.ensure_future(outcome)
                self._tasks.add(task)
                task.add_done_callback(self._done)
        except Exception:
            log.exception("on_delivery failed for %s job %s", provider, call.job_id)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("on_delivery failed", exc_info=task.exception())
