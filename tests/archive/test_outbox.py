"""The outbox: written with every stored batch, drained by stages, passed on from detection
to search, retried with backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from archive.models import Message
from archive.outbox import queue
from archive.outbox.models import OutboxEntry
from tests.conftest import Database, Edge


def _queued(database: Database, consumer: str) -> list[int]:
    with database.sessions() as session:
        rows = session.scalars(select(OutboxEntry.message_ids).where(OutboxEntry.consumer == consumer))
        return [int(i) for ids in rows for i in ids]


def test_every_stored_message_is_queued_once_for_detection_only(edge: Edge) -> None:
    edge.simulator.populate(1200, messages_per_day=5000)
    edge.register_keys()
    context = edge.context()
    try:
        assert context.puller(edge.simulator.corp_id).run().status == "completed"
        assert context.puller(edge.simulator.corp_id).run().status == "completed"  # nothing new: nothing queued
    finally:
        context.close()
    with edge.database.sessions() as session:
        stored = set(session.scalars(select(Message.id)))
    assert len(stored) == 1200
    assert sorted(_queued(edge.database, queue.DETECT)) == sorted(stored)
    assert _queued(edge.database, queue.SEARCH) == []  # detection passes them on (store → detect → index)


def test_a_completed_claim_is_passed_on_whole_and_keeps_its_age(database: Database) -> None:
    stored_at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    later = stored_at + timedelta(minutes=5)
    with database.sessions.begin() as session:
        queue.enqueue(session, "corp-a", [1, 2, 3], stored_at)
        queue.enqueue(session, "corp-b", [7], later)
        queue.enqueue(session, "corp-a", [3, 4], later)  # a re-scan may repeat an id
    with database.sessions.begin() as session:
        claim = queue.claim(session, queue.DETECT, later)
        assert claim is not None and claim.message_ids == (1, 2, 3, 7, 3, 4)
        queue.complete_and_forward(session, claim, queue.SEARCH, later)
    with database.sessions.begin() as session:
        assert queue.claim(session, queue.DETECT, later) is None
        rows = session.execute(
            select(OutboxEntry.corp_id, OutboxEntry.message_ids, OutboxEntry.created_at)
            .where(OutboxEntry.consumer == queue.SEARCH)
            .order_by(OutboxEntry.corp_id)
        ).all()
        lag = queue.backlog(session, queue.BEFORE_SEARCHABLE, "searchable")
    assert [(corp, list(ids)) for corp, ids, _ in rows] == [("corp-a", [1, 2, 3, 4]), ("corp-b", [7])]
    assert [created for _, _, created in rows] == [stored_at, later]  # dated from storage, not from detection
    assert lag.entries == 2 and lag.oldest == stored_at


def test_claim_complete_and_fail_with_backoff(database: Database) -> None:
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with database.sessions.begin() as session:
        queue.enqueue_for(session, queue.SEARCH, "corp", [1, 2, 3], now)
        queue.enqueue_for(session, queue.SEARCH, "corp", [4, 5], now)
        queue.enqueue_for(session, queue.DETECT, "corp", [9], now)

    with database.sessions.begin() as session:
        claim = queue.claim(session, queue.SEARCH, now, max_messages=4)
        assert claim is not None
        # Entries are never split: the first is taken whole, the second would exceed the limit.
        assert claim.message_ids == (1, 2, 3)
        queue.fail(session, claim, "search node refused the connection", now)

    with database.sessions.begin() as session:
        retry = queue.claim(session, queue.SEARCH, now)
        assert retry is not None and retry.message_ids == (4, 5)  # the failed entry waits
        queue.complete(session, retry)
        depth = {d.consumer: d for d in queue.depth(session)}
    assert depth["search"].entries == 1 and depth["search"].failing == 1
    assert depth["detect"].entries == 1 and depth["detect"].failing == 0

    with database.sessions.begin() as session:
        assert queue.claim(session, queue.SEARCH, now + timedelta(milliseconds=500)) is None
        later = queue.claim(session, queue.SEARCH, now + timedelta(seconds=3))
        assert later is not None and later.message_ids == (1, 2, 3)
        queue.complete(session, later)
        assert (
            session.scalar(select(func.count()).select_from(OutboxEntry).where(OutboxEntry.consumer == "search")) == 0
        )


def test_unknown_consumer_is_refused(database: Database) -> None:
    # A typo in a consumer name must not silently queue work nobody drains.
    with database.sessions.begin() as session, pytest.raises(ValueError, match="serach"):
        queue.enqueue_for(session, "serach", "corp", [1], datetime.now(UTC))
