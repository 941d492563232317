"""The overview's figures: the one use case behind the console's overview page and
``GET /api/v1/overview``. Each part is computed only for a caller whose role covers it
(``None`` otherwise), counted within their scope; counts only, never content:

- ingest health per corp (``archive:status``): lag, last pull, quarantine, gaps, media,
  the hash chain's latest checkpoint;
- alerts per day and severity, and open alerts by review state (``alerts:read``);
- the riskiest groups of the last days (``monitor:read``), ranked before the scope filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from archive.directory.names import Names, display_names
from archive.status import CorpHealth, health_by_corp
from audit.alerts import queries as alert_counts
from audit.monitor.queries import GroupRisk
from audit.monitor.views import riskiest_groups
from audit.security.principal import Principal
from audit.security.roles import Permission
from audit.security.scope import resolve_scope
from config.settings import Settings


@dataclass(frozen=True)
class OverviewPeriods:
    alert_days: int  # alerts: this many days up to today in the reader's zone
    group_days: int  # groups: this many local days of the detection zone
    groups_ranked: int  # per corp, before the scope filter
    groups_shown: int


@dataclass(frozen=True)
class Overview:
    health: list[CorpHealth] | None
    alert_days: list[date]  # oldest first
    alerts_by_day: dict[tuple[date, str], int] | None  # (day, severity) → alerts created
    open_alerts_by_status: dict[str, int] | None
    group_first: date
    group_last: date
    riskiest_groups: list[GroupRisk] | None  # riskiest first
    names: Names  # the groups' names


def overview(
    session: Session, principal: Principal, settings: Settings, now: datetime, zone: ZoneInfo, periods: OverviewPeriods
) -> Overview:
    """The figures this caller may see (``zone``: where the alerts' days are counted)."""
    last_day = now.astimezone(zone).date()
    alert_days = [last_day - timedelta(days=offset) for offset in range(periods.alert_days - 1, -1, -1)]
    # Rollup days are local days of the detection zone (as on the groups page), not UTC days.
    group_last = now.astimezone(ZoneInfo(settings.detection.timezone)).date()
    group_first = group_last - timedelta(days=periods.group_days - 1)
    can_alerts = principal.can(Permission.ALERTS_READ)
    scope = resolve_scope(session, principal) if can_alerts else None
    groups = (
        riskiest_groups(
            session,
            principal,
            group_first,
            group_last,
            ranked_per_corp=periods.groups_ranked,
            shown=periods.groups_shown,
        )
        if principal.can(Permission.MONITOR_READ)
        else None
    )
    return Overview(
        health=health_by_corp(session, settings, now) if principal.can(Permission.ARCHIVE_STATUS) else None,
        alert_days=alert_days,
        alerts_by_day=None
        if scope is None
        else alert_counts.alerts_by_day_and_severity(session, scope, zone, last_day, periods.alert_days),
        open_alerts_by_status=None if scope is None else dict(alert_counts.open_alerts_by_status(session, scope)),
        group_first=group_first,
        group_last=group_last,
        riskiest_groups=groups,
        names=display_names(session, None, {g.roomid for g in groups or () if g.roomid}),
    )
