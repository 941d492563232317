"""Exports of chat content (``audit.access.exports``): one request, one ZIP download with
``messages.jsonl`` and ``manifest.json``, through the access gate.

No export is kept on the server: whoever needs it again exports again, and that is logged
again. A search-query export asks the configured search backend (as ``GET /api/v1/search``
does, with the caller's scope) for the matching message ids; the gate then re-reads them
from the database within scope. ``POST /api/v1/exports/verify`` checks an export ZIP (this
one's, or a zipped ``wecom-audit export`` directory) without the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody

from api.auth.guards import context_of, principal_of, purpose_of, requires
from api.routes.search import backend_of
from api.schemas import Id
from api.timerange import utc_instant
from audit.access import exports
from audit.security.roles import Permission
from search import service

DEFAULT_MAX_MESSAGES = 10_000
VERIFY_MAX_BYTES = 64 << 20  # the ZIP as uploaded; larger exports: `wecom-audit verify-export`
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]


class ExportRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Either ``query`` (the search language) or ``conversation_id``; ``since``/``until``
    narrow either to [since, until)."""

    query: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    conversation_id: Id | None = None
    since: AwareTime | None = None
    until: AwareTime | None = None
    corp_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    max_messages: Annotated[int, msgspec.Meta(ge=1, le=exports.EXPORT_MAX_MESSAGES)] = DEFAULT_MAX_MESSAGES


class ExportVerifyOut(msgspec.Struct, frozen=True):
    """``kind``: ``content`` (a ZIP of ``POST /api/v1/exports``), ``integrity`` (a ZIP of a
    directory written by ``wecom-audit export``) or ``unknown``; ``messages`` that
    verified; the first problems of ``problem_count``."""

    ok: bool
    kind: Literal["content", "integrity", "unknown"]
    messages: int
    problem_count: int
    problems: list[str]


@post(
    "/api/v1/exports",
    guards=[requires(Permission.CONTENT_READ)],
    status_code=200,
    media_type="application/zip",
)
async def export_content(request: Request[Any, Any, Any], data: JSONBody[ExportRequest]) -> Response[bytes]:
    """Export messages in your scope as a ZIP of ``messages.jsonl`` (one message per line:
    msgid, time, sender, recipients, type, text, media_sha256, and the display names
    sender_name, sender_synced, recipient_names) and ``manifest.json`` (the
    file's SHA-256, count, selection, who, when, purpose, the archive's chain heads).
    Needs a purpose; logged with the exported message ids."""
    context = context_of(request)
    ask = service.ExportAsk(
        data.query,
        data.conversation_id,
        utc_instant("since", data.since),
        utc_instant("until", data.until),
        data.corp_id,
        data.max_messages,
    )
    export = await service.gated_export(
        context.session_factory,
        backend_of(request),
        context.settings,
        principal_of(request),
        purpose_of(request),
        ask,
    )
    return Response(
        exports.bundle(export),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="export-{export.manifest.export_id}.zip"'},
    )


@dataclass
class ExportUpload:
    """The form: ``file``, the export ZIP as downloaded (without it: 400, not a crash)."""

    file: UploadFile


@post(
    "/api/v1/exports/verify",
    guards=[requires()],
    status_code=200,
    sync_to_thread=True,
    request_max_body_size=VERIFY_MAX_BYTES,
)
def verify_export(
    data: Annotated[ExportUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> ExportVerifyOut:
    """Check an export without the database (also: `wecom-audit verify-export` for a
    directory): a ZIP from ``POST /api/v1/exports`` against its manifest's SHA-256 and
    count, or a ZIP of a ``wecom-audit export`` directory against its manifest digest,
    file hashes and every record's chain hash. Upload the ZIP as the form field ``file``
    (``multipart/form-data``, at most 64 MiB). ``ok`` false lists the problems."""
    report = exports.verify_bundle(data.file.file.read())  # the upload's spooled file, read in this thread
    return msgspec.convert(report, ExportVerifyOut, from_attributes=True)


HANDLERS = [export_content, verify_export]
