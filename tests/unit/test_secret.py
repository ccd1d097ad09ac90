"""Secrets never show themselves, wherever they end up."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async._http import HttpRequest
from prism_async._secrets import Secret

KEY = "sk-live-TOP-SECRET-1234567890"


def _request(key: Secret) -> HttpRequest:
    return HttpRequest(
        method="POST",
        url="https://api.example/x",
        kind="submit",
        headers=(("Authorization", key), ("Accept", "application/json")),
        json={"prompt": "hi"},
    )


def test_secret_hides_in_repr_str_and_format() -> None:
    secret = Secret(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret):  # noqa: UP031
        assert KEY not in text
        assert "****" in text


def test_reveal_gives_the_value() -> None:
    assert Secret(KEY).reveal() == KEY


def test_secret_is_hidden_in_the_repr_of_a_request_holding_it() -> None:
    request = _request(Secret(KEY))
    assert KEY not in repr(request)
    assert KEY not in str(request)
    assert KEY not in repr(request.headers)
    assert request.header("authorization") == Secret(KEY)


def test_secret_is_hidden_in_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("sending %s with %r", _request(Secret(KEY)), Secret(KEY))
    assert KEY not in caplog.text


def test_secret_is_hidden_in_an_exception_message() -> None:
    error = ValueError(f"bad key {Secret(KEY)}", Secret(KEY))
    assert KEY not in str(error)
    assert KEY not in repr(error)


@given(st.text())
def test_no_rendering_depends_on_the_value(value: str) -> None:
    secret, other = Secret(value), Secret(KEY)
    for render in (repr, str, "{}".format):
        assert render(secret) == render(other)
        assert render(_request(secret)) == render(_request(other))
    assert secret.reveal() == value


def test_of_wraps_text_and_keeps_a_secret() -> None:
    secret = Secret(KEY)
    assert Secret.of(secret) is secret
    assert Secret.of(KEY).reveal() == KEY


def test_empty_secret_is_falsy() -> None:
    assert not Secret("")
    assert Secret("x")
