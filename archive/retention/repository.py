"""Every query of retention and disposition. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from archive.media.models import MediaTask
from archive.models import ChatEnvelopeRow, Conversation, Message, MessageRecipient, QuarantinedRecord
from archive.retention.models import (
    DispositionRun,
    DispositionRunPolicy,
    LegalHold,
    LegalHoldSubject,
    RetentionHistoryEntry,
    RetentionPolicy,
    RetentionRevision,
)

_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]

# --- the rules revision (and lock) ------------------------------------------------------


def _insert_ignoring_conflict(session: Session, table: Table) -> Insert:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"unsupported database {name}")


def lock_rules(session: Session, corp_id: str, now: datetime) -> int:
    """Write the corp's revision row (its lock) without changing it; returns the revision.

    The write is the lock: on PostgreSQL it holds the row until commit, on SQLite it
    takes the database's write lock. Either way, rules read after it are current, and a
    rule change waits until this transaction ends.
    """
    table: Table = RetentionRevision.__table__  # type: ignore[assignment]
    session.execute(_insert_ignoring_conflict(session, table).values(corp_id=corp_id, revision=0, changed_at=now))
    session.execute(
        update(RetentionRevision)
        .where(RetentionRevision.corp_id == corp_id)
        .values(revision=RetentionRevision.revision)
    )
    return current_revision(session, corp_id)


def bump_revision(session: Session, corp_id: str, now: datetime) -> None:
    """Count one rule change (the row exists: :func:`lock_rules` ran first)."""
    session.execute(
        update(RetentionRevision)
        .where(RetentionRevision.corp_id == corp_id)
        .values(revision=RetentionRevision.revision + 1, changed_at=now)
    )


def current_revision(session: Session, corp_id: str) -> int:
    revision = session.scalar(select(RetentionRevision.revision).where(RetentionRevision.corp_id == corp_id))
    return int(revision or 0)


# --- policies ---------------------------------------------------------------------------


def policies(session: Session, corp_id: str) -> list[RetentionPolicy]:
    return list(
        session.scalars(select(RetentionPolicy).where(RetentionPolicy.corp_id == corp_id).order_by(RetentionPolicy.id))
    )


def get_policy(session: Session, corp_id: str, policy_id: int) -> RetentionPolicy | None:
    return session.scalar(
        select(RetentionPolicy).where(RetentionPolicy.corp_id == corp_id, RetentionPolicy.id == policy_id)
    )


def policy_by_scope_or_name(session: Session, corp_id: str, scope_kind: str, scope_value: str, name: str) -> bool:
    """Whether a policy already has this scope or this name."""
    found = session.scalar(
        select(func.count()).where(
            RetentionPolicy.corp_id == corp_id,
            ((RetentionPolicy.scope_kind == scope_kind) & (RetentionPolicy.scope_value == scope_value))
            | (RetentionPolicy.name == name),
        )
    )
    return bool(found)


def add_policy(session: Session, policy: RetentionPolicy) -> RetentionPolicy:
    session.add(policy)
    session.flush()
    return policy


# --- holds ------------------------------------------------------------------------------


def holds(session: Session, corp_id: str, *, active_only: bool) -> list[LegalHold]:
    query = select(LegalHold).where(LegalHold.corp_id == corp_id)
    if active_only:
        query = query.where(LegalHold.released_at.is_(None))
    return list(session.scalars(query.order_by(LegalHold.id)))


def get_hold(session: Session, corp_id: str, hold_id: int) -> LegalHold | None:
    return session.scalar(select(LegalHold).where(LegalHold.corp_id == corp_id, LegalHold.id == hold_id))


def hold_subjects(session: Session, hold_ids: Collection[int]) -> dict[int, list[tuple[str, str]]]:
    """hold id → its (kind, value) subjects, sorted."""
    if not hold_ids:
        return {}
    rows = session.execute(
        select(LegalHoldSubject.hold_id, LegalHoldSubject.kind, LegalHoldSubject.value)
        .where(LegalHoldSubject.hold_id.in_(list(hold_ids)))
        .order_by(LegalHoldSubject.hold_id, LegalHoldSubject.kind, LegalHoldSubject.value)
    )
    result: dict[int, list[tuple[str, str]]] = {}
    for hold_id, kind, value in rows:
        result.setdefault(hold_id, []).append((kind, value))
    return result


def add_hold(session: Session, hold: LegalHold, subjects: Sequence[tuple[str, str]]) -> LegalHold:
    session.add(hold)
    session.flush()
    session.add_all(
        LegalHoldSubject(hold_id=hold.id, kind=kind, value=value, corp_id=hold.corp_id) for kind, value in subjects
    )
    session.flush()
    return hold


# --- admin history ----------------------------------------------------------------------


def add_history(session: Session, entry: RetentionHistoryEntry) -> None:
    session.add(entry)
    session.flush()


def history(session: Session, corp_id: str, limit: int) -> list[RetentionHistoryEntry]:
    return list(
        session.scalars(
            select(RetentionHistoryEntry)
            .where(RetentionHistoryEntry.corp_id == corp_id)
            .order_by(RetentionHistoryEntry.id.desc())
            .limit(limit)
        )
    )


# --- disposition runs -------------------------------------------------------------------


def start_run(session: Session, run: DispositionRun) -> int:
    session.add(run)
    session.flush()
    return run.id


def update_run(session: Session, run_id: int, **values: Any) -> None:
    session.execute(update(DispositionRun).where(DispositionRun.id == run_id).values(**values))


def add_policy_counts(session: Session, run_id: int, corp_id: str, counts: dict[tuple[int, str], int]) -> None:
    """Add (policy id, policy name) → disposed to the run's per-policy counts."""
    if not counts:
        return
    existing = {
        row.policy_id: row
        for row in session.scalars(select(DispositionRunPolicy).where(DispositionRunPolicy.run_id == run_id))
    }
    for (policy_id, name), disposed in counts.items():
        row = existing.get(policy_id)
        if row is None:
            session.add(
                DispositionRunPolicy(
                    run_id=run_id, policy_id=policy_id, corp_id=corp_id, policy_name=name, disposed=disposed
                )
            )
        else:
            row.disposed += disposed
    session.flush()


def lease_name(corp_id: str) -> str:
    """The lease that keeps one disposition per corp across processes."""
    return f"retention:{corp_id}"


def runs(session: Session, corp_id: str, limit: int) -> list[DispositionRun]:
    return list(
        session.scalars(
            select(DispositionRun)
            .where(DispositionRun.corp_id == corp_id)
            .order_by(DispositionRun.id.desc())
            .limit(limit)
        )
    )


def run_policy_counts(session: Session, run_ids: Collection[int]) -> dict[int, dict[str, int]]:
    """run id → policy name → messages disposed."""
    if not run_ids:
        return {}
    rows = session.execute(
        select(DispositionRunPolicy.run_id, DispositionRunPolicy.policy_name, DispositionRunPolicy.disposed).where(
            DispositionRunPolicy.run_id.in_(list(run_ids))
        )
    )
    result: dict[int, dict[str, int]] = {}
    for run_id, name, disposed in rows:
        result.setdefault(run_id, {})[name] = int(disposed)
    return result


# --- candidates and their facts ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A message old enough that some policy might have run out for it."""

    id: int
    envelope_id: int
    conversation_id: int | None
    msgtime: datetime
    sender: str
    roomid: str | None


def count_candidates(session: Session, corp_id: str, older_than: datetime) -> int:
    count = session.scalar(select(func.count()).where(Message.corp_id == corp_id, Message.msgtime < older_than))
    return int(count or 0)


def candidates(session: Session, corp_id: str, older_than: datetime, after_id: int, limit: int) -> list[Candidate]:
    """The next ``limit`` messages with msgtime < ``older_than`` and id > ``after_id``, by id."""
    rows = session.execute(
        select(
            Message.id, Message.envelope_id, Message.conversation_id, Message.msgtime, Message.sender, Message.roomid
        )
        .where(Message.corp_id == corp_id, Message.msgtime < older_than, Message.id > after_id)
        .order_by(Message.id)
        .limit(limit)
    )
    return [Candidate(*row) for row in rows]


def recipients(session: Session, message_ids: Collection[int]) -> dict[int, set[str]]:
    if not message_ids:
        return {}
    result: dict[int, set[str]] = {}
    rows = session.execute(
        select(MessageRecipient.message_id, MessageRecipient.recipient).where(
            MessageRecipient.message_id.in_(list(message_ids))
        )
    )
    for message_id, recipient in rows:
        result.setdefault(message_id, set()).add(recipient)
    return result


def conversation_kinds(session: Session, conversation_ids: Collection[int]) -> dict[int, tuple[str, bool]]:
    """conversation id → (kind, has_external)."""
    if not conversation_ids:
        return {}
    rows = session.execute(
        select(Conversation.id, Conversation.kind, Conversation.has_external).where(
            Conversation.id.in_(list(conversation_ids))
        )
    )
    return {conversation_id: (kind, bool(has_external)) for conversation_id, kind, has_external in rows}


def count_media_tasks(session: Session, corp_id: str, message_ids: Collection[int]) -> int:
    if not message_ids:
        return 0
    count = session.scalar(
        select(func.count()).where(MediaTask.corp_id == corp_id, MediaTask.message_id.in_(list(message_ids)))
    )
    return int(count or 0)


def blob_is_referenced(session: Session, sha256: str) -> bool:
    return session.scalar(select(MediaTask.id).where(MediaTask.blob_sha256 == sha256).limit(1)) is not None


# --- deleting ---------------------------------------------------------------------------


def delete_messages(session: Session, corp_id: str, doomed: Sequence[Candidate]) -> None:
    """Delete messages with their recipients and envelopes (and the resolved quarantine row
    of an envelope that quarantine retry recovered), and take them off their conversations'
    counts. Media tasks and chain links must have been dealt with before."""
    if not doomed:
        return
    message_ids = [c.id for c in doomed]
    envelope_ids = [c.envelope_id for c in doomed]
    session.execute(delete(MessageRecipient).where(MessageRecipient.message_id.in_(message_ids)))
    session.execute(delete(Message).where(Message.corp_id == corp_id, Message.id.in_(message_ids)))
    session.execute(
        delete(QuarantinedRecord).where(
            QuarantinedRecord.envelope_id.in_(envelope_ids), QuarantinedRecord.resolved_at.is_not(None)
        )
    )
    session.execute(delete(ChatEnvelopeRow).where(ChatEnvelopeRow.id.in_(envelope_ids)))
    per_conversation: dict[int, int] = {}
    for candidate in doomed:
        if candidate.conversation_id is not None:
            per_conversation[candidate.conversation_id] = per_conversation.get(candidate.conversation_id, 0) + 1
    if per_conversation:
        # In id order, so concurrent batches lock conversation rows in one order.
        session.execute(
            update(_CONVERSATIONS)
            .where(_CONVERSATIONS.c.id == bindparam("row_id"))
            .values(message_count=_CONVERSATIONS.c.message_count - bindparam("removed")),
            [{"row_id": row_id, "removed": n} for row_id, n in sorted(per_conversation.items())],
        )
