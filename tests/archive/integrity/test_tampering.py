"""Tampering done directly in the database — edits, deletions, insertions, reorderings —
makes `verify` fail at the right position with the right check, on SQLite and PostgreSQL.

Each case starts from 300 pulled messages and a verified, checkpointed chain, then runs
raw SQL the way someone with database access would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, text

from archive.integrity.verify import Check
from tests.archive.integrity.helpers import LinkInfo, checkpoint_file, link_at, pull, run_verify
from tests.conftest import Edge

MESSAGES = 300
TARGET = 120  # the position tampered with
OTHER = 150  # the other one where two rows are involved


@dataclass(frozen=True)
class Target:
    corp_id: str
    first: LinkInfo
    second: LinkInfo


def _sql(statement: str) -> Callable[[Connection, Target], None]:
    def run(connection: Connection, target: Target) -> None:
        connection.execute(
            text(statement),
            {
                "corp": target.corp_id,
                "id": target.first.message_id,
                "other": target.second.message_id,
                "position": target.first.position,
                "next": target.second.position,
            },
        )

    return run


def _steps(*steps: Callable[[Connection, Target], None]) -> Callable[[Connection, Target], None]:
    def run(connection: Connection, target: Target) -> None:
        for step in steps:
            step(connection, target)

    return run


@dataclass(frozen=True)
class Tampering:
    name: str
    apply: Callable[[Connection, Target], None]
    check: Check
    position: int | None = TARGET


def _swap(column: str) -> Callable[[Connection, Target], None]:
    return _sql(
        f"UPDATE messages SET {column} = CASE WHEN id = :id "
        f"THEN (SELECT {column} FROM messages WHERE id = :other) "
        f"ELSE (SELECT {column} FROM messages WHERE id = :id) END WHERE id IN (:id, :other)"
    )


def _forge_message(connection: Connection, target: Target) -> None:
    """A message row copied from a real one under a new msgid, with its own envelope."""
    columns = "corp_id, seq, publickey_ver, encrypt_random_key, encrypt_chat_msg, pulled_at"
    connection.execute(
        text(
            f"INSERT INTO chat_envelopes (msgid, {columns}) SELECT 'forged', {columns} FROM chat_envelopes "
            "WHERE id = (SELECT envelope_id FROM messages WHERE id = :id)"
        ),
        {"id": target.first.message_id},
    )
    columns = (
        "corp_id, seq, action, msgtype, sender, roomid, conversation_id, msgtime, recalls_msgid, "
        "parse_status, text, body, raw, media_count"
    )
    connection.execute(
        text(
            f"INSERT INTO messages (envelope_id, msgid, {columns}) "
            f"SELECT (SELECT id FROM chat_envelopes WHERE msgid = 'forged'), 'forged', {columns} "
            "FROM messages WHERE id = :id"
        ),
        {"id": target.first.message_id},
    )


_DELETE_MESSAGE = _steps(
    _sql("DELETE FROM message_recipients WHERE message_id = :id"),
    _sql("DELETE FROM messages WHERE id = :id"),
)

TAMPERINGS = [
    Tampering("edit text", _sql("UPDATE messages SET text = 'edited' WHERE id = :id"), Check.RECORD_HASH),
    Tampering("edit raw", _sql("UPDATE messages SET raw = raw || ' ' WHERE id = :id"), Check.RECORD_HASH),
    Tampering("edit sender", _sql("UPDATE messages SET sender = 'someone_else' WHERE id = :id"), Check.RECORD_HASH),
    Tampering(
        "edit msgtime",
        _sql("UPDATE messages SET msgtime = (SELECT msgtime FROM messages WHERE id = :other) WHERE id = :id"),
        Check.RECORD_HASH,
    ),
    Tampering(
        "edit envelope ciphertext",
        _sql(
            "UPDATE chat_envelopes SET encrypt_chat_msg = 'AAAA' || encrypt_chat_msg "
            "WHERE id = (SELECT envelope_id FROM messages WHERE id = :id)"
        ),
        Check.RECORD_HASH,
    ),
    Tampering(
        "delete a recipient",
        _sql(
            "DELETE FROM message_recipients WHERE message_id = :id AND recipient = "
            "(SELECT MIN(recipient) FROM message_recipients WHERE message_id = :id)"
        ),
        Check.RECORD_HASH,
    ),
    Tampering("edit body", _sql("UPDATE messages SET body = '{}' WHERE id = :id"), Check.BODY),
    Tampering("swap seq of two messages", _swap("seq"), Check.RECORD_HASH),
    Tampering("swap msgtime of two messages", _swap("msgtime"), Check.RECORD_HASH),
    Tampering("delete a message", _DELETE_MESSAGE, Check.MESSAGE_MISSING),
    Tampering(
        "delete a chain link",
        _sql("DELETE FROM chain_links WHERE corp_id = :corp AND position = :position"),
        Check.LINK_MISSING,
    ),
    Tampering(
        "swap two links' positions",
        _steps(
            _sql("UPDATE chain_links SET position = -1 WHERE corp_id = :corp AND position = :position"),
            _sql("UPDATE chain_links SET position = :position WHERE corp_id = :corp AND position = :next"),
            _sql("UPDATE chain_links SET position = :next WHERE corp_id = :corp AND position = -1"),
        ),
        Check.PREV_HASH,
    ),
    Tampering(
        "edit a link's hash",
        _sql("UPDATE chain_links SET record_hash = '" + "f" * 64 + "' WHERE corp_id = :corp AND position = :position"),
        Check.RECORD_HASH,
    ),
    Tampering(
        "point a link at another message",
        _steps(
            _sql("UPDATE chain_links SET message_id = NULL WHERE corp_id = :corp AND position = :next"),
            _sql("UPDATE chain_links SET message_id = :other WHERE corp_id = :corp AND position = :position"),
        ),
        Check.RECORD_HASH,
    ),
    Tampering("insert a message behind the chain's back", _forge_message, Check.UNLINKED_MESSAGE, None),
    Tampering(
        "edit a checkpoint's hash",
        _sql("UPDATE chain_checkpoints SET head_hash = '" + "0" * 64 + "' WHERE corp_id = :corp"),
        Check.CHECKPOINT,
        MESSAGES,
    ),
    Tampering(
        "edit a checkpoint's count",
        _sql("UPDATE chain_checkpoints SET count = count - 1 WHERE corp_id = :corp"),
        Check.CHECKPOINT_FILE,
        MESSAGES,
    ),
    Tampering(
        "truncate the chain and its head",
        _steps(
            _sql("DELETE FROM chain_checkpoints WHERE corp_id = :corp"),
            _sql(f"DELETE FROM chain_links WHERE corp_id = :corp AND position = {MESSAGES}"),
            _sql(
                f"UPDATE chain_heads SET position = {MESSAGES - 1}, head_hash = (SELECT record_hash FROM chain_links "
                f"WHERE corp_id = :corp AND position = {MESSAGES - 1}) WHERE corp_id = :corp"
            ),
        ),
        Check.CHECKPOINT,  # the checkpoint file still names position 300
        MESSAGES,
    ),
]


def ordinary_position(edge: Edge, start: int) -> int:
    """The first position from ``start`` on whose message every tampering changes: one with
    recipients and a body (a corp switch event has neither) and a distinct time from OTHER's."""
    with edge.database.engine.connect() as connection:
        position = connection.execute(
            text(
                "SELECT MIN(l.position) FROM chain_links l JOIN messages m ON m.id = l.message_id "
                "WHERE l.corp_id = :corp AND l.position >= :start AND l.position < :other "
                "AND m.msgtype <> 'switch' AND COALESCE(m.text, '') <> 'edited' "
                "AND EXISTS (SELECT 1 FROM message_recipients r WHERE r.message_id = m.id) "
                "AND m.msgtime <> (SELECT o.msgtime FROM chain_links ol JOIN messages o ON o.id = ol.message_id "
                "WHERE ol.corp_id = :corp AND ol.position = :other)"
            ),
            {"corp": edge.simulator.corp_id, "start": start, "other": OTHER},
        ).scalar_one()
    assert position is not None, f"no ordinary message between positions {start} and {OTHER}"
    return int(position)


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=[t.name for t in TAMPERINGS])
def test_verify_catches_tampering(edge: Edge, tampering: Tampering) -> None:
    pull(edge, MESSAGES)
    assert run_verify(edge).ok
    corp_id = edge.simulator.corp_id
    position = ordinary_position(edge, TARGET)
    target = Target(corp_id, link_at(edge, position), link_at(edge, OTHER))

    with edge.database.engine.begin() as connection:
        tampering.apply(connection, target)
    report = run_verify(edge)

    expected = position if tampering.position == TARGET else tampering.position
    assert report.broken is not None, tampering.name
    assert (report.broken.check, report.broken.position) == (tampering.check, expected), report.broken.describe()
    assert report.checkpoint is None, "a broken chain is never checkpointed"


def test_verify_catches_a_line_removed_from_the_checkpoint_file(edge: Edge) -> None:
    pull(edge, 100)
    assert run_verify(edge).checkpoint is not None
    checkpoint_file(edge).write_text("")

    broken = run_verify(edge).broken

    assert broken is not None and broken.check is Check.CHECKPOINT_FILE


def test_the_failure_names_the_link_but_no_content(edge: Edge) -> None:
    pull(edge, 150)
    target = link_at(edge, 40)
    with edge.database.engine.begin() as connection:
        connection.execute(text("UPDATE messages SET text = 'secret words' WHERE id = :id"), {"id": target.message_id})

    broken = run_verify(edge).broken

    assert broken is not None
    assert (broken.position, broken.msgid, broken.seq) == (40, target.msgid, target.seq)
    assert "secret" not in broken.describe()
