"""Plain values of retention for callers outside the package (the CLI, the API, the console).

ORM rows stay inside ``archive``; these frozen dataclasses are what crosses into ``api``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.retention.errors import InvalidRetentionRuleError
from archive.retention.models import (
    DispositionRun,
    LegalHold,
    RetentionAction,
    RetentionHistoryEntry,
    RetentionPolicy,
)
from archive.retention.rules import CHAT_TYPES


@dataclass(frozen=True, slots=True)
class PolicyScope:
    kind: str  # corp | department | chat_type
    value: str  # "" | dept id as text | chat type

    @classmethod
    def parse(cls, text: str) -> PolicyScope:
        """``corp``, ``department:ID`` or ``chat:TYPE`` (as the CLI writes them)."""
        kind, _, value = text.strip().partition(":")
        if kind == "corp" and not value:
            return cls("corp", "")
        if kind in ("department", "dept") and value.strip().isdigit():
            return cls("department", str(int(value)))
        if kind in ("chat", "chat_type") and value in CHAT_TYPES:
            return cls("chat_type", value)
        raise InvalidRetentionRuleError(
            f"unknown retention scope {text!r}",
            hint=f"use corp, department:ID or chat:TYPE with TYPE one of {', '.join(CHAT_TYPES)}",
        )

    @property
    def label(self) -> str:
        """The scope as :meth:`parse` reads it."""
        if self.kind == "corp":
            return "corp"
        return f"department:{self.value}" if self.kind == "department" else f"chat:{self.value}"


@dataclass(frozen=True, slots=True)
class PolicyView:
    id: int
    name: str
    scope: PolicyScope
    retain_days: int
    locked: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class HoldView:
    id: int
    name: str
    kind: str
    subjects: tuple[tuple[str, str], ...]  # (employee|customer|room, id)
    starts_at: datetime | None
    ends_at: datetime | None
    created_at: datetime
    created_by: str
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None

    @property
    def active(self) -> bool:
        return self.released_at is None


@dataclass(frozen=True, slots=True)
class HistoryView:
    id: int
    at: datetime
    actor: str
    actor_is_admin: bool
    action: RetentionAction
    policy_id: int | None
    hold_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class RunView:
    """One disposition run, with what each policy disposed in it."""

    id: int
    trigger: str
    dry_run: bool
    status: str
    started_at: datetime
    finished_at: datetime | None
    examined: int
    disposed: int
    held: int
    media_deleted: int
    blobs_deleted: int
    by_policy: dict[str, int]
    error: str | None


def policy_view(policy: RetentionPolicy) -> PolicyView:
    return PolicyView(
        id=policy.id,
        name=policy.name,
        scope=PolicyScope(policy.scope_kind, policy.scope_value),
        retain_days=policy.retain_days,
        locked=policy.locked,
        created_at=policy.created_at,
        created_by=policy.created_by,
        updated_at=policy.updated_at,
        updated_by=policy.updated_by,
    )


def hold_view(hold: LegalHold, subjects: Sequence[tuple[str, str]]) -> HoldView:
    return HoldView(
        id=hold.id,
        name=hold.name,
        kind=hold.kind,
        subjects=tuple(subjects),
        starts_at=hold.starts_at,
        ends_at=hold.ends_at,
        created_at=hold.created_at,
        created_by=hold.created_by,
        released_at=hold.released_at,
        released_by=hold.released_by,
        release_reason=hold.release_reason,
    )


def history_view(entry: RetentionHistoryEntry) -> HistoryView:
    return HistoryView(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        actor_is_admin=entry.actor_is_admin,
        action=RetentionAction(entry.action),
        policy_id=entry.policy_id,
        hold_id=entry.hold_id,
        before=entry.before,
        after=entry.after,
        reason=entry.reason,
    )


def run_view(run: DispositionRun, by_policy: dict[str, int]) -> RunView:
    return RunView(
        id=run.id,
        trigger=run.trigger,
        dry_run=run.dry_run,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        examined=run.examined,
        disposed=run.disposed,
        held=run.held,
        media_deleted=run.media_deleted,
        blobs_deleted=run.blobs_deleted,
        by_policy=by_policy,
        error=run.error,
    )
