"""One record can never stall the archive (issue 13, item 7).

A record that decrypts and parses but that the database refuses to store — measured: a
uint64 ``filesize`` beyond the int64 ``expected_size`` column — is quarantined on its own
as ``unstorable``; the rest of its batch and the later batches are stored and the cursor
moves on. The pulls, the integrity chain, the outbox and ``quarantine retry`` are checked
on SQLite and PostgreSQL with the real puller against the simulated company.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from archive.integrity.models import ChainLink
from archive.media.models import MediaTask
from archive.models import ArchiveCursor, ChatEnvelopeRow, Conversation, Message, QuarantinedRecord
from archive.outbox import queue
from archive.outbox.models import OutboxEntry
from archive.puller import Puller, PullReport
from archive.quarantine import RetryReport, retry_quarantine
from archive.simulator.conversations import GeneratedMessage
from tests.archive.integrity.helpers import run_verify
from tests.conftest import Edge

# WxJava's msgaudit tests carry a file message whose filesize is this uint64: beyond int64.
HUGE_FILESIZE = 11_101_571_002_822_706_744
BAD_MSGID = "18039699423706571225_1603875608"
BATCH_LIMIT = 100
# What each database says about it (the first line of the driver's error).
COMPLAINT = {"sqlite": "too large to convert to SQLite INTEGER", "postgresql": "bigint out of range"}


def chat_after(sent: list[GeneratedMessage], msgid: str, **body: object) -> dict[str, object]:
    """A message sent just after the last chat message of ``sent``, in its conversation."""
    after = next(m for m in reversed(sent) if m.plaintext.get("action") == "send" and "from" in m.plaintext)
    return {
        "msgid": msgid,
        "action": "send",
        "from": after.plaintext["from"],
        "tolist": after.plaintext["tolist"],
        "roomid": after.plaintext.get("roomid", ""),
        "msgtime": sent[-1].msgtime_ms + 1,
        **body,
    }


def huge_file_message(msgid: str, sent: list[GeneratedMessage]) -> dict[str, object]:
    """WeCom's file message (the shape of WxJava's sample) with the uint64 filesize."""
    return chat_after(
        sent,
        msgid,
        msgtype="file",
        file={
            "md5sum": "18e93fc2ea884df23b3d2d3b8667b9f0",
            "filename": "季度对账单.xlsx",
            "fileext": "xlsx",
            "filesize": HUGE_FILESIZE,
            "sdkfileid": "CtYBMzA2OTAyMDEwMjA0NjIzMDYwMDIwMTAwMDIwNGI3ZmU0MDZl",
        },
    )


def pull(edge: Edge, *, batch_limit: int = BATCH_LIMIT) -> PullReport:
    context = edge.context()
    try:
        corp_id = edge.simulator.corp_id
        return Puller(corp_id, context.source(corp_id), context.session_factory, batch_limit=batch_limit).run()
    finally:
        context.close()


def retry(edge: Edge) -> RetryReport:
    context = edge.context()
    try:
        corp_id = edge.simulator.corp_id
        return retry_quarantine(corp_id, context.source(corp_id), edge.database.sessions)
    finally:
        context.close()


def stored_msgids(edge: Edge) -> Counter[str]:
    with edge.database.sessions() as session:
        return Counter(session.scalars(select(Message.msgid)))


def open_quarantine(edge: Edge) -> list[QuarantinedRecord]:
    with edge.database.sessions() as session:
        return list(session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.resolved_at.is_(None))))


def assert_archive_consistent(edge: Edge, messages: int) -> None:
    """Chain, outbox, media tasks and conversations hold exactly the stored messages."""
    verified = run_verify(edge)
    assert verified.ok, verified.broken
    assert verified.head_position == messages
    with edge.database.sessions() as session:
        ids = sorted(session.scalars(select(Message.id)))
        links = session.scalar(select(func.count()).select_from(ChainLink))
        in_conversations = session.scalar(select(func.count()).where(Message.conversation_id.is_not(None)))
        counted = session.scalar(select(func.coalesce(func.sum(Conversation.message_count), 0)))
        tasks_of_bad = session.scalar(select(func.count()).where(MediaTask.msgid == BAD_MSGID))
        orphan_tasks = session.scalar(
            select(func.count()).select_from(MediaTask).where(MediaTask.message_id.not_in(select(Message.id)))
        )
        outbox = {
            consumer: sorted(
                int(i)
                for entry in session.scalars(select(OutboxEntry.message_ids).where(OutboxEntry.consumer == consumer))
                for i in entry
            )
            for consumer in queue.ON_STORE
        }
    assert len(ids) == messages == links
    assert counted == in_conversations  # no count left behind by a rolled-back attempt
    assert tasks_of_bad == 0 and orphan_tasks == 0
    assert all(queued == ids for queued in outbox.values())  # every message queued once for detection


def test_an_unstorable_record_is_quarantined_alone_and_the_archive_moves_on(edge: Edge) -> None:
    assert HUGE_FILESIZE > 2**63 - 1
    first: list[GeneratedMessage] = []
    later: list[GeneratedMessage] = []
    edge.simulator.populate(230, messages_per_day=20_000, record=first)
    bad = edge.simulator.inject([huge_file_message(BAD_MSGID, first)])  # seq 231: mid-batch
    edge.simulator.populate(170, messages_per_day=20_000, end_ms=first[-1].msgtime_ms + 600_000, record=later)
    good = Counter(m.msgid for m in first + later)
    assert len(good) == 400 and BAD_MSGID not in good
    edge.register_keys()

    report = pull(edge)

    assert report.status == "completed", report.error
    assert (report.fetched, report.stored, report.quarantined) == (401, 400, 1)
    assert report.quarantine_reasons == {"unstorable": 1}
    assert report.to_seq == edge.simulator.store.max_seq()
    assert stored_msgids(edge) == good  # every other record, once
    [row] = open_quarantine(edge)
    assert (row.msgid, row.seq, row.reason, row.attempts) == (BAD_MSGID, bad.first_seq, "unstorable", 1)
    assert row.detail.startswith("the database refused to store it")
    assert COMPLAINT[edge.database.dialect] in row.detail
    assert str(HUGE_FILESIZE) not in row.detail and "对账单" not in row.detail  # no content
    with edge.database.sessions() as session:
        envelope = session.get(ChatEnvelopeRow, row.envelope_id)
        cursor = session.get(ArchiveCursor, edge.simulator.corp_id)
    assert envelope is not None and envelope.msgid == BAD_MSGID  # kept for a later retry
    assert cursor is not None and cursor.seq == edge.simulator.store.max_seq()
    assert_archive_consistent(edge, 400)

    again = pull(edge)
    assert again.status == "completed", again.error
    assert (again.fetched, again.stored, again.quarantined) == (0, 0, 0)

    retried = retry(edge)
    assert (retried.attempted, retried.recovered) == (1, 0)
    assert retried.still_failing == {"unstorable": 1}
    [row] = open_quarantine(edge)
    assert (row.reason, row.attempts) == ("unstorable", 2)
    assert COMPLAINT[edge.database.dialect] in row.detail
    assert stored_msgids(edge) == good
    assert_archive_consistent(edge, 400)


def test_quarantine_retry_stores_the_others_when_one_is_unstorable(edge: Edge) -> None:
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(30, messages_per_day=20_000, record=sent)
    edge.simulator.rotate_key()
    edge.simulator.populate(30, messages_per_day=20_000, end_ms=sent[-1].msgtime_ms + 600_000, record=sent)
    edge.simulator.inject([huge_file_message(BAD_MSGID, sent)])
    edge.register_keys(versions=[1])  # v2 missing: its 31 records are quarantined, undecrypted

    report = pull(edge)
    assert report.status == "completed", report.error
    assert report.quarantine_reasons == {"unknown_key_version": 31}

    edge.register_keys()
    retried = retry(edge)

    assert (retried.attempted, retried.recovered) == (31, 30)
    assert retried.still_failing == {"unstorable": 1}
    assert stored_msgids(edge) == Counter(m.msgid for m in sent)
    [row] = open_quarantine(edge)
    assert (row.msgid, row.reason, row.attempts) == (BAD_MSGID, "unstorable", 2)
    assert COMPLAINT[edge.database.dialect] in row.detail
    assert_archive_consistent(edge, 60)


def test_a_lone_unstorable_record_at_the_head_of_the_archive_does_not_wait(edge: Edge) -> None:
    """The newest record alone in its batch: the database's complaint is about its data, so it
    is set aside at once; the archive does not wait for later chats to join the batch."""
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(20, messages_per_day=20_000, record=sent)
    edge.register_keys()
    assert pull(edge).status == "completed"
    edge.simulator.inject([huge_file_message(BAD_MSGID, sent)])

    report = pull(edge)

    assert report.status == "completed", report.error
    assert (report.stored, report.quarantine_reasons) == (0, {"unstorable": 1})
    [row] = open_quarantine(edge)
    assert row.msgid == BAD_MSGID and COMPLAINT[edge.database.dialect] in row.detail
    with edge.database.sessions() as session:
        assert session.get_one(ArchiveCursor, edge.simulator.corp_id).seq == 21
    assert_archive_consistent(edge, 20)


def test_a_batch_refused_record_by_record_is_the_environments_fault(edge: Edge) -> None:
    """If the database refuses every record of a batch of several on its own, the database is
    the suspect, not the data: nothing is quarantined and the cursor stays."""
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(20, messages_per_day=20_000, record=sent)
    edge.register_keys()
    assert pull(edge).status == "completed"
    first = huge_file_message(BAD_MSGID, sent)
    msgtime = first["msgtime"]
    assert isinstance(msgtime, int)
    second = {**first, "msgid": BAD_MSGID + "_2", "msgtime": msgtime + 1}
    edge.simulator.inject([first, second])

    refused = pull(edge)

    assert refused.status == "failed"
    assert refused.error_code == "storage"
    assert COMPLAINT[edge.database.dialect] in (refused.error or "")
    assert "INSERT" not in (refused.error or "") and str(HUGE_FILESIZE) not in (refused.error or "")
    assert open_quarantine(edge) == []
    with edge.database.sessions() as session:
        assert session.get_one(ArchiveCursor, edge.simulator.corp_id).seq == 20
        assert session.scalar(select(func.count()).select_from(ChatEnvelopeRow)) == 20

    # Once the batch holds a record the database does take, the bad ones are set aside.
    edge.simulator.populate(5, messages_per_day=20_000, end_ms=sent[-1].msgtime_ms + 600_000, record=sent)
    resumed = pull(edge)
    assert resumed.status == "completed", resumed.error
    assert (resumed.stored, resumed.quarantine_reasons) == (5, {"unstorable": 2})
    assert stored_msgids(edge) == Counter(m.msgid for m in sent)
    assert_archive_consistent(edge, 25)


def test_a_failure_while_isolating_stores_nothing_of_the_batch(edge: Edge) -> None:
    """An error that is not the data's (here: the quarantine table refuses every write) while
    the batch is being bisected rolls back the whole batch, savepoints included."""
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(60, messages_per_day=20_000, record=sent)
    edge.simulator.inject([huge_file_message(BAD_MSGID, sent)])
    edge.simulator.populate(39, messages_per_day=20_000, end_ms=sent[-1].msgtime_ms + 600_000, record=sent)
    edge.register_keys()
    refuse_quarantine_writes(edge, "INSERT")

    report = pull(edge, batch_limit=50)  # batch 1 stores; batch 2 holds the bad record at 61

    assert report.status == "failed"
    assert report.stored == 50
    with edge.database.sessions() as session:
        assert session.get_one(ArchiveCursor, edge.simulator.corp_id).seq == 50
        assert session.scalar(select(func.count()).select_from(ChatEnvelopeRow)) == 50
    assert sum(stored_msgids(edge).values()) == 50
    assert_archive_consistent(edge, 50)


def test_a_failure_while_isolating_a_retry_stores_nothing_of_it(edge: Edge) -> None:
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(10, messages_per_day=20_000, record=sent)
    edge.simulator.rotate_key()
    edge.simulator.populate(10, messages_per_day=20_000, end_ms=sent[-1].msgtime_ms + 600_000, record=sent)
    edge.simulator.inject([huge_file_message(BAD_MSGID, sent)])  # last: the first halves are kept
    edge.register_keys(versions=[1])
    assert pull(edge).quarantine_reasons == {"unknown_key_version": 11}
    edge.register_keys()
    refuse_quarantine_writes(edge, "UPDATE", when="NEW.resolved_at IS NULL")  # resolving still works

    with pytest.raises(DBAPIError, match="quarantine refused by the test"):
        retry(edge)

    assert sum(stored_msgids(edge).values()) == 10  # none of the retried records
    assert len(open_quarantine(edge)) == 11
    assert_archive_consistent(edge, 10)


def test_any_value_the_database_refuses_is_isolated_the_same_way(edge: Edge) -> None:
    """Not only overflowing numbers: PostgreSQL's text columns cannot hold NUL (SQLite's can),
    and a sender id past its column's 128 characters is refused by PostgreSQL too."""
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(40, messages_per_day=20_000, record=sent)
    edge.simulator.inject(
        [
            chat_after(sent, "nul_text_1", msgtype="text", text={"content": "a\x00b"}),
            chat_after(sent, "long_sender_1", msgtype="text", text={"content": "hello"}, **{"from": "w" * 200}),
        ]
    )
    edge.simulator.populate(9, messages_per_day=20_000, end_ms=sent[-1].msgtime_ms + 600_000, record=sent)
    edge.register_keys()

    report = pull(edge)

    assert report.status == "completed", report.error
    assert report.fetched == 51
    if edge.database.dialect == "postgresql":
        assert (report.stored, report.quarantine_reasons) == (49, {"unstorable": 2})
        details = {row.msgid: row.detail for row in open_quarantine(edge)}
        assert "cannot contain NUL" in details["nul_text_1"] or "Unicode escape" in details["nul_text_1"]
        assert "value too long for type character varying(128)" in details["long_sender_1"]
        assert stored_msgids(edge) == Counter(m.msgid for m in sent)
    else:
        assert (report.stored, report.quarantined) == (51, 0)
    assert_archive_consistent(edge, report.stored)


def refuse_quarantine_writes(edge: Edge, operation: str, *, when: str = "TRUE") -> None:
    """A trigger in the real database that fails each ``operation`` on the quarantine table
    (for the rows matching ``when``)."""
    with edge.database.engine.begin() as connection:
        if edge.database.dialect == "sqlite":
            connection.execute(
                text(
                    f"CREATE TRIGGER refuse_quarantine BEFORE {operation} ON quarantine WHEN {when} "
                    "BEGIN SELECT RAISE(ABORT, 'quarantine refused by the test'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_quarantine() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'quarantine refused by the test'; END $$"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER refuse_quarantine BEFORE {operation} ON quarantine "
                    f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION refuse_quarantine()"
                )
            )
