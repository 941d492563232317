"""The access log, for auditors: search it and verify its hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter

from api.auth.guards import context_of, requires
from api.pagination import decode_cursor, encode_cursor, page_size
from api.schemas import AccessLogEntryOut, AccessLogPage, AccessLogVerifyOut
from api.timerange import utc_instant
from audit.accesslog import log as access_log
from audit.security.roles import Permission
from config.database import session_scope

AUDITOR = [requires(Permission.ACCESS_LOG_READ)]


@get("/api/v1/access-log", guards=AUDITOR, sync_to_thread=True)
def search_access_log(
    request: Request[Any, Any, Any],
    actor: FromQuery[str | None] = None,
    action: Annotated[str | None, QueryParameter(description="an action or a prefix such as 'content.'")] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
) -> AccessLogPage:
    """Who read or changed what, newest first. Times without a zone are read as UTC."""
    size = page_size(limit)
    key = decode_cursor(cursor, int)
    query = access_log.AccessLogQuery(actor, action, utc_instant("since", since), utc_instant("until", until))
    with session_scope(context_of(request).session_factory) as session:
        rows = access_log.search(session, query, before_position=key[0] if key else None, limit=size)
    next_cursor = encode_cursor(rows[-1].position) if len(rows) == size else None
    return AccessLogPage([AccessLogEntryOut(**row.__dict__) for row in rows], next_cursor)


@get("/api/v1/access-log/verify", guards=AUDITOR, sync_to_thread=True)
def verify_access_log(request: Request[Any, Any, Any]) -> AccessLogVerifyOut:
    """Recompute the whole chain (also: `wecom-audit access-log verify`)."""
    with session_scope(context_of(request).session_factory) as session:
        report = access_log.verify(session)
    return AccessLogVerifyOut(
        report.ok, report.checked, report.head_position, report.problems, report.checkpoints_checked, report.keyed_from
    )
