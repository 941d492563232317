"""One corp's completeness at a glance, for ``wecom-audit completeness`` and the API alike:
seq gaps (with the first few), lag and what it means against the alert thresholds, the open
alerts and the consent ledger's coverage; and member coverage over a number of local days
against WeCom's permit list."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.completeness import service
from archive.completeness.alerts import AlertSnapshot, CompletenessThresholds, Finding, assess, open_alerts
from archive.completeness.service import CoverageReport, GapSummary, LagReport, SeqGap
from archive.consent import service as consent_service
from archive.consent.service import ConsentCoverage
from archive.wecom.client import WeComClient
from config.database import session_scope
from config.settings import CorpSettings

DEFAULT_GAP_LIMIT = 20


@dataclass(frozen=True)
class CompletenessReport:
    corp_id: str
    gaps: GapSummary
    first_gaps: list[SeqGap]  # from ``from_seq`` on, at most ``gap_limit``
    lag: LagReport
    thresholds: CompletenessThresholds
    findings: list[Finding]  # each alert kind against the thresholds, now
    open_alerts: list[AlertSnapshot]
    consent: ConsentCoverage


def completeness_report(
    session: Session,
    corp_id: str,
    now: datetime,
    *,
    gap_limit: int = DEFAULT_GAP_LIMIT,
    from_seq: int = 0,
    thresholds: CompletenessThresholds | None = None,
) -> CompletenessReport:
    """Reads only the database (no call to WeCom)."""
    thresholds = thresholds or CompletenessThresholds()
    summary = service.gap_summary(session, corp_id)
    lag = service.lag(session, corp_id, now)
    return CompletenessReport(
        corp_id=corp_id,
        gaps=summary,
        first_gaps=service.gaps(session, corp_id, limit=gap_limit, from_seq=from_seq),
        lag=lag,
        thresholds=thresholds,
        findings=assess(lag, summary, thresholds),
        open_alerts=open_alerts(session, corp_id),
        consent=consent_service.coverage(session, corp_id),
    )


def coverage_of_days(
    session: Session, corp_id: str, permitted: Sequence[str], *, now: datetime, days: int, zone: str
) -> CoverageReport:
    """Coverage of the last ``days`` local days in ``zone`` up to ``now`` (today included)."""
    zone_info = ZoneInfo(zone)
    since = _local_midnight(now.astimezone(zone_info).date() - timedelta(days=days - 1), zone_info)
    return service.coverage(session, corp_id, permitted, since=since, until=now, zone=zone)


async def member_coverage(
    session_factory: sessionmaker[Session],
    corp: CorpSettings,
    *,
    days: int,
    zone: str,
    timeout_s: float,
    clock: Clock = utcnow,
) -> CoverageReport:
    """:func:`coverage_of_days` against the permit list WeCom returns now (the members with
    the archiving licence). The WeCom call is awaited; the database is read in a worker
    thread, in a transaction of its own."""
    ZoneInfo(zone)  # an unknown zone fails before WeCom is asked
    async with WeComClient(
        corp.api_base_url, corp.corp_id, corp.archive_secret.get_secret_value(), timeout_s=timeout_s
    ) as wecom:
        permitted = await wecom.permit_users()
    now = clock()

    def read() -> CoverageReport:
        with session_scope(session_factory) as session:
            return coverage_of_days(session, corp.corp_id, permitted, now=now, days=days, zone=zone)

    return await asyncio.to_thread(read)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)
