"""One leased run of a job: the lease, the run row, and how the run ended.

Contract (every leased job — the puller, disposition — runs through :func:`leased_run`):
- The job's lease (``archive.repository``) is taken before anything is written, in its own
  transaction; a lease held by a live process elsewhere makes the run ``skipped`` (nothing
  recorded, nothing written). A holder on this host whose process is gone is taken over at
  once when the job allows it (``take_over_dead``) instead of waiting for the expiry.
- Whoever holds the lease owns the job's run rows: runs still ``running`` then were left by
  a killed process and are closed as ``interrupted`` in the same transaction.
- The job writes its own run row (its columns are its own) and sets ``report.run_id``; it
  renews the lease (:meth:`Heartbeat.renew`) in every transaction that writes, and stops
  with :class:`LeaseLostError` if another process took the lease over meanwhile.
- However the body ends, the run row gets its status, ``finished_at`` and error, and the
  lease is released, in one transaction. Database and archive errors end the run as
  ``failed`` (recorded, in the report, not raised); anything else is recorded as
  ``internal`` and propagates. If the database refuses even that last transaction, the
  run stays ``running`` until the next holder closes it and the lease expires.
- Reports and logs carry counts and error codes, never message content: a database error
  is described by its driver's first line only (no statement, no parameters).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from archive import repository
from archive.clock import Clock
from archive.errors import ArchiveError, LeaseLostError, StorageError
from archive.repository import RunTable
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.leased")


class RunReport(Protocol):
    """What a leased job reports; the helper fills in how the run ended."""

    status: str  # running | completed | failed | skipped
    run_id: int | None
    error_code: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class LeasedJob:
    """One corp's leased job: its lease, its run rows and how it names itself."""

    lease: str  # the lease's name, e.g. ``pull:<corp>``
    corp_id: str
    runs: RunTable  # the job's run-row model (``corp_id``, ``status``, ``finished_at``, errors)
    what: str  # the job in words: "puller", "disposition"
    events: str  # the log event prefix: "archive.pull", "archive.retention"
    again: str  # what the operator does after a database failure: "pull again"
    # What a database refusal did, after "the database refused …" ({reason}: its first line).
    refused: str = "the batch ({reason}); nothing of it was stored"
    take_over_dead: bool = False


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The held lease, renewed in every transaction of the run that writes."""

    job: LeasedJob
    holder: str
    ttl: timedelta
    clock: Clock

    def renew(self, session: Session) -> None:
        if not repository.renew_lease(session, self.job.lease, self.holder, self.clock(), self.ttl):
            raise LeaseLostError(
                f"the {self.job.what} lease of corp {self.job.corp_id} was taken over",
                hint=f"another {self.job.what} is running for this corp; this one stops",
            )


@contextmanager
def leased_run(
    session_factory: sessionmaker[Session],
    job: LeasedJob,
    report: RunReport,
    *,
    holder: str,
    ttl: timedelta,
    clock: Clock,
    finished: Callable[[], None] = lambda: None,
) -> Iterator[Heartbeat | None]:
    """Run the ``with`` body holding ``job``'s lease; yields ``None`` (and marks the report
    ``skipped``) when another process holds it. ``finished`` is called last, after the run
    row is closed and the lease released (the job logs its counts there)."""
    with session_scope(session_factory) as session:
        current = repository.lease_holder(session, job.lease) if job.take_over_dead else None
        dead = current if current and holder_is_dead_local_process(current) else None
        if not repository.acquire_lease(session, job.lease, holder, clock(), ttl, take_over_from=dead):
            acquired = False
        else:
            acquired = True
            closed = repository.close_runs_left_running(session, job.runs, job.corp_id, clock())
            if closed:
                log.warning(f"{job.events}.interrupted_runs_closed", corp_id=job.corp_id, count=closed)
    if not acquired:
        report.status = "skipped"
        log.info(f"{job.events}.skipped", corp_id=job.corp_id, reason=f"another {job.what} holds the lease")
        yield None
        return
    try:
        yield Heartbeat(job, holder, ttl, clock)
        report.status = "completed"
    except DBAPIError as exc:
        error = database_error(exc, job)
        report.status, report.error_code, report.error = "failed", error.code, str(error)
    except ArchiveError as exc:
        report.status, report.error_code, report.error = "failed", exc.code, str(exc)
    except Exception as exc:
        # Only the type is recorded: a database error's text can quote row values.
        report.status, report.error_code = "failed", "internal"
        report.error = f"unexpected {type(exc).__name__}; what was not committed was rolled back, see the process log"
        raise
    finally:
        _close(session_factory, job, report, holder, clock())
        finished()


def _close(
    session_factory: sessionmaker[Session], job: LeasedJob, report: RunReport, holder: str, now: datetime
) -> None:
    try:
        with session_scope(session_factory) as session:
            if report.run_id is not None:
                repository.finish_run(
                    session, job.runs, report.run_id, report.status, now, report.error_code, report.error
                )
            repository.release_lease(session, job.lease, holder)
    except DBAPIError as exc:
        # The database that failed the run may refuse this too; the lease then expires.
        log.error(f"{job.events}.unrecorded", corp_id=job.corp_id, error_type=type(exc.orig).__name__)


def database_error(exc: DBAPIError, job: LeasedJob) -> StorageError:
    """Only the driver's first line: the statement and its parameters (content) stay out."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    hint = "free disk space" if "full" in reason else "check the database server and its logs"
    return StorageError(f"the database refused {job.refused.format(reason=reason)}", hint=f"{hint}, then {job.again}")


def default_holder() -> str:
    """This process as a lease holder: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead_local_process(holder: str) -> bool:
    """A lease left by a killed process on this host need not wait for its expiry."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
