"""Retry-After parsing: delta-seconds and HTTP-date, and garbage that never raises."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async._retry_after import parse_retry_after

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("0", 0.0), ("1", 1.0), ("120", 120.0), (" 30 ", 30.0), ("007", 7.0), ("1.5", 1.5)],
)
def test_delta_seconds_are_read_as_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@given(st.integers(min_value=0, max_value=10**12))
def test_any_whole_number_of_seconds_round_trips(seconds: int) -> None:
    assert parse_retry_after(str(seconds), now=NOW) == float(seconds)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_absent_or_blank_header_gives_none(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


@pytest.mark.parametrize("header", ["-1", "-0.5", "nan", "inf", "-inf", "infinity", "1e400"])
def test_negative_or_non_finite_numbers_give_none(header: str) -> None:
    assert parse_retry_after(header, now=NOW) is None


def test_http_date_in_the_future_gives_the_seconds_until_it() -> None:
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", now=NOW) == 90.0


def test_http_date_in_the_past_gives_zero() -> None:
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=NOW) == 0.0


def test_http_date_without_a_zone_is_read_as_utc() -> None:
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:10 -0000", now=NOW) == 10.0


def test_http_date_with_an_offset_is_converted() -> None:
    # 13:00:05 at +01:00 is 12:00:05 UTC.
    assert parse_retry_after("Sun, 01 Mar 2026 13:00:05 +0100", now=NOW) == 5.0


def test_without_now_an_http_date_is_measured_from_the_current_time() -> None:
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    seconds = parse_retry_after(format_datetime(soon, usegmt=True))
    assert seconds is not None
    assert 3000 < seconds <= 3600


@given(
    now=st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(timezone.utc),
    ),
    ahead=st.integers(min_value=0, max_value=10 * 365 * 24 * 3600),
)
def test_any_future_http_date_round_trips_to_the_seconds_until_it(
    now: datetime, ahead: int
) -> None:
    when = (now + timedelta(seconds=ahead)).replace(microsecond=0)
    if when < now:  # the date form has whole seconds only
        when += timedelta(seconds=1)
    header = format_datetime(when, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx((when - now).total_seconds())


_DIGITISH = st.characters(categories=("Nd", "No", "Nl", "Zs", "Po", "Pd"))


@given(st.one_of(st.text(), st.text(alphabet=_DIGITISH), st.from_regex(r"[0-9.e+-]{1,12}")))
def test_garbage_never_raises(header: str) -> None:
    value = parse_retry_after(header, now=NOW)
    assert value is None or value >= 0


@pytest.mark.parametrize(
    "header",
    [
        "soon",
        "Mon, 99 Foo 2020",
        "0x10",
        "\u00b2",
        "1 2",
        "12s",
        "Tomorrow GMT",
        "\x00",
        "1_000",
        "+5",
    ],
)
def test_unreadable_values_give_none(header: str) -> None:
    assert parse_retry_after(header, now=NOW) is None


def test_non_ascii_digits_are_not_delta_seconds() -> None:
    # RFC 9110 delta-seconds are ASCII digits only; "²" once crashed int().
    assert parse_retry_after("\u0661\u0662", now=NOW) is None
