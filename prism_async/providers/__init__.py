"""Everything a provider adapter is written with: the contract and the kit.

The built-in providers (``prism``, ``lipsync``, ``nanogpt``) are written against this
module alone (and the public request types); a third-party provider needs nothing else.

**Sans-IO.** A provider never awaits and never opens a socket. Each operation is a *flow*:
a generator that yields effects (an :class:`HttpRequest`, a :class:`ReadFile`, a
:class:`StatFile`) and receives their results; the engine drives it, under the provider's
:class:`Rate` budgets, retries and deadlines. A flow is therefore tested by sending it
canned :class:`HttpResponse` values, with no server at all::

    from urllib.parse import quote

    from prism_async.providers import (
        Api, Flow, GenerationResult, JobHandle, JobStatus, PollHint, Rate, RetryMode,
        StatusTable, VideoProvider, api_error, env_settings, refuser, required_key,
    )

    NAME = "toy"
    STATUSES = StatusTable(NAME, {"running": JobStatus.RUNNING, "done": JobStatus.SUCCEEDED})
    refuse = refuser(NAME)

    def error_from(response, *, job_id=None):
        body = response.json()
        return api_error(NAME, response, message=body["message"], code=body.get("code"),
                         job_id=job_id)

    class ToyProvider(VideoProvider):
        name = NAME
        env_key = "TOY_API_KEY"
        rates = {"submit": Rate(requests=10, per_seconds=60.0)}
        idempotent_submits = False

        def __init__(self, *, api_key, base_url="https://toy.example/api"):
            self._api = Api.header(base_url, "x-api-key", required_key(api_key, NAME),
                                   errors=error_from)

        @classmethod
        def from_env(cls, environ):
            key, base_url = env_settings(environ, NAME, "TOY", "https://toy.example/api")
            return cls(api_key=key, base_url=base_url)

        def submit_flow(self, request, *, idempotency_key) -> Flow[tuple[JobHandle, ...]]:
            if not request.prompt:                  # refused before any byte is sent
                raise refuse("prompt", "required")
            response = yield from self._api.call(   # a non-2xx answer raises error_from(...)
                "POST", "/jobs", "submit", json={"prompt": request.prompt},
                retry=RetryMode.REFUSED_ONLY,       # no idempotency key: never sent twice
                charges=True,                       # the one paid request of the flow
            )
            return (JobHandle(provider=NAME, id=response.json()["id"]),)

        def status_flow(self, handle, *, wait=False) -> Flow[GenerationResult]:
            # every path parameter is quoted: an id is one path segment whatever it holds
            response = yield from self._api.call(
                "GET", f"/jobs/{quote(handle.id, safe='')}", "status", job_id=handle.id
            )
            ...                                     # read it into a GenerationResult

        def poll_hint(self, handle, result):
            return PollHint(delay=5.0)

A complete one, with its tests against a loopback server, is ``tests/plugin_provider/`` in
the source distribution.

**The contract.** :class:`VideoProvider`: ``name``, ``rates``, ``idempotent_submits``,
``submit_flow``, ``status_flow``, ``poll_hint``. A paid create is the one request marked
``charges=True``, sent with ``RetryMode.REFUSED_ONLY`` unless the API honours an
idempotency key. Optional capabilities are protocols of their own, checked with
``isinstance``; subclass the ones you implement so mypy holds you to them:
:class:`SupportsCancel`, :class:`SupportsList`, :class:`SupportsCostEstimate`,
:class:`SupportsModels` (with :class:`ModelInfo` entries), :class:`SupportsJobLimit` and
:class:`SupportsWebhooks` (callbacks: ``with_webhook`` puts the URL in a request,
``read_webhook`` verifies and reads a delivery into a :class:`WebhookCall`).

**The kit.** :class:`Api` (base URL, credential header as a :class:`Secret`, and the
provider's error factory: :meth:`Api.call` / :meth:`Api.send_ok` raise the provider's own
error on a non-2xx answer); :func:`api_error` (the :class:`APIStatusError` subclass a status
calls for; a 429 with the ``concurrency_limit_reached`` code is a
:class:`ConcurrencyLimitError`, which the engine waits out instead of raising);
:class:`StatusTable` (raw statuses to :class:`JobStatus`); the cattrs helpers
(:func:`make_converter` with :func:`wire` renames, :func:`structure` whose failures are a
:class:`ProviderResponseError` naming the wire key); the media helpers; the documented
input checks (:class:`Seconds`, :func:`check_duration`, :func:`check_prompt`); and the
result values a status flow builds.

**Registration.** A provider is found through the ``prism_async.providers`` entry-point
group, exactly as the built-in ones are. The entry point names a class with an ``env_key``
(its API key variable) and a ``from_env(environ)`` class method::

    [project.entry-points."prism_async.providers"]
    toy = "toy_video:ToyProvider"

Then ``Client.from_env("toy")`` builds it from ``TOY_API_KEY`` (see
:mod:`prism_async._registry`).

**Testing.** :mod:`prism_async.testing` serves emulators on loopback:
:class:`~prism_async.testing.EmulatorServer` hosts any ``aiohttp.web`` application with a
``prefix``, an ``api_key``, ``build_app()`` and ``base_url(root)``;
:class:`~prism_async.testing.RecordingServer` records what was sent;
:class:`~prism_async.testing.VirtualClock` runs polling cadence without waiting.
"""

from prism_async._errors import (
    APIStatusError,
    ConcurrencyLimitError,
    PrismAsyncError,
    ProviderResponseError,
    RateLimitedError,
    RequestValidationError,
    UnsupportedRequestError,
    WebhookVerificationError,
    status_error_class,
)
from prism_async._http import (
    Body,
    Effect,
    FileBody,
    FilePart,
    Flow,
    HttpRequest,
    HttpResponse,
    Multipart,
    ReadFile,
    RetryMode,
    StatFile,
    read_file,
    send,
    stat_file,
)
from prism_async._media import Media, MediaKind, data_uri_size, to_data_uri
from prism_async._provider import (
    ModelInfo,
    PollHint,
    Rate,
    SupportsCancel,
    SupportsCostEstimate,
    SupportsJobLimit,
    SupportsList,
    SupportsModels,
    SupportsWebhooks,
    VideoProvider,
    WebhookCall,
)
from prism_async._requests import LipsyncRequest, VideoRequest
from prism_async._results import (
    Cost,
    CostUnit,
    Failure,
    FailureKind,
    GenerationResult,
    JobHandle,
    JobStatus,
    Output,
    SubmitReceipt,
)
from prism_async._secrets import Secret
from prism_async._wire import StatusTable, make_converter, parse_datetime, structure, wire
from prism_async.providers._api import Api, ErrorFactory, env_settings, required_key
from prism_async.providers._common import api_error, error_from_body, inline_data_uri, refuser
from prism_async.providers._extra import ExtraFields
from prism_async.providers._limits import Seconds, check_duration, check_prompt, seconds_of
from prism_async.providers._outputs import NO_OUTPUT, no_output_failure, usable_url

__all__ = [
    "NO_OUTPUT",
    "APIStatusError",
    "Api",
    "Body",
    "ConcurrencyLimitError",
    "Cost",
    "CostUnit",
    "Effect",
    "ErrorFactory",
    "ExtraFields",
    "Failure",
    "FailureKind",
    "FileBody",
    "FilePart",
    "Flow",
    "GenerationResult",
    "HttpRequest",
    "HttpResponse",
    "JobHandle",
    "JobStatus",
    "LipsyncRequest",
    "Media",
    "MediaKind",
    "ModelInfo",
    "Multipart",
    "Output",
    "PollHint",
    "PrismAsyncError",
    "ProviderResponseError",
    "Rate",
    "RateLimitedError",
    "ReadFile",
    "RequestValidationError",
    "RetryMode",
    "Seconds",
    "Secret",
    "StatFile",
    "StatusTable",
    "SubmitReceipt",
    "SupportsCancel",
    "SupportsCostEstimate",
    "SupportsJobLimit",
    "SupportsList",
    "SupportsModels",
    "SupportsWebhooks",
    "UnsupportedRequestError",
    "VideoProvider",
    "VideoRequest",
    "WebhookCall",
    "WebhookVerificationError",
    "api_error",
    "check_duration",
    "check_prompt",
    "data_uri_size",
    "env_settings",
    "error_from_body",
    "inline_data_uri",
    "make_converter",
    "no_output_failure",
    "parse_datetime",
    "read_file",
    "refuser",
    "required_key",
    "seconds_of",
    "send",
    "stat_file",
    "status_error_class",
    "structure",
    "to_data_uri",
    "usable_url",
    "wire",
]
