"""Attachments of messages, for the conversation view: images and videos inline, files as
downloads, and voice messages transcoded for the browser.

WeCom stores voice as AMR, which no browser plays: ``…/voice`` transcodes it to Ogg/Opus
with ffmpeg (Debian's package; installed by ``scripts/install-system-deps.sh build``) on
each request. Nothing transcoded is kept: a copy outside the blob store would escape
retention. Every read goes through the access gate (one ``content.media`` log row)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from api.auth.guards import context_of, purpose_of
from api.console.auth import principal_of, signed_in
from api.disposition import content_disposition
from audit.access import reads
from audit.access.content import ContentReader
from audit.security.roles import Permission
from config.settings import ConfigError

READ = [signed_in(Permission.CONTENT_READ)]
CHUNK_BYTES = 256 * 1024
VOICE_MAX_BYTES = 8 * 1024 * 1024  # WeCom voice messages last at most 60 s (~100 KB of AMR)
TRANSCODE_TIMEOUT_S = 30
# Shown by the browser itself; anything else is downloaded, never rendered in our origin.
INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "audio/mpeg", "audio/ogg")


def _read(request: Request[Any, Any, Any], message_id: int, task_id: int) -> reads.MediaBlob:
    reader = ContentReader(context_of(request).session_factory, principal_of(request), purpose_of(request))
    return reader.media(message_id, task_id)


@get("/media/{message_id:int}/{task_id:int}", guards=READ, sync_to_thread=True)
def attachment(
    request: Request[Any, Any, Any],
    message_id: FromPath[int],
    task_id: FromPath[int],
    download: FromQuery[bool] = False,
) -> Stream:
    blob = _read(request, message_id, task_id)
    store = context_of(request).blob_store

    def chunks() -> Iterator[bytes]:
        with store.open(blob.sha256) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk

    inline = blob.content_type in INLINE_TYPES and not download
    disposition = content_disposition(
        f"{message_id}-{task_id}", blob.extension, kind="inline" if inline else "attachment"
    )
    return Stream(
        chunks(),
        media_type=blob.content_type if inline else "application/octet-stream",
        headers={"Content-Disposition": disposition},
    )


def transcode_voice(amr: bytes) -> bytes:
    """AMR (NB or WB, detected by ffmpeg from the header) → Ogg/Opus."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ConfigError(
            "ffmpeg is not installed, so voice messages cannot be played in the browser "
            "(run scripts/install-system-deps.sh build); download the .amr file instead"
        )
    result = subprocess.run(  # noqa: S603 - fixed arguments; the input is bytes on stdin
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            "pipe:0",
            "-c:a",
            "libopus",
            "-b:a",
            "24k",
            "-f",
            "ogg",
            "pipe:1",
        ],
        input=amr,
        capture_output=True,
        timeout=TRANSCODE_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0 or not result.stdout:
        raise ConfigError("this voice message could not be transcoded; download the .amr file instead")
    return result.stdout


@get("/media/{message_id:int}/{task_id:int}/voice", guards=READ, sync_to_thread=True)
def voice(request: Request[Any, Any, Any], message_id: FromPath[int], task_id: FromPath[int]) -> Response[bytes]:
    blob = _read(request, message_id, task_id)
    with context_of(request).blob_store.open(blob.sha256) as stream:
        data = stream.read(VOICE_MAX_BYTES + 1)
    if blob.content_type in INLINE_TYPES:
        return Response(data, media_type=blob.content_type)
    if len(data) > VOICE_MAX_BYTES:
        raise ConfigError("this voice message is too large to transcode; download it instead")
    return Response(
        transcode_voice(data),
        media_type="audio/ogg",
        headers={"Content-Disposition": f'inline; filename="{message_id}-{task_id}.ogg"'},
    )


HANDLERS = [attachment, voice]
