"""The archive's status and completeness (counts, seqs, lag — never content)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from api.auth.guards import context_of, requires
from api.schemas import ArchiveStatusView, CompletenessView, LastPull
from archive import repository
from archive.clock import utcnow
from archive.completeness import service as completeness
from archive.completeness.alerts import open_alerts
from archive.consent import service as consent
from archive.media import tasks as media_tasks
from archive.status import collect_status
from audit.security.roles import Permission
from config.database import session_scope

FIRST_GAPS_SHOWN = 20
STATUS = [requires(Permission.ARCHIVE_STATUS)]


@get("/api/v1/archive/status", guards=STATUS, sync_to_thread=True)
def archive_status(request: Request[Any, Any, Any]) -> list[ArchiveStatusView]:
    """Per corp: messages stored, seq range and cursor, lag behind the newest message,
    quarantine size, media downloads by state and the last pull."""
    context = context_of(request)
    views = []
    with session_scope(context.session_factory) as session:
        corp_ids = sorted({c.corp_id for c in context.settings.corps()} | set(repository.known_corp_ids(session)))
        for corp_id in corp_ids:
            status = collect_status(session, corp_id, utcnow())
            counts, run = status.counts, status.last_run
            views.append(
                ArchiveStatusView(
                    corp_id=corp_id,
                    messages=counts.messages,
                    envelopes=counts.envelopes,
                    first_seq=counts.first_seq,
                    cursor=counts.cursor,
                    newest_msgtime=counts.newest_msgtime,
                    lag_s=status.lag_s,
                    quarantined=counts.quarantined_open,
                    unknown_types=counts.unknown_types,
                    conversations=counts.conversations,
                    media=media_tasks.count_by_status(session, corp_id),
                    last_pull=None
                    if run is None
                    else LastPull(
                        run.status, run.started_at, run.finished_at, run.stored, run.quarantined, run.error_code
                    ),
                )
            )
    return views


@get("/api/v1/archive/completeness", guards=STATUS, sync_to_thread=True)
def archive_completeness(request: Request[Any, Any, Any]) -> list[CompletenessView]:
    """Per corp: seq gaps (with the first few), message and media lag, open alerts, and the
    archived pairs without recorded consent (not data loss: WeCom does not archive them)."""
    context = context_of(request)
    now = utcnow()
    with session_scope(context.session_factory) as session:
        corp_ids = sorted({c.corp_id for c in context.settings.corps()} | set(repository.known_corp_ids(session)))
        return [
            CompletenessView(
                corp_id=corp_id,
                gaps=completeness.gap_summary(session, corp_id),
                first_gaps=completeness.gaps(session, corp_id, limit=FIRST_GAPS_SHOWN),
                lag=completeness.lag(session, corp_id, now),
                open_alerts=open_alerts(session, corp_id),
                consent=consent.coverage(session, corp_id),
            )
            for corp_id in corp_ids
        ]
