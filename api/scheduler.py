"""The scheduler process: pulls every corp on an interval (APScheduler 3.x), and runs the
stages after it: detection (which passes every message on to the indexer) and the indexer.

One job per corp with ``max_instances=1`` keeps one puller per corp inside a process; the
database lease (see ``archive.puller``) keeps one per corp across processes. A
``msgaudit_notify`` callback calls :meth:`PullScheduler.trigger` to pull at once;
repeated triggers while a pull runs coalesce into one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from api.context import AppContext
from api.unit_of_work import transaction
from archive.completeness.jobs import check_all
from archive.consent.jobs import ConsentCheckLimits
from archive.consent.jobs import run_corp as run_consent
from archive.directory.jobs import run_sync
from archive.directory.service import sync_status
from archive.directory.sync import DirectorySyncReport
from archive.errors import ArchiveError
from archive.integrity.jobs import checkpoint_all
from archive.media.downloader import MediaReport
from archive.puller import PullReport
from archive.retention.jobs import dispose_all
from audit.accesslog.jobs import checkpoint as checkpoint_access_log
from audit.handover.discovery import discover_cases
from audit.handover.polling import poll_executing
from audit.monitor.jobs import run_all as run_monitor
from audit.stage import DetectionStage, TrainedSentiment, detect_and_notify
from config.logs import get_logger
from config.settings import ConfigError
from search.jobs import index_tick

log = get_logger("api.scheduler")

HANDOVER_POLL_INTERVAL_S = 60  # transfer results (customers have 24 h to refuse)
HANDOVER_DISCOVER_INTERVAL_S = 600  # departed members in get_unassigned_list
HANDOVER_FIRST_DISCOVER_S = 45
DIRECTORY_FIRST_SYNC_S = 30  # after the first pull, whose groups and robots the sync reads


class PullScheduler:
    def __init__(self, context: AppContext, *, interval_s: float | None = None) -> None:
        self.context = context
        self.interval_s = interval_s or context.settings.scheduler.pull_interval_s
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.media_interval_s = context.settings.scheduler.media_interval_s
        self.last_reports: dict[str, PullReport] = {}
        self.last_media_reports: dict[str, MediaReport] = {}
        self.last_directory_reports: dict[str, DirectorySyncReport] = {}
        self.heartbeat: datetime | None = None
        self.detection_stage: DetectionStage | None = None  # built on first run (keeps compiled rules)

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
        # Detection after storage (outbox consumer "detect"), then alert notifications.
        self._every(settings.alerts.detect_interval_s, self.detect, "detect:stage")
        # Group monitoring rollups, reply timeouts and spikes (reads detection results).
        self._every(settings.monitor.interval_s, self.monitor, "monitor:rollups")
        self._every(settings.search.indexer_interval_s, self.index_search, "search:index")
        # Consent ledger: new agree/disagree messages, then WeCom's check APIs (archive secret).
        self._every(settings.consent.check_interval_s, self.check_consent, "consent:check", first_in_s=60)
        # Handover cases need the 客户联系 secret: without one there is nothing to ask WeCom.
        if self._handover_corps():
            self._every(HANDOVER_POLL_INTERVAL_S, self.poll_handovers, "handover:poll")
            # First soon after start (after the first pull), so new leavers are not 10 minutes away.
            self._every(
                HANDOVER_DISCOVER_INTERVAL_S,
                self.discover_handovers,
                "handover:discover",
                first_in_s=HANDOVER_FIRST_DISCOVER_S,
            )
        # The directory from WeCom (ADR 0020): a full sync every interval (daily by default);
        # callbacks ask for one sooner. It needs the 客户联系 secret too.
        for corp_id in self._handover_corps():
            self._every(
                settings.scheduler.directory_sync_interval_s,
                self.sync_directory,
                f"directory:{corp_id}",
                corp_id,
                first_in_s=DIRECTORY_FIRST_SYNC_S,
            )
        self.scheduler.start()

    def _every(
        self,
        seconds: float,
        job: Callable[..., object],
        job_id: str,
        *args: str,
        now: bool = False,
        first_in_s: float | None = None,
    ) -> None:
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
            **({"next_run_time": datetime.now(UTC) + timedelta(seconds=first_in_s)} if first_in_s is not None else {}),
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
        checkpoint_access_log(self.context.session_factory)

    def dispose(self) -> None:
        corp_ids = [corp.corp_id for corp in self.context.settings.corps()]
        dispose_all(self.context.session_factory, corp_ids, blob_store=self.context.blob_store)

    def detect(self) -> None:
        settings = self.context.settings
        if self.detection_stage is None:
            self.detection_stage = DetectionStage(
                settings.detection, settings.alerts, sentiment=TrainedSentiment.from_settings(settings)
            )
        detect_and_notify(self.detection_stage, self.context.session_factory, settings.notify)

    def monitor(self) -> None:
        run_monitor(self.context.session_factory, self.context.settings)

    def index_search(self) -> None:
        search = self.context.settings.search
        index_tick(
            self.context.session_factory,
            self.context.search_backend,
            batch=search.indexer_batch,
            budget_s=search.indexer_interval_s * 4,
        )

    def check_consent(self) -> None:
        """The consent ledger's run for every corp (see ``archive.consent.jobs``)."""
        consent = self.context.settings.consent
        limits = ConsentCheckLimits(
            timedelta(hours=consent.recheck_after_h), consent.max_pairs_per_run, consent.max_rooms_per_run
        )
        for corp in self.context.settings.corps():
            try:
                asyncio.run(run_consent(self.context.session_factory, corp, datetime.now(UTC), limits))
            except (ArchiveError, ConfigError) as exc:
                log.error(
                    "archive.consent.not_finished", corp_id=corp.corp_id, error_type=type(exc).__name__, error=str(exc)
                )

    def _handover_corps(self) -> list[str]:
        return [corp.corp_id for corp in self.context.settings.corps() if corp.contact_secret.get_secret_value()]

    def poll_handovers(self) -> None:
        """Read the transfer results of every executing handover case."""
        for corp_id in self._handover_corps():
            try:
                asyncio.run(self._poll_handovers(corp_id))
            except ArchiveError as exc:
                log.error("handover.poll.not_started", corp_id=corp_id, error_code=exc.code, error=str(exc))

    async def _poll_handovers(self, corp_id: str) -> None:
        async with self.context.wecom_contacts(corp_id) as contacts:
            await poll_executing(self.context.session_factory, contacts, corp_id, datetime.now(UTC))

    def discover_handovers(self) -> None:
        """Open a case for every departed member WeCom lists with unassigned customers."""
        for corp_id in self._handover_corps():
            try:
                asyncio.run(self._discover_handovers(corp_id))
            except ArchiveError as exc:
                log.error("handover.discover.not_started", corp_id=corp_id, error_code=exc.code, error=str(exc))

    async def _discover_handovers(self, corp_id: str) -> None:
        async with self.context.wecom_contacts(corp_id) as contacts:
            await discover_cases(self.context.session_factory, contacts, corp_id, datetime.now(UTC))

    def sync_directory(self, corp_id: str) -> DirectorySyncReport | None:
        """A full directory sync of the corp (or the rest of an interrupted one), unless one
        finished within the interval (a restarted scheduler does not sync again at once)."""
        settings = self.context.settings
        with transaction(self.context) as session:
            status = sync_status(session, corp_id)
        interval = timedelta(seconds=settings.scheduler.directory_sync_interval_s)
        if status.step is None and status.finished_at is not None and datetime.now(UTC) - status.finished_at < interval:
            log.info("archive.directory.sync.not_due", corp_id=corp_id)
            return None
        try:
            report = run_sync(
                self.context.session_factory,
                settings.corp(corp_id),
                calls_per_minute=settings.scheduler.directory_calls_per_minute,
                trigger="schedule",
            )
        except ArchiveError as exc:  # recorded on the run row; the next tick resumes at its step
            log.error("archive.directory.sync.not_finished", corp_id=corp_id, error_code=exc.code)
            return None
        self.last_directory_reports[corp_id] = report
        return report

    def trigger(self, corp_id: str) -> None:
        """Run the corp's pull job now (debounced: a running pull absorbs the trigger)."""
        self.scheduler.modify_job(_job_id(corp_id), next_run_time=datetime.now(UTC))

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.context.close()


def _job_id(corp_id: str) -> str:
    return f"pull:{corp_id}"
