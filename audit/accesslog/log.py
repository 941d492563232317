"""The access log: who read which chat content (or changed what), when and why.

Contract:
- Append-only: this module inserts rows and never updates or deletes one. Each row is
  hashed over its canonical encoding chained to the previous row's hash, exactly like the
  archive's chain (``archive.integrity.canonical``: same encoder, same ``chain_hash``,
  same genesis), so ``verify`` detects any edited, deleted or reordered row.
- Anchored: checkpoints of the head go to the database and to an append-only file outside
  it (``audit.accesslog.checkpoints``); ``verify`` checks every one against the chain, so rows
  removed or re-chained before the latest checkpoint are found even if the whole chain was
  recomputed. Keyed mode (``access_log.mode = "keyed"``) adds an HMAC-SHA256 key held
  outside the database (``audit.accesslog.logkey``): from the switch-over row on (recorded in
  the chain, ``KEYED_ACTION``, and in the head), every row is signed with it, so a database
  writer without the key cannot write a row that verifies (docs/adr/0019-access-log-anchoring.md).
  Once keyed, a log stays keyed: appending or verifying without the key is refused.
- ``append`` runs in the caller's transaction: the content read and its log row commit
  together or not at all.
- Appenders are serialised by updating the single head row first (row lock on
  PostgreSQL, the database write lock on SQLite), so positions are dense and the chain
  never forks. On SQLite callers take that lock *before* reading content
  (:func:`lock_head`): a WAL read snapshot cannot be upgraded to a writer once another
  connection has committed.
- Rows hold ids, queries and counts, never message content; a row names the API token
  the request used (``token_id``) when there was one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, Row, select, update
from sqlalchemy.orm import Session

from archive.integrity import canonical
from audit.accesslog import checkpoints
from audit.accesslog.logkey import AccessLogKey, config_of
from audit.accesslog.models import AccessLogEntry, AccessLogHead
from config.settings import ConfigError

ACCESS_LOG_FORMAT = 1
HEAD_ROW_ID = checkpoints.HEAD_ROW_ID
VERIFY_BATCH_ROWS = 1000
# The row that switches the log to keyed mode; it is the first row signed with the key.
KEYED_ACTION = "access_log.keyed"
SYSTEM_ACTOR = "system"


class Actor(Protocol):
    """Who did it, as a row names them. ``audit.security.principal.Principal`` is one:
    security logs through this module, so the log knows the actor only by this shape."""

    @property
    def username(self) -> str: ...
    @property
    def role(self) -> StrEnum: ...
    @property
    def via(self) -> str: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def token_id(self) -> int | None: ...


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
    # The API token of the request (``Principal.token_id``), when one was used.
    token_id: int | None = None


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
    token_id: int | None
    record_hash: str


@dataclass
class AccessLogVerifyReport:
    checked: int = 0
    head_position: int = 0
    checkpoints_checked: int = 0
    keyed_from: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def document(position: int, occurred_at: datetime, record: AccessRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {
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
    # Only when set: rows written before tokens were logged keep their documents (and hashes).
    if record.token_id is not None:
        doc["token_id"] = record.token_id
    return doc


def record_hash(
    key: AccessLogKey | None, prev_hash: str, position: int, occurred_at: datetime, record: AccessRecord
) -> str:
    """The row's hash: SHA-256 as in the archive's chain, or HMAC-SHA256 with the key."""
    encoded = canonical.encode(document(position, occurred_at, record))
    return key.chain_hash(prev_hash, encoded) if key is not None else canonical.chain_hash(prev_hash, encoded)


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


def _read_head(session: Session) -> Row[int, str, int | None]:
    return session.execute(
        select(AccessLogHead.position, AccessLogHead.head_hash, AccessLogHead.keyed_from).where(
            AccessLogHead.id == HEAD_ROW_ID
        )
    ).one()


def _signing_key(session: Session, keyed_from: int | None) -> AccessLogKey | None:
    if keyed_from is None:
        return None
    config = config_of(session)
    if config is None or not config.keyed:
        raise ConfigError(
            f"the access log is keyed from row {keyed_from} on, but this process has no access-log key: "
            'set access_log.mode = "keyed" (and access_log.key_file if the key is not in the key directory)'
        )
    return config.key()


def append(session: Session, record: AccessRecord, now: datetime) -> int:
    """Append one row in the caller's transaction; returns its position."""
    lock_head(session, now)
    head = _read_head(session)
    return _insert(session, head.position + 1, head.head_hash, _signing_key(session, head.keyed_from), record, now)


def _insert(
    session: Session, position: int, prev_hash: str, key: AccessLogKey | None, record: AccessRecord, now: datetime
) -> int:
    # Millisecond precision: what the canonical document holds is what verify reads back.
    occurred_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    hashed = record_hash(key, prev_hash, position, occurred_at, record)
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
            token_id=record.token_id,
            prev_hash=prev_hash,
            record_hash=hashed,
        )
    )
    session.execute(
        update(AccessLogHead)
        .where(AccessLogHead.id == HEAD_ROW_ID)
        .values(position=position, head_hash=hashed)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return position


def switch_to_keyed(session: Session, now: datetime) -> int | None:
    """Switch the log to keyed mode if it is configured and not done yet: append the
    switch-over row, the first one signed with the key (created now if there is none), and
    record its position in the head. Returns that position, or None if nothing changed.
    The caller commits, then checkpoints (``audit.accesslog.jobs``), which anchors the switch."""
    config = config_of(session)
    if config is None or not config.keyed:
        return None
    lock_head(session, now)
    head = _read_head(session)
    if head.keyed_from is not None:
        return None
    key = config.key(create=True)
    record = AccessRecord(SYSTEM_ACTOR, "", "system", KEYED_ACTION, {"key_id": key.key_id})
    position = _insert(session, head.position + 1, head.head_hash, key, record, now)
    session.execute(
        update(AccessLogHead)
        .where(AccessLogHead.id == HEAD_ROW_ID)
        .values(keyed_from=position)
        .execution_options(synchronize_session=False)
    )
    return position


def append_admin(
    session: Session, actor: Actor, action: str, target: dict[str, Any], result_count: int, now: datetime
) -> int:
    """Append the row of an administrative action (``admin.*``: no content read, no purpose)."""
    return append(session, record_of(actor, action, target, result_count=result_count), now)


def record_of(
    actor: Actor,
    action: str,
    target: dict[str, Any],
    *,
    purpose: str | None = None,
    result_count: int = 0,
    outcome: str = "allowed",
) -> AccessRecord:
    """The record of something ``actor`` did, naming their request and API token."""
    return AccessRecord(
        actor.username,
        actor.role.value,
        actor.via,
        action,
        target,
        purpose=purpose,
        result_count=result_count,
        outcome=outcome,
        request_id=actor.request_id,
        token_id=actor.token_id,
    )


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
        token_id=row.token_id,
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


@dataclass
class _Walk:
    key: AccessLogKey | None = None
    keyed_from: int | None = None
    prev_hash: str = canonical.GENESIS_HASH
    expected_position: int = 1
    hashes: dict[int, str] = field(default_factory=dict)  # of the positions a checkpoint names


def verify(session: Session) -> AccessLogVerifyReport:
    """Recompute every row's hash from its stored values (with the key from the keyed
    switch-over on) and check the links, the head and every checkpoint (database rows and
    the anchor file of the session's configuration)."""
    report = AccessLogVerifyReport()
    config = config_of(session)
    # File before rows before head: every checkpoint read then lies within the head read.
    anchors, report.problems = checkpoints.anchors(session, config.checkpoint_file if config else None)
    named = {anchor.position for anchor in anchors}
    walk = _Walk()
    for batch in _rows(session):
        for row in batch:
            _check_row(session, row, walk, report)
            if row.position in named:
                walk.hashes[row.position] = row.record_hash
            walk.prev_hash, walk.expected_position = row.record_hash, row.position + 1
            report.checked += 1
        session.expunge_all()
    head = session.execute(
        select(AccessLogHead.position, AccessLogHead.head_hash, AccessLogHead.keyed_from).where(
            AccessLogHead.id == HEAD_ROW_ID
        )
    ).one_or_none()
    report.head_position = head.position if head else 0
    report.keyed_from = walk.keyed_from
    last = walk.expected_position - 1
    if head is not None and (head.position, head.head_hash) != (last, walk.prev_hash):
        report.problems.append(
            f"the head (position {head.position}) does not match the last row (position {last}): "
            "rows were deleted from the end"
        )
    if head is not None and head.keyed_from != walk.keyed_from:
        report.problems.append(f"the head says the log is keyed from {head.keyed_from}, the rows {walk.keyed_from}")
    for anchor in anchors:
        report.problems += _check_anchor(anchor, walk, last)
        report.checkpoints_checked += 1
    return report


def _check_row(session: Session, row: AccessLogEntry, walk: _Walk, report: AccessLogVerifyReport) -> None:
    if row.position != walk.expected_position:
        report.problems.append(f"position {walk.expected_position} is missing (next row is {row.position})")
    if row.prev_hash != walk.prev_hash:
        report.problems.append(f"row {row.position} does not link to the row before it")
    if row.action == KEYED_ACTION and row.actor == SYSTEM_ACTOR:
        if walk.keyed_from is not None:
            report.problems.append(f"row {row.position} switches to keyed mode again (it did at {walk.keyed_from})")
        walk.keyed_from = row.position
        walk.key = _verifying_key(session, row, report)
    if walk.keyed_from is not None and walk.key is None:
        return  # reported once at the switch-over: without the key these rows cannot be checked
    if record_hash(walk.key, row.prev_hash, row.position, row.occurred_at, _record_of(row)) != row.record_hash:
        signed = " or not signed with the access-log key" if walk.key is not None else ""
        report.problems.append(f"row {row.position} was changed after it was written{signed}")


def _verifying_key(session: Session, row: AccessLogEntry, report: AccessLogVerifyReport) -> AccessLogKey | None:
    config = config_of(session)
    if config is None or not config.keyed:
        report.problems.append(
            f"row {row.position} switched the log to keyed mode: the rows from it on can only be checked "
            'with the access-log key (access_log.mode = "keyed")'
        )
        return None
    key = config.key()
    if row.target.get("key_id") != key.key_id:
        report.problems.append(
            f"row {row.position} names the access-log key {row.target.get('key_id')!r}, "
            f"but the configured key is {key.key_id!r}"
        )
    return key


def _check_anchor(anchor: checkpoints.Anchor, walk: _Walk, last: int) -> list[str]:
    if anchor.position > last:
        return [
            f"{anchor.label} names position {anchor.position}, beyond the last row ({last}): "
            "rows were deleted from the end"
        ]
    if walk.hashes.get(anchor.position) != anchor.head_hash:
        return [f"{anchor.label} names another hash for row {anchor.position}: the chain was rewritten"]
    if anchor.keyed_from is not None and anchor.keyed_from != walk.keyed_from:
        return [f"{anchor.label} records the switch to keyed mode at row {anchor.keyed_from}; the rows do not"]
    return []


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
            row.token_id,
            row.record_hash,
        )
        for row in session.execute(statement).scalars()
    ]
