"""The access log is append-only and hash-chained: editing, deleting or reordering a row
is found by ``verify``; concurrent appenders never fork the chain."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete, select, update

from archive.clock import utcnow
from audit.accesslog import log as access_log
from audit.accesslog.models import AccessLogEntry, AccessLogHead
from config.database import session_scope
from tests.conftest import Database


def record(n: int) -> access_log.AccessRecord:
    return access_log.AccessRecord(
        actor=f"officer{n % 3}",
        actor_role="compliance_officer",
        via="session",
        action="content.message",
        target={"message_id": n, "conversation_id": 7, "名字": "张三"},
        purpose=f"案件-{n}",
        result_count=1,
        request_id=f"req-{n}",
    )


def fill(database: Database, rows: int) -> None:
    now = utcnow()
    with session_scope(database.sessions) as session:
        for n in range(rows):
            access_log.append(session, record(n), now + timedelta(milliseconds=n))


def verify(database: Database) -> access_log.AccessLogVerifyReport:
    with session_scope(database.sessions) as session:
        return access_log.verify(session)


def test_an_untouched_log_verifies(database: Database) -> None:
    fill(database, 25)
    report = verify(database)
    assert report.ok and report.checked == report.head_position == 25


def test_an_edited_row_is_found(database: Database) -> None:
    fill(database, 10)
    with session_scope(database.sessions) as session:
        session.execute(update(AccessLogEntry).where(AccessLogEntry.position == 4).values(purpose="nothing to see"))
    assert verify(database).problems == ["row 4 was changed after it was written"]


def test_a_deleted_row_in_the_middle_is_found(database: Database) -> None:
    fill(database, 10)
    with session_scope(database.sessions) as session:
        session.execute(delete(AccessLogEntry).where(AccessLogEntry.position == 6))
    problems = verify(database).problems
    assert "position 6 is missing (next row is 7)" in problems
    assert "row 7 does not link to the row before it" in problems


def test_rows_cut_from_the_end_are_found_by_the_head(database: Database) -> None:
    fill(database, 10)
    with session_scope(database.sessions) as session:
        session.execute(delete(AccessLogEntry).where(AccessLogEntry.position > 8))
    assert len(verify(database).problems) == 1 and "rows were deleted from the end" in verify(database).problems[0]


def test_a_rewritten_chain_does_not_match_the_head(database: Database) -> None:
    fill(database, 5)
    with session_scope(database.sessions) as session:
        session.execute(update(AccessLogHead).values(head_hash="f" * 64))
    assert not verify(database).ok


def test_concurrent_appenders_keep_one_dense_chain(database: Database) -> None:
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for n in range(15):
                with session_scope(database.sessions) as session:
                    access_log.append(session, record(offset + n), utcnow())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i * 100,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with session_scope(database.sessions) as session:
        positions = session.execute(select(AccessLogEntry.position).order_by(AccessLogEntry.position)).scalars().all()
    assert positions == list(range(1, 61))
    assert verify(database).ok


def test_search_filters_and_pages_newest_first(database: Database) -> None:
    fill(database, 12)
    with session_scope(database.sessions) as session:
        query = access_log.AccessLogQuery(actor="officer1")
        first = access_log.search(session, query, before_position=None, limit=2)
        rest = access_log.search(session, query, before_position=first[-1].position, limit=10)
        by_prefix = access_log.search(
            session, access_log.AccessLogQuery(action="content."), before_position=None, limit=50
        )
    assert [row.position for row in first + rest] == [11, 8, 5, 2]
    assert len(by_prefix) == 12
