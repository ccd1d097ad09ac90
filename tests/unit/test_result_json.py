"""One converter: a GenerationResult to plain JSON types and back, losing nothing but raw."""

from __future__ import annotations

import json
from datetime import timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from prism_async._results import (
    Cost,
    CostUnit,
    Failure,
    FailureKind,
    GenerationResult,
    JobStatus,
    Output,
)

text = st.text(max_size=20)
times = st.none() | st.datetimes(timezones=st.just(timezone.utc))
seconds = st.none() | st.floats(0, 1e6, allow_nan=False)

outputs = st.builds(
    Output, url=text, content_type=st.none() | text, duration=seconds, expires_at=times
)
failures = st.builds(
    Failure,
    kind=st.sampled_from(FailureKind),
    code=st.none() | text,
    message=st.none() | text,
    retryable=st.booleans(),
)
costs = st.builds(
    Cost,
    amount=st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False),
    unit=st.sampled_from(CostUnit),
    estimated=st.booleans(),
)
results = st.builds(
    GenerationResult,
    provider=text,
    id=text,
    status=st.sampled_from(JobStatus),
    raw_status=st.none() | text,
    outputs=st.lists(outputs, max_size=3).map(tuple),
    failure=st.none() | failures,
    progress=seconds,
    eta_seconds=seconds,
    cost=st.none() | costs,
    created_at=times,
    completed_at=times,
    raw=st.dictionaries(text, text, max_size=2),
)


@given(results)
def test_a_result_survives_json_and_back(result: GenerationResult) -> None:
    text_form = json.dumps(result.to_dict())  # plain JSON types only
    assert GenerationResult.from_dict(json.loads(text_form)) == result
    assert GenerationResult.from_dict(json.loads(text_form)).raw == {}  # the escape hatch stays out


def test_failure_is_written_as_error_and_amounts_as_numbers() -> None:
    result = GenerationResult(
        provider="p",
        id="1",
        status=JobStatus.FAILED,
        failure=Failure(code="x"),
        cost=Cost(amount=Decimal("0.35"), unit=CostUnit.USD),
    )
    data = result.to_dict()
    assert data["error"] == {"kind": "error", "code": "x", "message": None, "retryable": False}
    assert data["cost"] == {"amount": 0.35, "unit": "USD", "estimated": False}
    assert "failure" not in data and "raw" not in data
    assert GenerationResult.from_dict(data).cost == Cost(amount=Decimal("0.35"), unit=CostUnit.USD)
