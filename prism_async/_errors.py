"""Every exception prism-async raises, in one shallow tree.

::

    PrismAsyncError
    ├── RequestValidationError (also ValueError)   bad input, refused before any byte is sent
    │   └── UnsupportedRequestError                the provider cannot express this request
    │       └── CancelNotSupported                 the provider's API has no cancel
    ├── TransportError                             the exchange itself failed
    │   ├── ConnectError                           not sent: no byte of the request was written
    │   └── TransportTimeout (also TimeoutError)   sent, but no complete answer in time
    ├── SubmissionOutcomeUnknown                   a paid create may have been received, and
    │                                              no definitive answer came: do not retry blindly
    ├── JournalError                               the batch journal cannot be opened or written
    │   └── JournalLockedError                     another live run holds the journal
    ├── APIStatusError                             the API answered with an error status
    │   ├── RedirectError              3xx on an API route (never followed: credentials stay)
    │   ├── BadRequestError            400
    │   ├── AuthenticationError        401
    │   ├── InsufficientCreditsError   402
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── ConflictError              409
    │   ├── UnprocessableError         422 (Prism: invalid_template)
    │   ├── RateLimitedError           429, with ``retry_after``
    │   │   └── ConcurrencyLimitError  429: the plan's concurrent jobs are all running
    │   └── ServerError                5xx
    │       └── ServiceUnavailableError 503 (Prism: free_tier_paused; lipsync: outcome unknown)
    ├── ProviderResponseError                      a response did not have the documented shape
    ├── WebhookVerificationError                   a callback's signature or timestamp is wrong
    ├── GenerationFailed                           the job ended failed or canceled; has ``result``
    └── PollTimeout (also TimeoutError)            the wait's deadline passed; has ``last_result``

Every error names its provider and, where known, the job id and the request id. No error
ever holds an API key: the key lives only in :class:`prism_async._secrets.Secret`, whose
repr and str are masked, and error messages are built from response bodies, never from
request headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prism_async._results import GenerationResult

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "CancelNotSupported",
    "ConcurrencyLimitError",
    "ConflictError",
    "ConnectError",
    "GenerationFailed",
    "InsufficientCreditsError",
    "JournalError",
    "JournalLockedError",
    "NotFoundError",
    "PermissionDeniedError",
    "PollTimeout",
    "PrismAsyncError",
    "ProviderResponseError",
    "RateLimitedError",
    "RedirectError",
    "RequestValidationError",
    "ServerError",
    "ServiceUnavailableError",
    "SubmissionOutcomeUnknown",
    "TransportError",
    "TransportTimeout",
    "UnprocessableError",
    "UnsupportedRequestError",
    "WebhookVerificationError",
    "status_error_class",
]


class PrismAsyncError(Exception):
    """Base of every prism-async error.

    Args:
        message: What went wrong, for a person.
        provider: The provider's registered name, where known.
        job_id: The provider's job id, where known.
        request_id: The API's request id (e.g. an ``X-Request-ID`` header), where known.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        job_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.job_id = job_id
        self.request_id = request_id

    def __str__(self) -> str:
        context = [
            f"{name}={value}"
            for name, value in (
                ("provider", self.provider),
                ("job", self.job_id),
                ("request", self.request_id),
            )
            if value
        ]
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class RequestValidationError(PrismAsyncError, ValueError):
    """Input the API documents as invalid; raised before any byte is sent.

    Args:
        field: The request field at fault, as the caller named it (``aspect_ratio``,
            ``segments[1].audio_input.ref_id``).
        reason: Why the value is refused.
    """

    def __init__(self, field: str, reason: str, *, provider: str | None = None) -> None:
        super().__init__(f"{field}: {reason}", provider=provider)
        self.field = field
        self.reason = reason


class UnsupportedRequestError(RequestValidationError):
    """The chosen provider cannot express this request (refused, never silently dropped)."""


class CancelNotSupported(UnsupportedRequestError):
    """The provider's API documents no way to cancel a job (NanoGPT, Prism): nothing was
    sent, and the job runs to its end, paid for. Raised by ``Client.cancel`` and, up front,
    by a wait or generate asked to cancel on timeout for such a provider."""

    def __init__(self, *, provider: str, job_id: str | None = None) -> None:
        super().__init__(
            "cancel",
            f"the {provider} API has no way to cancel a job: it runs to its end (and is "
            "charged); nothing was sent",
            provider=provider,
        )
        self.job_id = job_id


class TransportError(PrismAsyncError):
    """The HTTP exchange failed: no usable response arrived."""


class ConnectError(TransportError):
    """Nothing was sent: the connection could not be made (or no pooled connection came
    free in time), or the exchange failed before any byte of the request was written.
    Sending the same request again can never pay twice."""


class TransportTimeout(TransportError, TimeoutError):
    """Sent, but the response did not arrive (whole) in time."""


class SubmissionOutcomeUnknown(PrismAsyncError):
    """A paid create may have reached the API, and no definitive answer came back.

    A job may exist and be charged for. Sending the request again under a new idempotency
    key (or, without one, at all) may pay twice: check with the provider first, or replay
    it with the same ``idempotency_key`` where the provider honours one.

    Args:
        message: What happened, for a person.
        idempotency_key: The key the create was sent with (replay with this one).
        request: A summary of the create (method and URL; never a credential).
        cause: The error of the last attempt (also ``__cause__``).
    """

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str | None = None,
        request: str | None = None,
        cause: BaseException | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider)
        self.idempotency_key = idempotency_key
        self.request = request
        self.cause = cause

    def __str__(self) -> str:
        parts = [super().__str__()]
        if self.request:
            parts.append(f"request: {self.request}")
        if self.idempotency_key:
            parts.append(f"idempotency key: {self.idempotency_key}")
        if self.cause is not None:
            parts.append(f"last error: {self.cause}")
        return "; ".join(parts)


class JournalError(PrismAsyncError):
    """The batch journal cannot be opened or written. The message is one line that names
    the file and the reason."""


class JournalLockedError(JournalError):
    """Another live run holds the journal: one run per journal file, never two."""


class APIStatusError(PrismAsyncError):
    """The API answered with an error status.

    Attributes:
        status_code: The HTTP status.
        code: The API's machine-readable error code, where it gave one
            (``insufficient_credits``, ``concurrency_limit_reached``, ...).
        body: The decoded error body (JSON value or text), for inspection.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        body: object = None,
        provider: str | None = None,
        job_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, job_id=job_id, request_id=request_id)
        self.status_code = status_code
        self.code = code
        self.body = body

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"HTTP {self.status_code}{code}: {super().__str__()}"


class RedirectError(APIStatusError):
    """3xx on an API route. Never followed: an API credential must not reach another
    origin, and a create body must not be sent again elsewhere. ``location`` is the target.
    """

    def __init__(self, message: str, *, location: str | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.location = location


class BadRequestError(APIStatusError):
    """400: the API refused the request's content."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, invalid, expired or revoked."""


class InsufficientCreditsError(APIStatusError):
    """402: not enough balance or credits, or a plan limit."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this (scope, or another owner's job)."""


class NotFoundError(APIStatusError):
    """404: no such job, template or resource."""


class ConflictError(APIStatusError):
    """409: the resource is in a state that does not allow this."""


class UnprocessableError(APIStatusError):
    """422: well-formed but unusable (Prism's invalid_template)."""


class RateLimitedError(APIStatusError):
    """429: a rate limit (or, as :class:`ConcurrencyLimitError`, the plan's concurrency
    limit). ``retry_after`` is in seconds, where the API said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ConcurrencyLimitError(RateLimitedError):
    """429 because the plan's concurrency limit is reached: as many jobs as the plan allows
    are still running, so the request was refused (and not charged). Asking faster does not
    help: a slot frees when one of the account's jobs ends. The engine's submit waits for
    that (one waiter at a time) instead of raising this at once.

    ``code`` is the API's code, where it gave one (``concurrency_limit_reached``).
    """

    #: The error code the APIs give this 429; :func:`status_error_class`'s callers (the
    #: provider kit's ``api_error``) read a 429 carrying it as this class.
    CODE = "concurrency_limit_reached"


class ServerError(APIStatusError):
    """5xx: the API failed."""


class ServiceUnavailableError(ServerError):
    """503: the service is paused or cannot tell the outcome."""


class ProviderResponseError(PrismAsyncError):
    """A response did not have the shape the API documents.

    Args:
        field: The path of the value that did not fit (``data.output.video.url``), if known.
    """

    def __init__(self, message: str, *, field: str | None = None, **kwargs: str | None) -> None:
        if field:
            message = f"{message} (at {field})"
        super().__init__(message, **kwargs)
        self.field = field


class WebhookVerificationError(PrismAsyncError):
    """A webhook delivery failed verification (bad signature, stale timestamp, bad body).
    The message says which check failed, never the secret."""


class GenerationFailed(PrismAsyncError):
    """The job ended failed or canceled. ``result`` holds the whole terminal result."""

    def __init__(self, result: GenerationResult) -> None:
        failure = result.failure
        what = f"{failure.kind.value} {failure.code or ''}".strip() if failure else "no reason"
        reason = f": {failure.message}" if failure and failure.message else ""
        super().__init__(
            f"generation {result.status.value} ({what}){reason}",
            provider=result.provider,
            job_id=result.id,
        )
        self.result = result


class PollTimeout(PrismAsyncError, TimeoutError):
    """The wait's deadline passed before the job ended. The job itself goes on.

    ``last_result`` is the last status seen, or None if none was fetched.
    """

    def __init__(
        self,
        message: str,
        *,
        last_result: GenerationResult | None,
        provider: str | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, job_id=job_id)
        self.last_result = last_result


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    if status_code >= 500:
        return ServerError
    if 300 <= status_code < 400:
        return RedirectError
    return APIStatusError
