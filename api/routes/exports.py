"""Exports of chat content (``audit.access.exports``): one request, one ZIP download with
``messages.jsonl`` and ``manifest.json``, through the access gate.

No export is kept on the server: whoever needs it again exports again, and that is logged
again. A search-query export asks the configured search backend (as ``GET /api/v1/search``
does, with the caller's scope) for the matching message ids; the gate then re-reads them
from the database within scope."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from anyio import to_thread
from litestar import Request, Response, post
from litestar.params import JSONBody

from api.auth.guards import context_of, principal_of, purpose_of, requires
from api.routes.content import through_gate
from api.routes.search import backend_of, open_search_scope
from api.schemas import Id
from api.timerange import utc_instant
from audit.access import exports
from audit.errors import InvalidInput
from audit.security.roles import Permission
from search.backend import MAX_LIMIT, SearchRequest
from search.query import parse_query

MANIFEST_FILE_NAME = "manifest.json"
DEFAULT_MAX_MESSAGES = 10_000
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


def _zip(export: exports.ExportFile) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(export.manifest.file, export.lines)
        archive.writestr(MANIFEST_FILE_NAME, msgspec.json.format(msgspec.json.encode(export.manifest)))
    return buffer.getvalue()


async def _search_ids(request: Request[Any, Any, Any], text: str, corp_id: str | None, limit: int) -> list[int]:
    """Every message id the backend finds for ``text`` within the caller's scope."""
    context, principal, purpose = context_of(request), principal_of(request), purpose_of(request)
    query = parse_query(text, zone=ZoneInfo(context.settings.search.timezone))  # QuerySyntaxError → 400

    _, scope, query = await to_thread.run_sync(open_search_scope, context, principal, purpose, query, corp_id)
    backend, cursor = backend_of(request), None
    ids: list[int] = []
    while True:
        page = await backend.search(SearchRequest(query, corp_id=corp_id, limit=MAX_LIMIT, cursor=cursor, scope=scope))
        ids.extend(hit.message_id for hit in page.hits)
        if len(ids) > limit:
            raise InvalidInput(
                f"more than {limit} messages match this export",
                hint="narrow the time range or the query, or raise max_messages",
            )
        if page.next_cursor is None or not page.hits:
            return ids
        cursor = page.next_cursor


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
    if (data.query is None) == (data.conversation_id is None):
        raise InvalidInput("an export needs either a query or a conversation_id (not both)")
    since, until = utc_instant("since", data.since), utc_instant("until", data.until)
    if since is not None and until is not None and since >= until:
        raise InvalidInput("since must be before until")
    message_ids = None
    if data.query is not None:
        message_ids = await _search_ids(request, data.query, data.corp_id, data.max_messages)
    selection = exports.ExportSelection(data.query, message_ids, data.conversation_id, since, until, data.corp_id)
    export = await to_thread.run_sync(
        lambda: through_gate(
            request,
            "content.export",
            selection.target(),
            lambda gate: exports.export_messages(gate, selection, max_messages=data.max_messages),
        )
    )
    return Response(
        _zip(export),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="export-{export.manifest.export_id}.zip"'},
    )
