"""The batch journal is handed each submission's receipt: handles written as before, the
receipt's facts to a journal that keeps them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from prism_async import Cost, CostUnit, JobHandle, SubmitReceipt
from prism_async.batch._journal import ItemState, StateNotes

pytestmark = pytest.mark.anyio

HANDLE = JobHandle(provider="prism", id="gen_1", extra={"credits": "50"})
RECEIPT = SubmitReceipt(
    (HANDLE,),
    provider="prism",
    cost=Cost(amount=Decimal(50), unit=CostUnit.CREDITS),
    asset_ids={"gen_1": "asset_1"},
    latency_typical_s=120.0,
    latency_busy_s=240.0,
)


class Notes(StateNotes):
    def __init__(self, *, keeps: bool) -> None:
        self.stores_receipts = keeps
        self.writes: list[tuple[str, str, str | None]] = []

    async def _update(
        self, key: str, state: ItemState, *, handles: str | None = None, error: str | None = None
    ) -> None:
        self.writes.append((key, state.value, handles))

    async def _update_with_receipt(self, key: str, handles: str, receipt: str) -> None:
        self.writes.append((key, "submitted+receipt", receipt))
        self.handles = handles


async def test_a_journal_that_keeps_receipts_gets_the_receipt_json() -> None:
    notes = Notes(keeps=True)
    await notes.record_submitted("a", RECEIPT)
    ((key, what, receipt),) = notes.writes
    assert (key, what) == ("a", "submitted+receipt")
    assert receipt is not None
    assert SubmitReceipt.from_dict(json.loads(receipt)) == RECEIPT
    assert SubmitReceipt.from_dict(json.loads(receipt)).asset_ids == {"gen_1": "asset_1"}
    assert json.loads(notes.handles) == [str(HANDLE)]


@pytest.mark.parametrize("handles", [RECEIPT, [HANDLE], (HANDLE,)])
async def test_other_journals_store_the_handles_as_before(handles: object) -> None:
    notes = Notes(keeps=False)
    await notes.record_submitted("a", handles)  # type: ignore[arg-type]
    assert notes.writes == [("a", "submitted", json.dumps([str(HANDLE)]))]
