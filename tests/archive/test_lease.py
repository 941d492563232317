"""One puller per corp at a time, across processes: the database lease, and the leased-run
helper every leased job runs through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from archive import repository
from archive.errors import StorageError
from archive.leased import LeasedJob, leased_run
from archive.models import PullRun
from archive.puller import PullReport
from archive.source import DecryptedRecord
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


def test_a_lease_lost_midway_stops_the_puller_before_it_writes(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    edge.simulator.populate(300, messages_per_day=20_000)
    edge.register_keys()
    context = edge.context()
    puller = context.puller(edge.simulator.corp_id)
    puller.batch_limit = 100
    original_fetch = puller.source.fetch

    def fetch_then_lose_lease(after_seq: int, limit: int) -> list[DecryptedRecord]:
        records = original_fetch(after_seq, limit)
        if after_seq > 0:  # after the first batch, another process takes over
            with session_scope(edge.database.sessions) as session:
                repository.release_lease(session, puller.lease_name, puller.holder)
                repository.acquire_lease(session, puller.lease_name, "usurper", datetime.now(UTC), TTL)
        return records

    monkeypatch.setattr(puller.source, "fetch", fetch_then_lose_lease)
    report = puller.run()
    context.close()
    assert report.status == "failed" and report.error_code == "lease_lost"
    assert report.stored == 100 and report.to_seq == 100


def _pull_job(corp_id: str) -> LeasedJob:
    return LeasedJob(
        lease=f"pull:{corp_id}", corp_id=corp_id, runs=PullRun, what="puller", events="archive.pull", again="pull again"
    )


def _started(database: Database, report: PullReport) -> None:
    with session_scope(database.sessions) as session:
        report.run_id = repository.start_run(session, report.corp_id, "manual", 0, NOW)


def test_a_leased_run_records_how_it_ended_and_releases_the_lease(database: Database) -> None:
    """``archive.leased``: one helper keeps the lease and the run row of every leased job."""
    job, clock = _pull_job("ww1"), lambda: NOW
    # Another holder: skipped, nothing recorded.
    with session_scope(database.sessions) as session:
        assert repository.acquire_lease(session, "pull:ww1", "other", NOW, TTL)
    skipped = PullReport("ww1", "manual")
    with leased_run(database.sessions, job, skipped, holder="me", ttl=TTL, clock=clock) as lease:
        assert lease is None
    assert skipped.status == "skipped" and skipped.run_id is None
    with session_scope(database.sessions) as session:
        repository.release_lease(session, "pull:ww1", "other")

    # An archive error ends the run as failed, recorded, not raised; the lease is free again.
    failed = PullReport("ww1", "manual")
    with leased_run(database.sessions, job, failed, holder="me", ttl=TTL, clock=clock) as lease:
        assert lease is not None
        _started(database, failed)
        raise StorageError("the disk is full", hint="free disk space")
    assert (failed.status, failed.error_code) == ("failed", StorageError.code)

    # An unexpected fault is recorded as internal, then propagates.
    broken = PullReport("ww1", "manual")

    def crash() -> None:
        with leased_run(database.sessions, job, broken, holder="me", ttl=TTL, clock=clock):
            _started(database, broken)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        crash()
    assert broken.status == "failed" and broken.error_code == "internal" and "ZeroDivisionError" in (broken.error or "")

    # A clean run is completed; each run row says how its run ended, and nobody holds the lease.
    done = PullReport("ww1", "manual")
    with leased_run(database.sessions, job, done, holder="me", ttl=TTL, clock=clock) as lease:
        assert lease is not None
        _started(database, done)
        with session_scope(database.sessions) as session:
            lease.renew(session)
    assert done.status == "completed"
    with session_scope(database.sessions) as session:
        rows = {run.id: (run.status, run.error_code) for run in repository.last_runs(session, "ww1", 10)}
        assert repository.lease_holder(session, "pull:ww1") is None
    assert rows == {
        failed.run_id: ("failed", StorageError.code),
        broken.run_id: ("failed", "internal"),
        done.run_id: ("completed", None),
    }
