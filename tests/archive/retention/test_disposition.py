"""Disposition removes exactly the expired, unheld messages — with their recipients,
envelopes and media — leaves the integrity chain verifiable, and never half-writes a batch.
On SQLite and PostgreSQL, with chats pulled from the simulated company."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from archive.media.blobstore import LocalBlobStore
from archive.media.models import MediaTask
from archive.models import ChatEnvelopeRow, Message, MessageRecipient, QuarantinedRecord
from archive.quarantine import retry_quarantine
from archive.repository import acquire_lease
from archive.retention import repository as retention_repository
from archive.retention.disposition import DispositionReport, dispose
from archive.retention.jobs import dispose_all
from archive.retention.models import DispositionRun, DispositionRunPolicy
from archive.retention.service import RetentionService
from archive.retention.views import PolicyScope
from archive.simulator.cipher import CorpKeyPair
from archive.simulator.conversations import GeneratedMessage
from config.database import session_scope
from tests.archive.retention.helpers import (
    ADMIN,
    DAY,
    NOW,
    OFFICER,
    Sent,
    ms,
    older_than,
    pull_history,
    retention,
    row_counts,
    run_disposition,
    run_verify,
    sent_messages,
    stored_msgids,
    sync_company_directory,
)
from tests.conftest import Database, Edge

CORP = PolicyScope("corp", "")


def test_a_corp_wide_policy_disposes_exactly_the_messages_older_than_it(edge: Edge) -> None:
    sent = sent_messages(pull_history(edge))
    with retention(edge) as service:
        service.create_policy(ADMIN, CORP, 30)
    expired = older_than(sent, 30)
    assert 0 < len(expired) < len(sent)

    report = run_disposition(edge, batch_size=100)

    assert report.status == "completed", report.error
    assert stored_msgids(edge) == {m.msgid for m in sent} - expired
    assert (report.disposed, report.held, report.by_policy) == (len(expired), 0, {"corp": len(expired)})
    assert report.examined == len(expired) and report.batches == -(-len(expired) // 100)
    counts = row_counts(edge)
    assert counts.envelopes == counts.messages == len(sent) - len(expired)
    assert counts.conversation_total == counts.messages_in_conversations, "conversation counts follow"
    with edge.database.sessions() as session:
        orphans = session.scalar(
            select(func.count())
            .select_from(MessageRecipient)
            .where(MessageRecipient.message_id.not_in(select(Message.id)))
        )
        run = session.scalars(select(DispositionRun)).one()
        per_policy = session.scalars(select(DispositionRunPolicy)).one()
    assert orphans == 0
    assert (run.status, run.disposed, run.examined, run.dry_run) == ("completed", len(expired), len(expired), False)
    assert (per_policy.policy_name, per_policy.disposed) == ("corp", len(expired))

    verified = run_verify(edge)
    assert verified.ok, verified.broken
    assert verified.tombstones == len(expired)

    (again,) = dispose_all(edge.database.sessions, [edge.simulator.corp_id], blob_store=None, clock=lambda: NOW)
    assert (again.trigger, again.status, again.disposed) == ("schedule", "completed", 0), "nothing more to do"


def test_the_longest_of_the_corp_department_and_chat_type_policies_wins(edge: Edge) -> None:
    sent = sent_messages(pull_history(edge))
    company = edge.simulator.company
    wealth = {3, 4, 5, 6}  # 财富管理中心 and its three advisory teams
    assert company.department(3).name == "财富管理中心"
    with retention(edge) as service:
        service.create_policy(ADMIN, CORP, 20)
        service.create_policy(ADMIN, PolicyScope("department", "3"), 35)
        service.create_policy(ADMIN, PolicyScope("chat_type", "group"), 45)
        service.create_policy(ADMIN, PolicyScope("chat_type", "single_internal"), 25)

    def retain_days(message: Sent) -> int:
        days = [20, {"group": 45, "single_internal": 25}.get(message.chat_type() or "", 0)]
        if message.departments(company) & wealth:
            days.append(35)
        return max(days)

    expected_kept = {m.msgid for m in sent if m.msgtime >= NOW - retain_days(m) * DAY}
    expired_20 = older_than(sent, 20)
    # Each longer policy must really keep something the corp-wide one alone would dispose.
    checks: list[tuple[str, Callable[[Sent], bool]]] = [
        ("department", lambda m: bool(m.departments(company) & wealth) and not m.roomid),
        ("group", lambda m: m.chat_type() == "group" and m.msgtime < NOW - 35 * DAY),
        ("single_internal", lambda m: m.chat_type() == "single_internal"),
    ]
    for label, keeps in checks:
        assert any(m.msgid in expired_20 and m.msgid in expected_kept and keeps(m) for m in sent), label

    report = run_disposition(edge, batch_size=150)

    assert report.status == "completed", report.error
    assert stored_msgids(edge) == expected_kept
    assert sum(report.by_policy.values()) == report.disposed == len(sent) - len(expected_kept)
    assert set(report.by_policy) <= {"corp", "department:3", "chat:group", "chat:single_internal"}
    assert run_verify(edge).ok


def test_legal_holds_of_every_kind_keep_messages_past_their_retention(edge: Edge) -> None:
    sent = sent_messages(pull_history(edge))
    company = edge.simulator.company
    expired = [m for m in sent if m.msgid in older_than(sent, 30)]
    singles = [m for m in expired if m.chat_type() == "single_external"]
    employee = next(m.sender for m in singles if company.is_employee(m.sender))
    customer = next(
        p for m in singles if employee not in m.participants for p in m.participants if p[:2] in ("wm", "wo")
    )
    rooms = [m.roomid for m in expired if m.roomid and not {employee, customer} & m.participants]
    room, case_room = rooms[0], next(r for r in rooms if r != rooms[0])
    case_employee = next(
        p
        for m in singles
        if employee not in m.participants
        for p in m.participants
        if p != customer and company.is_employee(p)
    )
    window = (min(m.msgtime for m in expired) + 5 * DAY, min(m.msgtime for m in expired) + 7 * DAY)
    case_from = window[1] + DAY
    with retention(edge) as service:
        service.create_policy(ADMIN, CORP, 30)
        held_employee = service.create_hold(ADMIN, [("employee", employee)])
        service.create_hold(ADMIN, [("customer", customer)])
        service.create_hold(ADMIN, [("room", room)])
        service.create_hold(ADMIN, starts_at=window[0], ends_at=window[1])
        case = [("employee", case_employee), ("room", case_room)]
        service.create_hold(ADMIN, case, case="SEC-2026-041", starts_at=case_from)

    def holds_on(m: Sent) -> set[str]:
        kinds = set()
        if employee in m.participants:
            kinds.add("employee")
        if customer in m.participants:
            kinds.add("customer")
        if m.roomid == room:
            kinds.add("room")
        if window[0] <= m.msgtime < window[1]:
            kinds.add("date_range")
        if (case_employee in m.participants or m.roomid == case_room) and m.msgtime >= case_from:
            kinds.add("case")
        return kinds

    held = {m.msgid: holds_on(m) for m in expired if holds_on(m)}
    for kind in ("employee", "customer", "room", "date_range", "case"):
        assert any(kinds == {kind} for kinds in held.values()), f"no message is held by the {kind} hold alone"

    report = run_disposition(edge)

    assert report.status == "completed", report.error
    assert stored_msgids(edge) == {m.msgid for m in sent} - {m.msgid for m in expired} | set(held)
    assert report.held == len(held) and report.disposed == len(expired) - len(held)
    assert run_verify(edge).ok

    # Releasing the employee hold (an admin, with a reason): the next run disposes its messages.
    with retention(edge) as service:
        service.release_hold(ADMIN, held_employee.id, reason="matter settled, counsel's letter of 3 March")
    only_employee = {msgid for msgid, kinds in held.items() if kinds == {"employee"}}
    second = run_disposition(edge)
    assert second.disposed == len(only_employee) and second.held == len(held) - len(only_employee)
    assert stored_msgids(edge).isdisjoint(only_employee)
    assert run_verify(edge).ok


def test_media_tasks_go_with_their_messages_and_blobs_only_when_unreferenced(edge: Edge, tmp_path: Path) -> None:
    sent = sent_messages(pull_history(edge))
    expired = older_than(sent, 30)
    blobs = LocalBlobStore(tmp_path / "blobs")
    digests = []
    for content in (b"only in an expired message", b"also in a message that is kept"):
        source = tmp_path / hashlib.sha256(content).hexdigest()
        source.write_bytes(content)
        digests.append(blobs.put_file(source)[0])
    with edge.database.sessions.begin() as session:
        tasks = list(session.scalars(select(MediaTask).order_by(MediaTask.id)))
        old = [t for t in tasks if t.msgid in expired]
        kept = [t for t in tasks if t.msgid not in expired]
        assert len(old) >= 2 and kept
        for task, digest in [(old[0], digests[0]), (old[1], digests[1]), (kept[0], digests[1])]:
            session.execute(update(MediaTask).where(MediaTask.id == task.id).values(status="done", blob_sha256=digest))
    with retention(edge) as service:
        service.create_policy(ADMIN, CORP, 30)

    report = run_disposition(edge, blob_store=blobs)

    assert report.status == "completed", report.error
    assert (report.media_deleted, report.blobs_deleted) == (len(old), 1)
    with edge.database.sessions() as session:
        remaining = set(session.scalars(select(MediaTask.msgid)))
    assert remaining == {t.msgid for t in kept}
    assert not blobs.exists(digests[0]), "a blob only the disposed messages used is deleted"
    assert blobs.exists(digests[1]), "a blob a kept message still uses stays"


def test_a_batch_broken_midway_leaves_nothing_half_written(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = sent_messages(pull_history(edge))
    with retention(edge) as service:
        service.create_policy(ADMIN, CORP, 30)
    expired = older_than(sent, 30)
    with edge.database.sessions() as session:
        by_id = list(session.execute(select(Message.id, Message.msgid).order_by(Message.id)))
        recipients_before = session.scalar(select(func.count()).select_from(MessageRecipient))
    first_batch = [msgid for _id, msgid in by_id if msgid in expired][:100]

    real_add_policy_counts = retention_repository.add_policy_counts
    calls = 0

    def fail_in_second_batch(session: Session, run_id: int, corp_id: str, counts: dict[tuple[int, str], int]) -> None:
        # Runs after the batch's tombstones, media release and deletions, before its commit.
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("UPDATE disposition_runs …", {}, Exception("disk I/O error"))
        real_add_policy_counts(session, run_id, corp_id, counts)

    monkeypatch.setattr(retention_repository, "add_policy_counts", fail_in_second_batch)
    broken = run_disposition(edge, batch_size=100)

    assert broken.status == "failed" and broken.error_code == "storage"
    assert "disk I/O error" in (broken.error or "")
    assert (broken.batches, broken.disposed) == (1, 100)
    assert stored_msgids(edge) == {m.msgid for m in sent} - set(first_batch), "batch 1 done, batch 2 untouched"
    counts = row_counts(edge)
    assert counts.envelopes == counts.messages and counts.conversation_total == counts.messages_in_conversations
    with edge.database.sessions() as session:
        run = session.scalars(select(DispositionRun)).one()
        recipients_after = session.scalar(select(func.count()).select_from(MessageRecipient))
        disposed_ids = {i for i, msgid in by_id if msgid in first_batch}
    assert (run.status, run.batches, run.disposed, run.error_code) == ("failed", 1, 100, "storage")
    assert recipients_after is not None and recipients_before is not None
    assert recipients_after < recipients_before
    verified = run_verify(edge)
    assert verified.ok, verified.broken
    assert verified.tombstones == len(disposed_ids) == 100

    monkeypatch.setattr(retention_repository, "add_policy_counts", real_add_policy_counts)
    resumed = run_disposition(edge, batch_size=100)
    assert resumed.status == "completed"
    assert resumed.disposed == len(expired) - 100
    assert stored_msgids(edge) == {m.msgid for m in sent} - expired
    assert run_verify(edge).ok


def test_a_dry_run_counts_what_a_real_run_then_deletes(edge: Edge) -> None:
    sent = sent_messages(pull_history(edge))
    with retention(edge) as service:
        service.create_policy(ADMIN, CORP, 30)
        service.create_hold(ADMIN, starts_at=NOW - 45 * DAY, ends_at=NOW - 40 * DAY)
    before = row_counts(edge)
    with edge.database.sessions() as session:
        media_before = session.scalar(select(func.count()).select_from(MediaTask))

    dry = run_disposition(edge, dry_run=True)

    assert dry.status == "completed" and dry.dry_run
    assert dry.disposed > 0 and dry.held > 0
    assert row_counts(edge) == before
    assert len(stored_msgids(edge)) == len(sent)
    with edge.database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MediaTask)) == media_before
        recorded = session.scalars(select(DispositionRun)).one()
    assert (recorded.dry_run, recorded.disposed, recorded.held) == (True, dry.disposed, dry.held)
    assert run_verify(edge).ok

    real = run_disposition(edge)
    assert (real.disposed, real.held, real.media_deleted) == (dry.disposed, dry.held, dry.media_deleted)


def test_recovered_quarantine_goes_with_its_message_and_open_quarantine_is_never_touched(edge: Edge) -> None:
    edge.server.retention_s = 10 * 365 * 86_400
    generated: list[GeneratedMessage] = []
    end = NOW - 40 * DAY
    edge.simulator.populate(150, messages_per_day=50, end_ms=ms(end), rotate_after=100, record=generated)
    edge.simulator.populate(10, messages_per_day=50, end_ms=ms(end), encrypt_with=CorpKeyPair.generate(9))
    edge.register_keys(versions=[1])
    context = edge.context()
    corp_id = edge.simulator.corp_id
    assert context.puller(corp_id).run().status == "completed"
    edge.register_keys(versions=[2])  # the missing key arrives; its records are recovered
    assert retry_quarantine(corp_id, context.source(corp_id), edge.database.sessions).recovered == 50
    context.close()
    sync_company_directory(edge)
    with edge.database.sessions() as session:
        resolved = session.scalar(select(func.count()).where(QuarantinedRecord.resolved_at.is_not(None)))
        open_rows = session.scalar(select(func.count()).where(QuarantinedRecord.resolved_at.is_(None)))
    assert (resolved, open_rows) == (50, 10)
    with retention(edge) as service:
        service.create_policy(ADMIN, CORP, 30)

    report = run_disposition(edge)

    assert report.status == "completed", report.error
    assert report.disposed == len(generated) == 150
    with edge.database.sessions() as session:
        quarantine = list(session.scalars(select(QuarantinedRecord)))
        envelopes = session.scalar(select(func.count()).select_from(ChatEnvelopeRow))
        messages = session.scalar(select(func.count()).select_from(Message))
    assert messages == 0
    assert len(quarantine) == 10 and all(q.resolved_at is None for q in quarantine)
    assert envelopes == 10, "the envelopes of open quarantine records stay for `quarantine retry`"
    assert run_verify(edge).ok


def test_logs_carry_counts_never_message_ids_or_people(edge: Edge, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from config.logs import configure_logging

    sent = sent_messages(pull_history(edge, 300, days=40))
    with retention(edge) as service:
        service.create_policy(ADMIN, CORP, 10)
    stream = io.StringIO()
    configure_logging("DEBUG", json_output=True, stream=stream)
    try:
        report = run_disposition(edge, batch_size=50)
    finally:
        configure_logging("WARNING")
    logged = stream.getvalue()
    assert report.disposed > 0 and "archive.retention.completed" in logged
    for message in sent:
        assert message.msgid not in logged
        for person in message.participants:
            assert person not in logged


def test_a_hold_placed_while_a_batch_waits_for_the_rules_lock_is_respected(edge: Edge) -> None:
    sent = sent_messages(pull_history(edge, 300, days=40))
    with retention(edge) as service:
        service.create_policy(ADMIN, CORP, 10)
    expired = older_than(sent, 10)

    # An officer's hold, not yet committed: its transaction holds the corp's rules lock.
    session = edge.database.sessions()
    RetentionService(session, edge.simulator.corp_id, clock=lambda: NOW).create_hold(
        OFFICER, starts_at=NOW - 100 * DAY, case="LATE-HOLD"
    )
    reports: list[DispositionReport] = []
    worker = threading.Thread(target=lambda: reports.append(run_disposition(edge)))
    worker.start()
    time.sleep(1.5)  # the disposition reaches the lock and waits there
    session.commit()
    session.close()
    worker.join(timeout=60)

    (report,) = reports
    assert (report.status, report.disposed, report.held) == ("completed", 0, len(expired))
    assert len(stored_msgids(edge)) == len(sent)


def test_a_second_disposition_of_the_same_corp_is_skipped(database: Database) -> None:
    with session_scope(database.sessions) as session:
        assert acquire_lease(session, "retention:wwbusy", "other-host:1:x", NOW, timedelta(minutes=10))

    report = dispose(database.sessions, "wwbusy", blob_store=None, clock=lambda: NOW)

    assert report.status == "skipped" and report.run_id is None
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(DispositionRun)) == 0
