"""State of the lipsync emulator: generations, limits, error bodies, webhook signatures."""

from __future__ import annotations

import collections
import hashlib
import hmac
import http
import json
import math
from datetime import datetime, timezone
from typing import Any

import attrs

from prism_async.testing._jobs import Outcome, Phase, SimJob

__all__ = [
    "ERROR_CATALOG",
    "IdempotencyRecord",
    "LipsyncGeneration",
    "SlidingWindow",
    "error_body",
    "fingerprint",
    "iso",
    "notional_seconds",
    "sign",
]

#: The frame rate and clip length the emulator pretends every input video has.
FPS = 25
CLIP_SECONDS = 10.0

# (status, error_code, human message) for each scripted ending.
_ENDINGS: dict[Outcome, tuple[str, str | None, str | None]] = {
    Outcome.SUCCEED: ("COMPLETED", None, None),
    Outcome.NEVER: ("COMPLETED", None, None),  # never reached: SimJob keeps it running
    Outcome.FAIL: (
        "FAILED",
        "generation_pipeline_failed",
        "The generation pipeline failed (emulated).",
    ),
    Outcome.MODERATION: (
        "REJECTED",
        "content_moderation_rejected",
        "The input was rejected by content moderation (emulated).",
    ),
}

#: What ``GET /v2/errors`` serves: codes the docs name plus the ones this emulator uses.
ERROR_CATALOG: list[dict[str, str]] = [
    {"code": code, "message": message, "fix": fix}
    for code, message, fix in (
        ("generation_unsupported_model", "The model is not supported.", "Use a listed model."),
        (
            "generation_media_metadata_missing",
            "Media metadata (duration, frame rate) could not be read.",
            "Re-encode the media as MP4 (video) and WAV or MP3 (audio).",
        ),
        (
            "generation_audio_length_exceeded",
            "The audio is longer than 300 seconds.",
            "Shorten the audio or split the work into segments.",
        ),
        ("generation_audio_missing", "No audio input was given.", "Add an audio or text item."),
        ("generation_video_missing", "No video input was given.", "Add one video item."),
        ("generation_timeout", "The generation timed out.", "Retry the generation."),
        ("generation_pipeline_failed", "The generation pipeline failed.", "Retry later."),
        ("generation_database_error", "A database error occurred.", "Retry later."),
        ("generation_internal_auth", "An internal authorization error occurred.", "Retry."),
        ("generation_unhandled_error", "An unhandled error occurred.", "Contact support."),
        (
            "content_moderation_rejected",
            "The input was rejected by content moderation.",
            "Use media that complies with the content policy.",
        ),
        (
            "concurrency_limit_reached",
            "The plan's concurrent generation limit is reached.",
            "Wait for a running generation to finish, or upgrade the plan.",
        ),
        (
            "rate_limit_exceeded",
            "Too many requests in the last minute.",
            "Wait for the Retry-After seconds, then back off exponentially.",
        ),
        ("validation_failed", "The request body is invalid.", "Fix the fields named."),
        ("generation_not_found", "No generation has this id.", "Check the id."),
        ("invalid_id", "The generation id is not a UUID.", "Pass the id create returned."),
        (
            "generation_not_cancelable",
            "Only a PENDING generation can be canceled.",
            "Let it finish.",
        ),
        (
            "INVALID_IDEMPOTENCY_KEY",
            "The Idempotency-Key header is empty, duplicated or malformed.",
            "Send one key of 1-128 characters from [A-Za-z0-9._~-].",
        ),
        (
            "IDEMPOTENCY_KEY_REUSED",
            "The Idempotency-Key was used before with a different body.",
            "Use a new key for a new request.",
        ),
        (
            "IDEMPOTENCY_OUTCOME_UNKNOWN",
            "The outcome of the request is unknown.",
            "Retry with the same Idempotency-Key, or poll the generationId given.",
        ),
        ("unauthorized", "The API key is missing or invalid.", "Send a valid x-api-key."),
        ("internal_error", "An internal error occurred.", "Retry; quote the requestId."),
    )
]


def iso(moment: datetime) -> str:
    """``2026-01-01T00:00:00.000Z``, as JavaScript's ``toISOString`` writes it."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def error_body(status: int, message: str | list[str], **extra: Any) -> dict[str, Any]:
    """``{statusCode, message, error}`` plus extras such as ``errorCode``."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"statusCode": status, "message": message, "error": phrase, **extra}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Sync-Signature`` header value for ``body`` sent at ``timestamp``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def notional_seconds(body: dict[str, Any]) -> float:
    """The seconds of video a request would generate: its segments, or a 10 s clip."""
    segments = body.get("segments")
    if isinstance(segments, list) and segments:
        return float(sum(s["endTime"] - s["startTime"] for s in segments))
    return CLIP_SECONDS


@attrs.define(kw_only=True)
class LipsyncGeneration:
    """One emulated generation: its request, its simulated job and where its file is."""

    job: SimJob
    body: dict[str, Any]
    output_url: str
    uploads: dict[str, int] = attrs.field(factory=dict)

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def status(self) -> str:
        if self.job.canceled:
            return "CANCELED"
        phase = self.job.phase
        if phase is Phase.QUEUED:
            return "PENDING"
        if phase is Phase.RUNNING:
            return "PROCESSING"
        return _ENDINGS[self.job.outcome][0]

    @property
    def active(self) -> bool:
        """Whether it holds a concurrency slot (PENDING or PROCESSING)."""
        return self.job.phase is not Phase.DONE

    def to_json(self, *, progress: bool = False) -> dict[str, Any]:
        """The Generation object (§2.3), with both documented spellings where they differ."""
        status = self.status
        done = status == "COMPLETED"
        segments = self.body.get("segments")
        code, message = (None, None)
        if status in ("FAILED", "REJECTED"):
            _, code, message = _ENDINGS[self.job.outcome]
        duration = max([CLIP_SECONDS] + [float(s["endTime"]) for s in segments or []])
        obj: dict[str, Any] = {
            "id": self.id,
            "createdAt": iso(self.job.created_at),
            "status": status,
            "model": self.body["model"],
            "input": self.body["input"],
            "options": self.body.get("options") or {},
            "segments": segments,
            "webhookUrl": self.body.get("webhookUrl"),
            "outputUrl": self.output_url if done else None,
            "outputMediaUrl": self.output_url if done else None,
            "outputDuration": duration if done else None,
            "segmentOutputUrl": (
                self.output_url.replace(".mp4", "_segments.mp4") if done and segments else None
            ),
            "error": message,
            "error_code": code,
            "errorCode": code,
        }
        if progress:
            obj["progress_percent"] = self.job.progress
        return obj


@attrs.define(kw_only=True)
class IdempotencyRecord:
    """What a key was first used for: the body's fingerprint and the answer given."""

    fingerprint: str
    generation_id: str
    response: bytes


def fingerprint(parts: dict[str, Any]) -> str:
    """A stable digest of a request body, so a replay can be told from a reuse."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@attrs.define
class SlidingWindow:
    """At most ``limit`` hits in any ``period`` seconds."""

    limit: int
    period: float = 60.0
    _hits: collections.deque[float] = attrs.field(factory=collections.deque)

    def hit(self, now: float) -> int | None:
        """Record a hit at ``now``; or, if over the limit, the seconds to wait (at least 1)."""
        while self._hits and self._hits[0] <= now - self.period:
            self._hits.popleft()
        if len(self._hits) >= self.limit:
            return max(1, math.ceil(self._hits[0] + self.period - now))
        self._hits.append(now)
        return None
