"""Every query of the integrity chain. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from archive.integrity.canonical import GENESIS_HASH, Evidence
from archive.integrity.errors import ChainConflictError
from archive.integrity.models import ChainCheckpoint, ChainHead, ChainLink
from archive.models import ChatEnvelopeRow, Message, MessageRecipient

_LINKS: Table = ChainLink.__table__  # type: ignore[assignment]
_HEADS: Table = ChainHead.__table__  # type: ignore[assignment]

# Bound parameters per IN list: far below SQLite's and PostgreSQL's limits.
IN_LIST_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Head:
    position: int
    head_hash: str


EMPTY_HEAD = Head(0, GENESIS_HASH)


class LinkRow(NamedTuple):
    position: int
    message_id: int | None
    msgid: str
    seq: int
    record_hash: str
    prev_hash: str
    disposed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: int
    corp_id: str
    position: int
    last_seq: int
    head_hash: str
    count: int
    created_at: datetime


# --- head and links -----------------------------------------------------------------------


def read_head(session: Session, corp_id: str) -> Head:
    row = session.execute(
        select(ChainHead.position, ChainHead.head_hash).where(ChainHead.corp_id == corp_id)
    ).one_or_none()
    return EMPTY_HEAD if row is None else Head(row.position, row.head_hash)


def advance_head(session: Session, corp_id: str, expected: Head, new: Head, now: datetime) -> None:
    """Move the head from ``expected`` to ``new``; ChainConflictError if another
    transaction moved it first (the caller's transaction must then roll back)."""
    values = {"position": new.position, "head_hash": new.head_hash, "updated_at": now}
    if expected == EMPTY_HEAD:
        statement = _insert_ignoring_conflict(session, _HEADS).values(corp_id=corp_id, **values)
    else:
        statement = (
            update(ChainHead)
            .where(ChainHead.corp_id == corp_id, ChainHead.position == expected.position)
            .values(**values)
        )
    # RETURNING, not rowcount: psycopg reports no rowcount for INSERT … ON CONFLICT DO NOTHING.
    if session.execute(statement.returning(_HEADS.c.corp_id)).first() is None:
        raise ChainConflictError(
            f"the integrity chain of corp {corp_id} was advanced by another transaction",
            hint="nothing of this batch was stored; it is stored again on the next run",
        )


def _insert_ignoring_conflict(session: Session, table: Table) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"unsupported database {name}")


class NewLink(NamedTuple):
    position: int
    message_id: int
    msgid: str
    seq: int
    record_hash: str
    prev_hash: str


def insert_links(session: Session, corp_id: str, links: Sequence[NewLink], now: datetime) -> None:
    """One driver-level executemany: on the ingest hot path SQLAlchemy's per-row parameter
    handling would cost more than the database. Every link of a batch shares ``now``."""
    if not links:
        return
    connection = session.connection()
    dialect = connection.dialect
    columns = [*NewLink._fields, "corp_id", "linked_at"]
    compiled = insert(_LINKS).compile(dialect=dialect, column_keys=columns)
    to_db = _LINKS.c.linked_at.type.dialect_impl(dialect).bind_processor(dialect)
    shared = (corp_id, to_db(now) if to_db else now)
    if compiled.positional:
        order = [columns.index(name) for name in compiled.positiontup or []]
        rows: list[Any] = [tuple((*link, *shared)[index] for index in order) for link in links]
    else:
        rows = [dict(zip(columns, (*link, *shared), strict=True)) for link in links]
    connection.exec_driver_sql(compiled.string, rows)


def links_after(session: Session, corp_id: str, after_position: int, up_to: int, limit: int) -> list[LinkRow]:
    """Links with ``after_position < position <= up_to``, in position order."""
    rows = session.connection().execute(
        select(
            ChainLink.position,
            ChainLink.message_id,
            ChainLink.msgid,
            ChainLink.seq,
            ChainLink.record_hash,
            ChainLink.prev_hash,
            ChainLink.disposed_at,
        )
        .where(ChainLink.corp_id == corp_id, ChainLink.position > after_position, ChainLink.position <= up_to)
        .order_by(ChainLink.position)
        .limit(limit)
    )
    return [LinkRow(*row) for row in rows]


def last_position(session: Session, corp_id: str) -> int:
    return int(session.scalar(select(func.max(ChainLink.position)).where(ChainLink.corp_id == corp_id)) or 0)


def link_seq(session: Session, corp_id: str, position: int) -> int | None:
    return session.scalar(select(ChainLink.seq).where(ChainLink.corp_id == corp_id, ChainLink.position == position))


def live_link_count(session: Session, corp_id: str) -> int:
    query = select(func.count()).where(ChainLink.corp_id == corp_id, ChainLink.disposed_at.is_(None))
    return int(session.scalar(query) or 0)


def dispose_links(session: Session, corp_id: str, message_ids: Sequence[int], policy: str, now: datetime) -> int:
    """Turn the links of these messages into tombstones; returns how many were found."""
    disposed = 0
    for start in range(0, len(message_ids), IN_LIST_LIMIT):
        result = session.execute(
            update(ChainLink)
            .where(ChainLink.corp_id == corp_id, ChainLink.message_id.in_(message_ids[start : start + IN_LIST_LIMIT]))
            .values(message_id=None, disposed_at=now, disposal_policy=policy)
        )
        disposed += result.rowcount  # type: ignore[attr-defined]
    return disposed


def chain_corp_ids(session: Session) -> list[str]:
    return list(session.scalars(select(ChainHead.corp_id).order_by(ChainHead.corp_id)))


# --- evidence: the stored rows a record is made of ---------------------------------------

_EVIDENCE_COLUMNS = (
    Message.id,
    Message.msgid,
    Message.seq,
    Message.action,
    Message.msgtype,
    Message.sender,
    Message.roomid,
    Message.msgtime,
    Message.recalls_msgid,
    Message.parse_status,
    Message.text,
    Message.raw,
    Message.media_count,
    ChatEnvelopeRow.seq,
    ChatEnvelopeRow.msgid,
    ChatEnvelopeRow.publickey_ver,
    ChatEnvelopeRow.encrypt_random_key,
    ChatEnvelopeRow.encrypt_chat_msg,
)


# By primary key only: with a corp_id condition SQLite would walk the corp's (corp_id, seq)
# index instead, a cost that grows with the archive. The corp is checked on the rows.
_EVIDENCE_QUERY = (
    select(Message.corp_id, ChatEnvelopeRow.corp_id, *_EVIDENCE_COLUMNS)
    .join(ChatEnvelopeRow, ChatEnvelopeRow.id == Message.envelope_id)
    .where(Message.id.in_(bindparam("ids", expanding=True)))
)
_EVIDENCE_WITH_BODY_QUERY = _EVIDENCE_QUERY.add_columns(Message.body)
_RECIPIENTS_QUERY = select(MessageRecipient.message_id, MessageRecipient.recipient).where(
    MessageRecipient.message_id.in_(bindparam("ids", expanding=True))
)


def read_evidence(
    session: Session, corp_id: str, message_ids: Sequence[int], *, with_body: bool = False
) -> dict[int, tuple[Evidence, list[str]]]:
    """message id → (its evidence, its recipients), for the ids whose message and envelope
    rows exist and belong to the corp. Per IN_LIST_LIMIT ids, one query for messages with
    their envelopes and one for recipients; both statements are built once (compiled
    statement cache) and run as Core on the session's connection."""
    connection = session.connection()
    query = _EVIDENCE_WITH_BODY_QUERY if with_body else _EVIDENCE_QUERY
    evidence: dict[int, tuple[Evidence, list[str]]] = {}
    for start in range(0, len(message_ids), IN_LIST_LIMIT):
        ids = list(message_ids[start : start + IN_LIST_LIMIT])
        rows = connection.execute(query, {"ids": ids}).all()
        recipients: dict[int, list[str]] = {}
        for message_id, recipient in connection.execute(_RECIPIENTS_QUERY, {"ids": ids}).all():
            recipients.setdefault(message_id, []).append(recipient)
        evidence.update(
            (row[2], (Evidence(*row[2:]), recipients.get(row[2], [])))
            for row in rows
            if row[0] == corp_id and row[1] == corp_id
        )
    return evidence


def present_msgids(session: Session, corp_id: str, msgids: Sequence[str]) -> set[str]:
    if not msgids:
        return set()
    return set(session.scalars(select(Message.msgid).where(Message.corp_id == corp_id, Message.msgid.in_(msgids))))


def first_unlinked_message(session: Session, corp_id: str) -> tuple[str, int] | None:
    """(msgid, seq) of the lowest-seq message of the corp that no chain link points at."""
    linked = select(ChainLink.message_id).where(ChainLink.message_id == Message.id).exists()
    row = session.execute(
        select(Message.msgid, Message.seq)
        .where(Message.corp_id == corp_id, ~linked)
        .order_by(Message.seq, Message.id)
        .limit(1)
    ).one_or_none()
    return None if row is None else (row.msgid, row.seq)


def export_links(
    session: Session,
    corp_id: str,
    after_position: int,
    up_to: int,
    limit: int,
    *,
    conversation_id: int | None,
    since: datetime | None,
    until: datetime | None,
) -> list[LinkRow]:
    """Live links whose messages match the filters, with ``after_position < position <=
    up_to``, in position order."""
    query = (
        select(
            ChainLink.position,
            ChainLink.message_id,
            ChainLink.msgid,
            ChainLink.seq,
            ChainLink.record_hash,
            ChainLink.prev_hash,
            ChainLink.disposed_at,
        )
        .join(Message, Message.id == ChainLink.message_id)
        .where(
            ChainLink.corp_id == corp_id,
            Message.corp_id == corp_id,
            ChainLink.position > after_position,
            ChainLink.position <= up_to,
        )
    )
    if conversation_id is not None:
        query = query.where(Message.conversation_id == conversation_id)
    if since is not None:
        query = query.where(Message.msgtime >= since)
    if until is not None:
        query = query.where(Message.msgtime < until)
    return [LinkRow(*row) for row in session.execute(query.order_by(ChainLink.position).limit(limit))]


# --- checkpoints ------------------------------------------------------------------------


def insert_checkpoint(
    session: Session, corp_id: str, head: Head, last_seq: int, count: int, now: datetime
) -> Checkpoint:
    row = ChainCheckpoint(
        corp_id=corp_id,
        position=head.position,
        last_seq=last_seq,
        head_hash=head.head_hash,
        count=count,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return _checkpoint(row)


def checkpoints(session: Session, corp_id: str) -> list[Checkpoint]:
    rows = session.scalars(
        select(ChainCheckpoint).where(ChainCheckpoint.corp_id == corp_id).order_by(ChainCheckpoint.id)
    )
    return [_checkpoint(row) for row in rows]


def latest_checkpoint(session: Session, corp_id: str) -> Checkpoint | None:
    row = session.scalars(
        select(ChainCheckpoint).where(ChainCheckpoint.corp_id == corp_id).order_by(ChainCheckpoint.id.desc()).limit(1)
    ).first()
    return None if row is None else _checkpoint(row)


def _checkpoint(row: ChainCheckpoint) -> Checkpoint:
    return Checkpoint(row.id, row.corp_id, row.position, row.last_seq, row.head_hash, row.count, row.created_at)
