"""The exception tree: status mapping, context in messages, the stdlib bases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async import _errors as errors
from prism_async._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectError,
    GenerationFailed,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    PollTimeout,
    PrismAsyncError,
    ProviderResponseError,
    RateLimitedError,
    RequestValidationError,
    ServerError,
    ServiceUnavailableError,
    TransportError,
    TransportTimeout,
    UnprocessableError,
    UnsupportedRequestError,
    status_error_class,
)
from prism_async._results import Failure, FailureKind, GenerationResult, JobStatus


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientCreditsError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServiceUnavailableError),
        (504, ServerError),
        (599, ServerError),
        (405, APIStatusError),
        (413, APIStatusError),
        (418, APIStatusError),
    ],
)
def test_status_maps_to_its_error_class(status: int, cls: type[APIStatusError]) -> None:
    assert status_error_class(status) is cls


@given(st.integers(min_value=500, max_value=599))
def test_every_5xx_is_a_server_error(status: int) -> None:
    assert issubclass(status_error_class(status), ServerError)


@given(st.integers(min_value=400, max_value=499))
def test_every_4xx_is_an_api_status_error_but_not_a_server_error(status: int) -> None:
    cls = status_error_class(status)
    assert issubclass(cls, APIStatusError)
    assert not issubclass(cls, ServerError)


def test_every_public_error_is_a_prism_async_error() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, PrismAsyncError), name


def test_message_carries_provider_job_and_request_ids() -> None:
    error = PrismAsyncError("boom", provider="nanogpt", job_id="vid_1", request_id="req-9")
    assert str(error) == "boom (provider=nanogpt, job=vid_1, request=req-9)"
    assert "req-9" in repr(error)
    assert repr(error).startswith("PrismAsyncError(")


def test_message_leaves_out_unknown_ids() -> None:
    assert str(PrismAsyncError("boom")) == "boom"
    assert str(PrismAsyncError("boom", job_id="j")) == "boom (job=j)"


def test_api_status_error_names_status_code_and_ids() -> None:
    error = RateLimitedError(
        "slow down",
        retry_after=12.0,
        status_code=429,
        code="concurrency_limit_reached",
        body={"error": "x"},
        provider="lipsync",
        job_id="gen_1",
        request_id="r-1",
    )
    text = str(error)
    assert text.startswith("HTTP 429 concurrency_limit_reached: slow down")
    assert "provider=lipsync" in text
    assert "job=gen_1" in text
    assert "request=r-1" in text
    assert error.retry_after == 12.0
    assert error.code == "concurrency_limit_reached"
    assert error.body == {"error": "x"}
    assert isinstance(error, APIStatusError)


def test_api_status_error_without_a_code() -> None:
    assert str(NotFoundError("no such job", status_code=404)) == "HTTP 404: no such job"


def test_transport_timeout_is_a_timeout_error() -> None:
    assert isinstance(TransportTimeout("slow"), TimeoutError)
    assert isinstance(TransportTimeout("slow"), TransportError)
    assert isinstance(ConnectError("refused"), TransportError)
    assert not isinstance(ConnectError("refused"), TimeoutError)


def _result(status: JobStatus, failure: Failure | None = None) -> GenerationResult:
    return GenerationResult(provider="nanogpt", id="vid_1", status=status, failure=failure)


def test_poll_timeout_is_a_timeout_error_carrying_the_last_result() -> None:
    last = _result(JobStatus.RUNNING)
    error = PollTimeout("late", last_result=last, provider="nanogpt", job_id="vid_1")
    assert isinstance(error, TimeoutError)
    assert isinstance(error, PrismAsyncError)
    assert error.last_result is last
    assert "job=vid_1" in str(error)
    with pytest.raises(TimeoutError):
        raise error


def test_request_validation_error_is_a_value_error_naming_the_field() -> None:
    error = RequestValidationError("aspect_ratio", "'5:4' is not allowed", provider="nanogpt")
    assert isinstance(error, ValueError)
    assert error.field == "aspect_ratio"
    assert error.reason == "'5:4' is not allowed"
    assert str(error).startswith("aspect_ratio: '5:4' is not allowed")
    assert "provider=nanogpt" in str(error)
    unsupported = UnsupportedRequestError("end_image", "no end frame")
    assert isinstance(unsupported, RequestValidationError)
    assert isinstance(unsupported, ValueError)
    assert unsupported.field == "end_image"


def test_provider_response_error_names_the_field() -> None:
    error = ProviderResponseError("bad shape", field="data.status", provider="p", job_id="j")
    assert error.field == "data.status"
    assert str(error) == "bad shape (at data.status) (provider=p, job=j)"


def test_generation_failed_describes_the_failure_and_keeps_the_result() -> None:
    failure = Failure(kind=FailureKind.MODERATION, code="nsfw", message="flagged")
    result = _result(JobStatus.FAILED, failure)
    error = GenerationFailed(result)
    assert error.result is result
    assert (
        str(error) == "generation failed (moderation nsfw): flagged (provider=nanogpt, job=vid_1)"
    )


def test_generation_failed_without_a_failure_says_so() -> None:
    error = GenerationFailed(_result(JobStatus.CANCELED))
    assert str(error).startswith("generation canceled (no reason)")


def test_service_unavailable_is_a_server_error() -> None:
    assert issubclass(ServiceUnavailableError, ServerError)
    assert issubclass(UnprocessableError, APIStatusError)
