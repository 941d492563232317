"""Every query of the archive's storage. Callers own the transaction; nothing here commits.

The ingest hot path uses SQLAlchemy Core bulk statements (one statement per table per
batch), not ORM objects per message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import Insert, Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from archive.messages import ParsedMessage, is_external_id
from archive.models import (
    ArchiveCursor,
    ChatEnvelopeRow,
    Conversation,
    Lease,
    Message,
    MessageRecipient,
    PullRun,
    QuarantinedRecord,
)
from archive.retention.models import DispositionRun
from archive.source import ChatEnvelope

_ENVELOPES: Table = ChatEnvelopeRow.__table__  # type: ignore[assignment]
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_RECIPIENTS: Table = MessageRecipient.__table__  # type: ignore[assignment]
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_QUARANTINE: Table = QuarantinedRecord.__table__  # type: ignore[assignment]

# The run rows of the leased jobs (``archive.leased``): same status and error columns.
RunTable = type[PullRun] | type[DispositionRun]


@dataclass(frozen=True, slots=True)
class DecodedItem:
    """A message ready to store: its envelope row id, the parse, the raw plaintext and the
    envelope (as stored under ``envelope_id``) it was decrypted from."""

    envelope_id: int
    seq: int
    parsed: ParsedMessage
    raw: str
    envelope: ChatEnvelope


@dataclass(frozen=True, slots=True)
class FailedItem:
    envelope_id: int
    envelope: ChatEnvelope
    reason: str
    detail: str


class MessageRow(TypedDict):
    """The column values bound for one ``messages`` row, exactly as inserted."""

    corp_id: str
    envelope_id: int
    seq: int
    msgid: str
    action: str
    msgtype: str
    sender: str
    roomid: str | None
    conversation_id: int | None
    msgtime: datetime
    recalls_msgid: str | None
    parse_status: str
    text: str | None
    body: dict[str, Any]
    raw: str
    media_count: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """What ``archive.storage`` hands the integrity chain, the media tasks and the outbox
    about each newly stored message (no ORM objects). ``row``, ``recipients`` (as stored,
    in insertion order) and ``envelope`` are the values just written, so the integrity
    chain can hash them without reading them back."""

    id: int
    msgid: str
    seq: int
    msgtype: str
    conversation_id: int | None
    row: MessageRow
    recipients: tuple[str, ...]
    envelope: ChatEnvelope


# --- cursor -----------------------------------------------------------------------------


def get_cursor(session: Session, corp_id: str) -> int:
    seq = session.scalar(select(ArchiveCursor.seq).where(ArchiveCursor.corp_id == corp_id))
    return int(seq or 0)


def set_cursor(session: Session, corp_id: str, seq: int, now: datetime) -> None:
    updated = session.execute(
        update(ArchiveCursor)
        .where(ArchiveCursor.corp_id == corp_id, ArchiveCursor.seq < seq)
        .values(seq=seq, updated_at=now)
    )
    if updated.rowcount == 0 and session.get(ArchiveCursor, corp_id) is None:  # type: ignore[attr-defined]
        session.add(ArchiveCursor(corp_id=corp_id, seq=seq, updated_at=now))
        session.flush()


# --- envelopes, messages, quarantine ----------------------------------------------------


def existing_msgids(session: Session, corp_id: str, msgids: Sequence[str]) -> set[str]:
    if not msgids:
        return set()
    rows = session.scalars(
        select(ChatEnvelopeRow.msgid).where(ChatEnvelopeRow.corp_id == corp_id, ChatEnvelopeRow.msgid.in_(msgids))
    )
    return set(rows)


def insert_envelopes(
    session: Session, corp_id: str, envelopes: Sequence[ChatEnvelope], now: datetime
) -> dict[str, int]:
    """Insert envelopes; returns msgid → envelope row id."""
    if not envelopes:
        return {}
    rows = [
        {
            "corp_id": corp_id,
            "seq": e.seq,
            "msgid": e.msgid,
            "publickey_ver": e.publickey_ver,
            "encrypt_random_key": e.encrypt_random_key,
            "encrypt_chat_msg": e.encrypt_chat_msg,
            "pulled_at": now,
        }
        for e in envelopes
    ]
    _bulk_insert(session, _ENVELOPES, rows)
    return _ids_by(session, _ENVELOPES, _ENVELOPES.c.msgid, corp_id, [e.msgid for e in envelopes])


def _bulk_insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT many rows through the driver's executemany, with the columns' own type
    conversions but without SQLAlchemy's per-row parameter machinery: on the ingest hot
    path that machinery costs more than the database does."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    columns = list(rows[0])
    compiled = insert(table).compile(dialect=dialect, column_keys=columns)
    processors = {name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns}
    converted = [{name: (p(row[name]) if (p := processors[name]) else row[name]) for name in columns} for row in rows]
    if compiled.positional:
        order = compiled.positiontup or []
        connection.exec_driver_sql(compiled.string, [tuple(row[name] for name in order) for row in converted])
    else:
        connection.exec_driver_sql(compiled.string, converted)


def _ids_by(session: Session, table: Table, column: Any, corp_id: str, values: Sequence[str]) -> dict[str, int]:
    """Row ids of just-inserted rows by a unique column. A plain executemany and one
    SELECT beat RETURNING, which SQLite can only give row by row when order matters."""
    rows = session.execute(select(column, table.c.id).where(table.c.corp_id == corp_id, column.in_(values)))
    return {value: row_id for value, row_id in rows}


def insert_messages(session: Session, corp_id: str, items: Sequence[DecodedItem]) -> list[StoredMessage]:
    """Insert decoded messages with their recipients and conversations."""
    if not items:
        return []
    conversation_ids = _upsert_conversations(session, corp_id, items)
    rows: list[MessageRow] = []
    for item in items:
        parsed = item.parsed
        rows.append(
            {
                "corp_id": corp_id,
                "envelope_id": item.envelope_id,
                "seq": item.seq,
                "msgid": parsed.msgid,
                "action": parsed.action,
                "msgtype": parsed.msgtype,
                "sender": parsed.sender,
                "roomid": parsed.roomid or None,
                "conversation_id": conversation_ids.get(conversation_key(parsed) or ""),
                "msgtime": parsed.msgtime,
                "recalls_msgid": parsed.recalls_msgid,
                "parse_status": parsed.parse_status,
                "text": parsed.text or None,
                "body": parsed.body_document(),
                "raw": item.raw,
                "media_count": len(parsed.media),
            }
        )
    _bulk_insert(session, _MESSAGES, rows)
    by_msgid = _ids_by(session, _MESSAGES, _MESSAGES.c.msgid, corp_id, [row["msgid"] for row in rows])
    ids = [by_msgid[row["msgid"]] for row in rows]
    recipient_lists = [tuple(dict.fromkeys(item.parsed.tolist)) for item in items]
    recipients = [
        {"message_id": message_id, "recipient": recipient, "corp_id": corp_id}
        for message_id, names in zip(ids, recipient_lists, strict=True)
        for recipient in names
    ]
    _bulk_insert(session, _RECIPIENTS, recipients)
    return [
        StoredMessage(
            message_id, row["msgid"], row["seq"], row["msgtype"], row["conversation_id"], row, names, item.envelope
        )
        for message_id, row, names, item in zip(ids, rows, recipient_lists, items, strict=True)
    ]


def insert_quarantine(session: Session, corp_id: str, items: Sequence[FailedItem], now: datetime) -> None:
    if not items:
        return
    session.execute(
        insert(_QUARANTINE),
        [
            {
                "corp_id": corp_id,
                "envelope_id": item.envelope_id,
                "seq": item.envelope.seq,
                "msgid": item.envelope.msgid,
                "publickey_ver": item.envelope.publickey_ver,
                "reason": item.reason,
                "detail": item.detail,
                "attempts": 1,
                "first_seen_at": now,
                "last_attempt_at": now,
                "resolved_at": None,
            }
            for item in items
        ],
    )


def open_quarantine(
    session: Session, corp_id: str, limit: int, after_id: int = 0
) -> list[tuple[int, int, ChatEnvelope]]:
    """Unresolved quarantine rows: (quarantine id, envelope id, envelope), by id."""
    rows = session.execute(
        select(QuarantinedRecord.id, ChatEnvelopeRow)
        .join(ChatEnvelopeRow, ChatEnvelopeRow.id == QuarantinedRecord.envelope_id)
        .where(
            QuarantinedRecord.corp_id == corp_id,
            QuarantinedRecord.resolved_at.is_(None),
            QuarantinedRecord.id > after_id,
        )
        .order_by(QuarantinedRecord.id)
        .limit(limit)
    )
    return [
        (
            quarantine_id,
            envelope.id,
            ChatEnvelope(
                envelope.seq,
                envelope.msgid,
                envelope.publickey_ver,
                envelope.encrypt_random_key,
                envelope.encrypt_chat_msg,
            ),
        )
        for quarantine_id, envelope in rows
    ]


def list_quarantine(
    session: Session, corp_id: str, *, include_resolved: bool = False, limit: int = 100
) -> list[QuarantinedRecord]:
    query = select(QuarantinedRecord).where(QuarantinedRecord.corp_id == corp_id)
    if not include_resolved:
        query = query.where(QuarantinedRecord.resolved_at.is_(None))
    return list(session.scalars(query.order_by(QuarantinedRecord.seq).limit(limit)))


def resolve_quarantine(session: Session, quarantine_ids: Sequence[int], now: datetime) -> None:
    if quarantine_ids:
        session.execute(
            update(QuarantinedRecord)
            .where(QuarantinedRecord.id.in_(quarantine_ids))
            .values(resolved_at=now, last_attempt_at=now, attempts=QuarantinedRecord.attempts + 1)
        )


def record_failed_attempts(session: Session, failures: Iterable[tuple[int, str, str]], now: datetime) -> None:
    """(quarantine id, reason, detail) of records that failed again."""
    for quarantine_id, reason, detail in failures:
        session.execute(
            update(QuarantinedRecord)
            .where(QuarantinedRecord.id == quarantine_id)
            .values(reason=reason, detail=detail, last_attempt_at=now, attempts=QuarantinedRecord.attempts + 1)
        )


# --- conversations ----------------------------------------------------------------------


def conversation_key(parsed: ParsedMessage) -> str | None:
    if parsed.action == "switch":
        return None
    if parsed.roomid:
        return f"room:{parsed.roomid}"
    participants = sorted({parsed.sender, *parsed.tolist} - {""})
    if len(participants) == 2:
        return f"pair:{participants[0]}|{participants[1]}"
    if not participants:
        return None
    # One participant, or several without a room (not expected from WeCom): a stable key.
    return "set:" + hashlib.sha256("|".join(participants).encode()).hexdigest()


def _upsert_conversations(session: Session, corp_id: str, items: Sequence[DecodedItem]) -> dict[str, int]:
    spans: dict[str, tuple[ParsedMessage, datetime, datetime, int]] = {}
    for item in items:
        key = conversation_key(item.parsed)
        if key is None:
            continue
        time = item.parsed.msgtime
        if key in spans:
            first_parsed, first, last, count = spans[key]
            spans[key] = (first_parsed, min(first, time), max(last, time), count + 1)
        else:
            spans[key] = (item.parsed, time, time, 1)
    if not spans:
        return {}
    existing = {
        row.key: row
        for row in session.execute(
            select(
                Conversation.id,
                Conversation.key,
                Conversation.first_msg_at,
                Conversation.last_msg_at,
                Conversation.message_count,
            ).where(Conversation.corp_id == corp_id, Conversation.key.in_(list(spans)))
        )
    }
    ids = {key: row.id for key, row in existing.items()}
    new_rows: list[dict[str, Any]] = []
    for key, (parsed, first, last, count) in spans.items():
        if key in existing:
            continue
        participants = sorted({parsed.sender, *parsed.tolist} - {""})
        new_rows.append(
            {
                "corp_id": corp_id,
                "key": key,
                "kind": "group" if parsed.roomid else ("single" if len(participants) == 2 else "other"),
                "roomid": parsed.roomid or None,
                "participant_a": None if parsed.roomid else (participants[0] if participants else None),
                "participant_b": None if parsed.roomid else (participants[1] if len(participants) > 1 else None),
                "has_external": any(is_external_id(p) for p in participants),
                "first_msg_at": first,
                "last_msg_at": last,
                "message_count": count,
            }
        )
    if new_rows:
        session.execute(insert(_CONVERSATIONS), new_rows)
        ids.update(_ids_by(session, _CONVERSATIONS, _CONVERSATIONS.c.key, corp_id, [row["key"] for row in new_rows]))
    if existing:
        session.execute(
            update(_CONVERSATIONS)
            .where(_CONVERSATIONS.c.id == bindparam("row_id"))
            .values(
                first_msg_at=bindparam("first"),
                last_msg_at=bindparam("last"),
                message_count=_CONVERSATIONS.c.message_count + bindparam("added"),
            ),
            [
                {
                    "row_id": row.id,
                    "first": min(spans[key][1], row.first_msg_at),
                    "last": max(spans[key][2], row.last_msg_at),
                    "added": spans[key][3],
                }
                for key, row in existing.items()
            ],
        )
    return ids


# --- pull runs --------------------------------------------------------------------------


def start_run(session: Session, corp_id: str, trigger: str, from_seq: int, now: datetime) -> int:
    run = PullRun(
        corp_id=corp_id,
        trigger=trigger,
        status="running",
        started_at=now,
        finished_at=None,
        from_seq=from_seq,
        to_seq=from_seq,
        batches=0,
        fetched=0,
        stored=0,
        duplicates=0,
        quarantined=0,
        unknown_types=0,
        error_code=None,
        error=None,
    )
    session.add(run)
    session.flush()
    return run.id


def pull_lease_name(corp_id: str) -> str:
    """The lease that keeps one puller per corp across processes."""
    return f"pull:{corp_id}"


RUN_INTERRUPTED = "interrupted"
INTERRUPTED_ERROR = (
    "the process stopped without finishing this run (killed, crashed or the machine restarted); "
    "what it committed is kept and the next run continues from there"
)


def close_interrupted_runs(session: Session, runs: RunTable, corp_id: str, lease_name: str, now: datetime) -> int:
    """Close the corp's runs still marked ``running`` as ``interrupted`` when nobody holds
    their job's lease (absent or expired): a live run keeps its lease, and records its end
    and releases the lease in one transaction, so such a run was killed. Returns how many."""
    expires_at = session.scalar(select(Lease.expires_at).where(Lease.name == lease_name))
    if expires_at is not None and expires_at > now:
        return 0
    return close_runs_left_running(session, runs, corp_id, now)


def close_runs_left_running(session: Session, runs: RunTable, corp_id: str, now: datetime) -> int:
    """For the holder of the job's lease: any run still ``running`` was left by a killed process."""
    closed = session.execute(
        update(runs)
        .where(runs.corp_id == corp_id, runs.status == "running")
        .values(status=RUN_INTERRUPTED, finished_at=now, error_code=RUN_INTERRUPTED, error=INTERRUPTED_ERROR)
    )
    return int(closed.rowcount)  # type: ignore[attr-defined]


def update_run(session: Session, run_id: int, **values: Any) -> None:
    session.execute(update(PullRun).where(PullRun.id == run_id).values(**values))


def finish_run(
    session: Session,
    runs: RunTable,
    run_id: int,
    status: str,
    finished_at: datetime,
    error_code: str | None,
    error: str | None,
) -> None:
    """Record how a leased job's run ended."""
    session.execute(
        update(runs)
        .where(runs.id == run_id)
        .values(status=status, finished_at=finished_at, error_code=error_code, error=error)
    )


def pull_runs_by_status(session: Session) -> list[tuple[str, str, int]]:
    """(corp, status, runs) for every corp and outcome (``/metrics``)."""
    rows = session.execute(
        select(PullRun.corp_id, PullRun.status, func.count()).group_by(PullRun.corp_id, PullRun.status)
    )
    return [(corp_id, status, int(count)) for corp_id, status, count in rows]


def ping(session: Session) -> None:
    """A round trip to the database (readiness): raises if it is unreachable."""
    session.execute(select(1))


def last_runs(session: Session, corp_id: str, limit: int = 1) -> list[PullRun]:
    return list(
        session.scalars(select(PullRun).where(PullRun.corp_id == corp_id).order_by(PullRun.id.desc()).limit(limit))
    )


# --- status -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveCounts:
    corp_id: str
    cursor: int
    envelopes: int
    messages: int
    quarantined_open: int
    unknown_types: int
    first_seq: int | None
    newest_msgtime: datetime | None
    conversations: int


def archive_counts(session: Session, corp_id: str) -> ArchiveCounts:
    envelopes, first_seq = session.execute(
        select(func.count(), func.min(ChatEnvelopeRow.seq)).where(ChatEnvelopeRow.corp_id == corp_id)
    ).one()
    messages, newest, unknown = session.execute(
        select(
            func.count(),
            func.max(Message.msgtime),
            func.count().filter(Message.parse_status != "ok"),
        ).where(Message.corp_id == corp_id)
    ).one()
    quarantined = session.scalar(
        select(func.count()).where(QuarantinedRecord.corp_id == corp_id, QuarantinedRecord.resolved_at.is_(None))
    )
    conversations = session.scalar(select(func.count()).where(Conversation.corp_id == corp_id))
    if isinstance(newest, str):  # SQLite returns the aggregate of a typed column as text
        newest = datetime.fromisoformat(newest)
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return ArchiveCounts(
        corp_id=corp_id,
        cursor=get_cursor(session, corp_id),
        envelopes=int(envelopes),
        messages=int(messages),
        quarantined_open=int(quarantined or 0),
        unknown_types=int(unknown or 0),
        first_seq=first_seq,
        newest_msgtime=newest,
        conversations=int(conversations or 0),
    )


def known_corp_ids(session: Session) -> list[str]:
    return list(session.scalars(select(ArchiveCursor.corp_id).order_by(ArchiveCursor.corp_id)))


# --- leases -----------------------------------------------------------------------------


def _dialect_insert(session: Session, table: Table) -> Insert:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"unsupported database {name}")


def lease_holder(session: Session, name: str) -> str | None:
    return session.scalar(select(Lease.holder).where(Lease.name == name))


def acquire_lease(
    session: Session, name: str, holder: str, now: datetime, ttl: timedelta, *, take_over_from: str | None = None
) -> bool:
    """Take the lease if it is free, expired, already ours, or held by ``take_over_from``
    (a holder known to be dead); True if we hold it now."""
    table: Table = Lease.__table__  # type: ignore[assignment]
    inserted = session.execute(_dialect_insert(session, table).values(name=name, holder=holder, expires_at=now + ttl))
    if inserted.rowcount == 1:  # type: ignore[attr-defined]
        return True
    taken = session.execute(
        update(Lease)
        .where(
            Lease.name == name,
            or_(Lease.holder == holder, Lease.expires_at < now, Lease.holder == (take_over_from or holder)),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def renew_lease(session: Session, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    renewed = session.execute(
        update(Lease).where(and_(Lease.name == name, Lease.holder == holder)).values(expires_at=now + ttl)
    )
    return bool(renewed.rowcount == 1)  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, holder: str) -> None:
    session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
