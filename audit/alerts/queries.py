"""Read-only alert aggregates for charts (counts only: never chat content).

Each takes the caller's data scope, so a reviewer's charts count only what their scope
reaches (alerts of conversations they may read)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.alerts.models import Alert
from audit.alerts.visibility import visible_alerts
from audit.security.scope import DataScope

ALERT_ROWS_MAX = 50_000  # a chart of more alerts than this would be unreadable anyway


def alerts_by_day_and_severity(
    session: Session, scope: DataScope, zone: ZoneInfo, last_day: date, days: int
) -> dict[tuple[date, str], int]:
    """Alerts created per day (in ``zone``) and severity, for ``days`` days up to ``last_day``."""
    first_day = last_day - timedelta(days=days - 1)
    since = datetime.combine(first_day, datetime.min.time(), zone)
    rows = session.execute(
        select(Alert.created_at, Alert.severity)
        .where(Alert.created_at >= since, visible_alerts(scope))
        .limit(ALERT_ROWS_MAX)
    )
    return Counter((created.astimezone(zone).date(), severity) for created, severity in rows)


def open_alerts_by_status(session: Session, scope: DataScope) -> dict[str, int]:
    rows = session.execute(select(Alert.status).where(visible_alerts(scope)))
    return Counter(rows.scalars())


def alerts_by_corp_and_status(session: Session) -> list[tuple[str, str, int]]:
    """(corp, status, alerts) over every corp, unscoped: for ``/metrics`` (the scrape token), counts only."""
    rows = session.execute(select(Alert.corp_id, Alert.status, func.count()).group_by(Alert.corp_id, Alert.status))
    return [(corp_id, status, int(count)) for corp_id, status, count in rows]
