"""A guard on the public API: adding or removing a name must be a deliberate change here."""

from __future__ import annotations

import importlib

import prism_async

PUBLIC = [
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


def test_public_names_are_exactly_the_guarded_list() -> None:
    assert sorted(prism_async.__all__) == PUBLIC


def test_all_is_kept_sorted_without_duplicates() -> None:
    assert list(prism_async.__all__) == sorted(set(prism_async.__all__))


def test_every_public_name_is_importable() -> None:
    module = importlib.import_module("prism_async")
    for name in prism_async.__all__:
        assert getattr(module, name, None) is not None, name
    namespace: dict[str, object] = {}
    exec("from prism_async import *", namespace)  # the star import users write
    assert set(prism_async.__all__) <= set(namespace)


def test_no_private_names_are_public() -> None:
    for name in prism_async.__all__:
        assert not name.startswith("_") or (name.startswith("__") and name.endswith("__")), name


def test_version_is_a_string() -> None:
    assert isinstance(prism_async.__version__, str)
    assert prism_async.__version__
