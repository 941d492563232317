"""The access log against a database writer (issue 15 item 5, docs/adr/0019): what the
anchor file catches, what only the key catches, and what the key file looks like.

The attacker here writes the database and nothing else. They rewrite the log with the
project's own functions (``access_log.document``, ``canonical.chain_hash``): everything a
database writer has, short of the key and the anchor file."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from archive.clock import utcnow
from archive.integrity import canonical
from audit.accesslog import jobs
from audit.accesslog import log as access_log
from audit.accesslog.logkey import AccessLogConfig, use
from audit.accesslog.models import AccessLogCheckpoint, AccessLogEntry, AccessLogHead
from config.database import make_session_factory, session_scope
from config.settings import ConfigError
from tests.conftest import Database

WATCHED = "officer-b"


def configured(database: Database, tmp_path: Path, mode: Literal["anchored", "keyed"]) -> sessionmaker[Session]:
    config = AccessLogConfig(
        mode,
        tmp_path / "offsite" / "access-log-checkpoints.jsonl",
        tmp_path / "keys" / "access-log.key",
    )
    return use(make_session_factory(database.engine), config)


def fill(sessions: sessionmaker[Session], rows: int, *, offset: int = 0) -> None:
    now = utcnow()
    with session_scope(sessions) as session:
        for n in range(offset, offset + rows):
            record = access_log.AccessRecord(
                actor=WATCHED if n % 2 else "officer-a",
                actor_role="compliance_officer",
                via="session",
                action="content.message",
                target={"message_id": n},
                purpose=f"案件-{n}",
                result_count=1,
            )
            access_log.append(session, record, now + timedelta(milliseconds=n))


def verify(sessions: sessionmaker[Session]) -> access_log.AccessLogVerifyReport:
    with session_scope(sessions) as session:
        return access_log.verify(session)


def rechain(database: Database, *, keep_through: int = 0, drop_actor: str | None = WATCHED) -> None:
    """Delete ``drop_actor``'s rows after ``keep_through``, renumber and re-hash everything
    after it with the project's functions (no key), move the head, drop the checkpoint rows."""
    with session_scope(database.sessions) as session:
        rows = list(session.execute(select(AccessLogEntry).order_by(AccessLogEntry.position)).scalars())
        kept = [row for row in rows if row.position <= keep_through]
        prev_hash = kept[-1].record_hash if kept else canonical.GENESIS_HASH
        later = [row for row in rows if row.position > keep_through and row.actor != drop_actor]
        session.execute(delete(AccessLogEntry).where(AccessLogEntry.position > keep_through))
        session.execute(delete(AccessLogCheckpoint))
        session.flush()
        for position, row in enumerate(later, start=keep_through + 1):
            record = access_log.AccessRecord(
                row.actor, row.actor_role, row.via, row.action, row.target, row.purpose, row.result_count
            )
            encoded = canonical.encode(access_log.document(position, row.occurred_at, record))
            record_hash = canonical.chain_hash(prev_hash, encoded)
            session.add(
                AccessLogEntry(
                    position=position,
                    occurred_at=row.occurred_at,
                    actor=row.actor,
                    actor_role=row.actor_role,
                    via=row.via,
                    action=row.action,
                    purpose=row.purpose,
                    target=row.target,
                    result_count=row.result_count,
                    outcome=row.outcome,
                    request_id=None,
                    prev_hash=prev_hash,
                    record_hash=record_hash,
                )
            )
            prev_hash = record_hash
        position = keep_through + len(later)
        head = session.get(AccessLogHead, 1)
        assert head is not None
        keyed_from = None if keep_through == 0 else head.keyed_from
        session.execute(update(AccessLogHead).values(position=position, head_hash=prev_hash, keyed_from=keyed_from))


# --- anchored mode ------------------------------------------------------------------------


def test_cutting_the_last_rows_and_moving_the_head_back_is_found_by_the_anchor(
    database: Database, tmp_path: Path
) -> None:
    sessions = configured(database, tmp_path, "anchored")
    fill(sessions, 50)
    assert jobs.checkpoint(sessions) is not None
    with session_scope(database.sessions) as session:
        kept = session.execute(select(AccessLogEntry).where(AccessLogEntry.position == 30)).scalar_one()
        session.execute(delete(AccessLogEntry).where(AccessLogEntry.position > 30))
        session.execute(delete(AccessLogCheckpoint))
        session.execute(update(AccessLogHead).values(position=30, head_hash=kept.record_hash))
    assert verify(database.sessions).ok  # the database alone is consistent again …
    problems = verify(sessions).problems  # … the anchor file is not
    assert problems == [
        "checkpoint file line 1 names position 50, beyond the last row (30): rows were deleted from the end"
    ]


def test_deleting_one_officers_reads_and_rechaining_is_found_by_the_anchor(database: Database, tmp_path: Path) -> None:
    sessions = configured(database, tmp_path, "anchored")
    fill(sessions, 20)
    jobs.checkpoint(sessions)
    fill(sessions, 20, offset=20)
    jobs.checkpoint(sessions)
    rechain(database)
    assert verify(database.sessions).ok  # a perfect re-chain, as far as the database shows
    problems = verify(sessions).problems
    assert "checkpoint file line 1 names another hash for row 20: the chain was rewritten" in problems
    assert any("line 2 names position 40, beyond the last row (20)" in problem for problem in problems)


def test_a_checkpoint_row_must_match_its_line_in_the_anchor_file(database: Database, tmp_path: Path) -> None:
    sessions = configured(database, tmp_path, "anchored")
    fill(sessions, 5)
    jobs.checkpoint(sessions)
    with session_scope(database.sessions) as session:
        session.execute(update(AccessLogCheckpoint).values(position=4))
    assert "checkpoint #1 (position 4) differs from its line in the file" in verify(sessions).problems


# --- keyed mode ---------------------------------------------------------------------------


def test_the_key_is_created_once_outside_the_database_with_mode_0600(database: Database, tmp_path: Path) -> None:
    sessions = configured(database, tmp_path, "keyed")
    jobs.checkpoint(sessions)
    key_file = tmp_path / "keys" / "access-log.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = key_file.read_text().strip()
    with session_scope(database.sessions) as session:
        head = session.get(AccessLogHead, 1)
        marker = session.execute(select(AccessLogEntry)).scalar_one()
        assert head is not None and head.keyed_from == 1
        assert marker.action == access_log.KEYED_ACTION and secret not in str(marker.target)
    jobs.checkpoint(sessions)
    assert key_file.read_text().strip() == secret  # never rewritten
    # A process without the key can neither extend nor check the keyed log.
    with pytest.raises(ConfigError, match="no access-log key"), session_scope(database.sessions) as session:
        access_log.append(session, access_log.AccessRecord("a", "auditor", "session", "content.message", {}), utcnow())
    assert "can only be checked with the access-log key" in verify(database.sessions).problems[0]


def test_the_keyed_log_resists_a_rechain_after_the_last_checkpoint(database: Database, tmp_path: Path) -> None:
    sessions = configured(database, tmp_path, "keyed")
    jobs.checkpoint(sessions)  # switch-over row 1, anchored
    fill(sessions, 30)  # rows 2..31, signed, not yet checkpointed
    report = verify(sessions)
    assert report.ok and report.keyed_from == 1 and report.checked == 31
    rechain(database, keep_through=1)
    problems = verify(sessions).problems
    assert problems and all("not signed with the access-log key" in problem for problem in problems)


def test_the_keyed_log_resists_a_full_rechain_from_genesis(database: Database, tmp_path: Path) -> None:
    sessions = configured(database, tmp_path, "keyed")
    jobs.checkpoint(sessions)
    fill(sessions, 30)
    # Keeping the switch-over row: it no longer carries the key's signature.
    rechain(database, drop_actor=WATCHED)
    assert "row 1 was changed after it was written or not signed with the access-log key" in verify(sessions).problems
    # Dropping it too (and the head's switch-over position): the anchor names it.
    rechain(database, drop_actor="system")
    problems = verify(sessions).problems
    assert "checkpoint file line 1 names another hash for row 1: the chain was rewritten" in problems


def test_switching_on_keeps_earlier_rows_under_the_plain_chain(database: Database, tmp_path: Path) -> None:
    fill(configured(database, tmp_path, "anchored"), 10)
    sessions = configured(database, tmp_path, "keyed")
    fill(sessions, 3, offset=10)  # not switched yet: still the plain chain
    jobs.checkpoint(sessions)  # the switch-over: row 14, then a checkpoint
    fill(sessions, 5, offset=13)
    report = verify(sessions)
    assert report.ok and report.keyed_from == 14 and report.checked == 19
