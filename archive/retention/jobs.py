"""Thin scheduled wrapper: the scheduler process runs disposition for every corp."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.media.blobstore import BlobStore
from archive.retention.disposition import DispositionReport, dispose


def dispose_all(
    session_factory: sessionmaker[Session],
    corp_ids: Sequence[str],
    *,
    blob_store: BlobStore | None,
    clock: Clock = utcnow,
) -> list[DispositionReport]:
    """One disposition run per corp, one after the other. A run that fails on a storage or
    archive error is recorded and logged as failed by :func:`dispose` and the next corp
    still runs; an unexpected fault is recorded, then propagates."""
    return [
        dispose(session_factory, corp_id, blob_store=blob_store, trigger="schedule", clock=clock)
        for corp_id in corp_ids
    ]
