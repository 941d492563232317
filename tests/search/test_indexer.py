"""The indexer on real ingest: simulated WeCom → puller → outbox → indexer → embedded index,
on SQLite and PostgreSQL; a crash between indexing and completing the claim; an unusable
backend keeps the outbox (ingest unaffected) and the index catches up afterwards; reindex."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from sqlalchemy import select

from archive.clock import utcnow
from archive.models import Message
from archive.outbox import queue as outbox
from audit.text.fold import fold_text
from config.database import session_scope
from search.backend import SearchBackend, SearchRequest
from search.documents import build_documents
from search.embedded import EmbeddedBackend
from search.indexer import index_pending, reindex_all, search_lag
from search.query import MatchAll, Phrase, parse_query
from tests.conftest import Edge


def pull(edge: Edge, count: int) -> None:
    edge.simulator.populate(count, messages_per_day=20_000)
    edge.register_keys()
    context = edge.context()
    try:
        report = context.puller(edge.simulator.corp_id).run()
    finally:
        context.close()
    assert report.status == "completed", report.error


def total(backend_path: Path, query_text: str = "") -> int:
    async def body() -> int:
        backend = EmbeddedBackend(backend_path)
        try:
            return (await backend.search(SearchRequest(parse_query(query_text), limit=1))).total
        finally:
            await backend.close()

    return asyncio.run(body())


def index(edge: Edge, backend: SearchBackend) -> None:
    async def body() -> None:
        try:
            await index_pending(edge.database.sessions, backend, batch=150)
        finally:
            await backend.close()

    asyncio.run(body())


def test_pulled_messages_become_searchable_once_each(edge: Edge, tmp_path: Path) -> None:
    pull(edge, 400)
    path = tmp_path / "search"
    index(edge, EmbeddedBackend(path))
    with session_scope(edge.database.sessions) as session:
        stored = list(session.execute(select(Message.id, Message.msgid, Message.text)))
        assert search_lag(session).entries == 0
    assert total(path) == len(stored)

    # Every stored text can be found by a piece of it, with exactly its own message among the hits.
    rng = random.Random(1)
    texts = [(msgid, text) for _, msgid, text in stored if text and len(text) >= 4]
    for msgid, text in rng.sample(texts, 15):
        start = rng.randrange(0, len(text) - 3)
        needle = text[start : start + rng.randint(1, 4)]

        async def find(needle: str = needle) -> set[str]:
            backend = EmbeddedBackend(path)
            try:
                page = await backend.search(SearchRequest(Phrase(fold_text(needle)), limit=500))
                return {hit.msgid for hit in page.hits}
            finally:
                await backend.close()

        if needle.strip():
            assert msgid in asyncio.run(find()), needle


def test_a_crash_between_indexing_and_completing_repeats_idempotently(edge: Edge, tmp_path: Path) -> None:
    pull(edge, 200)
    path = tmp_path / "search"

    async def index_without_completing() -> int:
        # What a process killed right after the bulk call leaves behind: documents in the
        # index, the claim still in the outbox.
        backend = EmbeddedBackend(path)
        try:
            with session_scope(edge.database.sessions) as session:
                claim = outbox.claim(session, outbox.SEARCH, utcnow())
                assert claim is not None
                docs = build_documents(session, claim.message_ids)
            await backend.index(docs)
            return len(docs)
        finally:
            await backend.close()

    first = asyncio.run(index_without_completing())
    assert total(path) == first
    index(edge, EmbeddedBackend(path))
    with session_scope(edge.database.sessions) as session:
        count = len(list(session.scalars(select(Message.id))))
        assert search_lag(session).entries == 0
    assert total(path) == count  # each message once, none twice


def test_an_unusable_backend_keeps_the_outbox_and_the_index_catches_up(edge: Edge, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the index directory should be")
    pull(edge, 150)
    index(edge, EmbeddedBackend(blocked / "search"))
    with session_scope(edge.database.sessions) as session:
        lag = search_lag(session)
    assert lag.entries > 0 and lag.failing > 0

    pull(edge, 100)  # ingest goes on meanwhile
    with session_scope(edge.database.sessions) as session:
        # Retry without waiting for the backoff: make the failed entries due now.
        from sqlalchemy import update

        from archive.outbox.models import OutboxEntry

        session.execute(update(OutboxEntry).values(available_at=OutboxEntry.created_at))
    path = tmp_path / "search"
    index(edge, EmbeddedBackend(path))
    with session_scope(edge.database.sessions) as session:
        count = len(list(session.scalars(select(Message.id))))
        assert search_lag(session).entries == 0
    assert total(path) == count


def test_reindex_rebuilds_everything_and_requeues_nothing_when_idle(edge: Edge, tmp_path: Path) -> None:
    pull(edge, 200)
    path = tmp_path / "search"

    async def body() -> tuple[str, int, int]:
        backend = EmbeddedBackend(path)
        try:
            written: list[int] = []
            result = await reindex_all(edge.database.sessions, backend, batch=60, progress=written.append)
            page = await backend.search(SearchRequest(MatchAll(), limit=1))
            assert sum(written) == result.documents
            return result.version, result.documents, page.total
        finally:
            await backend.close()

    version, documents, found = asyncio.run(body())
    with session_scope(edge.database.sessions) as session:
        count = len(list(session.scalars(select(Message.id))))
    assert version and documents == count and found == count


def test_the_scheduler_job_drains_the_outbox_into_the_configured_index(edge: Edge) -> None:
    from api.scheduler import PullScheduler

    pull(edge, 120)
    scheduler = PullScheduler(edge.context())
    scheduler.index_search()
    with session_scope(edge.database.sessions) as session:
        count = len(list(session.scalars(select(Message.id))))
        assert search_lag(session).entries == 0
    assert total(edge.settings.search_index_dir) == count


def test_detection_results_reach_the_index(edge: Edge, tmp_path: Path) -> None:
    """Messages are indexed when stored, before detection; the detection stage queues them
    again so `has:hit` and `rule:` find what it flagged."""
    from datetime import UTC, datetime

    from sqlalchemy import func

    from audit.detect.models import MessageHit
    from audit.detect.rules import repository as rules
    from audit.detect.rules.starter import starter_groups
    from audit.stage import DetectionStage, TrainedSentiment
    from config.settings import AlertSettings, DetectionSettings

    pull(edge, 600)
    path = tmp_path / "search"
    index(edge, EmbeddedBackend(path))
    assert total(path, "has:hit") == 0  # nothing detected yet

    with edge.database.sessions.begin() as session:
        rules.save_groups(session, starter_groups(), datetime.now(UTC))
    stage = DetectionStage(DetectionSettings(), AlertSettings(), sentiment=TrainedSentiment(tmp_path / "no-model"))
    stage.run(edge.database.sessions)
    index(edge, EmbeddedBackend(path))

    with session_scope(edge.database.sessions) as session:
        flagged = session.scalar(select(func.count(func.distinct(MessageHit.message_id))))
        some_rule = session.scalar(select(MessageHit.rule).limit(1))
    assert flagged and some_rule
    assert total(path, "has:hit") == flagged
    assert total(path, f'rule:"{some_rule}"') >= 1
    assert total(path) == 600  # re-indexing replaced documents, it did not add any
