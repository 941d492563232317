"""The scheduler process: pulls every corp on an interval (APScheduler 3.x).

One job per corp with ``max_instances=1`` keeps one puller per corp inside a process; the
database lease (see ``archive.puller``) keeps one per corp across processes. A
``msgaudit_notify`` callback calls :meth:`PullScheduler.trigger` to pull at once;
repeated triggers while a pull runs coalesce into one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from api.context import AppContext
from archive.completeness.jobs import check_all
from archive.errors import ArchiveError
from archive.integrity.jobs import checkpoint_all
from archive.media.downloader import MediaReport
from archive.puller import PullReport
from archive.retention.jobs import dispose_all
from config.logs import get_logger

log = get_logger("api.scheduler")


class PullScheduler:
    def __init__(self, context: AppContext, *, interval_s: float | None = None) -> None:
        self.context = context
        self.interval_s = interval_s or context.settings.scheduler.pull_interval_s
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.media_interval_s = context.settings.scheduler.media_interval_s
        self.last_reports: dict[str, PullReport] = {}
        self.last_media_reports: dict[str, MediaReport] = {}
        self.heartbeat: datetime | None = None

    def start(self) -> None:
        settings = self.context.settings
        for corp in settings.corps():
            self._every(self.interval_s, self.pull, _job_id(corp.corp_id), corp.corp_id, now=True)
            # Media has its own job: a long download never delays the message cursor.
            self._every(self.media_interval_s, self.fetch_media, f"media:{corp.corp_id}", corp.corp_id, now=True)
        self._every(settings.completeness.check_interval_s, self.check_completeness, "completeness:check")
        self._every(settings.scheduler.checkpoint_interval_s, self.checkpoint, "integrity:checkpoint")
        # Retention: one disposition run a day for every corp (holds and locks are honoured there).
        self._every(settings.scheduler.disposition_interval_s, self.dispose, "retention:dispose")
        self.scheduler.start()

    def _every(self, seconds: float, job: Callable[..., object], job_id: str, *args: str, now: bool = False) -> None:
        """One job at a time per id (a run still going absorbs the next tick)."""
        self.scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            args=list(args),
            id=job_id,
            max_instances=1,
            coalesce=True,
            **({"next_run_time": datetime.now(UTC)} if now else {}),
        )

    def pull(self, corp_id: str, trigger: str = "schedule") -> PullReport | None:
        self.heartbeat = datetime.now(UTC)
        try:
            report = self.context.puller(corp_id).run(trigger)
        except ArchiveError as exc:
            log.error("archive.pull.not_started", corp_id=corp_id, error_code=exc.code, error=str(exc))
            return None
        self.last_reports[corp_id] = report
        return report

    def fetch_media(self, corp_id: str) -> MediaReport | None:
        try:
            report = self.context.media_downloader(corp_id).run(time_budget_s=self.media_interval_s * 10)
        except ArchiveError as exc:
            log.error("archive.media.not_started", corp_id=corp_id, error_code=exc.code, error=str(exc))
            return None
        self.last_media_reports[corp_id] = report
        return report

    def check_completeness(self) -> None:
        corp_ids = [corp.corp_id for corp in self.context.settings.corps()]
        check_all(self.context.session_factory, corp_ids, self.context.completeness_thresholds)

    def checkpoint(self) -> None:
        checkpoint_all(self.context.session_factory, self.context.settings)

    def dispose(self) -> None:
        corp_ids = [corp.corp_id for corp in self.context.settings.corps()]
        dispose_all(self.context.session_factory, corp_ids, blob_store=self.context.blob_store)

    def trigger(self, corp_id: str) -> None:
        """Run the corp's pull job now (debounced: a running pull absorbs the trigger)."""
        self.scheduler.modify_job(_job_id(corp_id), next_run_time=datetime.now(UTC))

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.context.close()


def _job_id(corp_id: str) -> str:
    return f"pull:{corp_id}"
