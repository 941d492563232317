"""The access log, for auditors: search it, verify its hash chain and checkpoint its head."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.params import FromQuery, QueryParameter

from api.auth.guards import requires
from api.pagination import decode_cursor, encode_cursor, page_size
from api.schemas import AccessLogCheckpointed, AccessLogEntryOut, AccessLogPage, AccessLogVerifyOut
from api.timerange import utc_instant
from api.unit_of_work import Context, Db
from audit.accesslog import jobs as access_jobs
from audit.accesslog import log as access_log
from audit.security.roles import Permission

AUDITOR = [requires(Permission.ACCESS_LOG_READ)]


@get("/api/v1/access-log", guards=AUDITOR, sync_to_thread=True)
def search_access_log(
    db: Db,
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
    rows = access_log.search(db, query, before_position=key[0] if key else None, limit=size)
    next_cursor = encode_cursor(rows[-1].position) if len(rows) == size else None
    return AccessLogPage(msgspec.convert(rows, list[AccessLogEntryOut], from_attributes=True), next_cursor)


@get("/api/v1/access-log/verify", guards=AUDITOR, sync_to_thread=True)
def verify_access_log(db: Db) -> AccessLogVerifyOut:
    """Recompute the whole chain (also: the console's access-log page, `wecom-audit access-log verify`)."""
    return msgspec.convert(access_log.verify(db), AccessLogVerifyOut, from_attributes=True)


@post("/api/v1/access-log/checkpoints", guards=AUDITOR, sync_to_thread=True, status_code=200)
def checkpoint_access_log(context: Context) -> AccessLogCheckpointed:
    """Verify the whole chain and, if it is intact, checkpoint its head to the database and
    the anchor file (also: `wecom-audit access-log verify`). A broken chain is reported with
    no checkpoint: treat it as possible tampering."""
    done = access_jobs.verify_and_checkpoint(context.session_factory)
    return msgspec.convert(done, AccessLogCheckpointed, from_attributes=True)


HANDLERS = [
    search_access_log,
    verify_access_log,
    checkpoint_access_log,
]
