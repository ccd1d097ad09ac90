"""The shared wire layer: timestamps, converters, error paths, status tables."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async._errors import ProviderResponseError
from prism_async._results import JobStatus
from prism_async._wire import StatusTable, make_converter, parse_datetime, structure, wire

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05+00:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-01T22:04:05-05:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.5Z", datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        ("2026-01-02T03:04:05.123Z", datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)),
        ("2026-01-02T03:04:05.123456789Z", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2026-01-02T03:04:05.Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (" 2026-01-02T03:04:05Z ", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_iso_timestamps_are_read_as_aware_datetimes(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_iso_timestamp_without_a_zone_is_taken_as_utc() -> None:
    assert parse_datetime("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1767225600000, datetime(2026, 1, 1, tzinfo=UTC)),
        (1767225600250, datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
        (1767225600000.0, datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_numbers_are_read_as_epoch_milliseconds(value: float, expected: datetime) -> None:
    assert parse_datetime(value) == expected


@pytest.mark.parametrize("value", [True, False, None, [], {}, "yesterday", "2026-13-01T00:00:00Z"])
def test_values_that_are_not_timestamps_are_refused(value: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError is the contract
        parse_datetime(value)


@given(
    moment=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1)),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    digits=st.integers(min_value=0, max_value=9),
    fraction=st.integers(min_value=0, max_value=999_999_999),
    zulu=st.booleans(),
)
def test_any_iso_timestamp_with_0_to_9_fraction_digits_is_read(
    moment: datetime, offset_minutes: int, digits: int, fraction: int, zulu: bool
) -> None:
    zone = UTC if zulu else timezone(timedelta(minutes=offset_minutes))
    moment = moment.replace(microsecond=0, tzinfo=zone)
    frac = str(fraction).zfill(9)[:digits]
    suffix = "Z" if zulu else moment.isoformat()[19:]
    text = f"{moment.isoformat()[:19]}.{frac}{suffix}" if digits else moment.isoformat()
    if zulu and not digits:
        text = text.replace("+00:00", "Z")
    expected = moment + timedelta(microseconds=int((frac + "000000")[:6]))
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == zone.utcoffset(None)


@given(st.integers(min_value=0, max_value=4_000_000_000_000))
def test_any_epoch_millisecond_count_round_trips(millis: int) -> None:
    parsed = parse_datetime(millis)
    assert parsed.tzinfo is not None
    back = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    assert abs(back / timedelta(milliseconds=1) - millis) < 1


# A small wire model, in the style providers write them.


@attrs.frozen
class _Video:
    url: str


@attrs.frozen
class _Job:
    run_id: str = wire("runId")
    created_at: datetime | None = wire("createdAt", default=None)
    cost: Decimal | None = None
    video: _Video | None = None
    videos: tuple[_Video, ...] = ()


CONVERTER = make_converter()


def test_converter_applies_wire_renames_and_hooks() -> None:
    job = CONVERTER.structure(
        {
            "runId": "vid_1",
            "createdAt": "2026-01-02T03:04:05Z",
            "cost": 0.35,
            "video": {"url": "https://x/v.mp4"},
            "videos": [{"url": "a"}, {"url": "b"}],
        },
        _Job,
    )
    assert job == _Job(
        run_id="vid_1",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        cost=Decimal("0.35"),
        video=_Video(url="https://x/v.mp4"),
        videos=(_Video(url="a"), _Video(url="b")),
    )


def test_money_is_read_exactly_as_decimal() -> None:
    assert CONVERTER.structure({"runId": "x", "cost": 0.1}, _Job).cost == Decimal("0.1")
    assert CONVERTER.structure({"runId": "x", "cost": "12.5"}, _Job).cost == Decimal("12.5")


def test_converter_ignores_unknown_keys() -> None:
    job = CONVERTER.structure(
        {"runId": "vid_1", "brandNewField": {"deep": [1, 2]}, "video": {"url": "u", "x": 1}},
        _Job,
    )
    assert job.run_id == "vid_1"
    assert job.video == _Video(url="u")


def test_python_attribute_name_is_not_read_from_the_wire() -> None:
    with pytest.raises(ProviderResponseError, match="runId"):
        structure(CONVERTER, {"run_id": "vid_1"}, _Job, provider="p")


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({}, ".runId"),
        ({"runId": "x", "createdAt": "not a date"}, ".createdAt"),
        ({"runId": "x", "cost": "lots"}, ".cost"),
        ({"runId": "x", "cost": True}, ".cost"),
        ({"runId": "x", "video": {}}, ".video.url"),
        ({"runId": "x", "video": 5}, ".video"),
        ({"runId": "x", "videos": [{"url": "a"}, {}]}, ".videos[1].url"),
    ],
)
def test_structure_error_names_the_wire_field_that_did_not_fit(
    payload: dict[str, object], path: str
) -> None:
    with pytest.raises(ProviderResponseError) as caught:
        structure(CONVERTER, payload, _Job, provider="nanogpt", job_id="vid_9", request_id="r-1")
    error = caught.value
    assert f"@ {path}" in str(error)
    assert (error.provider, error.job_id, error.request_id) == ("nanogpt", "vid_9", "r-1")
    assert "vid_9" in str(error)
    assert "r-1" in str(error)


@pytest.mark.parametrize("payload", [None, "text", 3, [1, 2]])
def test_structure_of_a_non_object_raises_provider_response_error(payload: object) -> None:
    with pytest.raises(ProviderResponseError, match="unexpected response shape"):
        structure(CONVERTER, payload, _Job, provider="p")


TABLE = StatusTable(
    "demo",
    {"in_queue": JobStatus.QUEUED, "processing": JobStatus.RUNNING, "done": JobStatus.SUCCEEDED},
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("IN_QUEUE", JobStatus.QUEUED),
        ("in_queue", JobStatus.QUEUED),
        ("In_Queue", JobStatus.QUEUED),
        (" processing ", JobStatus.RUNNING),
        ("DONE", JobStatus.SUCCEEDED),
    ],
)
def test_status_table_is_case_insensitive(raw: str, expected: JobStatus) -> None:
    assert TABLE.normalize(raw) is expected


@pytest.mark.parametrize("raw", ["exploded", "", None, "COMPLETED"])
def test_unknown_status_is_running_with_a_warning(
    raw: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="prism_async.providers"):
        assert TABLE.normalize(raw) is JobStatus.RUNNING
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "demo" in warnings[0].getMessage()
    assert repr(raw) in warnings[0].getMessage()


def test_known_status_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="prism_async.providers"):
        TABLE.normalize("DONE")
    assert not caplog.records
