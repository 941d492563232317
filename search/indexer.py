"""Shipping stored messages to the search backend, and rebuilding the index.

Contract: the indexer drains the outbox consumer ``search``, which the detection stage fills
(store → detect → index, ADR 0007): a message comes here once, after its hits and
sentiment are written, and its document carries them. For each claim it reads the
messages (one short read transaction), sends their documents to the backend (an upsert keyed
by msgid), and only then completes the claim in a second transaction. A crash between the
two leaves the claim in the outbox and the next run indexes the same documents again, which
replaces them: at-least-once delivery, each msgid exactly once in the index. When the
backend is unavailable the claim is failed (kept, retried with backoff) and the run stops;
ingest never waits for search, the outbox simply grows and ``status`` shows the lag
(:func:`search_lag`: from storage until searchable, detection included).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import utcnow
from archive.outbox import queue as outbox
from config.database import session_scope
from config.logs import get_logger
from search import repository
from search.backend import SearchBackend, SearchDocument
from search.documents import build_documents
from search.errors import SearchBackendError

log = get_logger("search.indexer")

DEFAULT_BATCH = 2000
DEFAULT_BUDGET_S = 20.0


@dataclass
class IndexReport:
    claims: int = 0
    indexed: int = 0
    removed: int = 0  # ids whose message is gone (retention): removed from the index
    failed_claims: int = 0
    error: str | None = None


async def index_pending(
    session_factory: sessionmaker[Session],
    backend: SearchBackend,
    *,
    batch: int = DEFAULT_BATCH,
    budget_s: float = DEFAULT_BUDGET_S,
    clock: Callable[[], datetime] = utcnow,
) -> IndexReport:
    """Drain the ``search`` outbox until it is empty, the backend fails, or ``budget_s`` ends."""
    report = IndexReport()
    started = time.monotonic()
    while time.monotonic() - started < budget_s:
        with session_scope(session_factory) as session:
            claim = outbox.claim(session, outbox.SEARCH, clock(), max_messages=batch)
            if claim is None:
                break
            docs = build_documents(session, claim.message_ids)
        gone = sorted(set(claim.message_ids) - {doc.message_id for doc in docs})
        try:
            await backend.index(docs)
            if gone:
                await backend.delete(gone)
        except SearchBackendError as error:
            with session_scope(session_factory) as session:
                outbox.fail(session, claim, str(error), clock())
            report.failed_claims += 1
            report.error = str(error)
            log.warning("search.index.failed", backend=backend.name, messages=len(claim.message_ids), error=str(error))
            break
        with session_scope(session_factory) as session:
            outbox.complete(session, claim)
        report.claims += 1
        report.indexed += len(docs)
        report.removed += len(gone)
    if report.claims:
        log.info(
            "search.index.completed",
            backend=backend.name,
            claims=report.claims,
            indexed=report.indexed,
            removed=report.removed,
            duration_s=round(time.monotonic() - started, 3),
        )
    return report


@dataclass(frozen=True, slots=True)
class ReindexResult:
    version: str
    documents: int
    requeued: int  # messages stored during the rebuild, queued for the indexer again


async def reindex_all(
    session_factory: sessionmaker[Session],
    backend: SearchBackend,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> ReindexResult:
    """Rebuild the whole index from the messages table into a new version and switch to it.

    Messages stored after the rebuild read its snapshot bound may have been indexed by the
    indexer into the *old* version only; they are queued for the indexer again after the
    switch (indexing is idempotent), so none is missing from the new version. Those still
    waiting for detection are left to it: the stage passes them on to the indexer when it
    commits, after the switch, so queuing them here would index them twice."""
    with session_scope(session_factory) as session:
        up_to = repository.max_message_id(session)
    written = 0

    async def batches() -> AsyncIterator[Sequence[SearchDocument]]:
        nonlocal written
        with session_scope(session_factory) as session:
            pages = list(repository.message_id_pages(session, batch, up_to=up_to))
        for ids in pages:
            with session_scope(session_factory) as session:
                docs = build_documents(session, ids)
            written += len(docs)
            yield docs

    version = await backend.reindex(batches(), progress)
    requeued = 0
    with session_scope(session_factory) as session:
        detecting = outbox.queued_ids(session, outbox.DETECT)
        for corp_id, stored in repository.message_ids_after(session, up_to).items():
            ids = [message_id for message_id in stored if message_id not in detecting]
            for start in range(0, len(ids), batch):
                outbox.enqueue_for(session, outbox.SEARCH, corp_id, ids[start : start + batch], clock())
            requeued += len(ids)
    log.info("search.reindex.completed", backend=backend.name, version=version, documents=written, requeued=requeued)
    return ReindexResult(version, written, requeued)


@dataclass(frozen=True, slots=True)
class SearchLag:
    """Stored messages not yet searchable: outbox entries waiting for detection or for the
    indexer, and when the oldest of them was stored (an entry passed on from detection to
    the indexer keeps its ``created_at``), so the lag counts detection too."""

    entries: int
    oldest: datetime | None
    failing: int

    def age_s(self, now: datetime) -> float | None:
        return None if self.oldest is None else max(0.0, (now - self.oldest).total_seconds())


def search_lag(session: Session) -> SearchLag:
    depth = outbox.backlog(session, outbox.BEFORE_SEARCHABLE, "searchable")
    return SearchLag(depth.entries, depth.oldest, depth.failing)
