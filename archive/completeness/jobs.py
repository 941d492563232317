"""The scheduled completeness check: evaluate every corp's alerts, one transaction each."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.completeness.alerts import AlertSnapshot, CompletenessThresholds, evaluate
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.completeness")


def check_all(
    session_factory: sessionmaker[Session],
    corp_ids: Sequence[str],
    thresholds: CompletenessThresholds,
    *,
    clock: Clock = utcnow,
) -> dict[str, list[AlertSnapshot]]:
    """Evaluate each corp's alerts; returns them by corp (open ones and those just resolved)."""
    results: dict[str, list[AlertSnapshot]] = {}
    for corp_id in corp_ids:
        with session_scope(session_factory) as session:
            snapshots = evaluate(session, corp_id, clock(), thresholds)
        results[corp_id] = snapshots
        still_open = [s for s in snapshots if s.change != "resolved"]
        log.info(
            "archive.completeness.checked",
            corp_id=corp_id,
            open_alerts=len(still_open),
            critical=sum(1 for s in still_open if s.severity == "critical"),
        )
    return results
