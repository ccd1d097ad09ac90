"""The Sync.so-style lipsync API v2: a video lip-synced to audio or speech, in segments."""

from prism_async._requests import AudioTrack, LipsyncRequest, LipsyncSegment, Speech
from prism_async.providers.lipsync._provider import DEFAULT_BASE_URL, LipsyncProvider
from prism_async.providers.lipsync._webhooks import (
    SIGNATURE_HEADER,
    parse_webhook,
    sign,
    verify_signature,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "SIGNATURE_HEADER",
    "AudioTrack",
    "LipsyncProvider",
    "LipsyncRequest",
    "LipsyncSegment",
    "Speech",
    "parse_webhook",
    "sign",
    "verify_signature",
]
