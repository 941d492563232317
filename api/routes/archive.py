"""The archive's status and completeness (counts, seqs, lag — never content)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get

from api.auth.guards import context_of, requires
from api.schemas import ArchiveStatusView, CompletenessView, LastPull
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.status import CorpStatus, completeness_by_corp, status_by_corp
from audit.security.roles import Permission

FIRST_GAPS_SHOWN = 20
STATUS = [requires(Permission.ARCHIVE_STATUS)]


@get("/api/v1/archive/status", guards=STATUS, sync_to_thread=True)
def archive_status(request: Request[Any, Any, Any], db: Db) -> list[ArchiveStatusView]:
    """Per corp: messages stored, seq range and cursor, lag behind the newest message,
    quarantine size, media downloads by state and the last pull."""
    return [_status_view(corp) for corp in status_by_corp(db, context_of(request).settings, utcnow())]


def _status_view(corp: CorpStatus) -> ArchiveStatusView:
    counts, run = corp.status.counts, corp.status.last_run
    return ArchiveStatusView(
        corp_id=corp.corp_id,
        messages=counts.messages,
        envelopes=counts.envelopes,
        first_seq=counts.first_seq,
        cursor=counts.cursor,
        newest_msgtime=counts.newest_msgtime,
        lag_s=corp.status.lag_s,
        quarantined=counts.quarantined_open,
        unknown_types=counts.unknown_types,
        conversations=counts.conversations,
        media=corp.media,
        last_pull=None if run is None else msgspec.convert(run, LastPull, from_attributes=True),
    )


@get("/api/v1/archive/completeness", guards=STATUS, sync_to_thread=True)
def archive_completeness(request: Request[Any, Any, Any], db: Db) -> list[CompletenessView]:
    """Per corp: seq gaps (with the first few), message and media lag, open alerts, and the
    archived pairs without recorded consent (not data loss: WeCom does not archive them)."""
    reports = completeness_by_corp(db, context_of(request).settings, utcnow(), gaps_shown=FIRST_GAPS_SHOWN)
    return [
        CompletenessView(
            corp_id=report.corp_id,
            gaps=report.gaps,
            first_gaps=report.first_gaps,
            lag=report.lag,
            open_alerts=report.open_alerts,
            consent=report.consent,
        )
        for report in reports
    ]
