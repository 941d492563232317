"""Running a directory sync from settings: the two WeCom clients, paced, and the sync; and
the background trigger that callbacks and the admin API use.

Used by the CLI (``wecom-audit directory sync``), the scheduler's daily job, the callback
trigger and the admin API — one code path, the demo's included.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from archive.directory.errors import DirectoryConfigError, DirectorySyncBusy
from archive.directory.sync import DEFAULT_LEASE_TTL, DirectorySync, DirectorySyncReport, ProgressCallback
from archive.wecom.contacts import WeComContacts
from archive.wecom.directory import CallPacer, PacedWeComClient, WeComDirectory
from config.logs import get_logger
from config.settings import CorpSettings

log = get_logger("archive.directory")


async def sync_corp(
    session_factory: sessionmaker[Session],
    corp: CorpSettings,
    *,
    calls_per_minute: int,
    trigger: str = "manual",
    progress: ProgressCallback | None = None,
    lease_ttl: timedelta = DEFAULT_LEASE_TTL,
) -> DirectorySyncReport:
    """Sync ``corp``'s directory (or resume its interrupted sync). Needs both secrets: the
    客户联系 one for 通讯录 and customers, the 会话内容存档 one for internal groups and robots."""
    contact_secret = corp.contact_secret.get_secret_value()
    archive_secret = corp.archive_secret.get_secret_value()
    if not contact_secret:
        raise DirectoryConfigError(
            f"no customer-contact (客户联系) secret is configured for corp {corp.corp_id!r}",
            hint="set WECOM_AUDIT_WECOM__CONTACT_SECRET (WeCom admin console → 客户联系 → API → Secret); "
            "the directory (通讯录) and customers are read with it",
        )
    if not archive_secret:
        raise DirectoryConfigError(
            f"no archive (会话内容存档) secret is configured for corp {corp.corp_id!r}",
            hint="set WECOM_AUDIT_WECOM__ARCHIVE_SECRET; internal groups and robots are read with it",
        )
    pacer = CallPacer(calls_per_minute)  # shared: the two clients together stay under the pace
    async with (
        PacedWeComClient(corp.api_base_url, corp.corp_id, contact_secret, pacer) as contact,
        PacedWeComClient(corp.api_base_url, corp.corp_id, archive_secret, pacer) as archive,
    ):
        sync = DirectorySync(
            corp.corp_id,
            WeComDirectory(contact, archive),
            WeComContacts(contact),
            session_factory,
            pacer=pacer,
            progress=progress,
            lease_ttl=lease_ttl,
        )
        return await sync.run(trigger)


def run_sync(
    session_factory: sessionmaker[Session],
    corp: CorpSettings,
    *,
    calls_per_minute: int,
    trigger: str = "manual",
    progress: ProgressCallback | None = None,
) -> DirectorySyncReport:
    """:func:`sync_corp` for synchronous callers (CLI, scheduler threads): its own event loop."""
    return asyncio.run(
        sync_corp(session_factory, corp, calls_per_minute=calls_per_minute, trigger=trigger, progress=progress)
    )


class DirectorySyncTrigger:
    """Runs a corp's directory sync in a background thread when asked (a callback, the
    admin API), coalescing requests: callbacks come in bursts and are hints only (ADR 0020).

    A request while none is waiting or running starts one after ``delay_s`` (the debounce:
    later requests in that window join it); a request while one runs is remembered and
    starts one more sync after it, so a change made during a sync is not missed. The
    database lease still keeps one sync per corp across processes: a sync another process
    holds is logged and skipped (its periodic run catches up)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        corps: Callable[[str | None], CorpSettings],
        *,
        calls_per_minute: int,
        debounce_s: float,
    ) -> None:
        self._session_factory = session_factory
        self._corps = corps
        self._calls_per_minute = calls_per_minute
        self._debounce_s = debounce_s
        self._lock = threading.Lock()
        self._waiting: dict[str, threading.Timer] = {}
        self._running: dict[str, threading.Thread] = {}
        self._again: set[str] = set()
        self.finished: dict[str, DirectorySyncReport | str] = {}  # corp → last report or error code

    def request(self, corp_id: str, trigger: str, *, delay_s: float | None = None) -> bool:
        """Ask for a sync of ``corp_id``; False when the request joined one already asked for."""
        delay = self._debounce_s if delay_s is None else delay_s
        with self._lock:
            if corp_id in self._waiting:
                return False
            if corp_id in self._running:
                self._again.add(corp_id)
                return False
            timer = threading.Timer(delay, self._start, args=(corp_id, trigger))
            timer.name, timer.daemon = f"directory-sync-wait-{corp_id}", True
            self._waiting[corp_id] = timer
        timer.start()
        return True

    def busy(self, corp_id: str) -> bool:
        with self._lock:
            return corp_id in self._waiting or corp_id in self._running

    def wait(self, corp_id: str, timeout_s: float) -> None:
        """Until no sync of the corp waits or runs here (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.busy(corp_id) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _start(self, corp_id: str, trigger: str) -> None:
        thread = threading.Thread(
            target=self._run, args=(corp_id, trigger), name=f"directory-sync-{corp_id}", daemon=True
        )
        with self._lock:
            self._waiting.pop(corp_id, None)
            self._running[corp_id] = thread
        thread.start()

    def _run(self, corp_id: str, trigger: str) -> None:
        try:
            report = run_sync(
                self._session_factory, self._corps(corp_id), calls_per_minute=self._calls_per_minute, trigger=trigger
            )
            self.finished[corp_id] = report
        except DirectorySyncBusy:
            log.info("archive.directory.sync.skipped", corp_id=corp_id, reason="running in another process")
            self.finished[corp_id] = DirectorySyncBusy.code
        except Exception as exc:  # a background thread: recorded on the run row and logged
            log.error("archive.directory.sync.background_failed", corp_id=corp_id, error_type=type(exc).__name__)
            self.finished[corp_id] = getattr(exc, "code", "internal")
        finally:
            with self._lock:
                self._running.pop(corp_id, None)
                again = corp_id in self._again
                self._again.discard(corp_id)
            if again:
                self.request(corp_id, trigger)
