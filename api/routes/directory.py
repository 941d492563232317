"""The directory sync from WeCom (ADR 0020): start one now (admins) and see where it stands.

A sync can take minutes for a large corp, so ``POST`` starts it in the background and
answers 202; ``GET …/status`` shows the step in progress and the last report (counts and
ids only — never names)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody, QueryParameter

from api.auth.guards import context_of, requires
from api.unit_of_work import Db
from archive.directory.jobs import DirectorySyncTrigger
from archive.directory.service import sync_status
from audit.security.roles import Permission
from config.settings import ConfigError

ADMIN = [requires(Permission.USERS_ADMIN)]
STATUS = [requires(Permission.ARCHIVE_STATUS)]


class DirectorySyncRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    corp_id: str | None = None  # the configured corp by default


class DirectoryStatusView(msgspec.Struct, frozen=True):
    corp_id: str
    running: bool  # a sync waits or runs in this process, or holds the corp's lease
    step: str | None  # the step in progress, or where an interrupted sync resumes
    started_at: datetime | None
    finished_at: datetime | None
    last_report: dict[str, Any] | None
    error: str | None


class DirectorySyncStarted(msgspec.Struct, frozen=True):
    corp_id: str
    started: bool  # False: joined a sync already waiting or running
    status: DirectoryStatusView


def trigger_of(request: Request[Any, Any, Any]) -> DirectorySyncTrigger:
    trigger: DirectorySyncTrigger = request.app.state["directory_sync"]
    return trigger


def _corp_id(request: Request[Any, Any, Any], corp_id: str | None) -> str:
    try:
        return context_of(request).settings.corp(corp_id).corp_id
    except ConfigError as error:
        if corp_id is None:
            raise
        raise NotFoundException(f"corp {corp_id!r} is not configured") from error


def _status(request: Request[Any, Any, Any], db: Db, corp_id: str) -> DirectoryStatusView:
    status = sync_status(db, corp_id)
    return DirectoryStatusView(
        corp_id=corp_id,
        running=trigger_of(request).busy(corp_id) or status.lease_holder is not None,
        step=status.step,
        started_at=status.started_at,
        finished_at=status.finished_at,
        last_report=status.last_report,
        error=status.error,
    )


@post("/api/v1/directory/sync", guards=ADMIN, status_code=202, sync_to_thread=True)
def start_directory_sync(
    request: Request[Any, Any, Any], db: Db, data: JSONBody[DirectorySyncRequest | None] = None
) -> DirectorySyncStarted:
    """Sync the corp's directory from WeCom now, in the background (a running one absorbs it)."""
    corp_id = _corp_id(request, data.corp_id if data else None)
    started = trigger_of(request).request(corp_id, "api", delay_s=0)
    return DirectorySyncStarted(corp_id, started, _status(request, db, corp_id))


@get("/api/v1/directory/status", guards=STATUS, sync_to_thread=True)
def directory_status(
    request: Request[Any, Any, Any],
    db: Db,
    corp_id: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
) -> list[DirectoryStatusView]:
    """Per configured corp (or the one asked for): the step in progress and the last report."""
    if corp_id is not None:
        return [_status(request, db, _corp_id(request, corp_id))]
    return [_status(request, db, corp.corp_id) for corp in context_of(request).settings.corps()]
