"""What the batch tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

from prism_async.batch import BatchOutcome


async def collect(batch: AsyncIterator[BatchOutcome]) -> dict[str, BatchOutcome]:
    """Every outcome by item key; an item reported twice fails the test."""
    outcomes: dict[str, BatchOutcome] = {}
    async for outcome in batch:
        assert outcome.key not in outcomes, f"{outcome.key} reported twice"
        outcomes[outcome.key] = outcome
    return outcomes
