"""The lipsync provider: idempotent creates, long-polled status, list, cost and cancel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import quote

import attrs

from prism_async.providers import (
    Api,
    Cost,
    Flow,
    GenerationResult,
    HttpRequest,
    JobHandle,
    LipsyncRequest,
    Multipart,
    PollHint,
    PrismAsyncError,
    Rate,
    RequestValidationError,
    Secret,
    SubmitReceipt,
    SupportsCancel,
    SupportsCostEstimate,
    SupportsJobLimit,
    SupportsList,
    SupportsWebhooks,
    VideoProvider,
    WebhookCall,
    WebhookVerificationError,
    env_settings,
    required_key,
    send,
)
from prism_async.providers.lipsync import _body, _wire
from prism_async.providers.lipsync._validate import validate, validate_idempotency_key
from prism_async.providers.lipsync._webhooks import parse_webhook

__all__ = ["DEFAULT_BASE_URL", "LipsyncProvider"]
_V = TypeVar("_V")

#: How many submits' estimates a provider keeps for webhook deliveries (and, by
#: idempotency key, for a create sent again after a concurrency 429).
_ESTIMATES_KEPT = 10_000
_NO_ESTIMATE = "no cost estimate: /v2/analyze/cost did not answer"
_UPLOADS = "no cost estimate: the create uploads files, which /v2/analyze/cost does not take"
_NOT_ASKED = "no cost estimate: estimate_costs=False (Client.estimate_cost gives one)"
#: Answers that say the server has no estimate route at this path (the documents name
#: three paths): later creates no longer ask.
_NO_ROUTE = frozenset({404, 405, 501})

DEFAULT_BASE_URL = "https://api.sync.so"
#: Seconds the server holds a long poll (the documented maximum; the default is 5).
LONG_POLL_SECONDS = 10
#: The client-side limit on a long poll: the hold plus room for the answer to arrive.
LONG_POLL_TIMEOUT = LONG_POLL_SECONDS + 5.0
#: Plain polling cadence where long poll is not honoured: the quickstart sleeps 10 s
#: between GETs, and lipsync jobs take tens of seconds to minutes, so polling faster buys
#: little; 100 jobs at this pace stay well inside the 600/min read limit.
PLAIN_POLL_SECONDS = 10.0
#: Plain polls after which a server that ignored ``wait=true`` is asked again.
_REPROBE_AFTER = 10


class LipsyncProvider(
    VideoProvider,
    SupportsCancel,
    SupportsList,
    SupportsCostEstimate,
    SupportsJobLimit,
    SupportsWebhooks,
):
    """The Sync.so-style lipsync API v2 (sans-IO): besides the provider protocol, cancel,
    list, cost estimates and the plan's job limit.

    Args:
        api_key: Sent as ``x-api-key``.
        base_url: ``https://api.sync.so`` by default; paths start with ``/v2/``.
        max_jobs_in_flight: The plan's concurrency (PENDING plus PROCESSING generations:
            1 on Hobbyist, 3 Creator, 6 Growth, 15 Scale), for a batch runner to stay under.
            None when unknown: the engine then waits for a slot when the API says so.
        estimate_costs: Before each JSON create, ask the free ``POST /v2/analyze/cost``
            for the job's estimate (the create answers no cost), kept in the handle and
            reported as the results' cost. One request more per submit, on the
            ``"cost"`` budget (600/min), asked once per submit however often a
            concurrency 429 sends the create again, and no more once the server answers
            that it has no such route (404, 405, 501). False sends the create alone; the
            results then have no cost and say why.
    """

    name = "lipsync"
    env_key = "SYNC_API_KEY"
    # Documented limits conflict by version: creates 60/min (docs-v2, 2025) or 100/min
    # (2026, prod); reads 600/min. The lower create figure is kept.
    rates: Mapping[str, Rate] = {
        "submit": Rate(requests=60, per_seconds=60.0),
        "status": Rate(requests=600, per_seconds=60.0),
        "list": Rate(requests=600, per_seconds=60.0),
        "cost": Rate(requests=600, per_seconds=60.0),
        "cancel": Rate(requests=600, per_seconds=60.0),
        "health": Rate(requests=600, per_seconds=60.0),
    }
    # Every create carries the caller's Idempotency-Key; the API replays a repeated one.
    idempotent_submits = True
    webhooks_signed = True

    def __init__(
        self,
        *,
        api_key: str | Secret,
        base_url: str = DEFAULT_BASE_URL,
        max_jobs_in_flight: int | None = None,
        estimate_costs: bool = True,
    ) -> None:
        key = required_key(api_key, self.name)
        self._api = Api.header(base_url, "x-api-key", key, errors=_wire.error_from)
        if max_jobs_in_flight is not None and max_jobs_in_flight < 1:
            raise RequestValidationError(
                "max_jobs_in_flight", "must be 1 or more", provider=self.name
            )
        self.base_url = self._api.base_url
        self.max_jobs_in_flight = max_jobs_in_flight
        # Whether the server honours wait=true: None until a long poll has been answered.
        self._long_poll: bool | None = None
        self._reprobe = False
        self._plain_polls = 0
        # The estimates of this provider's own submits, by generation id, for the results
        # webhooks deliver (a delivery is the Generation object alone, without the handle
        # that keeps the estimate). Bounded: the oldest are forgotten first.
        self._estimates: dict[str, str] = {}
        # Why submits no longer ask for an estimate (None: they ask), and the estimates
        # of creates not answered yet, by idempotency key: a create that a concurrency 429
        # sends again reuses its estimate.
        self._no_estimates: str | None = None if estimate_costs else _NOT_ASKED
        self._pending: dict[str, Cost | None] = {}

    def __repr__(self) -> str:
        return f"LipsyncProvider(base_url={self.base_url!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LipsyncProvider:
        """From ``SYNC_API_KEY`` and, optionally, ``SYNC_BASE_URL``."""
        key, base_url = env_settings(environ, cls.name, "SYNC", DEFAULT_BASE_URL)
        return cls(api_key=key, base_url=base_url)

    @property
    def long_poll_honoured(self) -> bool | None:
        """Whether the server held the last long poll (None: not tried yet)."""
        return self._long_poll

    def _post(
        self,
        path: str,
        kind: str,
        payload: _body.Payload,
        headers: tuple[tuple[str, str], ...],
        *,
        charges: bool = False,
    ) -> HttpRequest:
        # Sent with the default RetryMode.SAFE: every create carries an Idempotency-Key
        # the API honours, so a lost response is replayed, never paid for twice.
        if isinstance(payload, Multipart):
            return self._api.request(
                "POST", path, kind, headers=headers, body=payload, charges=charges
            )
        return self._api.request("POST", path, kind, headers=headers, json=payload, charges=charges)

    def submit_flow(self, request: object, *, idempotency_key: str) -> Flow[tuple[JobHandle, ...]]:
        """Create a generation. ``request`` is a LipsyncRequest; validation (the request and
        the key) runs at the call, before the flow exists.

        Every create carries ``Idempotency-Key`` and may be retried by the transport (the
        API replays a repeated key, so a lost response is never paid twice). A 503
        ``IDEMPOTENCY_OUTCOME_UNKNOWN`` naming a ``generationId`` gives that job's handle;
        without one, the transport's retries (same key) are all there is, and the engine
        reports :class:`~prism_async._errors.SubmissionOutcomeUnknown` with the key to
        replay it with later.

        Raises:
            RequestValidationError: The request or the key is invalid.
            UnsupportedRequestError: A text-to-video request (lipsync has none).
            ConcurrencyLimitError: 429, the plan's slots are full (the engine waits for one
                of the account's jobs to end and submits again).
            RateLimitedError: Any other 429; ``retry_after`` says when to come back.
        """
        lipsync = _body.as_lipsync(request)
        validate(lipsync)
        validate_idempotency_key(idempotency_key)
        return self._submit(lipsync, idempotency_key)

    def _submit(self, request: LipsyncRequest, key: str) -> Flow[tuple[JobHandle, ...]]:
        payload = yield from _body.payload_flow(request)
        estimate, note = yield from self._estimate_once(payload, key)
        create = self._post(
            "/v2/generate", "submit", payload, (("Idempotency-Key", key),), charges=True
        )
        # The transport retries a 503 with the same key (prism_async._policy); the
        # provider only reads the final answer, and never loops itself.
        response = yield from send(create)
        extra = {"estimate": str(estimate.amount)} if estimate is not None else {}
        if _wire.error_code(response) == _wire.OUTCOME_UNKNOWN:
            generation_id = _wire.outcome_generation_id(response)
            if generation_id:  # created after all: poll it, never create it again
                handle = JobHandle(provider=self.name, id=generation_id, extra=extra)
                return self._receipt(key, handle, estimate, note)
        result = _wire.parse_generation(self._api.raise_for_status(response))
        handle = JobHandle(provider=self.name, id=result.id, extra=extra)
        return self._receipt(key, handle, estimate, note)

    def _estimate_once(
        self, payload: _body.Payload, key: str
    ) -> Flow[tuple[Cost | None, str | None]]:
        """The submit's estimate, or None and why there is none. Free and before the
        create: its failure only leaves the cost unknown. Asked once per idempotency key,
        however often a concurrency 429 sends the create again."""
        if isinstance(payload, Multipart):
            return None, _UPLOADS
        if key not in self._pending:
            if self._no_estimates is not None:
                return None, self._no_estimates
            _forget_oldest(self._pending)
            self._pending[key] = yield from self._estimate(payload)
        estimate = self._pending[key]
        return estimate, None if estimate is not None else self._no_estimates or _NO_ESTIMATE

    def _estimate(self, payload: _body.Payload) -> Flow[Cost | None]:
        response = yield from send(self._post("/v2/analyze/cost", "cost", payload, ()))
        if response.status in _NO_ROUTE:
            self._no_estimates = (
                f"no cost estimate: the server answered HTTP {response.status} to "
                "/v2/analyze/cost, so this provider no longer asks"
            )
        if not 200 <= response.status < 300:
            return None
        try:
            return _wire.parse_cost(response)
        except PrismAsyncError:
            return None

    def _receipt(
        self, key: str, handle: JobHandle, estimate: Cost | None, note: str | None
    ) -> SubmitReceipt:
        self._pending.pop(key, None)
        if estimate is not None:
            _forget_oldest(self._estimates)
            self._estimates[handle.id] = str(estimate.amount)
        return SubmitReceipt((handle,), provider=self.name, cost=estimate, cost_note=note)

    def status_flow(self, handle: JobHandle, *, wait: bool = False) -> Flow[GenerationResult]:
        """``GET /v2/generate/{id}``; with ``wait``, the long poll (``wait=true&timeout=10``),
        noting whether the server held it (``X-Sync-Wait-Mode: long_poll``)."""
        # include=progress cannot be combined with wait=true (documented): a plain poll
        # asks for the progress, a long poll for the end.
        params: tuple[tuple[str, str], ...] = (("include", "progress"),)
        timeout = None
        if wait:
            params = (("wait", "true"), ("timeout", str(LONG_POLL_SECONDS)))
            timeout = LONG_POLL_TIMEOUT
        response = yield from self._api.call(
            "GET",
            f"/v2/generate/{quote(handle.id, safe='')}",
            "status",
            params=params,
            timeout=timeout,
            job_id=handle.id,
            long_poll=wait,
        )
        self._note_long_poll(response.headers.get("x-sync-wait-mode") if wait else None, wait)
        return _wire.parse_generation(response, job_id=handle.id, handle=handle)

    def _note_long_poll(self, mode: str | None, waited: bool) -> None:
        if waited:
            self._long_poll = (mode or "").strip().lower() == "long_poll"
            self._plain_polls, self._reprobe = 0, False
        elif self._long_poll is False:
            self._plain_polls += 1
            if self._plain_polls >= _REPROBE_AFTER:  # the server may honour it again
                self._plain_polls, self._reprobe = 0, True

    def poll_hint(self, handle: JobHandle, result: GenerationResult) -> PollHint:
        """Long poll while the server honours it (or has not been asked yet), from the
        first poll on, so a job is known to have ended as soon as it ends. Where the server
        ignored ``wait=true``, a plain poll every :data:`PLAIN_POLL_SECONDS`; after
        :data:`_REPROBE_AFTER` of those, the next ones ask to be held again, at the same
        cadence (a re-probe costs no extra request)."""
        if self._long_poll is not False:
            return PollHint(long_poll=True)
        return PollHint(long_poll=self._reprobe, delay=PLAIN_POLL_SECONDS)

    def with_webhook(self, request: object, url: str) -> object | None:
        """The request with ``webhookUrl`` set (None where it names its own already, as a
        field or through ``extra``)."""
        if not isinstance(request, LipsyncRequest) or request.webhook_url is not None:
            return None
        if request.extra.get("webhookUrl") is not None or request.extra.get("webhook_url"):
            return None
        return attrs.evolve(request, webhook_url=url)

    def read_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        secret: Secret | None,
        tolerance: float,
        now: float,
    ) -> WebhookCall:
        """A delivery verified by its ``Sync-Signature`` and read as polling would read it."""
        if secret is None:
            raise WebhookVerificationError(
                "webhook rejected: no lipsync signing secret configured (webhook_secret= "
                "or SYNC_WEBHOOK_SECRET)",
                provider=self.name,
            )
        result = parse_webhook(body, headers, secret, tolerance=tolerance, now=now)
        estimate = self._estimates.get(result.id)
        if estimate is not None:  # read as a poll with the submit's handle would read it
            handle = JobHandle(provider=self.name, id=result.id, extra={"estimate": estimate})
            result = _wire.result_from(result.raw, job_id=result.id, handle=handle)
        return WebhookCall(job_id=result.id, result=result)

    def list_flow(self, status: str | None = None) -> Flow[tuple[GenerationResult, ...]]:
        """``GET /v2/generations``, optionally filtered by a raw status (``COMPLETED``...).

        Raises:
            RequestValidationError: ``status`` is not a documented status value.
        """
        params: tuple[tuple[str, str], ...] = ()
        if status is not None:
            raw = status.strip().upper()
            if raw == "CANCELLED":
                raw = "CANCELED"
            if raw not in _wire.RAW_STATUSES:
                raise RequestValidationError(
                    "status",
                    f"{status!r} is not one of {', '.join(_wire.RAW_STATUSES)}",
                    provider=self.name,
                )
            params = (("status", raw),)
        return self._list(params)

    def _list(self, params: tuple[tuple[str, str], ...]) -> Flow[tuple[GenerationResult, ...]]:
        response = yield from self._api.call("GET", "/v2/generations", "list", params=params)
        return _wire.parse_generation_list(response)

    def estimate_cost_flow(self, request: object) -> Flow[Cost]:
        """``POST /v2/analyze/cost`` with the create body: the estimate in USD (estimated).

        Raises:
            RequestValidationError: The request is invalid (checked at the call).
        """
        lipsync = _body.as_lipsync(request)
        validate(lipsync)
        return self._cost(lipsync)

    def _cost(self, request: LipsyncRequest) -> Flow[Cost]:
        payload = yield from _body.payload_flow(request)
        response = yield from self._api.send_ok(self._post("/v2/analyze/cost", "cost", payload, ()))
        return _wire.parse_cost(response)

    def cancel_flow(self, handle: JobHandle) -> Flow[GenerationResult]:
        """``POST /v2/generate/{id}/cancel`` (legacy; only a PENDING job, at no cost): the
        generation as the API then reports it.

        Raises:
            BadRequestError: The job is not cancelable (no longer PENDING).
        """
        response = yield from self._api.call(
            "POST", f"/v2/generate/{quote(handle.id, safe='')}/cancel", "cancel", job_id=handle.id
        )
        return _wire.parse_generation(response, job_id=handle.id, handle=handle)

    def result_flow(self, handle: JobHandle, *, token: str) -> Flow[str]:
        """``GET /v2/generations/{id}/result?token=`` (OpenAPI, March 2025): the URL of a
        completed generation's file. Where the token comes from is not documented.

        The OpenAPI answers 302 to the file; API requests never follow a redirect (the
        key must not reach another origin), so that answer arrives as a
        :class:`~prism_async.RedirectError` whose ``location`` is the file's URL. A 200
        answer (the Generation object, or the URL as text) gives the URL.

        Raises:
            RequestValidationError: ``token`` is empty (before anything is sent).
            RedirectError: The documented 302; ``location`` is the file.
            BadRequestError: 400, the generation is not completed.
            NotFoundError: 404, no such generation (or a wrong token).
        """
        if not token or not token.strip():
            raise RequestValidationError("token", "required", provider=self.name)
        return self._result(handle, token)

    def _result(self, handle: JobHandle, token: str) -> Flow[str]:
        response = yield from self._api.call(
            "GET",
            f"/v2/generations/{quote(handle.id, safe='')}/result",
            "status",
            params=(("token", token),),
            job_id=handle.id,
        )
        return _wire.parse_file_url(response, job_id=handle.id)

    def download_url_flow(self, handle: JobHandle) -> Flow[str]:
        """``GET /v2/generations/{id}/download`` (newest docs): the signed URL of the
        finished file, which the API answers as plain text. Fetch it without the key (a
        watermarked file on free plans).

        Raises:
            BadRequestError: 400, the generation is not completed.
            NotFoundError: 404, no such generation.
        """
        response = yield from self._api.call(
            "GET",
            f"/v2/generations/{quote(handle.id, safe='')}/download",
            "status",
            job_id=handle.id,
        )
        return _wire.parse_file_url(response, job_id=handle.id)

    def healthcheck_flow(self) -> Flow[bool]:
        """``GET /v2/healthcheck``: True when the API answers 2xx (its body is not
        documented), False on a 5xx.

        Raises:
            APIStatusError: Any other answer (a 401, a 429...).
        """
        response = yield from send(self._api.request("GET", "/v2/healthcheck", "health"))
        if response.status >= 500:
            return False
        self._api.raise_for_status(response)
        return True


def _forget_oldest(kept: dict[str, _V]) -> None:
    """Make room for one more entry: the oldest are forgotten first."""
    while len(kept) >= _ESTIMATES_KEPT:
        del kept[next(iter(kept))]
