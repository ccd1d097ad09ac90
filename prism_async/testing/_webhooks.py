"""The webhook sender shared by the emulators that call back (Prism and lipsync).

Each such emulator owns one :class:`WebhookSender`, as its ``webhooks`` attribute. The
emulator *watches* each job created with a callback URL; once the job ends, the sender
POSTs the job's payload (the emulator's status object for it) to that URL, over loopback,
with its own aiohttp session. One attempt per delivery, no retries (neither provider
documents any); a receiver that does not answer within ``timeout`` real seconds, or
cannot be reached, is given up on. Nothing here ever holds up a request handler: every
delivery runs in a task of its own.

When a job's end is noticed
---------------------------
While the emulator's app runs (in an :class:`~prism_async.testing.EmulatorServer`), a
background task sleeps on the emulator's clock until the earliest end of a watched job,
then starts that job's delivery: a delivery leaves within milliseconds of the job's end,
with no other request to the emulator. Each request the emulator answers also checks
(:meth:`WebhookSender.check`), as does a rescan every second of real time while any job
is watched (for job timings changed behind the emulator's back).

With a :class:`~prism_async.testing.VirtualClock`, the sender is then one of the clock's
sleepers while it awaits a job's end: when the event loop is idle the autojump moves time
to that end (unless another sleeper is due first), and the delivery goes out at once. A
job that never ends (``[never]``) is no sleeper. Only jobs with a callback URL are
watched, so an emulator whose jobs have none never moves virtual time.

Fault switches
--------------
Each fault has an always-on switch and a counted one: ``drop`` (bool) applies to every
job's delivery, ``drop_next`` (int) to the next N jobs' deliveries, counting down by one
for each job it applies to (an always-on switch that is set leaves its count untouched).
A fault applies to the deliveries of one job, decided when the job's end is noticed:

``drop`` / ``drop_next``
    Nothing is sent; the delivery that would have been is kept in ``dropped``. A dropped
    job consumes no other fault's count.
``duplicate`` / ``duplicate_next``
    The delivery is sent twice in a row (same body, same headers and signature), the
    second once the first is answered (or given up on).
``delay`` / ``delay_next``
    The delivery waits ``delay_seconds`` (default 1) on the emulator's clock after the
    job's end; its payload and signature timestamp are made when it leaves.
``reorder`` / ``reorder_next``
    After the final delivery (and its copy) is answered, a *stale* one follows for the
    same job: the job as it was before it ended (lipsync ``PROCESSING``, or ``PENDING``
    for a canceled generation; Prism ``generating``), signed like any other.
``corrupt`` / ``corrupt_next``
    The final delivery (each copy) is tampered with. Lipsync: the body is altered after
    signing (its ``status`` flipped, COMPLETED to FAILED and anything else to COMPLETED),
    so the ``Sync-Signature`` no longer matches it. Prism (unsigned): the body carries
    another, unknown, generation id. A stale delivery is never corrupted.

What was sent
-------------
``sent`` lists a :class:`WebhookDelivery` per POST attempted, in order (a record is
added when its POST starts; its ``status`` is filled in once answered), and ``dropped``
one per dropped job. :meth:`WebhookSender.drain` waits for every delivery under way.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import math
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal

import aiohttp
import attrs
from aiohttp import web

from prism_async._clock import Clock
from prism_async.testing._jobs import Outcome, Phase, SimJob

__all__ = ["DeliveryKind", "WebhookDelivery", "WebhookSender", "WebhookSwitches", "compact_json"]

Payload = dict[str, Any]
#: ``final``: the job's delivery; ``duplicate``: its second copy; ``stale``: the
#: out-of-order, pre-end delivery ``reorder`` sends after it.
DeliveryKind = Literal["final", "duplicate", "stale"]
#: Headers to add to a delivery, given its exact body and its unix timestamp (a signature).
Signer = Callable[[bytes, int], Mapping[str, str]]
#: A tampered copy of a payload (``corrupt``); must not change the payload given.
Tamperer = Callable[[Payload], Payload]

_RESCAN = 1.0  # real seconds between two full rescans of the watched jobs
_NUDGE = 1e-6  # clock seconds: a job due but not yet ended is looked at again this late
_GIVE_UP = (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError)


def compact_json(obj: Any) -> bytes:
    """``obj`` as compact JSON bytes (no spaces), the body every delivery carries."""
    return json.dumps(obj, separators=(",", ":")).encode()


@attrs.define(kw_only=True, eq=False)
class WebhookDelivery:
    """One delivery: sent (in ``WebhookSender.sent``) or dropped (in ``dropped``).

    Attributes:
        url: Where it was POSTed.
        job_id: The job it is for (also when a corrupted body names another).
        kind: ``final``, ``duplicate`` (the second copy) or ``stale`` (sent by reorder).
        corrupted: Whether the body was tampered with (``corrupt``).
        payload: The JSON object the body carries (the tampered one if corrupted).
        body: The exact bytes sent.
        headers: The headers sent (``Content-Type``, and ``Sync-Signature`` for lipsync).
        timestamp: Unix seconds on the emulator's clock when it left (the signature's t).
        sent_at: The emulator clock's ``monotonic()`` when it left (or was dropped).
        status: The receiver's HTTP status; None until answered, or if it never was.
        error: Why there is no answer (connection refused, timeout...), or ``"dropped"``.
    """

    url: str
    job_id: str
    kind: DeliveryKind
    corrupted: bool = False
    payload: Payload
    body: bytes
    headers: dict[str, str]
    timestamp: int
    sent_at: float
    status: int | None = None
    error: str | None = None


@attrs.define(eq=False)
class _Watch:
    job: SimJob
    url: str
    payload: Callable[[], Payload]
    stale: Callable[[], Payload]
    end: float = math.inf  # the clock's monotonic seconds it is scheduled at


@attrs.frozen
class _Plan:
    """What befalls one job's deliveries."""

    watch: _Watch
    delay: float
    copies: int
    reorder: bool
    corrupt: bool


def _end_of(job: SimJob) -> float:
    """When ``job`` ends, in its clock's monotonic seconds (-inf: already; inf: never)."""
    if job.canceled:
        return -math.inf
    if job.outcome is Outcome.NEVER:
        return math.inf
    return job.started + job.queue_seconds + job.run_seconds


class WebhookSender:
    """Sends the callbacks of an emulator's jobs when they end, with fault switches.

    See the module documentation for when deliveries leave and what each switch does.

    Args:
        clock: The emulator's clock (jobs end, and ``delay`` waits, on it).
        sign: Headers that sign a delivery, from its body and unix timestamp; None for an
            unsigned API.
        tamper: A corrupted copy of a payload, for ``corrupt``.
        timeout: Real seconds a receiver has to answer a delivery.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        sign: Signer | None = None,
        tamper: Tamperer,
        timeout: float = 2.0,
    ) -> None:
        self.clock = clock
        self.timeout = timeout
        #: Every delivery attempted, in the order their POSTs started.
        self.sent: list[WebhookDelivery] = []
        #: The deliveries ``drop`` swallowed (never sent), one per job.
        self.dropped: list[WebhookDelivery] = []
        self.drop = False
        self.drop_next = 0
        self.duplicate = False
        self.duplicate_next = 0
        self.delay = False
        self.delay_next = 0
        #: Clock seconds a delayed delivery waits after its job's end.
        self.delay_seconds = 1.0
        self.reorder = False
        self.reorder_next = 0
        self.corrupt = False
        self.corrupt_next = 0
        self._sign = sign
        self._tamper = tamper
        self._watched: dict[str, _Watch] = {}
        self._fresh: list[str] = []  # watched, but not yet scheduled
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._session: aiohttp.ClientSession | None = None
        self._wake: asyncio.Event | None = None
        self._sleeping_until: float | None = None  # what the background task waits for
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what the emulators call ---------------------------------------------------------

    def attach(self, app: web.Application) -> None:
        """Run the sender (its session and background task) for as long as ``app`` runs."""
        app.cleanup_ctx.append(self._serve)

    def watch(
        self,
        job: SimJob,
        url: str,
        *,
        payload: Callable[[], Payload],
        stale: Callable[[], Payload],
    ) -> None:
        """Deliver ``payload()`` to ``url`` once ``job`` ends.

        Args:
            job: The emulated job.
            url: The callback URL.
            payload: The job's status object, as a delivery carries it (called when the
                delivery leaves).
            stale: The job's status object as it was before it ended (for ``reorder``).
        """
        self._watched[job.id] = _Watch(job=job, url=url, payload=payload, stale=stale)
        # Scheduled at the next check: after the request that made the job has been
        # handled (and any middleware has set the job's timings).
        self._fresh.append(job.id)
        if self._wake is not None:
            self._wake.set()

    def refresh(self, job_id: str) -> None:
        """Look at a watched job's end again (it was canceled, or its timings changed)."""
        watch = self._watched.get(job_id)
        if watch is not None:
            self._schedule(job_id, watch)
            if self._wake is not None:
                self._wake.set()

    @property
    def watched(self) -> int:
        """Jobs whose delivery is still to be decided (their end not yet noticed)."""
        return len(self._watched)

    def check(self) -> float:
        """Start the deliveries of the watched jobs that have ended.

        Cheap (only the jobs due are looked at); the emulators call it after each request.
        Does nothing while the sender is not running. Returns the earliest end still
        awaited (the clock's monotonic seconds; ``math.inf`` if none).
        """
        if self._session is None:
            return math.inf
        for job_id in self._fresh:
            watch = self._watched.get(job_id)
            if watch is not None:
                self._schedule(job_id, watch)
        self._fresh.clear()
        now = self.clock.monotonic()
        heap = self._heap
        while heap:
            end, _, job_id = heap[0]
            watch = self._watched.get(job_id)
            if watch is None or end != watch.end:  # delivered, or scheduled anew since
                heapq.heappop(heap)
                continue
            if end > now:
                break
            heapq.heappop(heap)
            if watch.job.phase is Phase.DONE:
                del self._watched[job_id]
                self._ended(watch)
            else:  # its timings changed: look again when it now ends
                self._schedule(job_id, watch, not_before=now + _NUDGE)
        earliest = heap[0][0] if heap else math.inf
        sleeping = self._sleeping_until
        if sleeping is not None and earliest < sleeping and self._wake is not None:
            self._wake.set()
        return earliest

    async def drain(self) -> None:
        """Wait until every delivery under way has been sent and answered (or given up
        on); delayed ones included (their delay passes on the emulator's clock)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- scheduling ----------------------------------------------------------------------

    def _schedule(self, job_id: str, watch: _Watch, not_before: float = -math.inf) -> None:
        end = _end_of(watch.job)
        if math.isfinite(end):
            end = max(end, not_before)
        watch.end = end
        if end < math.inf:
            heapq.heappush(self._heap, (end, next(self._order), job_id))

    def _rescan(self) -> None:
        """Schedule every watched job anew from its timings as they are now."""
        self._fresh.clear()
        self._heap = []
        for job_id, watch in self._watched.items():
            self._schedule(job_id, watch)

    def _take(self, always: bool, count_name: str) -> bool:
        """Whether a fault applies to the next job, counting its ``_next`` down if so."""
        if always:
            return True
        left: int = getattr(self, count_name)
        if left > 0:
            setattr(self, count_name, left - 1)
            return True
        return False

    def _ended(self, watch: _Watch) -> None:
        if self._take(self.drop, "drop_next"):
            payload = watch.payload()
            body = compact_json(payload)
            timestamp = self._timestamp()
            self.dropped.append(
                WebhookDelivery(
                    url=watch.url,
                    job_id=watch.job.id,
                    kind="final",
                    payload=payload,
                    body=body,
                    headers=self._headers(body, timestamp),
                    timestamp=timestamp,
                    sent_at=self.clock.monotonic(),
                    error="dropped",
                )
            )
            return
        plan = _Plan(
            watch=watch,
            delay=self.delay_seconds if self._take(self.delay, "delay_next") else 0.0,
            copies=2 if self._take(self.duplicate, "duplicate_next") else 1,
            reorder=self._take(self.reorder, "reorder_next"),
            corrupt=self._take(self.corrupt, "corrupt_next"),
        )
        task = asyncio.get_running_loop().create_task(self._deliver(plan))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending -------------------------------------------------------------------------

    def _timestamp(self) -> int:
        return int(self.clock.now().timestamp())

    def _headers(self, body: bytes, timestamp: int) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._sign is not None:
            headers.update(self._sign(body, timestamp))
        return headers

    async def _deliver(self, plan: _Plan) -> None:
        if plan.delay > 0:
            await self.clock.sleep(plan.delay)
        watch = plan.watch
        payload = watch.payload()
        timestamp = self._timestamp()
        body = compact_json(payload)
        headers = self._headers(body, timestamp)
        if plan.corrupt:  # altered after signing: the headers keep the genuine signature
            payload = self._tamper(payload)
            body = compact_json(payload)
        for copy in range(plan.copies):
            await self._post(
                WebhookDelivery(
                    url=watch.url,
                    job_id=watch.job.id,
                    kind="final" if copy == 0 else "duplicate",
                    corrupted=plan.corrupt,
                    payload=payload,
                    body=body,
                    headers=dict(headers),
                    timestamp=timestamp,
                    sent_at=self.clock.monotonic(),
                )
            )
        if plan.reorder:
            stale = watch.stale()
            stale_body = compact_json(stale)
            await self._post(
                WebhookDelivery(
                    url=watch.url,
                    job_id=watch.job.id,
                    kind="stale",
                    payload=stale,
                    body=stale_body,
                    headers=self._headers(stale_body, timestamp),
                    timestamp=timestamp,
                    sent_at=self.clock.monotonic(),
                )
            )

    async def _post(self, delivery: WebhookDelivery) -> None:
        self.sent.append(delivery)
        session = self._session
        if session is None:
            delivery.error = "the emulator stopped"
            return
        try:
            async with session.post(
                delivery.url,
                data=delivery.body,
                headers=delivery.headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as reply:
                await reply.read()
                delivery.status = reply.status
        except _GIVE_UP as exc:  # a receiver's failure is not the emulator's
            delivery.error = f"{type(exc).__name__}: {exc}"

    # -- the background task -------------------------------------------------------------

    async def _serve(self, app: web.Application) -> AsyncIterator[None]:
        self._session = aiohttp.ClientSession()
        self._wake = asyncio.Event()
        runner = asyncio.get_running_loop().create_task(self._run(self._wake))
        try:
            yield
        finally:
            runner.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(runner, *self._tasks, return_exceptions=True)
            session, self._session, self._wake = self._session, None, None
            await session.close()

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            earliest = self.check()
            if not await self._nap(wake, earliest):
                self._rescan()

    async def _nap(self, wake: asyncio.Event, until: float) -> bool:
        """Sleep until ``until`` on the clock or a wake-up; False if the rescan is due."""
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(wake.wait())]
        if until < math.inf:
            waits.append(asyncio.ensure_future(self.clock.sleep(until - self.clock.monotonic())))
        self._sleeping_until = until
        try:
            done, _ = await asyncio.wait(
                waits,
                timeout=_RESCAN if self._watched else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            self._sleeping_until = None
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        return bool(done)


class WebhookSwitches:
    """The emulators' older switch names, kept as aliases of their sender's."""

    webhooks: WebhookSender

    @property
    def drop_webhooks(self) -> bool:
        """``webhooks.drop``: every delivery is dropped."""
        return self.webhooks.drop

    @drop_webhooks.setter
    def drop_webhooks(self, value: bool) -> None:
        self.webhooks.drop = value

    @property
    def duplicate_webhooks(self) -> bool:
        """``webhooks.duplicate``: every delivery is sent twice."""
        return self.webhooks.duplicate

    @duplicate_webhooks.setter
    def duplicate_webhooks(self, value: bool) -> None:
        self.webhooks.duplicate = value
