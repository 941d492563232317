"""The overview's figures over HTTP (``audit.monitor.overview``: the use case behind the
console's overview page): ingest health per corp, alerts per day and severity, open alerts
by review state and the riskiest groups — each part for a caller whose role covers it
(``null`` otherwise), counted within their scope. Counts only, never content."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from litestar import Request, get
from litestar.params import QueryParameter

from api.auth.guards import context_of, principal_of, requires
from api.routes.monitor import GroupRiskOut
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.completeness.service import GapSummary, LagReport
from archive.integrity.repository import Checkpoint
from archive.status import CorpHealth
from audit.errors import InvalidInput
from audit.monitor.overview import Overview, OverviewPeriods, overview

DEFAULT_ALERT_DAYS = 14
DEFAULT_GROUP_DAYS = 7
GROUPS_SHOWN = 10
GROUPS_RANKED = 200  # per corp, before the scope filter (as the console's overview)


class LastPullOut(msgspec.Struct, frozen=True):
    status: str
    started_at: datetime
    finished_at: datetime | None


class CorpHealthOut(msgspec.Struct, frozen=True):
    corp_id: str
    messages: int
    quarantined: int
    lag: LagReport
    gaps: GapSummary
    last_pull: LastPullOut | None
    latest_checkpoint: Checkpoint | None  # the hash chain's latest checkpoint


class AlertDayOut(msgspec.Struct, frozen=True):
    day: date  # in ``timezone``
    severity: str
    count: int


class OverviewOut(msgspec.Struct, frozen=True):
    timezone: str  # the zone the alerts' days are counted in
    ingest: list[CorpHealthOut] | None  # archive:status
    alerts_by_day: list[AlertDayOut] | None  # alerts:read; days without alerts are absent
    open_alerts_by_status: dict[str, int] | None  # alerts:read
    groups_first: date  # the groups' period (local days of the detection zone)
    groups_last: date
    riskiest_groups: list[GroupRiskOut] | None  # monitor:read; riskiest first


def _health_out(corp: CorpHealth) -> CorpHealthOut:
    run = corp.status.last_run
    return CorpHealthOut(
        corp_id=corp.corp_id,
        messages=corp.status.counts.messages,
        quarantined=corp.status.counts.quarantined_open,
        lag=corp.lag,
        gaps=corp.gaps,
        last_pull=None if run is None else msgspec.convert(run, LastPullOut, from_attributes=True),
        latest_checkpoint=corp.checkpoint,
    )


def _out(figures: Overview, timezone: str) -> OverviewOut:
    names = figures.names
    return OverviewOut(
        timezone=timezone,
        ingest=None if figures.health is None else [_health_out(corp) for corp in figures.health],
        alerts_by_day=None
        if figures.alerts_by_day is None
        else [AlertDayOut(day, severity, count) for (day, severity), count in sorted(figures.alerts_by_day.items())],
        open_alerts_by_status=figures.open_alerts_by_status,
        groups_first=figures.group_first,
        groups_last=figures.group_last,
        riskiest_groups=None
        if figures.riskiest_groups is None
        else [
            msgspec.structs.replace(
                msgspec.convert(g, GroupRiskOut, from_attributes=True),
                room_name=names.label(g.roomid) if g.roomid else None,
                room_synced=names.of(g.roomid).synced if g.roomid else False,
            )
            for g in figures.riskiest_groups
        ],
    )


@get("/api/v1/overview", guards=[requires()], sync_to_thread=True)
def get_overview(
    request: Request[Any, Any, Any],
    db: Db,
    timezone: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
    alert_days: Annotated[int, QueryParameter(ge=1, le=92)] = DEFAULT_ALERT_DAYS,
    group_days: Annotated[int, QueryParameter(ge=1, le=92)] = DEFAULT_GROUP_DAYS,
    groups: Annotated[int, QueryParameter(ge=1, le=100)] = GROUPS_SHOWN,
) -> OverviewOut:
    """What the console's overview shows, as counts: ingest health per corp
    (``archive:status``), alerts per day and severity over ``alert_days`` days in
    ``timezone`` (default: the configured zone) and open alerts by review state
    (``alerts:read``), and the riskiest groups of the last ``group_days`` days
    (``monitor:read``). Parts your role does not cover are ``null``."""
    settings = context_of(request).settings
    name = timezone or settings.search.timezone
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}", hint="an IANA name such as Asia/Shanghai") from None
    periods = OverviewPeriods(alert_days, group_days, GROUPS_RANKED, groups)
    return _out(overview(db, principal_of(request), settings, utcnow(), zone, periods), name)
