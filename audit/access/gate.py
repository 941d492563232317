"""The access gate: the one door chat content leaves the database through.

Contract:
- Only principals with ``content:read`` get a gate, and only with a purpose (the case
  reference or reason they gave; remembered for their session).
- Every content read checks the caller's data scope (``audit.security.scope``) before
  returning anything and records one access-log row — who, what (query or ids), how many
  results, why — in the caller's transaction, so a read that commits is always logged.
- A read refused for scope raises ``OutOfScope``; the refusal is recorded with
  :func:`record_denied` in a transaction of its own (the failed one rolls back).
  :func:`through_gate` is that door for every front end (API, console, CLI): one
  transaction for the read, one more for a refusal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from archive.clock import utcnow
from archive.models import Conversation, Message
from audit.accesslog import log as access_log
from audit.errors import InvalidInput
from audit.security import service as security
from audit.security.errors import OutOfScope, PurposeRequired
from audit.security.principal import Principal
from audit.security.roles import Permission
from audit.security.scope import DataScope, conversation_visible, resolve_scope, visible_clause
from config.database import session_scope

T = TypeVar("T")
PURPOSE_MAX_CHARS = 500
# Letters and symbols that render as nothing (Hangul fillers, the blank Braille pattern).
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def clean_purpose(value: str | None) -> str:
    """A purpose as the access log keeps it: whitespace collapsed, at most
    ``PURPOSE_MAX_CHARS``; "" when it shows nothing (spaces, zero-width and other invisible
    characters only), which counts as no purpose. Control characters (NUL, escapes) are
    refused: the log must read as what was typed."""
    text = " ".join((value or "").split())[:PURPOSE_MAX_CHARS]
    if any(unicodedata.category(character) in ("Cc", "Cs") for character in text):
        raise InvalidInput(
            "the purpose contains control characters", hint="type the case reference or reason as plain text"
        )
    shows_something = any(unicodedata.category(c)[0] not in "CZ" and c not in _BLANK_CHARACTERS for c in text)
    return text if shows_something else ""


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
        given = clean_purpose(purpose) or clean_purpose(principal.purpose)
        if not given:
            raise PurposeRequired()
        if given != principal.purpose:
            security.remember_purpose(session, principal, given)
        if lock and session.get_bind().dialect.name == "sqlite":
            access_log.lock_head(session, now)  # before any read: see audit.accesslog.log
        return cls(session, principal, resolve_scope(session, principal), given, now)

    def visible(self) -> ColumnElement[bool]:
        """A WHERE clause over ``archive.models.Conversation``: what this caller may see."""
        return visible_clause(self.scope)

    def check_conversation(self, conversation_id: int | None) -> None:
        if conversation_id is None or not conversation_visible(self.session, self.scope, conversation_id):
            raise OutOfScope("this conversation is outside your data scope")

    def visible_conversations(self, conversation_ids: Collection[int]) -> frozenset[int]:
        """Those of ``conversation_ids`` this caller may read (the same decision as
        :meth:`check_conversation`, for content gathered from several conversations)."""
        if not conversation_ids:
            return frozenset()
        rows = self.session.execute(
            select(Conversation.id).where(Conversation.id.in_(list(conversation_ids)), self.visible())
        )
        return frozenset(rows.scalars())

    def visible_messages(self, message_ids: Collection[int]) -> frozenset[int]:
        """Those of ``message_ids`` whose conversation this caller may read (a message
        without a conversation is readable by no one, as in :meth:`check_conversation`)."""
        if not message_ids:
            return frozenset()
        rows = self.session.execute(
            select(Message.id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id.in_(list(message_ids)), self.visible())
        )
        return frozenset(rows.scalars())

    def record(self, action: str, target: dict[str, Any], result_count: int) -> None:
        access_log.append(
            self.session,
            access_log.record_of(self.principal, action, target, purpose=self.purpose, result_count=result_count),
            self.now,
        )


def record_denied(
    session: Session, principal: Principal, action: str, target: dict[str, Any], purpose: str | None, now: datetime
) -> None:
    access_log.append(
        session,
        access_log.record_of(principal, action, target, purpose=purpose or principal.purpose, outcome="denied"),
        now,
    )


def through_gate(
    session_factory: sessionmaker[Session],
    principal: Principal,
    purpose: str | None,
    action: str,
    target: dict[str, Any],
    read: Callable[[AccessGate], T],
    *,
    now: datetime | None = None,
) -> T:
    """Run one content read in one transaction behind the gate; a refusal for scope is
    itself logged as ``action`` on ``target`` (in a transaction of its own: the read's
    rolls back), then raised again."""
    now = now or utcnow()
    try:
        with session_scope(session_factory) as session:
            return read(AccessGate.open(session, principal, purpose=purpose, now=now))
    except OutOfScope:
        with session_scope(session_factory) as session:
            record_denied(session, principal, action, target, purpose, now)
        raise
