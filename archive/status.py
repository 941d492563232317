"""What `wecom-audit status`, ``GET /api/v1/archive/status`` and ``…/completeness`` and the
console's overview show: counts, cursor, lag and the last run, gaps and consent coverage,
per corp (never content)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from archive import repository
from archive.completeness import service as completeness
from archive.completeness.alerts import AlertSnapshot, open_alerts
from archive.completeness.service import GapSummary, LagReport, SeqGap
from archive.consent import service as consent
from archive.consent.service import ConsentCoverage
from archive.integrity import repository as integrity
from archive.integrity.repository import Checkpoint
from archive.media import tasks as media_tasks
from archive.models import PullRun
from archive.repository import ArchiveCounts
from config.settings import Settings


@dataclass(frozen=True)
class ArchiveStatus:
    counts: ArchiveCounts
    # now − the time of the newest stored message: how far behind WeCom the archive is.
    lag_s: float | None
    last_run: PullRun | None


def collect_status(session: Session, corp_id: str, now: datetime) -> ArchiveStatus:
    counts = repository.archive_counts(session, corp_id)
    lag = (now - counts.newest_msgtime).total_seconds() if counts.newest_msgtime else None
    # A killed puller leaves its run "running"; once its lease has expired it is closed here,
    # so `status` never shows a dead run as running.
    repository.close_interrupted_runs(session, PullRun, corp_id, repository.pull_lease_name(corp_id), now)
    runs = repository.last_runs(session, corp_id, 1)
    return ArchiveStatus(counts, lag, runs[0] if runs else None)


def archive_corp_ids(session: Session, settings: Settings) -> list[str]:
    """Every corp the status pages report on: configured ones and any other the archive holds."""
    return sorted({c.corp_id for c in settings.corps()} | set(repository.known_corp_ids(session)))


@dataclass(frozen=True)
class CorpStatus:
    corp_id: str
    status: ArchiveStatus
    media: dict[str, int]  # media downloads by state


def status_by_corp(session: Session, settings: Settings, now: datetime) -> list[CorpStatus]:
    """``GET /api/v1/archive/status``: per corp, counts, lag, last run and media downloads."""
    return [
        CorpStatus(corp_id, collect_status(session, corp_id, now), media_tasks.count_by_status(session, corp_id))
        for corp_id in archive_corp_ids(session, settings)
    ]


@dataclass(frozen=True)
class CorpCompleteness:
    corp_id: str
    gaps: GapSummary
    first_gaps: list[SeqGap]
    lag: LagReport
    open_alerts: list[AlertSnapshot]
    consent: ConsentCoverage


def completeness_by_corp(
    session: Session, settings: Settings, now: datetime, *, gaps_shown: int
) -> list[CorpCompleteness]:
    """``GET /api/v1/archive/completeness``: per corp, seq gaps (the first ``gaps_shown``),
    lag, open alerts and consent coverage."""
    return [
        CorpCompleteness(
            corp_id=corp_id,
            gaps=completeness.gap_summary(session, corp_id),
            first_gaps=completeness.gaps(session, corp_id, limit=gaps_shown),
            lag=completeness.lag(session, corp_id, now),
            open_alerts=open_alerts(session, corp_id),
            consent=consent.coverage(session, corp_id),
        )
        for corp_id in archive_corp_ids(session, settings)
    ]


@dataclass(frozen=True)
class CorpHealth:
    """The console overview's ingest health of one corp."""

    corp_id: str
    status: ArchiveStatus
    lag: LagReport
    gaps: GapSummary
    checkpoint: Checkpoint | None  # the latest checkpoint of the hash chain


def health_by_corp(session: Session, settings: Settings, now: datetime) -> list[CorpHealth]:
    """Per corp: status, lag, gap summary and the chain's latest checkpoint."""
    return [
        CorpHealth(
            corp_id,
            collect_status(session, corp_id, now),
            completeness.lag(session, corp_id, now),
            completeness.gap_summary(session, corp_id),
            integrity.latest_checkpoint(session, corp_id),
        )
        for corp_id in archive_corp_ids(session, settings)
    ]
