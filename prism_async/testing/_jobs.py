"""The simulated job every emulator runs: queued, running, then its scripted outcome.

A job's outcome comes from markers in its prompt (or script), so a test, the CLI and the
demo can ask for any ending without configuring the emulator:

==================  ======================================================
marker              outcome
==================  ======================================================
``[fail]``          ends failed
``[moderation]``    ends refused by content policy (NanoGPT isNSFWError, lipsync REJECTED)
``[never]``         never ends (stays running)
``[slow]``          takes ten times the configured durations
==================  ======================================================

Anything else succeeds, unless the emulator's ``default_outcome`` says otherwise.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from prism_async._clock import Clock

__all__ = ["FAKE_MP4", "Outcome", "Phase", "SimJob", "outcome_for"]

# A tiny file that starts like an MP4 (an ftyp box), served as every generated video.
FAKE_MP4 = (
    b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + bytes(2048)
)


class Outcome(str, enum.Enum):
    SUCCEED = "succeed"
    FAIL = "fail"
    MODERATION = "moderation"
    NEVER = "never"


class Phase(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


def outcome_for(text: str | None, default: Outcome = Outcome.SUCCEED) -> Outcome:
    """The outcome a prompt asks for by its markers."""
    lowered = (text or "").lower()
    for outcome in (Outcome.FAIL, Outcome.MODERATION, Outcome.NEVER):
        if f"[{outcome.value}]" in lowered:
            return outcome
    return default


@attrs.define(kw_only=True)
class SimJob:
    """One emulated job. Times are the shared clock's monotonic seconds."""

    id: str
    owner: str
    clock: Clock = attrs.field(repr=False)
    queue_seconds: float
    run_seconds: float
    outcome: Outcome
    request: dict[str, object] = attrs.field(factory=dict, repr=False)
    started: float = attrs.field(init=False)
    created_at: datetime = attrs.field(init=False)
    canceled: bool = False

    def __attrs_post_init__(self) -> None:
        self.started = self.clock.monotonic()
        self.created_at = self.clock.now()

    @property
    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    @property
    def phase(self) -> Phase:
        if self.canceled:
            return Phase.DONE
        if self.elapsed < self.queue_seconds:
            return Phase.QUEUED
        if self.outcome is Outcome.NEVER or self.elapsed < self.queue_seconds + self.run_seconds:
            return Phase.RUNNING
        return Phase.DONE

    @property
    def progress(self) -> float:
        """0-100, as a provider that reports progress would."""
        if self.phase is Phase.DONE:
            return 100.0
        if self.phase is Phase.QUEUED or self.run_seconds <= 0:
            return 0.0
        ran = self.elapsed - self.queue_seconds
        return min(99.0, round(100.0 * ran / self.run_seconds, 1))

    @property
    def remaining(self) -> float:
        """Seconds until the job ends (0 once done)."""
        return max(0.0, self.queue_seconds + self.run_seconds - self.elapsed)

    @property
    def completed_at(self) -> datetime | None:
        if self.phase is not Phase.DONE:
            return None
        from datetime import timedelta

        return self.created_at + timedelta(seconds=self.queue_seconds + self.run_seconds)
