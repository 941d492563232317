"""Thin scheduled wrappers of the integrity chain (the scheduler process runs these)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.integrity import repository
from archive.integrity.checkpoints import checkpoint_path, write_checkpoint
from archive.integrity.repository import Checkpoint
from config.database import session_scope
from config.settings import Settings


def checkpoint_corps(
    session_factory: sessionmaker[Session], settings: Settings, corp_id: str | None = None, *, clock: Clock = utcnow
) -> dict[str, Checkpoint | None]:
    """Checkpoint ``corp_id``'s chain, or every chain when it is None (``wecom-audit
    checkpoint``, ``POST /api/v1/integrity/checkpoints``); corp id → the checkpoint written."""
    if corp_id is None:
        return checkpoint_all(session_factory, settings, clock=clock)
    path = checkpoint_path(settings, corp_id)
    with session_scope(session_factory) as session:
        return {corp_id: write_checkpoint(session, corp_id, clock(), path)}


def checkpoint_all(
    session_factory: sessionmaker[Session], settings: Settings, *, clock: Clock = utcnow
) -> dict[str, Checkpoint | None]:
    """Checkpoint every corp that has a chain, each in its own transaction; corp id →
    the checkpoint written (None when its chain did not move)."""
    with session_scope(session_factory) as session:
        corp_ids = repository.chain_corp_ids(session)
    written: dict[str, Checkpoint | None] = {}
    for corp_id in corp_ids:
        with session_scope(session_factory) as session:
            written[corp_id] = write_checkpoint(session, corp_id, clock(), checkpoint_path(settings, corp_id))
    return written
