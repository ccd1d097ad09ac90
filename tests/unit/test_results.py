"""The normalized result and the job handle: round-trips, JSON form, terminal states."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
)

# Every character but surrogates, with the separators of the string form made likely.
_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(":?/&=%+# ;,é漢\U0001f3ac"), st.characters(exclude_categories=["Cs"])
    ),
    min_size=1,
)


@given(provider=_TEXT, job_id=_TEXT, extra=st.dictionaries(st.text(), st.text(), max_size=4))
def test_handle_string_form_round_trips(provider: str, job_id: str, extra: dict[str, str]) -> None:
    handle = JobHandle(provider=provider, id=job_id, extra=extra)
    parsed = JobHandle.parse(str(handle))
    assert parsed == handle
    assert parsed.provider == provider
    assert parsed.id == job_id
    assert dict(parsed.extra) == extra


@given(job_id=_TEXT)
def test_handle_for_a_plain_provider_starts_with_its_name(job_id: str) -> None:
    text = str(JobHandle(provider="nanogpt", id=job_id))
    assert text.startswith("nanogpt:")
    assert "?" not in text


def test_handle_string_form_is_readable_for_plain_values() -> None:
    handle = JobHandle(provider="nanogpt", id="vid_abc", extra={"model": "veo2-video"})
    assert str(handle) == "nanogpt:vid_abc?model=veo2-video"


def test_handle_extra_order_does_not_change_the_string_form() -> None:
    one = JobHandle(provider="p", id="1", extra={"b": "2", "a": "1"})
    two = JobHandle(provider="p", id="1", extra={"a": "1", "b": "2"})
    assert str(one) == str(two) == "p:1?a=1&b=2"
    assert hash(one) == hash(two)
    assert one == two


def test_handle_extra_values_are_kept_as_strings() -> None:
    handle = JobHandle(provider="p", id="1", extra={"n": 3})  # type: ignore[dict-item]
    assert handle.extra == {"n": "3"}


@pytest.mark.parametrize("text", ["", "nanogpt", "nanogpt:", ":vid_1", ":", "?x=1", "p:?x=1"])
def test_text_that_is_not_a_handle_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a job handle"):
        JobHandle.parse(text)


def test_result_handle_names_the_job() -> None:
    result = GenerationResult(provider="nanogpt", id="vid_1", status=JobStatus.RUNNING)
    assert result.handle == JobHandle(provider="nanogpt", id="vid_1")


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (JobStatus.QUEUED, False),
        (JobStatus.RUNNING, False),
        (JobStatus.SUCCEEDED, True),
        (JobStatus.FAILED, True),
        (JobStatus.CANCELED, True),
    ],
)
def test_only_succeeded_failed_and_canceled_are_terminal(status: JobStatus, terminal: bool) -> None:
    assert status.is_terminal is terminal
    assert GenerationResult(provider="p", id="1", status=status).is_terminal is terminal


_KEYS = {
    "provider",
    "id",
    "status",
    "raw_status",
    "outputs",
    "error",
    "progress",
    "eta_seconds",
    "cost",
    "cost_note",
    "created_at",
    "completed_at",
    "share_url",
    "segment_output",
}
_MOMENT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _full_result() -> GenerationResult:
    return GenerationResult(
        provider="nanogpt",
        id="vid_1",
        status=JobStatus.FAILED,
        raw_status="FAILED",
        outputs=(
            Output(url="https://x/1.mp4", content_type="video/mp4", duration=8.0),
            Output(url="https://x/2.mp4", expires_at=_MOMENT),
        ),
        failure=Failure(
            kind=FailureKind.MODERATION, code="nsfw", message="flagged", retryable=False
        ),
        progress=42.5,
        eta_seconds=10.0,
        cost=Cost(amount=Decimal("0.35"), unit=CostUnit.XNO, estimated=True),
        created_at=_MOMENT,
        completed_at=_MOMENT,
        raw={"data": {"status": "FAILED", "cost": Decimal("0.35")}},
    )


def test_to_dict_has_the_documented_keys_and_is_json() -> None:
    data = _full_result().to_dict()
    assert set(data) == _KEYS
    decoded = json.loads(json.dumps(data))
    assert decoded == data
    assert decoded["status"] == "failed"
    assert decoded["error"] == {
        "code": "nsfw",
        "message": "flagged",
        "kind": "moderation",
        "retryable": False,
    }
    assert decoded["cost"] == {"amount": 0.35, "unit": "XNO", "estimated": True}
    assert decoded["outputs"][0] == {
        "url": "https://x/1.mp4",
        "mime_type": "video/mp4",
        "size_bytes": None,
        "duration_s": 8.0,
        "expires_at": None,
    }
    assert decoded["outputs"][1]["expires_at"] == "2026-01-02T03:04:05+00:00"
    assert decoded["created_at"] == decoded["completed_at"] == "2026-01-02T03:04:05+00:00"


def test_to_dict_of_a_bare_result_uses_nulls() -> None:
    data = GenerationResult(provider="p", id="1", status=JobStatus.QUEUED).to_dict()
    assert set(data) == _KEYS
    assert json.loads(json.dumps(data)) == data
    assert data["outputs"] == []
    assert data["error"] is data["cost"] is data["created_at"] is None


@given(
    status=st.sampled_from(JobStatus),
    amount=st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=4),
    unit=st.sampled_from(CostUnit),
    progress=st.none() | st.floats(0, 100),
    job_id=st.text(),
)
def test_to_dict_is_always_json_serializable(
    status: JobStatus,
    amount: Decimal | None,
    unit: CostUnit,
    progress: float | None,
    job_id: str,
) -> None:
    result = GenerationResult(
        provider="p",
        id=job_id,
        status=status,
        progress=progress,
        cost=None if amount is None else Cost(amount=amount, unit=unit),
    )
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text)["status"] == status.value


def test_raw_payload_does_not_affect_equality() -> None:
    one = GenerationResult(provider="p", id="1", status=JobStatus.RUNNING, raw={"a": 1})
    two = GenerationResult(provider="p", id="1", status=JobStatus.RUNNING, raw={"b": 2})
    assert one == two


@pytest.mark.parametrize(
    ("status", "ok"),
    [(JobStatus.SUCCEEDED, True), (JobStatus.FAILED, False), (JobStatus.CANCELED, False)],
)
def test_outcome_is_ok_only_for_a_succeeded_result(status: JobStatus, ok: bool) -> None:
    handle = JobHandle(provider="p", id="1")
    result = GenerationResult(provider="p", id="1", status=status)
    assert JobOutcome(handle=handle, result=result).ok is ok


def test_outcome_with_an_error_is_not_ok() -> None:
    outcome = JobOutcome(handle=JobHandle(provider="p", id="1"), error=TimeoutError())
    assert not outcome.ok
