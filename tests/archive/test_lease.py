"""One puller per corp at a time, across processes: the database lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from archive import repository
from config.database import session_scope
from tests.conftest import Database, Edge

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)


def test_lease_is_exclusive_until_it_expires(database: Database) -> None:
    with session_scope(database.sessions) as session:
        assert repository.acquire_lease(session, "pull:ww1", "a", NOW, TTL)
    with session_scope(database.sessions) as session:
        assert not repository.acquire_lease(session, "pull:ww1", "b", NOW + timedelta(seconds=30), TTL)
        assert repository.acquire_lease(session, "pull:ww1", "a", NOW + timedelta(seconds=30), TTL)  # renew
        assert repository.acquire_lease(session, "pull:ww2", "b", NOW, TTL)  # another corp
    with session_scope(database.sessions) as session:
        assert repository.acquire_lease(session, "pull:ww1", "b", NOW + timedelta(seconds=120), TTL)  # expired
        assert not repository.renew_lease(session, "pull:ww1", "a", NOW + timedelta(seconds=121), TTL)


def test_a_second_puller_skips_while_the_first_holds_the_lease(edge: Edge) -> None:
    edge.simulator.populate(200, messages_per_day=20_000)
    edge.register_keys()
    context = edge.context()
    corp_id = edge.simulator.corp_id
    with session_scope(edge.database.sessions) as session:
        assert repository.acquire_lease(session, f"pull:{corp_id}", "someone-else", datetime.now(UTC), TTL)
    skipped = context.puller(corp_id).run()
    assert skipped.status == "skipped" and skipped.stored == 0
    with session_scope(edge.database.sessions) as session:
        repository.release_lease(session, f"pull:{corp_id}", "someone-else")
    done = context.puller(corp_id).run()
    context.close()
    assert done.status == "completed" and done.stored == 200


def test_a_lease_lost_midway_stops_the_puller_before_it_writes(edge: Edge) -> None:
    edge.simulator.populate(300, messages_per_day=20_000)
    edge.register_keys()
    context = edge.context()
    puller = context.puller(edge.simulator.corp_id)
    puller.batch_limit = 100
    original_fetch = puller.source.fetch

    def fetch_then_lose_lease(after_seq: int, limit: int):  # type: ignore[no-untyped-def]
        records = original_fetch(after_seq, limit)
        if after_seq > 0:  # after the first batch, another process takes over
            with session_scope(edge.database.sessions) as session:
                repository.release_lease(session, puller.lease_name, puller.holder)
                repository.acquire_lease(session, puller.lease_name, "usurper", datetime.now(UTC), TTL)
        return records

    puller.source.fetch = fetch_then_lose_lease  # type: ignore[method-assign]
    report = puller.run()
    context.close()
    assert report.status == "failed" and report.error_code == "lease_lost"
    assert report.stored == 100 and report.to_seq == 100
