"""Choosing a proxy: URLs with credentials kept secret, the environment's variables read
with the standard library's rules, NO_PROXY, and the explicit proxy winning."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async._errors import RequestValidationError
from prism_async._proxy import ProxyChoice, parse_proxy, redact_url

ORIGIN = "http://api.example.com:8080/v1/videos?id=1"


def test_credentials_in_a_proxy_url_become_a_secret_header() -> None:
    proxy = parse_proxy("http://al%40ice:p%3Ass@proxy.corp:3128")
    assert proxy.url == "http://proxy.corp:3128"
    assert proxy.authorization is not None
    token = proxy.authorization.reveal().removeprefix("Basic ")
    assert base64.b64decode(token) == b"al@ice:p:ss"
    assert "p:ss" not in repr(proxy) and "p%3Ass" not in repr(proxy)


@given(
    user=st.text(st.characters(codec="ascii", exclude_characters=":@/?#[]%"), min_size=1),
    password=st.text(st.characters(codec="ascii", exclude_characters="@/?#[]%"), min_size=4),
)
def test_a_redacted_url_never_shows_its_password(user: str, password: str) -> None:
    url = f"http://{user}:{password}@proxy.corp:3128/x"
    assert redact_url(url) == "http://***@proxy.corp:3128/x"


@pytest.mark.parametrize(
    "url", ["socks5://u:secret-pw@h:1080", "proxy.corp:3128", "http://", "http://h:notaport"]
)
def test_a_url_that_is_not_an_http_proxy_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        parse_proxy(url)
    assert caught.value.field == "proxy"
    assert "secret-pw" not in str(caught.value)


def test_the_environment_proxy_is_chosen_by_scheme() -> None:
    choice = ProxyChoice(environ={"HTTP_PROXY": "http://p:1", "HTTPS_PROXY": "http://s:2"})
    choice.load()
    assert choice.active
    http, https = choice.for_url(ORIGIN), choice.for_url("https://api.example.com/x")
    assert http is not None and http.url == "http://p:1"
    assert https is not None and https.url == "http://s:2"


def test_a_proxy_without_a_scheme_in_the_environment_is_http() -> None:
    choice = ProxyChoice(environ={"HTTP_PROXY": "proxy.corp:3128"})
    choice.load()
    chosen = choice.for_url(ORIGIN)
    assert chosen is not None and chosen.url == "http://proxy.corp:3128"


def test_lower_case_variables_win_as_in_the_standard_library() -> None:
    choice = ProxyChoice(environ={"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:2"})
    choice.load()
    chosen = choice.for_url(ORIGIN)
    assert chosen is not None and chosen.url == "http://lower:2"


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("api.example.com", True),
        (".example.com", True),
        ("example.com", True),
        ("*", True),
        ("other.org,api.example.com:8080", True),
        ("other.org", False),
        ("", False),
    ],
)
def test_no_proxy_sends_matching_hosts_around_the_proxy(no_proxy: str, bypassed: bool) -> None:
    choice = ProxyChoice(environ={"HTTP_PROXY": "http://p:1", "NO_PROXY": no_proxy})
    choice.load()
    assert (choice.for_url(ORIGIN) is None) is bypassed


def test_an_explicit_proxy_wins_over_the_environment_and_no_proxy() -> None:
    choice = ProxyChoice("http://mine:9", environ={"HTTP_PROXY": "http://env:1", "NO_PROXY": "*"})
    choice.load()
    chosen = choice.for_url(ORIGIN)
    assert chosen is not None and chosen.url == "http://mine:9"


def test_trust_env_false_reads_nothing() -> None:
    choice = ProxyChoice(trust_env=False, environ={"HTTP_PROXY": "http://env:1"})
    choice.load()
    assert not choice.active and choice.for_url(ORIGIN) is None


def test_the_repr_never_shows_credentials() -> None:
    choice = ProxyChoice("http://bob:hunter2@proxy:1")
    assert "hunter2" not in repr(choice) and "bob" not in repr(choice)
