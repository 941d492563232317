"""Storage models of retention: policies, legal holds, the admin history and disposition runs.

Tombstones of disposed messages are the integrity chain's (``archive.integrity``); this
package records per run which policy disposed how many.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.integrity.models import POLICY_LENGTH
from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base, BigIntId

# A policy's name goes into the chain's tombstones of the messages it disposes.
POLICY_NAME_LENGTH = POLICY_LENGTH
HOLD_NAME_LENGTH = 128
ACTOR_LENGTH = 128


class RetentionAction(enum.StrEnum):
    """The one vocabulary of the admin history."""

    POLICY_CREATED = "policy.created"
    POLICY_RETENTION_CHANGED = "policy.retention_changed"
    POLICY_LOCKED = "policy.locked"
    HOLD_CREATED = "hold.created"
    HOLD_WINDOW_CHANGED = "hold.window_changed"
    HOLD_RELEASED = "hold.released"


class RetentionPolicy(Base):
    """Keep messages in a scope for ``retain_days`` days, then dispose of them.

    scope_kind: ``corp`` (scope_value ""), ``department`` (scope_value the dept id as text;
    covers its sub-departments) or ``chat_type`` (scope_value ``single_external``,
    ``single_internal`` or ``group``). One policy per scope. A locked policy can never be
    shortened, by anyone.
    """

    __tablename__ = "retention_policies"
    __table_args__ = (
        UniqueConstraint("corp_id", "name"),
        UniqueConstraint("corp_id", "scope_kind", "scope_value"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    name: Mapped[str] = mapped_column(String(POLICY_NAME_LENGTH))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_value: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    retain_days: Mapped[int]
    locked: Mapped[bool]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class LegalHold(Base):
    """Messages a hold covers are never disposed while it is active (``released_at`` NULL).

    A message is covered when its msgtime lies in [starts_at, ends_at) (a NULL bound is
    open) and — if the hold lists subjects — it matches at least one of them. kind:
    ``employee``, ``customer``, ``room`` (one subject), ``date_range`` (no subject, only the
    window) or ``case`` (a named hold listing several subjects).
    """

    __tablename__ = "legal_holds"
    __table_args__ = (Index(None, "corp_id", "released_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    name: Mapped[str] = mapped_column(String(HOLD_NAME_LENGTH))  # the case reference for a case hold
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    release_reason: Mapped[str | None] = mapped_column(Text)


class LegalHoldSubject(Base):
    """One subject of a hold: an ``employee`` userid, a ``customer`` external id or a ``room``."""

    __tablename__ = "legal_hold_subjects"

    hold_id: Mapped[int] = mapped_column(ForeignKey("legal_holds.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))


class RetentionHistoryEntry(Base):
    """Append-only: who changed which policy or hold, from what to what, why and when.

    ``action`` is one of :class:`RetentionAction`.
    """

    __tablename__ = "retention_history"
    __table_args__ = (Index(None, "corp_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    actor_is_admin: Mapped[bool]
    action: Mapped[str] = mapped_column(String(32))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("retention_policies.id"))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("legal_holds.id"))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)


class RetentionRevision(Base):
    """The corp's retention-rules revision, bumped by every policy or hold change.

    Its row is also the lock that serialises rule changes with disposition batches: a
    batch writes it before reading the rules, so a hold committed a moment earlier is
    seen, and one placed while the batch runs waits for the batch's commit.
    """

    __tablename__ = "retention_revisions"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime]


class DispositionRun(Base):
    """One run of the disposition job for one corp; counters cover committed batches only.

    examined: messages older than the shortest policy (the candidates looked at);
    disposed: deleted; held: past their retention but kept by a legal hold;
    media_deleted: media tasks deleted with their messages; blobs_deleted: media files
    deleted after the commits. A dry run counts without deleting.
    """

    __tablename__ = "disposition_runs"
    __table_args__ = (Index(None, "corp_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    trigger: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    rules_revision: Mapped[int] = mapped_column(BigInteger)
    batches: Mapped[int]
    examined: Mapped[int] = mapped_column(BigInteger)
    disposed: Mapped[int] = mapped_column(BigInteger)
    held: Mapped[int] = mapped_column(BigInteger)
    media_deleted: Mapped[int] = mapped_column(BigInteger)
    blobs_deleted: Mapped[int] = mapped_column(BigInteger)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class DispositionRunPolicy(Base):
    """How many messages one policy disposed in one run (the policy that set their retention)."""

    __tablename__ = "disposition_run_policies"

    run_id: Mapped[int] = mapped_column(ForeignKey("disposition_runs.id"), primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("retention_policies.id"), primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    policy_name: Mapped[str] = mapped_column(String(POLICY_NAME_LENGTH))
    disposed: Mapped[int] = mapped_column(BigInteger)
