"""The Litestar application factory (JSON API under /api/v1).

Today it serves health and the archive's status (counts, seqs, lag — never content).
Authentication, roles and the access gate arrive with the audit API; until then the
server binds to loopback by default.
"""

from __future__ import annotations

import threading

import uvicorn
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide

from api.context import AppContext
from api.schemas import ArchiveStatusView, CompletenessView, Health, LastPull
from archive import repository
from archive.clock import utcnow
from archive.completeness import service as completeness
from archive.completeness.alerts import open_alerts
from archive.media import tasks as media_tasks
from archive.models import PullRun
from archive.status import collect_status
from config.database import session_scope

FIRST_GAPS_SHOWN = 20


@get("/health/live", sync_to_thread=False)
def live() -> Health:
    return Health(status="ok")


@get("/api/v1/archive/status", sync_to_thread=True)
def archive_status(context: NamedDependency[AppContext]) -> list[ArchiveStatusView]:
    """Per corp: messages stored, seq range and cursor, lag behind the newest message,
    quarantine size, media downloads by state and the last pull."""
    views = []
    with session_scope(context.session_factory) as session:
        corp_ids = sorted({c.corp_id for c in context.settings.corps()} | set(repository.known_corp_ids(session)))
        for corp_id in corp_ids:
            status = collect_status(session, corp_id, utcnow())
            counts, run = status.counts, status.last_run
            views.append(
                ArchiveStatusView(
                    corp_id=corp_id,
                    messages=counts.messages,
                    envelopes=counts.envelopes,
                    first_seq=counts.first_seq,
                    cursor=counts.cursor,
                    newest_msgtime=counts.newest_msgtime,
                    lag_s=status.lag_s,
                    quarantined=counts.quarantined_open,
                    unknown_types=counts.unknown_types,
                    conversations=counts.conversations,
                    media=media_tasks.count_by_status(session, corp_id),
                    last_pull=None
                    if run is None
                    else LastPull(
                        run.status, run.started_at, run.finished_at, run.stored, run.quarantined, run.error_code
                    ),
                )
            )
    return views


@get("/api/v1/archive/completeness", sync_to_thread=True)
def archive_completeness(context: NamedDependency[AppContext]) -> list[CompletenessView]:
    """Per corp: seq gaps (with the first few), message and media lag, open alerts."""
    now = utcnow()
    with session_scope(context.session_factory) as session:
        corp_ids = sorted({c.corp_id for c in context.settings.corps()} | set(repository.known_corp_ids(session)))
        return [
            CompletenessView(
                corp_id=corp_id,
                gaps=completeness.gap_summary(session, corp_id),
                first_gaps=completeness.gaps(session, corp_id, limit=FIRST_GAPS_SHOWN),
                lag=completeness.lag(session, corp_id, now),
                open_alerts=open_alerts(session, corp_id),
            )
            for corp_id in corp_ids
        ]


def _last_pull(run: PullRun | None) -> LastPull | None:
    if run is None:
        return None
    return LastPull(run.status, run.started_at, run.finished_at, run.stored, run.quarantined, run.error_code)


def create_app(context: AppContext) -> Litestar:
    return Litestar(
        route_handlers=[live, archive_status, archive_completeness],
        dependencies={"context": Provide(lambda: context, sync_to_thread=False)},
    )


class ApiServer:
    """uvicorn in a background thread (the demo runs it beside the scheduler)."""

    def __init__(self, context: AppContext, host: str, port: int) -> None:
        config = uvicorn.Config(create_app(context), host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self.server.run, name="api-server", daemon=True)

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
