"""The verdict on a failed submit: the error as it is, or outcome-unknown around it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async._engine._create import CreateWatch
from prism_async._errors import (
    ConnectError,
    PrismAsyncError,
    ProviderResponseError,
    SubmissionOutcomeUnknown,
    status_error_class,
)
from prism_async._http import HttpRequest, HttpResponse

CREATE = HttpRequest(method="POST", url="https://api.example/v2/generate?x=1", kind="submit")


def watch(*statuses: int) -> CreateWatch:
    create = CreateWatch(provider="p", idempotency_key="k")
    create.attempted(CREATE)
    for status in statuses:
        create.answer(HttpResponse(status=status))
    return create


def test_a_create_never_answered_keeps_its_error() -> None:
    error = ConnectError("cannot connect")
    assert watch().verdict(error) is error


@given(st.integers(300, 499))
def test_a_refusal_keeps_its_error(status: int) -> None:
    error = status_error_class(status)("refused", status_code=status)
    assert watch(status).verdict(error) is error


@given(st.integers(500, 599) | st.integers(200, 299))
def test_a_5xx_or_an_unreadable_success_is_outcome_unknown(status: int) -> None:
    error: PrismAsyncError = ProviderResponseError("bad body")
    verdict = watch(status).verdict(error)
    assert isinstance(verdict, SubmissionOutcomeUnknown)
    assert verdict.cause is error and verdict.idempotency_key == "k"
    assert verdict.request == "POST https://api.example/v2/generate"  # no query string


@given(st.integers(500, 599), st.integers(300, 499))
def test_a_refusal_after_a_5xx_does_not_free_the_create(first: int, then: int) -> None:
    error = status_error_class(then)("refused", status_code=then)
    assert isinstance(watch(first, then).verdict(error), SubmissionOutcomeUnknown)


def test_an_outcome_unknown_from_the_transport_gets_the_provider_and_key() -> None:
    error = SubmissionOutcomeUnknown("lost")
    verdict = watch().verdict(error)
    assert verdict is error
    assert (error.provider, error.idempotency_key) == ("p", "k")


@pytest.mark.anyio
async def test_before_create_runs_once_however_many_tries() -> None:
    calls = []

    async def note() -> None:
        calls.append(1)

    create = CreateWatch(provider="p", idempotency_key=None, before_create=note)
    for _ in range(3):
        await create.before_send()
    assert calls == [1] and create.noted
