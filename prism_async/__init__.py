"""prism-async: an asyncio client for asynchronous video-generation APIs.

One Client, pluggable providers (``prism``, ``lipsync``, ``nanogpt``), one polling engine,
one normalized :class:`GenerationResult`.
"""

from prism_async._client import Client
from prism_async._clock import Clock, SystemClock
from prism_async._engine import EngineConfig, PollPolicy
from prism_async._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CancelNotSupported,
    ConcurrencyLimitError,
    ConflictError,
    ConnectError,
    GenerationFailed,
    InsufficientCreditsError,
    JournalError,
    JournalLockedError,
    NotFoundError,
    PermissionDeniedError,
    PollTimeout,
    PrismAsyncError,
    ProviderResponseError,
    RateLimitedError,
    RedirectError,
    RequestValidationError,
    ServerError,
    ServiceUnavailableError,
    SubmissionOutcomeUnknown,
    TransportError,
    TransportTimeout,
    UnprocessableError,
    UnsupportedRequestError,
    WebhookVerificationError,
)
from prism_async._events import JobEvent, JobFinished, JobPolled, JobStatusChanged, JobSubmitted
from prism_async._media import Media, MediaKind
from prism_async._provider import PollHint, Rate, VideoProvider
from prism_async._requests import AudioTrack, LipsyncRequest, LipsyncSegment, Speech, VideoRequest
from prism_async._results import (
    Cost,
    CostUnit,
    Failure,
    FailureKind,
    GenerationResult,
    JobHandle,
    JobOutcome,
    JobStatus,
    Output,
    SubmitReceipt,
)
from prism_async._secrets import Secret
from prism_async._transport import (
    AiohttpTransport,
    DownloadTooLarge,
    Transport,
    TransportConfig,
    http_timeout,
)

__all__ = [
    "APIStatusError",
    "AiohttpTransport",
    "AudioTrack",
    "AuthenticationError",
    "BadRequestError",
    "CancelNotSupported",
    "Client",
    "Clock",
    "ConcurrencyLimitError",
    "ConflictError",
    "ConnectError",
    "Cost",
    "CostUnit",
    "DownloadTooLarge",
    "EngineConfig",
    "Failure",
    "FailureKind",
    "GenerationFailed",
    "GenerationResult",
    "InsufficientCreditsError",
    "JobEvent",
    "JobFinished",
    "JobHandle",
    "JobOutcome",
    "JobPolled",
    "JobStatus",
    "JobStatusChanged",
    "JobSubmitted",
    "JournalError",
    "JournalLockedError",
    "LipsyncRequest",
    "LipsyncSegment",
    "Media",
    "MediaKind",
    "NotFoundError",
    "Output",
    "PermissionDeniedError",
    "PollHint",
    "PollPolicy",
    "PollTimeout",
    "PrismAsyncError",
    "ProviderResponseError",
    "Rate",
    "RateLimitedError",
    "RedirectError",
    "RequestValidationError",
    "Secret",
    "ServerError",
    "ServiceUnavailableError",
    "Speech",
    "SubmissionOutcomeUnknown",
    "SubmitReceipt",
    "SystemClock",
    "Transport",
    "TransportConfig",
    "TransportError",
    "TransportTimeout",
    "UnprocessableError",
    "UnsupportedRequestError",
    "VideoProvider",
    "VideoRequest",
    "WebhookVerificationError",
    "__version__",
    "http_timeout",
]


def __getattr__(name: str) -> str:
    # __version__ is read from the installed metadata on first use: importing
    # importlib.metadata eagerly would slow every `import prism_async` down.
    if name == "__version__":
        from prism_async._version import version

        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
