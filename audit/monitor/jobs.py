"""Scheduled wrapper: one monitor run per corp, each in its own transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import utcnow
from audit.monitor.service import MonitorPolicy, MonitorReport, MonitorService
from audit.monitor.spikes import SpikeRule
from audit.monitor.words import TopWords
from audit.monitor.worktime import WorkingCalendar
from config.database import session_scope
from config.logs import get_logger
from config.settings import Settings

log = get_logger("audit.monitor")


def policy_from_settings(settings: Settings) -> MonitorPolicy:
    detection = settings.detection
    monitor = settings.monitor
    return MonitorPolicy(
        calendar=WorkingCalendar.from_settings(detection),
        reply_timeout_minutes=float(detection.reply_timeout_minutes),
        spike=SpikeRule(
            baseline_days=monitor.baseline_days,
            k=monitor.spike_k,
            min_messages=monitor.spike_min_messages,
            min_baseline_days=monitor.spike_min_baseline_days,
        ),
        spike_lookback_days=monitor.spike_lookback_days,
        top_words=monitor.top_words,
    )


def run_corp(
    session_factory: sessionmaker[Session],
    corp_id: str,
    policy: MonitorPolicy,
    *,
    now: datetime | None = None,
    words: TopWords | None = None,
) -> MonitorReport:
    """One run for one corp, committed as a whole (or not at all)."""
    started = time.monotonic()
    with session_scope(session_factory) as session:
        report = MonitorService(session, corp_id, policy, words).run(now or utcnow())
    log.info(
        "audit.monitor.completed",
        corp_id=corp_id,
        new_messages=report.new_messages,
        threads_written=report.threads_written,
        timeout_alerts=report.timeout_alerts,
        days_recomputed=report.days_recomputed,
        days_pending_detection=report.days_pending_detection,
        days_left=report.days_left,
        spike_alerts=report.spike_alerts,
        duration_s=round(time.monotonic() - started, 3),
    )
    return report


def run_all(session_factory: sessionmaker[Session], settings: Settings) -> list[MonitorReport]:
    policy = policy_from_settings(settings)
    corp_ids: Sequence[str] = [corp.corp_id for corp in settings.corps()]
    return [run_corp(session_factory, corp_id, policy) for corp_id in corp_ids]


def mark_rebuild(session: Session, corp_id: str, settings: Settings, first: date, now: datetime) -> int:
    """Mark a corp's rollups and reply threads from local day ``first`` on for recomputing
    (after changing the time zone, working hours or reply timeout, or after a disposal);
    returns the conversation-days marked. The next runs recompute them."""
    return MonitorService(session, corp_id, policy_from_settings(settings)).rebuild(first, now)
