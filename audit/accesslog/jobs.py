"""Thin scheduled wrappers of the access log (the scheduler, ``init`` and ``access-log
verify`` run these)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from audit.accesslog import log as access_log
from audit.accesslog.checkpoints import write_checkpoint
from audit.accesslog.logkey import config_of
from audit.accesslog.models import AccessLogCheckpoint
from config.database import session_scope


def checkpoint(session_factory: sessionmaker[Session], *, clock: Clock = utcnow) -> AccessLogCheckpoint | None:
    """Switch the log to keyed mode if that is configured and not done yet, then checkpoint
    its head; each in its own transaction, so the checkpoint only names committed rows.
    None when there is no anchor file configured or the head did not move."""
    with session_scope(session_factory) as session:
        config = config_of(session)
        if config is None:
            return None
        access_log.switch_to_keyed(session, clock())
    with session_scope(session_factory) as session:
        return write_checkpoint(session, config.checkpoint_file, clock())


@dataclass(frozen=True)
class VerifiedCheckpoint:
    report: access_log.AccessLogVerifyReport
    # None when the chain is broken (nothing is checkpointed), no anchor file is configured
    # or the head did not move since the last checkpoint.
    checkpoint: AccessLogCheckpoint | None


def verify_and_checkpoint(session_factory: sessionmaker[Session], *, clock: Clock = utcnow) -> VerifiedCheckpoint:
    """Verify the whole chain and, only if it is intact, checkpoint its head (``checkpoint``):
    ``wecom-audit access-log verify`` and ``POST /api/v1/access-log/checkpoints``."""
    with session_scope(session_factory) as session:
        report = access_log.verify(session)
    return VerifiedCheckpoint(report, checkpoint(session_factory, clock=clock) if report.ok else None)
