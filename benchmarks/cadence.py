"""How soon each provider's cadence lets a client learn that a job ended: the bound table
4 holds each provider's detection lag to (the lipsync long poll has fixed targets)."""

from __future__ import annotations

from prism_async import PollPolicy

__all__ = ["PRISM_HINTED", "SLACK", "nanogpt_bound", "pause_at", "prism_bound"]

#: Prism's documented cadence: every ``typical / 6`` seconds clamped to 10-30 s; the
#: create answer the emulator gives (the documented one) has no latency estimate, so the
#: provider hints the clamp's floor, 10 s, which is also the documented minimum.
PRISM_HINTED = 10.0
#: Room for the status exchange itself and the scheduler's wake-up.
SLACK = 0.25


def pause_at(policy: PollPolicy, age: float) -> float:
    """The pause, without jitter, between the two polls around ``age`` seconds after the
    submit, under ``policy``'s backoff (first poll after ``first_delay``, then pauses
    growing by ``backoff``, clamped to ``min_interval``-``max_interval``)."""
    previous, at, polls = 0.0, policy.first_delay, 1
    while at < age:
        base = policy.first_delay * policy.backoff ** max(0, polls - 1)
        pause = min(policy.max_interval, max(policy.min_interval, base))
        previous, at, polls = at, at + pause, polls + 1
    return at - previous


def nanogpt_bound(longest: float, policy: PollPolicy | None = None) -> float:
    """The longest lag the default cadence allows for jobs lasting up to ``longest``
    seconds: the pause in force then, with the policy's jitter, plus :data:`SLACK`.
    (NanoGPT's documented status shape gives no time remaining, so no hint shortens it.)"""
    policy = policy or PollPolicy()
    return pause_at(policy, longest) * (1 + policy.jitter) + SLACK


def prism_bound(policy: PollPolicy | None = None) -> float:
    """The hinted pause, with the policy's jitter, plus :data:`SLACK`."""
    policy = policy or PollPolicy()
    return PRISM_HINTED * (1 + policy.jitter) + SLACK
