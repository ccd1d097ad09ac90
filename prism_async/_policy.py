"""Every retry and wait decision of the library, in one place.

Each layer asks this module and never decides on its own; providers report facts (a status,
an error code, a hint) and never loop. What is retried, where, after how long, and what
bounds it (``tries``: ``TransportConfig.attempts``; ``budget``: ``PollPolicy.error_budget``):

=========================  ==========  ========================  ==============  ==========
what failed                layer       retried?                  after           bound
=========================  ==========  ========================  ==============  ==========
nothing sent: no           transport   always (it cannot pay     backoff         tries
connection, a pool wait,               twice)
failed before a byte left
sent, no whole answer      transport   SAFE requests only; never backoff         tries
(timeout, dropped)                     a REFUSED_ONLY create
408, 5xx                   transport   SAFE requests only        backoff         tries
429 with ``Retry-After``   transport   SAFE, and REFUSED_ONLY    Retry-After     tries; not
                                       creates (not charged)                     over the cap
429, no ``Retry-After``    engine      when one of the           a job ending    default
(plan concurrency)         slots       provider's jobs ends                      timeout
a status fetch             scheduler   yes                       Retry-After or  budget
(transient)                                                      doubling
a download                 downloader  yes (a fresh URL if it    doubling        tries,
                                       expired)                                  timeout
=========================  ==========  ========================  ==============  ==========

Backoff is exponential from ``wait_initial``, doubling, capped at ``wait_max``, plus a
random jitter up to ``wait_jitter``. Every wait is on the engine's clock (a virtual one in
tests), so one clock covers all waiting.

A documented minimum is never undercut: where a provider documents a floor for its poll
cadence (Prism: 10 s), the engine's clamps may lengthen a pause but never shorten it below
that floor.
"""

from __future__ import annotations

import math
import random

import attrs

from prism_async._errors import (
    APIStatusError,
    ConnectError,
    PrismAsyncError,
    ProviderResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from prism_async._http import HttpRequest, HttpResponse, RetryMode
from prism_async._provider import PollHint
from prism_async._retry_after import parse_retry_after

__all__ = [
    "Backoff",
    "PollPolicy",
    "download_retryable",
    "retry_after_answer",
    "retry_after_failure",
    "status_failure_transient",
    "url_expired",
]

_SAFE_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Statuses a presigned URL answers once it has expired or been revoked.
_EXPIRED_URL = frozenset({401, 403, 404, 410})


@attrs.frozen(kw_only=True)
class Backoff:
    """How long to wait before a retry, and how many tries in all.

    Args:
        attempts: Tries of one exchange, the first included.
        initial: The first backoff, seconds.
        maximum: The largest backoff, seconds.
        jitter: The largest random jitter added to a backoff, seconds.
        max_retry_after: The longest ``Retry-After`` honoured; an answer asking for more is
            not retried (it reaches the caller, with ``retry_after`` set).
    """

    attempts: int = 4
    initial: float = 0.5
    maximum: float = 10.0
    jitter: float = 1.0
    max_retry_after: float = 60.0

    def wait(self, tries: int, retry_after: float | None = None) -> float | None:
        """Seconds before try ``tries + 1``; None when there is none (the tries are spent,
        or the server asks for a longer wait than is honoured)."""
        if tries >= self.attempts:
            return None
        if retry_after is not None:
            if not math.isfinite(retry_after) or retry_after > self.max_retry_after:
                return None
            return max(0.0, retry_after)
        base = min(self.maximum, self.initial * 2.0 ** (tries - 1))
        return base + random.uniform(0.0, self.jitter)


@attrs.frozen(kw_only=True)
class PollPolicy:
    """Poll cadence where the provider gives no hint, and the error budget.

    Args:
        first_delay: Seconds from submission to the first poll.
        min_interval: The shortest pause between two polls of one job.
        max_interval: The longest pause between two polls of one job.
        backoff: Growth of the pause from poll to poll without a hint.
        jitter: Relative random spread of every pause (0.1 = ±10%).
        error_budget: Consecutive transient failures (5xx, timeouts, malformed bodies,
            429s) tolerated for one job before its waiters get the error.
        safety_net: Seconds between polls of a job whose end a webhook will announce:
            the poll that still ends it if the callback is lost (a documented floor, if
            higher, wins).
    """

    first_delay: float = 2.0
    min_interval: float = 1.0
    max_interval: float = 30.0
    backoff: float = 1.5
    jitter: float = 0.1
    error_budget: int = 5
    safety_net: float = 300.0

    def delay(self, hint: PollHint, polls: int) -> float:
        """Seconds to the next poll of a job that is not finished. The engine's clamps and
        jitter shape the pause, but a provider's documented floor (``hint.floor``) wins:
        a documented minimum is never undercut."""
        if hint.long_poll and hint.delay is None:
            return 0.0  # the server holds the request: ask again at once
        if hint.delay is not None:
            base = hint.delay
        else:
            base = self.first_delay * self.backoff ** max(0, polls - 1)
        base = min(self.max_interval, max(self.min_interval, base))
        pause = base * (1 + random.uniform(-self.jitter, self.jitter)) if self.jitter else base
        return max(pause, hint.floor or 0.0)

    def first(self, hint: PollHint) -> float:
        """Seconds from a job's submission to its first poll: at once for a long poll (the
        server holds it until the job changes), else ``first_delay``, never under the
        provider's documented floor (Prism's 10 s)."""
        if hint.long_poll and hint.delay is None:
            return 0.0
        return max(self.first_delay, hint.floor or 0.0)

    def error_delay(self, errors: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_interval, retry_after)
        base = min(self.max_interval, self.min_interval * 2.0**errors)
        return base * (1 + random.uniform(0, self.jitter))


def status_failure_transient(error: PrismAsyncError) -> bool:
    """Whether a failed status fetch is worth another try (within the error budget)."""
    return isinstance(error, (TransportError, ServerError, RateLimitedError, ProviderResponseError))


def retry_after_failure(request: HttpRequest, error: TransportError) -> bool:
    """Whether an exchange that got no answer may be tried again."""
    return isinstance(error, ConnectError) or request.retry is RetryMode.SAFE


def retry_after_answer(request: HttpRequest, response: HttpResponse) -> tuple[bool, float | None]:
    """Whether an answered exchange may be tried again, and the wait the server asked for.

    A 429 that does not say when (a plan's concurrency limit) is not retried here: the
    engine waits for a slot instead of hammering the API.
    """
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if response.status == 429 and "retry-after" not in response.headers:
        return False, None
    if request.retry is RetryMode.SAFE:
        return response.status in _SAFE_RETRY_STATUSES, retry_after
    return response.status in request.refused_statuses, retry_after


def url_expired(error: PrismAsyncError) -> bool:
    """Whether a download's URL has expired (or was revoked): fetch a fresh one."""
    return isinstance(error, APIStatusError) and error.status_code in _EXPIRED_URL


def download_retryable(error: PrismAsyncError) -> bool:
    """Whether a failed download may be tried again (the generation is never redone)."""
    return status_failure_transient(error) or url_expired(error)
