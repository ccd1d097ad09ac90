"""``prism-async generate --provider lipsync``: video, audio or speech, and segments."""

from __future__ import annotations

import argparse
from typing import Any

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


#: ``--set`` keys (wire or attribute spelling) that are documented create fields with an
#: attribute of their own: they go there, and through its checks.
_SET_FIELDS = {
    "model": "model",
    "webhookUrl": "webhook_url",
    "webhook_url": "webhook_url",
    "outputFileName": "output_file_name",
    "output_file_name": "output_file_name",
    "projectId": "project_id",
    "project_id": "project_id",
    "dubParams": "dub_params",
    "dub_params": "dub_params",
    "dialogueEdit": "dialogue_edit",
    "dialogue_edit": "dialogue_edit",
}
_TEXT_FIELDS = frozenset({"model", "webhook_url", "output_file_name", "project_id"})


def _sorted_sets(
    sets: list[tuple[str, Any]], given: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(attribute -> value, options)`` from ``--set`` pairs. A documented create field
    goes to its attribute (a whole number read from the command line back to text where the
    field is text: ``--set projectId=123``); every other key is an option, as before.

    Raises:
        RequestValidationError: A field given twice with different values (by two
            spellings, or by ``--set`` and its own flag).
    """
    fields: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in sets:
        attribute = _SET_FIELDS.get(key)
        if attribute is None:
            options[key] = value
            continue
        if (
            attribute in _TEXT_FIELDS
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            value = str(value)
        previous = fields.get(attribute, given.get(attribute))
        if previous is not None and previous != value:
            raise RequestValidationError(
                f"--set {key}", f"{attribute} is given twice ({previous!r} and {value!r})"
            )
        fields[attribute] = value
    return fields, options


def lipsync_request(args: argparse.Namespace) -> LipsyncRequest:
    """The request a lipsync command line describes. A ``--set`` key that is a documented
    create field (``projectId``, ``webhookUrl``, ``outputFileName``, ``dubParams``,
    ``dialogueEdit``, in either spelling) sets that field; other keys become options."""
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
    given = {"model": args.model, "output_file_name": args.output_name}
    fields, options = _sorted_sets(list(args.sets), given)
    fields.setdefault("model", args.model or "lipsync-2")
    fields.setdefault("output_file_name", args.output_name)
    return LipsyncRequest(
        video=Media.parse(args.video),
        audio=tuple(tracks),
        segments=tuple(_segment(s) for s in args.segment),
        options=options,
        **fields,
    )
