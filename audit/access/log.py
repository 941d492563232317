"""The access log: who read which chat content (or changed what), when and why.

Contract:
- Append-only: this module inserts rows and never updates or deletes one. Each row is
  hashed over its canonical encoding chained to the previous row's hash, exactly like the
  archive's chain (``archive.integrity.canonical``: same encoder, same ``chain_hash``,
  same genesis), so ``verify`` detects any edited, deleted or reordered row.
- ``append`` runs in the caller's transaction: the content read and its log row commit
  together or not at all.
- Appenders are serialised by updating the single head row first (row lock on
  PostgreSQL, the database write lock on SQLite), so positions are dense and the chain
  never forks. On SQLite callers take that lock *before* reading content
  (:func:`lock_head`): a WAL read snapshot cannot be upgraded to a writer once another
  connection has committed.
- Rows hold ids, queries and counts, never message content.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from archive.integrity import canonical
from audit.access.models import AccessLogEntry, AccessLogHead

if TYPE_CHECKING:  # audit.security logs through this module: no import at run time
    from audit.security.principal import Principal

ACCESS_LOG_FORMAT = 1
HEAD_ROW_ID = 1
VERIFY_BATCH_ROWS = 1000


@dataclass(frozen=True)
class AccessRecord:
    actor: str
    actor_role: str
    via: str
    action: str
    target: dict[str, Any]
    purpose: str | None = None
    result_count: int = 0
    outcome: str = "allowed"
    request_id: str | None = None


@dataclass(frozen=True)
class LoggedAccess:
    position: int
    occurred_at: datetime
    actor: str
    actor_role: str
    via: str
    action: str
    purpose: str | None
    target: dict[str, Any]
    result_count: int
    outcome: str
    request_id: str | None
    record_hash: str


@dataclass
class AccessLogVerifyReport:
    checked: int = 0
    head_position: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def document(position: int, occurred_at: datetime, record: AccessRecord) -> dict[str, Any]:
    return {
        "format": ACCESS_LOG_FORMAT,
        "kind": "access",
        "position": position,
        "occurred_at": canonical.epoch_millis(occurred_at),
        "actor": record.actor,
        "actor_role": record.actor_role,
        "via": record.via,
        "action": record.action,
        "purpose": record.purpose,
        "target": record.target,
        "result_count": record.result_count,
        "outcome": record.outcome,
        "request_id": record.request_id,
    }


def lock_head(session: Session, now: datetime) -> None:
    """Take the appenders' lock now (see the contract); idempotent within a transaction."""
    result = session.execute(
        update(AccessLogHead)
        .where(AccessLogHead.id == HEAD_ROW_ID)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not cast("CursorResult[Any]", result).rowcount:
        session.add(AccessLogHead(id=HEAD_ROW_ID, position=0, head_hash=canonical.GENESIS_HASH, updated_at=now))
        session.flush()


def append(session: Session, record: AccessRecord, now: datetime) -> int:
    """Append one row in the caller's transaction; returns its position."""
    lock_head(session, now)
    head = session.execute(
        select(AccessLogHead.position, AccessLogHead.head_hash).where(AccessLogHead.id == HEAD_ROW_ID)
    ).one()
    position = int(head.position) + 1
    # Millisecond precision: what the canonical document holds is what verify reads back.
    occurred_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    record_hash = canonical.chain_hash(head.head_hash, canonical.encode(document(position, occurred_at, record)))
    session.add(
        AccessLogEntry(
            position=position,
            occurred_at=occurred_at,
            actor=record.actor,
            actor_role=record.actor_role,
            via=record.via,
            action=record.action,
            purpose=record.purpose,
            target=record.target,
            result_count=record.result_count,
            outcome=record.outcome,
            request_id=record.request_id,
            prev_hash=head.head_hash,
            record_hash=record_hash,
        )
    )
    session.execute(
        update(AccessLogHead)
        .where(AccessLogHead.id == HEAD_ROW_ID)
        .values(position=position, head_hash=record_hash)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return position


def append_admin(
    session: Session, actor: Principal, action: str, target: dict[str, Any], result_count: int, now: datetime
) -> int:
    """Append the row of an administrative action (``admin.*``: no content read, no purpose)."""
    record = AccessRecord(
        actor.username,
        actor.role.value,
        actor.via,
        action,
        target,
        result_count=result_count,
        request_id=actor.request_id,
    )
    return append(session, record, now)


def _record_of(row: AccessLogEntry) -> AccessRecord:
    return AccessRecord(
        actor=row.actor,
        actor_role=row.actor_role,
        via=row.via,
        action=row.action,
        target=row.target,
        purpose=row.purpose,
        result_count=row.result_count,
        outcome=row.outcome,
        request_id=row.request_id,
    )


def _rows(session: Session) -> Iterator[Sequence[AccessLogEntry]]:
    after = 0
    while True:
        batch = (
            session.execute(
                select(AccessLogEntry)
                .where(AccessLogEntry.position > after)
                .order_by(AccessLogEntry.position)
                .limit(VERIFY_BATCH_ROWS)
            )
            .scalars()
            .all()
        )
        if not batch:
            return
        yield batch
        after = batch[-1].position


def verify(session: Session) -> AccessLogVerifyReport:
    """Recompute every row's hash from its stored values and check the links and the head."""
    report = AccessLogVerifyReport()
    prev_hash, expected_position = canonical.GENESIS_HASH, 1
    for batch in _rows(session):
        for row in batch:
            if row.position != expected_position:
                report.problems.append(f"position {expected_position} is missing (next row is {row.position})")
            if row.prev_hash != prev_hash:
                report.problems.append(f"row {row.position} does not link to the row before it")
            encoded = canonical.encode(document(row.position, row.occurred_at, _record_of(row)))
            if canonical.chain_hash(row.prev_hash, encoded) != row.record_hash:
                report.problems.append(f"row {row.position} was changed after it was written")
            prev_hash, expected_position = row.record_hash, row.position + 1
            report.checked += 1
        session.expunge_all()
    head = session.execute(
        select(AccessLogHead.position, AccessLogHead.head_hash).where(AccessLogHead.id == HEAD_ROW_ID)
    ).one_or_none()
    report.head_position = head.position if head else 0
    if head is not None and (head.position, head.head_hash) != (expected_position - 1, prev_hash):
        report.problems.append(
            f"the head (position {head.position}) does not match the last row (position {expected_position - 1}): "
            "rows were deleted from the end"
        )
    return report


@dataclass(frozen=True)
class AccessLogQuery:
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(session: Session, query: AccessLogQuery, *, before_position: int | None, limit: int) -> list[LoggedAccess]:
    """Newest first; ``before_position`` continues a previous page."""
    statement = select(AccessLogEntry).order_by(AccessLogEntry.position.desc()).limit(limit)
    if before_position is not None:
        statement = statement.where(AccessLogEntry.position < before_position)
    if query.actor:
        statement = statement.where(AccessLogEntry.actor == query.actor)
    if query.action:
        # A prefix selects a family ("content." finds every read of chat content).
        statement = statement.where(AccessLogEntry.action.startswith(query.action, autoescape=True))
    if query.since:
        statement = statement.where(AccessLogEntry.occurred_at >= query.since)
    if query.until:
        statement = statement.where(AccessLogEntry.occurred_at < query.until)
    return [
        LoggedAccess(
            row.position,
            row.occurred_at,
            row.actor,
            row.actor_role,
            row.via,
            row.action,
            row.purpose,
            row.target,
            row.result_count,
            row.outcome,
            row.request_id,
            row.record_hash,
        )
        for row in session.execute(statement).scalars()
    ]
