"""Never pay twice, never lose a paid job: outages, lost answers, pool waits, full journals.

Each test counts creates on the emulator, which is the truth about what was paid for.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from prism_async import (
    Client,
    ConnectError,
    EngineConfig,
    Media,
    PollPolicy,
    SubmissionOutcomeUnknown,
    TransportConfig,
    VideoRequest,
)
from prism_async._errors import JournalError, RequestValidationError
from prism_async._results import GenerationResult, JobHandle, JobStatus
from prism_async.batch import (
    BatchItem,
    BatchOutcome,
    ItemState,
    Journal,
    JournalEntry,
    SQLiteJournal,
    run_batch,
)
from prism_async.providers.lipsync import AudioTrack, LipsyncProvider, LipsyncRequest
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.providers.prism import PrismProvider
from prism_async.testing import EmulatorServer, Fault, FaultKind
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests.conftest import FAST_RETRIES
from tests.integration._batches import collect

pytestmark = pytest.mark.anyio

QUICK = EngineConfig(poll=PollPolicy(first_delay=0.05, min_interval=0.05, max_interval=0.1))


def lipsync_request(n: int = 0) -> LipsyncRequest:
    return LipsyncRequest(
        model="lipsync-2",
        video=Media.from_url(f"https://a.example/face-{n}.mp4"),
        audio=[AudioTrack(audio=Media.from_url(f"https://a.example/voice-{n}.wav"))],
    )


def nano_items(count: int) -> list[BatchItem]:
    return [
        BatchItem(
            key=f"item-{n}",
            provider="nanogpt",
            request=VideoRequest(model="veo2-video", prompt=f"item-{n}"),
        )
        for n in range(count)
    ]


# --- 1. A lost create answer, then an outage (lipsync) ------------------------------------


@pytest.fixture
async def lipsync() -> AsyncIterator[tuple[LipsyncEmulator, EmulatorServer]]:
    emulator = LipsyncEmulator(queue_seconds=0.0, run_seconds=0.1)
    async with EmulatorServer([emulator]) as server:
        yield emulator, server


def lipsync_client(server: EmulatorServer, emulator: LipsyncEmulator) -> Client:
    provider = LipsyncProvider(api_key=emulator.api_key, base_url=server.base_url("lipsync"))
    return Client(provider, transport_config=FAST_RETRIES, config=QUICK)


async def test_a_lost_create_answer_then_an_outage_is_outcome_unknown_not_a_connect_error(
    lipsync: tuple[LipsyncEmulator, EmulatorServer],
) -> None:
    emulator, server = lipsync
    # The create is carried out, its answer lost, and every retry then finds no server.
    emulator.faults.inject("create", Fault(kind=FaultKind.LOSE_RESPONSE, outage=30.0))
    async with lipsync_client(server, emulator) as client:
        with pytest.raises(SubmissionOutcomeUnknown) as caught:
            await client.submit(lipsync_request(), idempotency_key="key-" + "1" * 28)
        error = caught.value
        assert error.provider == "lipsync"
        assert error.idempotency_key == "key-" + "1" * 28
        assert isinstance(error.cause, ConnectError)  # the last try's error, kept
        assert "may" in str(error) and "/v2/generate" in str(error)
        await server.come_up()
        # Replayed with the same key, the API answers with the job it already made.
        (handle,) = await client.submit(lipsync_request(), idempotency_key="key-" + "1" * 28)
        result = await client.wait(handle, timeout=30)
    assert result.status is JobStatus.SUCCEEDED
    assert emulator.creates == 1


async def test_a_batch_resumed_after_an_outage_replays_each_create_with_its_journaled_key(
    lipsync: tuple[LipsyncEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emulator, server = lipsync
    items = [
        BatchItem(key=f"lip-{n}", provider="lipsync", request=lipsync_request(n)) for n in range(6)
    ]
    emulator.faults.inject("create", Fault(kind=FaultKind.LOSE_RESPONSE, outage=30.0))
    async with SQLiteJournal(tmp_path / "j.sqlite") as journal:
        async with lipsync_client(server, emulator) as client:
            first = await collect(run_batch(client, items, journal=journal, concurrency=1))
        assert not any(o.ok for o in first.values())
        lost = [k for k, o in first.items() if isinstance(o.error, SubmissionOutcomeUnknown)]
        assert lost, "the lost create is reported as outcome-unknown"
        for key in lost:
            entry = await journal.lookup(key)
            assert entry is not None and entry.state is ItemState.SUBMITTING
        await server.come_up()
        async with lipsync_client(server, emulator) as client:
            second = await collect(run_batch(client, items, journal=journal, concurrency=1))
    assert all(o.ok for o in second.values()), {k: o.error for k, o in second.items()}
    assert emulator.creates == len(items)  # one generation per item: none paid twice


# --- 4. A create answer that times out, for single calls (Prism, NanoGPT) ------------------


async def test_a_nanogpt_create_whose_answer_is_lost_raises_outcome_unknown() -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.1, balance=Decimal(100))
    emulator.faults.inject("generate", Fault(kind=FaultKind.LOSE_RESPONSE))
    async with EmulatorServer([emulator]) as server:
        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
        async with Client(provider, transport_config=FAST_RETRIES) as client:
            with pytest.raises(SubmissionOutcomeUnknown) as caught:
                await client.generate(VideoRequest(model="veo2-video", prompt="x"))
    assert caught.value.provider == "nanogpt"
    assert caught.value.idempotency_key is None  # NanoGPT honours none: never replay it
    assert emulator.creates == 1  # the job exists; the caller is told so


async def test_a_prism_create_whose_answer_times_out_raises_outcome_unknown() -> None:
    emulator = PrismEmulator(queue_seconds=0.0, run_seconds=0.1)
    emulator.faults.inject("create", Fault(kind=FaultKind.SLOW, delay=2.0))
    config = TransportConfig(total_timeout=0.5, wait_initial=0.001, wait_max=0.002)
    async with EmulatorServer([emulator]) as server:
        provider = PrismProvider(api_key=emulator.api_key, base_url=server.base_url("prism"))
        async with Client(provider, transport_config=config) as client:
            with pytest.raises(SubmissionOutcomeUnknown) as caught:
                await client.submit(VideoRequest(model="veo-3.1", prompt="x", duration=8))
            with anyio.fail_after(10):
                while emulator.creates == 0:  # the slow handler goes on after the timeout
                    await anyio.sleep(0.05)
    assert "timed out" in str(caught.value.cause)
    assert emulator.creates == 1


# --- 5. Never-sent creates are never reported uncertain -------------------------------------


async def test_a_create_that_waited_for_a_pooled_connection_in_vain_was_not_sent() -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.1, balance=Decimal(100))
    emulator.faults.inject("status", Fault(kind=FaultKind.HANG))
    config = TransportConfig(max_connections=1, connect_timeout=0.3, attempts=1, wait_initial=0.001)
    async with EmulatorServer([emulator]) as server:
        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
        client = Client(provider, transport_config=config)
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(client.get, "nanogpt:vid_held")  # holds the only connection
            await anyio.sleep(0.1)
            with pytest.raises(ConnectError):
                await client.submit(VideoRequest(model="veo2-video", prompt="x"))
            tg.cancel_scope.cancel()
    assert emulator.counts.by_route["generate"] == 0
    assert emulator.creates == 0


async def test_batch_items_that_never_got_a_connection_are_not_uncertain_and_go_later(
    tmp_path: Path,
) -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.1, balance=Decimal(100))
    items = nano_items(4)
    async with EmulatorServer([emulator]) as server:
        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
        async with SQLiteJournal(tmp_path / "j.sqlite") as journal:
            await server.go_down()
            async with Client(provider, transport_config=FAST_RETRIES, config=QUICK) as client:
                first = await collect(run_batch(client, items, journal=journal))
            assert not any(o.uncertain for o in first.values())
            assert all(isinstance(o.error, ConnectError) for o in first.values())
            await server.come_up()
            async with Client(provider, transport_config=FAST_RETRIES, config=QUICK) as client:
                second = await collect(run_batch(client, items, journal=journal))
    assert all(o.ok for o in second.values())
    assert emulator.creates == len(items)


# --- 3. The journal fails to write after a create -----------------------------------------


class FailingAfter:
    """A real SQLite journal whose disk fills up after ``writes`` successful handle writes:
    every later write fails as a full disk makes SQLite fail."""

    def __init__(self, inner: SQLiteJournal, writes: int) -> None:
        self.inner = inner
        self.path = inner.path
        self._left = writes

    def _spend(self) -> None:
        if self._left <= 0:
            raise JournalError(f"journal {self.path}: cannot write (database or disk is full)")
        self._left -= 1

    async def lookup(self, key: str) -> JournalEntry | None:
        return await self.inner.lookup(key)

    async def record_submitting(
        self, *, key: str, provider: str, fingerprint: str, idempotency_key: str
    ) -> bool:
        return await self.inner.record_submitting(
            key=key, provider=provider, fingerprint=fingerprint, idempotency_key=idempotency_key
        )

    async def record_submitted(self, key: str, handles: Sequence[JobHandle]) -> None:
        self._spend()
        await self.inner.record_submitted(key, handles)

    async def record_refused(self, key: str, error: str) -> None:
        await self.inner.record_refused(key, error)

    async def record_unsent(self, key: str, error: str) -> None:
        await self.inner.record_unsent(key, error)

    async def record_uncertain(self, key: str, error: str) -> None:
        await self.inner.record_uncertain(key, error)

    async def record_result(self, key: str, handle: JobHandle, result: GenerationResult) -> None:
        await self.inner.record_result(key, handle, result)

    async def record_download(
        self, key: str, handle: JobHandle, index: int, path: Path, size: int
    ) -> None:
        await self.inner.record_download(key, handle, index, path, size)


async def test_when_the_journal_cannot_take_a_created_job_no_create_starts_and_none_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.3, balance=Decimal(100))
    items = nano_items(12)
    async with EmulatorServer([emulator]) as server, SQLiteJournal(tmp_path / "j.sqlite") as real:
        journal = FailingAfter(real, writes=3)
        assert isinstance(journal, Journal)
        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
        outcomes: dict[str, BatchOutcome] = {}
        async with Client(provider, transport_config=FAST_RETRIES, config=QUICK) as client:
            batch = run_batch(client, items, journal=journal, concurrency=4)

            async def consume() -> None:
                async for outcome in batch:
                    outcomes[outcome.key] = outcome

            with pytest.raises(JournalError, match="disk is full"):
                await consume()
        journaled: set[str] = set()
        for item in items:
            entry = await real.lookup(item.key or "")
            if entry is not None:
                journaled.update(h.id for h in entry.handles)
    fallback = tmp_path / "j.sqlite.unrecorded.jsonl"
    lines = [json.loads(line) for line in fallback.read_text().splitlines()]
    saved = {JobHandle.parse(h).id for line in lines for h in line["handles"]}
    created = set(emulator.jobs)
    assert created, "some jobs were created"
    assert saved, "a create's handles could not be journaled"
    assert created <= journaled | saved  # every paid job is in a file
    stderr = capsys.readouterr().err
    assert all(shlex.quote(h) in stderr for line in lines for h in line["handles"])
    assert emulator.creates < len(items)  # nothing started once the journal failed
    created_ok = [o for o in outcomes.values() if o.handle is not None and o.ok]
    assert len(created_ok) == emulator.creates  # the jobs already created were awaited


# --- 6. A truncated journal -----------------------------------------------------------------


async def test_a_zero_byte_journal_is_refused_before_any_create(tmp_path: Path) -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.1, balance=Decimal(100))
    path = tmp_path / "j.sqlite"
    async with EmulatorServer([emulator]) as server:
        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
        async with SQLiteJournal(path) as journal, Client(provider, config=QUICK) as client:
            await collect(run_batch(client, nano_items(3), journal=journal))
        path.write_bytes(b"")  # truncated, as a crashed copy or a full disk leaves it
        with pytest.raises(JournalError) as caught:
            async with SQLiteJournal(path):
                pass
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    assert emulator.creates == 3


# --- 2. Two runs on one journal --------------------------------------------------------------


async def test_a_second_run_on_a_journal_in_use_is_refused_before_any_create(
    tmp_path: Path,
) -> None:
    from prism_async._errors import JournalLockedError

    path = tmp_path / "j.sqlite"
    async with SQLiteJournal(path):
        with pytest.raises(JournalLockedError) as caught:
            async with SQLiteJournal(path):
                pass
    assert "\n" not in str(caught.value)
    async with SQLiteJournal(path):  # free again once the first run closed it
        pass


# --- Refuse before paying: the download folder ----------------------------------------------


async def test_a_download_folder_that_cannot_be_written_is_refused_before_the_first_create(
    tmp_path: Path,
) -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.1, balance=Decimal(100))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    async with EmulatorServer([emulator]) as server:
        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
        async with Client(provider, config=QUICK) as client:
            with pytest.raises(RequestValidationError, match="download_dir"):
                await collect(run_batch(client, nano_items(3), download_dir=blocker / "videos"))
    assert emulator.counts.total == 0


# --- What settles a create, across retries -----------------------------------------------------


async def test_a_refused_retry_after_a_lost_answer_does_not_free_the_create(
    lipsync: tuple[LipsyncEmulator, EmulatorServer],
) -> None:
    emulator, server = lipsync
    emulator.faults.inject("create", Fault(kind=FaultKind.LOSE_RESPONSE))
    # The retry is refused (a rate limit that asks for more than the transport waits): that
    # answer is about the retry, not about the job the first try may have made.
    emulator.faults.inject("create", Fault(kind=FaultKind.STATUS, status=429, retry_after="3600"))
    async with lipsync_client(server, emulator) as client:
        with pytest.raises(SubmissionOutcomeUnknown) as caught:
            await client.submit(lipsync_request(), idempotency_key="key-" + "2" * 28)
    assert "429" in str(caught.value.cause)
    assert emulator.creates == 1


async def test_a_refusal_then_an_outage_is_a_create_never_sent() -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.1, balance=Decimal(100))
    # Refused with a short Retry-After (retried), then every retry finds no server: no try
    # was both received and left unanswered, so nothing can have been created.
    refused = Fault(kind=FaultKind.STATUS, status=429, retry_after="0", outage=30.0)
    emulator.faults.inject("generate", refused)
    async with EmulatorServer([emulator]) as server:
        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
        async with Client(provider, transport_config=FAST_RETRIES) as client:
            with pytest.raises(ConnectError):
                await client.submit(VideoRequest(model="veo2-video", prompt="x"))
    assert emulator.creates == 0


async def test_a_create_that_always_meets_an_unknown_outcome_is_sent_a_bounded_number_of_times(
    lipsync: tuple[LipsyncEmulator, EmulatorServer],
) -> None:
    emulator, server = lipsync
    emulator.faults.inject("create", Fault(kind=FaultKind.STATUS, status=503), times=100)
    async with lipsync_client(server, emulator) as client:
        with pytest.raises(SubmissionOutcomeUnknown) as caught:
            await client.submit(lipsync_request(), idempotency_key="key-" + "3" * 28)
    # The transport's tries and nothing more: no provider loop multiplies them.
    assert emulator.counts.by_route["create"] == FAST_RETRIES.attempts
    assert caught.value.idempotency_key == "key-" + "3" * 28
