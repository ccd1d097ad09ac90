"""``prism-async generate --provider lipsync``: video, audio or speech, and segments."""

from __future__ import annotations

import argparse

from prism_async._errors import RequestValidationError
from prism_async._media import Media
from prism_async._requests import AudioTrack, LipsyncRequest, LipsyncSegment, Speech

__all__ = ["lipsync_request"]


def _named(text: str) -> tuple[str | None, str]:
    """``REF=value`` or a bare value. A URL's own ``=`` (in its query) is not a name."""
    name, sep, value = text.partition("=")
    if sep and name and "/" not in name and ":" not in name:
        return name, value
    return None, text


def _segment(text: str) -> LipsyncSegment:
    """``START:END:REF`` or ``START:END:REF:AUDIO_START:AUDIO_END`` (seconds)."""
    parts = text.split(":")
    if len(parts) not in (3, 5):
        raise RequestValidationError(
            "--segment", f"{text!r}: expected START:END:REF[:AUDIO_START:AUDIO_END]"
        )
    try:
        start, end = float(parts[0]), float(parts[1])
        crop = (float(parts[3]), float(parts[4])) if len(parts) == 5 else (None, None)
    except ValueError:
        raise RequestValidationError("--segment", f"{text!r}: times are seconds") from None
    return LipsyncSegment(
        start=start, end=end, ref_id=parts[2], audio_start=crop[0], audio_end=crop[1]
    )


def lipsync_request(args: argparse.Namespace) -> LipsyncRequest:
    """The request a lipsync command line describes; ``--set`` values become options."""
    if not args.video:
        raise RequestValidationError("--video", "required for lipsync")
    tracks = []
    for text in args.audio:
        ref, value = _named(text)
        tracks.append(AudioTrack(audio=Media.parse(value), ref_id=ref))
    for text in args.script:
        if not args.voice:
            raise RequestValidationError("--voice", "required with --script")
        ref, value = _named(text)
        tracks.append(AudioTrack(speech=Speech(script=value, voice_id=args.voice), ref_id=ref))
    return LipsyncRequest(
        model=args.model or "lipsync-2",
        video=Media.parse(args.video),
        audio=tuple(tracks),
        segments=tuple(_segment(s) for s in args.segment),
        options=dict(args.sets),
        output_file_name=args.output_name,
    )
