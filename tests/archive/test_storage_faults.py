"""A full disk: the batch is refused whole, the run says so, and nothing is lost once
there is room again (SQLite's max_page_count makes a real 'database or disk is full').
A full disk is the environment's fault: unlike a record the database refuses for its
values (tests/archive/test_unstorable.py), it never sets a record aside."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select

from archive.models import ArchiveCursor, ChatEnvelopeRow, Message, QuarantinedRecord
from tests.conftest import Edge


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_disk_full_loses_nothing(edge: Edge) -> None:
    edge.simulator.populate(3000, messages_per_day=50_000)
    edge.register_keys()
    engine = edge.database.engine
    with engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
    limit = {"pages": int(pages or 0) + 60}  # room for about one batch, not three

    def cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit['pages']}")

    event.listen(engine, "connect", cap)
    engine.dispose()  # new connections get the cap
    context = edge.context()
    report = context.puller(edge.simulator.corp_id).run()
    assert report.status == "failed"
    assert report.error_code == "storage"
    assert "full" in (report.error or "") and "free disk space" in (report.error or "")
    assert "INSERT" not in (report.error or "")  # no statement, no parameters

    with edge.database.sessions() as session:
        stored = session.execute(select(func.count()).select_from(Message)).scalar_one()
        envelopes = session.execute(select(func.count()).select_from(ChatEnvelopeRow)).scalar_one()
        quarantined = session.scalar(select(func.count()).select_from(QuarantinedRecord))
        cursor = session.get(ArchiveCursor, edge.simulator.corp_id)
    assert stored == envelopes < 3000  # whole batches only
    # The environment's fault, not the data's: the batch was not bisected, nothing set aside.
    assert stored % edge.settings.sdk.pull_limit == 0
    assert quarantined == 0 and report.quarantined == 0
    assert (cursor.seq if cursor else 0) == stored

    limit["pages"] = 1_000_000  # an admin frees space
    engine.dispose()
    resumed = context.puller(edge.simulator.corp_id).run()
    context.close()
    assert resumed.status == "completed"
    assert resumed.stored == 3000 - stored
