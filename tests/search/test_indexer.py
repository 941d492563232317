"""The indexer on real ingest: simulated WeCom → puller → outbox → detection → indexer →
embedded index, on SQLite and PostgreSQL; each message written to the backend once, after
detection, with its hits; a crash between indexing and completing the claim; an unusable
backend keeps the outbox (ingest unaffected) and the index catches up afterwards; reindex."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from archive.clock import utcnow
from archive.models import Message
from archive.outbox import queue as outbox
from archive.retention.views import PolicyScope
from audit.detect.models import MessageHit, MessageSentiment
from audit.detect.rules import repository as rules
from audit.detect.rules.starter import starter_groups
from audit.stage import DetectionStage, SentimentPredictor, SentimentSource, StageReport, TrainedSentiment
from audit.text.fold import fold_text
from config.database import session_scope
from config.settings import AlertSettings, DetectionSettings
from search.backend import SearchBackend, SearchDocument, SearchRequest
from search.documents import build_documents
from search.embedded import EmbeddedBackend
from search.indexer import index_pending, reindex_all, search_lag
from search.query import MatchAll, Phrase, parse_query
from tests.archive.retention.helpers import ADMIN, NOW, pull_history, retention, run_disposition
from tests.conftest import Edge


def pull(edge: Edge, count: int, *, detect: bool = True) -> None:
    """Ingest ``count`` messages and (unless told not to) run the detection stage, which
    passes them on to the indexer (store → detect → index)."""
    edge.simulator.populate(count, messages_per_day=20_000)
    edge.register_keys()
    context = edge.context()
    try:
        report = context.puller(edge.simulator.corp_id).run()
    finally:
        context.close()
    assert report.status == "completed", report.error
    if detect:
        run_detection(edge)


def run_detection(
    edge: Edge, model_dir: Path | None = None, *, sentiment: SentimentSource | None = None
) -> StageReport:
    source = sentiment or TrainedSentiment(edge.settings.data_dir / "no-model")
    stage = DetectionStage(DetectionSettings(), AlertSettings(), sentiment=source)
    report = stage.run(edge.database.sessions, max_claims=1000)
    assert report.failed_claims == 0, report.errors
    return report


class CountingBackend(EmbeddedBackend):
    """The real embedded backend, counting every document written to it by message id
    (across instances on the same ``writes``/``written``: each indexer run closes its own)."""

    def __init__(self, path: Path, writes: Counter[int], written: dict[int, SearchDocument]) -> None:
        super().__init__(path)
        self.writes = writes
        self.written = written

    async def index(self, docs: Sequence[SearchDocument]) -> None:
        await super().index(docs)
        self.writes.update(doc.message_id for doc in docs)
        self.written.update((doc.message_id, doc) for doc in docs)


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


def test_each_message_is_written_to_the_backend_once_after_detection(edge: Edge, tmp_path: Path) -> None:
    """store → detect → index: nothing is searchable before detection; then every message
    (with text or without) is written to the backend exactly once, its document carrying
    its hits. (Before issue 16 storage queued the indexer too, and detection queued it
    again: every message was written twice, the first time without its hits.)"""
    with edge.database.sessions.begin() as session:
        rules.save_groups(session, starter_groups(), datetime.now(UTC))
    pull(edge, 600, detect=False)
    path = tmp_path / "search"
    writes: Counter[int] = Counter()
    written: dict[int, SearchDocument] = {}
    index(edge, CountingBackend(path, writes, written))
    assert not writes  # stored, not yet detected: nothing for the index
    with session_scope(edge.database.sessions) as session:
        lag = search_lag(session)
    assert lag.entries > 0 and lag.oldest is not None  # the search lag counts detection

    run_detection(edge)
    index(edge, CountingBackend(path, writes, written))
    index(edge, CountingBackend(path, writes, written))  # nothing left to write

    with session_scope(edge.database.sessions) as session:
        stored = set(session.scalars(select(Message.id)))
        textless = set(session.scalars(select(Message.id).where(Message.text.is_(None))))
        hits: dict[int, set[str]] = {}
        for message_id, rule in session.execute(select(MessageHit.message_id, MessageHit.rule)):
            hits.setdefault(message_id, set()).add(rule)
        assert search_lag(session).entries == 0
    assert len(stored) == 600 and textless  # the simulator sends images, files, …
    assert writes == Counter(dict.fromkeys(stored, 1))  # each message once, none twice
    assert hits
    for message_id, rules_hit in hits.items():
        assert set(written[message_id].rules) == rules_hit
    assert all(not written[message_id].rules for message_id in stored - set(hits))
    some_rule = next(iter(next(iter(hits.values()))))
    assert total(path, "has:hit") == len(hits)
    assert total(path, f'rule:"{some_rule}"') >= 1
    assert total(path) == 600


@dataclass(frozen=True)
class Verdict:
    label: str
    score: float
    intent: str | None
    model_version: str


class LengthSentiment:
    """A sentiment model for tests (the trained one takes minutes): long texts are "negative"."""

    missing_reason: str | None = None

    def model(self) -> SentimentPredictor | None:
        return self

    def predict(self, texts: Sequence[str]) -> Sequence[Verdict]:
        return [Verdict("negative" if len(text) > 12 else "neutral", 0.9, None, "test-1") for text in texts]


def test_sentiment_reaches_the_index_with_the_first_write(edge: Edge, tmp_path: Path) -> None:
    """With a sentiment model, each document's one write carries its message's sentiment."""
    pull(edge, 150, detect=False)
    assert run_detection(edge, sentiment=LengthSentiment()).sentiment > 0
    writes: Counter[int] = Counter()
    written: dict[int, SearchDocument] = {}
    index(edge, CountingBackend(tmp_path / "search", writes, written))
    with session_scope(edge.database.sessions) as session:
        labels = {
            row.message_id: row.label
            for row in session.execute(select(MessageSentiment.message_id, MessageSentiment.label))
        }
    assert set(labels.values()) == {"negative", "neutral"} and set(writes.values()) == {1}
    for message_id, document in written.items():
        assert document.sentiment == labels.get(message_id)


def test_retention_removes_disposed_messages_from_the_index(edge: Edge, tmp_path: Path) -> None:
    """Disposition queues what it deleted for the indexer, which takes it out of the index
    (before issue 16 disposed messages stayed searchable)."""
    pull_history(edge, 600)
    run_detection(edge)
    path = tmp_path / "search"
    index(edge, EmbeddedBackend(path))
    assert total(path) == 600
    with retention(edge) as service:
        service.create_policy(ADMIN, PolicyScope("corp", ""), 30)
    report = run_disposition(edge, now=NOW)
    assert report.status == "completed" and 0 < report.disposed < 600, report.error
    index(edge, EmbeddedBackend(path))
    with session_scope(edge.database.sessions) as session:
        assert search_lag(session).entries == 0
    assert total(path) == 600 - report.disposed
