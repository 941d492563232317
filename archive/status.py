"""What `wecom-audit status` shows: counts, cursor, lag and the last run, per corp."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from archive import repository
from archive.models import PullRun
from archive.repository import ArchiveCounts


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
