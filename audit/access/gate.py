"""The access gate: the one door chat content leaves the database through.

Contract:
- Only principals with ``content:read`` get a gate, and only with a purpose (the case
  reference or reason they gave; remembered for their session).
- Every content read checks the caller's data scope (``audit.security.scope``) before
  returning anything and records one access-log row — who, what (query or ids), how many
  results, why — in the caller's transaction, so a read that commits is always logged.
- A read refused for scope raises ``OutOfScope``; the caller records the refusal with
  :func:`record_denied` in a transaction of its own (the failed one rolls back).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from audit.access import log as access_log
from audit.security import service as security
from audit.security.errors import OutOfScope, PurposeRequired
from audit.security.principal import Principal
from audit.security.roles import Permission
from audit.security.scope import DataScope, conversation_visible, resolve_scope, visible_clause

PURPOSE_MAX_CHARS = 500


class AccessGate:
    def __init__(self, session: Session, principal: Principal, scope: DataScope, purpose: str, now: datetime) -> None:
        self.session = session
        self.principal = principal
        self.scope = scope
        self.purpose = purpose
        self.now = now

    @classmethod
    def open(
        cls, session: Session, principal: Principal, *, purpose: str | None, now: datetime, lock: bool = True
    ) -> AccessGate:
        """``lock=False`` for a read served from elsewhere (the search index): the caller
        records it with :meth:`record` in a later transaction *before* returning results."""
        principal.require(Permission.CONTENT_READ)
        given = (purpose or "").strip()[:PURPOSE_MAX_CHARS] or (principal.purpose or "").strip()
        if not given:
            raise PurposeRequired()
        if given != principal.purpose:
            security.remember_purpose(session, principal, given)
        if lock and session.get_bind().dialect.name == "sqlite":
            access_log.lock_head(session, now)  # before any read: see audit.access.log
        return cls(session, principal, resolve_scope(session, principal), given, now)

    def visible(self) -> ColumnElement[bool]:
        """A WHERE clause over ``archive.models.Conversation``: what this caller may see."""
        return visible_clause(self.scope)

    def check_conversation(self, conversation_id: int | None) -> None:
        if conversation_id is None or not conversation_visible(self.session, self.scope, conversation_id):
            raise OutOfScope("this conversation is outside your data scope")

    def record(self, action: str, target: dict[str, Any], result_count: int) -> None:
        access_log.append(
            self.session,
            access_log.AccessRecord(
                actor=self.principal.username,
                actor_role=self.principal.role.value,
                via=self.principal.via,
                action=action,
                target=target,
                purpose=self.purpose,
                result_count=result_count,
                request_id=self.principal.request_id,
            ),
            self.now,
        )


def record_denied(
    session: Session, principal: Principal, action: str, target: dict[str, Any], purpose: str | None, now: datetime
) -> None:
    access_log.append(
        session,
        access_log.AccessRecord(
            actor=principal.username,
            actor_role=principal.role.value,
            via=principal.via,
            action=action,
            target=target,
            purpose=purpose or principal.purpose,
            outcome="denied",
            request_id=principal.request_id,
        ),
        now,
    )
