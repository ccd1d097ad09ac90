"""Getting local media into Prism storage: presign, then PUT the bytes, then use the key."""

from __future__ import annotations

import base64
import binascii
import mimetypes

import attrs

from prism_async.providers import (
    FileBody,
    Flow,
    HttpRequest,
    Media,
    MediaKind,
    RetryMode,
    UnsupportedRequestError,
    stat_file,
    structure,
)
from prism_async.providers.prism._api import NAME, Api, refuse
from prism_async.providers.prism._wire import converter

__all__ = ["IMAGE_LIMIT", "Upload", "check_key_media", "sized", "upload"]

# Documented: "Image 20 MB" (the video and audio rows were cut off in every capture, so
# those are checked only against the max_bytes each presign returns). Read as MiB: the
# documented presign example answers max_bytes 20971520.
IMAGE_LIMIT = 20 * 1024 * 1024
# A PUT's time budget: a fixed allowance plus the file at a slow 512 KiB/s, so a large
# video is not cut off by the transport's default whole-exchange timeout.
_PUT_BASE_SECONDS = 120.0
_PUT_BYTES_PER_SECOND = 512 * 1024


@attrs.frozen(kw_only=True)
class Upload:
    """A local file or bytes bound for storage, its size already known."""

    field: str
    media: Media
    content_type: str
    size: int


@attrs.frozen
class _Presigned:
    s3_key: str
    upload_url: str
    content_type: str | None = None
    max_bytes: int | None = None


def check_key_media(field: str, media: Media, kind: str) -> Media:
    """Check media bound for a ``*Key`` field (image, video or audio); data URIs become
    bytes. A URL is refused: Create Generation takes storage keys only."""
    if media.kind is MediaKind.URL:
        raise UnsupportedRequestError(
            field,
            "Prism's Create Generation takes storage keys only, not URLs: pass a local file, "
            "bytes, or a storage key (Media.from_key, e.g. an asset's asset_s3_key)",
            provider=NAME,
        )
    if media.kind is MediaKind.KEY:
        if not media.value.strip():
            raise refuse(field, "empty storage key")
        return media
    if media.kind is MediaKind.DATA_URI:
        try:
            data = base64.b64decode(media.value.partition(",")[2], validate=True)
        except (binascii.Error, ValueError):
            raise refuse(field, "the data URI is not valid base64") from None
        content_type = media.content_type or ""
        name = "inline" + (mimetypes.guess_extension(content_type) or "")
        media = Media.from_bytes(data, content_type, name=name)
    content_type = (media.content_type or "").lower()
    if not content_type:
        raise refuse(field, f"cannot tell the content type of {media.value}: give one")
    if content_type.split("/", 1)[0] != kind:
        raise refuse(field, f"{content_type} is not {kind}/*")
    return media


def sized(field: str, media: Media, *, image_limit: bool) -> Flow[Upload | str]:
    """The storage key of key media as it is; otherwise an Upload with its size, refused
    over the documented image limit (before any request)."""
    if media.kind is MediaKind.KEY:
        return media.value
    if media.kind is MediaKind.BYTES:
        size = len(media.data or b"")
    else:
        size = yield from stat_file(media.path, field=field)
    if image_limit and size > IMAGE_LIMIT:
        raise refuse(
            field, f"{media.name} is {size} bytes, over the documented image limit of 20 MB"
        )
    return Upload(field=field, media=media, content_type=media.content_type or "", size=size)


def upload(api: Api, item: Upload) -> Flow[str]:
    """Presign, check the size against the returned ``max_bytes``, PUT; the storage key.

    The PUT goes to the presigned URL without the API key (the URL is the credential) and
    with the Content-Type the URL was signed for. A local file is streamed, never read
    whole. Both steps are safe to repeat: neither costs credits.
    """
    response = yield from api.call(
        "POST",
        "/s3/presign-upload",
        "presign",
        json={"kind": "upload", "contentType": item.content_type, "fileName": item.media.name},
    )
    presigned = structure(
        converter, response.json(), _Presigned, provider=NAME, request_id=response.request_id
    )
    if presigned.max_bytes is not None and item.size > presigned.max_bytes:
        raise refuse(
            item.field,
            f"{item.media.name} is {item.size} bytes, over the upload limit of "
            f"{presigned.max_bytes} bytes",
        )
    content_type = presigned.content_type or item.content_type
    media = item.media
    body: bytes | FileBody
    if media.kind is MediaKind.BYTES:
        body = media.data or b""
    else:
        body = FileBody(path=media.path, content_type=content_type)
    # Not through api.request: no credential, and another origin. Its error (S3's XML
    # <Code>, <Message>) is read by the same error_from as Prism's own.
    yield from api.send_ok(
        HttpRequest(
            method="PUT",
            url=presigned.upload_url,
            kind="upload",
            headers=(("Content-Type", content_type),),
            body=body,
            retry=RetryMode.SAFE,
            timeout=_PUT_BASE_SECONDS + item.size / _PUT_BYTES_PER_SECOND,
        )
    )
    return presigned.s3_key
