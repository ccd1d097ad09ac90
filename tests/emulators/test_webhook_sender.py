"""The emulators' shared webhook sender: real deliveries over loopback, and every fault.

Each test serves one emulator (Prism or lipsync) and a tiny aiohttp receiver that keeps
what arrives. Jobs run in virtual time unless said otherwise: with nothing else due, the
autojump moves the clock to a watched job's end, so deliveries arrive with no other
request to the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from prism_async._clock import Clock, SystemClock
from prism_async.providers import WebhookVerificationError
from prism_async.providers.lipsync import verify_signature
from prism_async.testing import EmulatorServer, VirtualClock, WebhookDelivery, WebhookSender
from prism_async.testing._jobs import SimJob
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.prism import PrismEmulator

pytestmark = pytest.mark.anyio

SIDES = ["lipsync", "prism"]
FAULTS = ["drop", "duplicate", "delay", "reorder", "corrupt"]
LIPSYNC_INPUT = [
    {"type": "video", "url": "https://media.example/face.mp4"},
    {"type": "audio", "url": "https://media.example/voice.wav"},
]


# -- the receiver ------------------------------------------------------------------------


@attrs.define
class Arrival:
    body: bytes
    headers: dict[str, str]
    at: float  # time.monotonic() when it arrived

    @property
    def payload(self) -> dict[str, Any]:
        found = json.loads(self.body)
        assert isinstance(found, dict)
        return found


@attrs.define
class Receiver:
    url: str
    arrivals: list[Arrival] = attrs.field(factory=list)


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """An aiohttp app on loopback that keeps every POST to ``/hook``."""
    arrivals: list[Arrival] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        arrivals.append(Arrival(body, dict(request.headers), time.monotonic()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Receiver(f"http://127.0.0.1:{port}/hook", arrivals)
    finally:
        await runner.cleanup()


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait, in real time, until ``condition`` holds (polls slower than the autojump)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.02)


# -- the emulators, behind one face ----------------------------------------------------


@attrs.define
class Side:
    """One emulator served on loopback, and how to make a job with a callback on it."""

    name: str
    emulator: LipsyncEmulator | PrismEmulator
    http: aiohttp.ClientSession
    base: str

    @property
    def webhooks(self) -> WebhookSender:
        return self.emulator.webhooks

    @property
    def final(self) -> str:
        return "COMPLETED" if self.name == "lipsync" else "completed"

    @property
    def stale(self) -> str:
        return "PROCESSING" if self.name == "lipsync" else "generating"

    async def start(self, url: str) -> str:
        """A job that calls ``url`` back when it ends; its id."""
        if isinstance(self.emulator, LipsyncEmulator):
            body = {"model": "lipsync-2", "input": LIPSYNC_INPUT, "webhookUrl": url}
            headers = {"x-api-key": self.emulator.api_key}
            async with self.http.post(f"{self.base}/v2/generate", json=body, headers=headers) as r:
                assert r.status == 201, await r.text()
                return str((await r.json())["id"])
        headers = {"Authorization": f"Bearer {self.emulator.api_key}"}
        async with self.http.post(
            f"{self.base}/templates/featured-stock-01/generate",
            json={"variables": {}, "webhook_url": url},
            headers=headers,
        ) as r:
            assert r.status == 200, await r.text()
            return str((await r.json())["generations"][0]["generation_id"])

    async def get(self, job_id: str) -> dict[str, Any]:
        """The job's status object, as polling shows it."""
        if isinstance(self.emulator, LipsyncEmulator):
            url = f"{self.base}/v2/generate/{job_id}"
            headers = {"x-api-key": self.emulator.api_key}
        else:
            url = f"{self.base}/generations/{job_id}"
            headers = {"Authorization": f"Bearer {self.emulator.api_key}"}
        async with self.http.get(url, headers=headers) as r:
            assert r.status == 200, await r.text()
            found = await r.json()
            assert isinstance(found, dict)
            return found

    def job(self, job_id: str) -> SimJob:
        return self.emulator.generations[job_id].job

    def end(self, job_id: str) -> float:
        job = self.job(job_id)
        return job.started + job.queue_seconds + job.run_seconds

    def genuine(self, arrival: Arrival, job_id: str) -> bool:
        """Whether a delivery is what the job's provider would have sent: signed right
        (lipsync) and about the job (both)."""
        if arrival.payload["id"] != job_id:
            return False
        if isinstance(self.emulator, LipsyncEmulator):
            try:
                verify_signature(
                    arrival.body,
                    arrival.headers.get("Sync-Signature"),
                    self.emulator.webhook_secret,
                    now=self.emulator.clock.now().timestamp(),
                )
            except WebhookVerificationError:
                return False
        return True

    async def run_job(self, receiver: Receiver) -> tuple[str, list[Arrival]]:
        """Start a job, let it end and its deliveries finish: its id and what arrived."""
        before = len(receiver.arrivals)
        job_id = await self.start(receiver.url)
        await until(lambda: self.webhooks.watched == 0)
        await self.webhooks.drain()
        return job_id, receiver.arrivals[before:]


def make(name: str, clock: Clock, **options: Any) -> LipsyncEmulator | PrismEmulator:
    if name == "lipsync":
        return LipsyncEmulator(clock=clock, concurrency_limit=10, **options)
    return PrismEmulator(clock=clock, **options)


@contextlib.asynccontextmanager
async def serving(name: str, clock: Clock | None = None, **options: Any) -> AsyncIterator[Side]:
    emulator = make(name, clock or VirtualClock(), **options)
    async with EmulatorServer([emulator]) as server, aiohttp.ClientSession() as http:
        yield Side(name, emulator, http, server.base_url(name))


# -- deliveries --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SIDES)
async def test_a_delivery_arrives_at_the_job_end_with_no_other_request(name: str) -> None:
    async with receiving() as receiver, serving(name) as side:
        job_id = await side.start(receiver.url)
        await until(lambda: len(receiver.arrivals) == 1)
        assert side.emulator.counts.total == 1  # the create, and nothing since
        (sent,) = side.webhooks.sent
        assert sent.sent_at == side.end(job_id)  # virtual time moved to the end, no further
        assert (sent.kind, sent.corrupted, sent.status, sent.error) == ("final", False, 204, None)
        arrival = receiver.arrivals[0]
        assert side.genuine(arrival, job_id)
        assert arrival.body == sent.body
        assert arrival.body == json.dumps(arrival.payload, separators=(",", ":")).encode()
        assert arrival.headers["Content-Type"] == "application/json"
        assert arrival.payload["status"] == side.final
        assert arrival.payload == await side.get(job_id)  # the object polling shows


@pytest.mark.parametrize("name", SIDES)
async def test_on_the_real_clock_a_delivery_leaves_within_50_ms_of_the_job_end(
    name: str,
) -> None:
    timing = (
        {"queue_seconds": 0.05, "run_seconds": 0.15}
        if name == "lipsync"
        else {"queue_seconds": 0.0, "run_seconds": 0.2}
    )
    async with receiving() as receiver, serving(name, clock=SystemClock(), **timing) as side:
        job_id = await side.start(receiver.url)
        await until(lambda: len(receiver.arrivals) == 1)
        lag = receiver.arrivals[0].at - side.end(job_id)  # SystemClock is time.monotonic
        assert 0 <= lag < 0.05
        assert side.emulator.counts.total == 1
        assert receiver.arrivals[0].payload["status"] == side.final


async def test_a_lipsync_delivery_verifies_with_the_secret_given_and_no_other() -> None:
    async with (
        receiving() as receiver,
        serving("lipsync", webhook_secret="whsec_test_secret") as side,
    ):
        assert isinstance(side.emulator, LipsyncEmulator)
        assert side.emulator.webhook_secret == "whsec_test_secret"
        job_id, (arrival,) = await side.run_job(receiver)
        header = arrival.headers["Sync-Signature"]
        now = side.emulator.clock.now().timestamp()
        signed_at = verify_signature(arrival.body, header, "whsec_test_secret", now=now)
        assert signed_at == side.webhooks.sent[0].timestamp == int(now)
        with pytest.raises(WebhookVerificationError, match="does not match"):
            verify_signature(arrival.body, header, "whsec_emulator", now=now)
        assert arrival.payload["id"] == job_id


async def test_a_canceled_lipsync_generation_is_delivered_at_once() -> None:
    async with receiving() as receiver, serving("lipsync", queue_seconds=100.0) as side:
        job_id = await side.start(receiver.url)
        key = {"x-api-key": side.emulator.api_key}
        async with side.http.post(f"{side.base}/v2/generate/{job_id}/cancel", headers=key) as r:
            assert r.status == 200
        await until(lambda: len(receiver.arrivals) == 1)
        assert receiver.arrivals[0].payload["status"] == "CANCELED"
        assert side.webhooks.sent[0].sent_at == 0.0  # the clock never moved


@pytest.mark.parametrize("name", SIDES)
async def test_jobs_without_a_callback_never_move_virtual_time(name: str) -> None:
    clock = VirtualClock()
    async with serving(name, clock=clock) as side:
        if isinstance(side.emulator, LipsyncEmulator):
            body = {"model": "lipsync-2", "input": LIPSYNC_INPUT}
            headers = {"x-api-key": side.emulator.api_key}
            async with side.http.post(f"{side.base}/v2/generate", json=body, headers=headers) as r:
                assert r.status == 201
        else:
            headers = {"Authorization": f"Bearer {side.emulator.api_key}"}
            async with side.http.post(
                f"{side.base}/templates/featured-stock-01/generate",
                json={"variables": {}},
                headers=headers,
            ) as r:
                assert r.status == 200
        await asyncio.sleep(0.05)
        assert clock.monotonic() == 0.0
        assert clock.sleepers == 0
        assert side.webhooks.watched == 0


@pytest.mark.parametrize("name", SIDES)
async def test_timings_changed_behind_the_emulators_back_are_seen_by_the_rescan(
    name: str,
) -> None:
    clock = VirtualClock(autojump_threshold=None)  # time moves by hand only
    async with receiving() as receiver, serving(name, clock=clock) as side:
        job_id = await side.start(receiver.url)
        job = side.job(job_id)
        job.queue_seconds, job.run_seconds = 0.0, 1.0  # sooner than the end it awaits
        clock.advance(2)
        await until(lambda: len(receiver.arrivals) == 1, seconds=3)
        assert receiver.arrivals[0].payload["status"] == side.final


# -- faults ------------------------------------------------------------------------------


def expect_faulted(side: Side, fault: str, job_id: str, arrivals: list[Arrival]) -> None:
    """What arrives for a job that ``fault`` applied to."""
    webhooks = side.webhooks
    mine = [d for d in webhooks.sent if d.job_id == job_id]
    if fault == "drop":
        assert arrivals == []
        assert mine == []
        assert [d.job_id for d in webhooks.dropped][-1] == job_id
        assert webhooks.dropped[-1].error == "dropped"
        return
    if fault == "duplicate":
        first, second = arrivals
        assert side.genuine(first, job_id)
        assert first.body == second.body
        assert _signature(first) == _signature(second)
        assert [d.kind for d in mine] == ["final", "duplicate"]
        return
    if fault == "delay":
        (arrival,) = arrivals
        assert side.genuine(arrival, job_id)
        (sent,) = mine
        assert sent.sent_at == side.end(job_id) + webhooks.delay_seconds
        return
    if fault == "reorder":
        final, stale = arrivals
        assert side.genuine(final, job_id)
        assert side.genuine(stale, job_id)  # signed right: only out of order
        assert final.payload["status"] == side.final
        assert stale.payload["status"] == side.stale
        assert final.at <= stale.at
        assert [d.kind for d in mine] == ["final", "stale"]
        return
    assert fault == "corrupt"
    (arrival,) = arrivals
    assert not side.genuine(arrival, job_id)
    (sent,) = mine
    assert sent.corrupted
    if side.name == "lipsync":
        assert arrival.payload["id"] == job_id
        assert arrival.payload["status"] == "FAILED"  # flipped after signing
        with pytest.raises(WebhookVerificationError, match="does not match"):
            verify_signature(arrival.body, _signature(arrival), "whsec_emulator", tolerance=1e9)
    else:
        assert arrival.payload["id"] != job_id  # another, unknown, generation
        assert arrival.payload["id"] not in side.emulator.generations
        assert arrival.payload["status"] == "completed"


def expect_clean(side: Side, job_id: str, arrivals: list[Arrival]) -> None:
    (arrival,) = arrivals
    assert side.genuine(arrival, job_id)
    assert arrival.payload["status"] == side.final
    (sent,) = [d for d in side.webhooks.sent if d.job_id == job_id]
    assert sent.sent_at == side.end(job_id)
    assert (sent.kind, sent.corrupted) == ("final", False)


def _signature(arrival: Arrival) -> str | None:
    return arrival.headers.get("Sync-Signature")


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", SIDES)
async def test_a_counted_fault_applies_to_the_next_jobs_only(name: str, fault: str) -> None:
    async with receiving() as receiver, serving(name) as side:
        webhooks = side.webhooks
        webhooks.delay_seconds = 10.0
        setattr(webhooks, f"{fault}_next", 1)
        job_id, arrivals = await side.run_job(receiver)
        expect_faulted(side, fault, job_id, arrivals)
        assert getattr(webhooks, f"{fault}_next") == 0
        job_id, arrivals = await side.run_job(receiver)
        expect_clean(side, job_id, arrivals)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", SIDES)
async def test_an_always_on_fault_applies_to_every_job(name: str, fault: str) -> None:
    async with receiving() as receiver, serving(name) as side:
        webhooks = side.webhooks
        setattr(webhooks, fault, True)
        setattr(webhooks, f"{fault}_next", 1)  # left untouched while always on
        for _ in range(2):
            job_id, arrivals = await side.run_job(receiver)
            expect_faulted(side, fault, job_id, arrivals)
        assert getattr(webhooks, f"{fault}_next") == 1
        setattr(webhooks, fault, False)
        setattr(webhooks, f"{fault}_next", 0)
        job_id, arrivals = await side.run_job(receiver)
        expect_clean(side, job_id, arrivals)


@pytest.mark.parametrize("name", SIDES)
async def test_a_delayed_delivery_waits_on_the_emulators_clock(name: str) -> None:
    clock = VirtualClock(autojump_threshold=None)  # time moves by hand only
    async with receiving() as receiver, serving(name, clock=clock) as side:
        side.webhooks.delay = True
        side.webhooks.delay_seconds = 30.0
        job_id = await side.start(receiver.url)
        clock.advance(side.end(job_id))
        await until(lambda: side.webhooks.watched == 0)
        await until(lambda: clock.sleepers == 1)  # the delivery, waiting
        await asyncio.sleep(0.05)
        assert receiver.arrivals == []
        assert side.webhooks.sent == []
        clock.advance(30)
        await until(lambda: len(receiver.arrivals) == 1)
        assert side.genuine(receiver.arrivals[0], job_id)
        (sent,) = side.webhooks.sent
        assert sent.timestamp == int(clock.now().timestamp())


@pytest.mark.parametrize("name", SIDES)
async def test_faults_combine_and_counts_run_down_one_job_at_a_time(name: str) -> None:
    async with receiving() as receiver, serving(name) as side:
        webhooks = side.webhooks
        webhooks.drop_next = 1
        webhooks.duplicate_next = 1
        webhooks.corrupt_next = 1
        webhooks.reorder_next = 1
        dropped, arrivals = await side.run_job(receiver)
        assert arrivals == []  # dropped: no other count is used up
        assert (webhooks.duplicate_next, webhooks.corrupt_next, webhooks.reorder_next) == (
            1,
            1,
            1,
        )
        job_id, arrivals = await side.run_job(receiver)
        first, second, stale = arrivals
        assert first.body == second.body
        assert not side.genuine(first, job_id)  # both copies corrupted
        assert side.genuine(stale, job_id)  # the stale one never is
        assert stale.payload["status"] == side.stale
        assert [(d.kind, d.corrupted) for d in webhooks.sent] == [
            ("final", True),
            ("duplicate", True),
            ("stale", False),
        ]
        assert [d.job_id for d in webhooks.dropped] == [dropped]


@pytest.mark.parametrize("name", SIDES)
async def test_the_older_switch_names_map_onto_the_sender(name: str) -> None:
    async with receiving() as receiver, serving(name) as side:
        emulator = side.emulator
        emulator.drop_webhooks = True
        assert side.webhooks.drop
        _, arrivals = await side.run_job(receiver)
        assert arrivals == []
        emulator.drop_webhooks = False
        emulator.duplicate_webhooks = True
        assert side.webhooks.duplicate and not side.webhooks.drop
        _, arrivals = await side.run_job(receiver)
        assert len(arrivals) == 2
        assert len(emulator.webhooks_sent) == 2
        assert emulator.webhooks_sent[0][0] == receiver.url


async def test_an_unreachable_receiver_is_recorded_and_given_up_on() -> None:
    async with serving("lipsync") as side:
        await side.start("http://127.0.0.1:9/hook")  # the discard port: nothing listens
        await until(lambda: side.webhooks.watched == 0)
        await side.webhooks.drain()
        (sent,) = side.webhooks.sent
        assert isinstance(sent, WebhookDelivery)
        assert sent.status is None
        assert sent.error


def test_emulate_prints_the_lipsync_webhook_secret() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "prism_async", "emulate", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while not any("WEBHOOK_SECRET" in line for line in lines) and len(lines) < 30:
            lines.append(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)
    (summary,) = [line for line in lines if line.strip().startswith("lipsync")]
    assert "webhook secret whsec_emulator" in summary
    assert "export SYNC_WEBHOOK_SECRET=whsec_emulator" in [line.strip() for line in lines]
