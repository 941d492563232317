"""Data scopes: which conversations a user may read.

A conversation is in a user's scope when one of its internal participants (the two
parties of a single chat; any sender or recipient of a group chat) is a member of a
department in one of the user's department subtrees, or when the user holds a grant for
that conversation (``grant_conversations``, e.g. a handover successor). A user with
``scope_all`` sees every conversation. Whatever the scope or grant, a conversation with a
protected person is hidden from everyone except the officers named for that person.

Department ids are flattened across corps (one installation normally archives one corp;
with several, scope each user in the corps they review).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, not_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from archive.clock import utcnow
from archive.directory.service import department_subtree
from archive.models import Conversation, Message, MessageRecipient
from audit.accesslog import log as access_log
from audit.errors import InvalidInput, NotFound
from audit.security import repository
from audit.security.models import (
    ConversationGrant,
    ProtectedPerson,
)
from audit.security.principal import Principal


@dataclass(frozen=True)
class DataScope:
    everything: bool
    department_ids: frozenset[int]
    member_ids: frozenset[str]
    conversation_ids: frozenset[int]
    excluded_people: frozenset[str]


def resolve_scope(session: Session, principal: Principal) -> DataScope:
    user = repository.user_by_id(session, principal.user_id)
    everything = bool(user and user.scope_all)
    departments: set[int] = set()
    members: set[str] = set()
    if not everything:
        by_corp: dict[str, set[int]] = {}
        for corp_id, dept_id in repository.departments_of(session, principal.user_id):
            by_corp.setdefault(corp_id, set()).update(department_subtree(session, corp_id, dept_id))
        for corp_id, dept_ids in by_corp.items():
            departments |= dept_ids
            members |= repository.members_of_departments(session, corp_id, dept_ids)
    grants = repository.granted_conversations(session, principal.user_id)
    excluded = repository.protected_from(session, principal.user_id)
    return DataScope(everything, frozenset(departments), frozenset(members), frozenset(grants), frozenset(excluded))


def _touching(userids: Collection[str]) -> ColumnElement[bool]:
    """Conversations in which any of ``userids`` took part. Never NULL (so it can be
    negated): NULL participants and conversation ids are excluded explicitly."""
    if not userids:
        return false()
    people = list(userids)
    return or_(
        and_(Conversation.participant_a.is_not(None), Conversation.participant_a.in_(people)),
        and_(Conversation.participant_b.is_not(None), Conversation.participant_b.in_(people)),
        Conversation.id.in_(
            select(Message.conversation_id).where(Message.conversation_id.is_not(None), Message.sender.in_(people))
        ),
        Conversation.id.in_(
            select(Message.conversation_id)
            .join(MessageRecipient, MessageRecipient.message_id == Message.id)
            .where(Message.conversation_id.is_not(None), MessageRecipient.recipient.in_(people))
        ),
    )


def visible_clause(scope: DataScope) -> ColumnElement[bool]:
    """A WHERE clause over ``Conversation`` selecting exactly the conversations in scope."""
    granted = Conversation.id.in_(list(scope.conversation_ids)) if scope.conversation_ids else false()
    allowed = true() if scope.everything else or_(_touching(scope.member_ids), granted)
    if not scope.excluded_people:
        return allowed
    return and_(allowed, not_(_touching(scope.excluded_people)))


def conversation_id_visible(
    column: ColumnElement[int | None] | InstrumentedAttribute[int | None], scope: DataScope
) -> ColumnElement[bool]:
    """A WHERE clause over any table holding a conversation id (alerts, rollups): its
    conversation is in scope; a row without one is visible to company-wide scopes only."""
    in_scope = select(Conversation.id).where(visible_clause(scope))
    return or_(
        and_(column.is_not(None), column.in_(in_scope)),
        and_(column.is_(None), true() if scope.everything else false()),
    )


def conversation_visible(session: Session, scope: DataScope, conversation_id: int) -> bool:
    return repository.conversation_matches(session, conversation_id, visible_clause(scope))


# --- protected people and grants (administration) -------------------------------------------


@dataclass(frozen=True)
class GrantView:
    conversation_id: int
    reason: str
    granted_by: str
    granted_at: datetime


@dataclass(frozen=True)
class ProtectedView:
    corp_id: str
    userid: str
    reason: str
    officers: list[str]
    created_at: datetime


def protect_person(
    session: Session,
    actor: Principal,
    *,
    corp_id: str,
    userid: str,
    reason: str,
    officers: Iterable[str],
    now: datetime,
) -> ProtectedView:
    """Mark a member as protected; only the named officers (user names) may open their chats."""
    if not reason.strip():
        raise InvalidInput("protecting a person needs a reason")
    person = repository.protected_person(session, corp_id, userid)
    if person is None:
        person = ProtectedPerson(corp_id=corp_id, userid=userid, reason=reason[:512], created_at=now)
        repository.add_protected_person(session, person)
    else:
        person.reason = reason[:512]
    names = sorted(set(officers))
    user_ids = []
    for name in names:
        user = repository.user_named(session, name)
        if user is None:
            raise NotFound(f"no user named {name!r}")
        user_ids.append(user.id)
    repository.set_officers(session, corp_id, userid, user_ids)
    access_log.append(
        session,
        access_log.record_of(actor, "admin.protected.set", {"corp_id": corp_id, "userid": userid, "officers": names}),
        now,
    )
    repository.flush(session)
    return ProtectedView(corp_id, userid, person.reason, names, person.created_at)


def grant_conversations(
    session: Session,
    user_id: int,
    conversation_ids: Iterable[int],
    reason: str,
    granted_by: str,
    *,
    now: datetime | None = None,
    actor: Principal | None = None,
) -> int:
    """Let ``user_id`` read these conversations beyond their department scope (protected
    people still apply). Idempotent; returns how many grants were new. Logged, naming the
    ``actor``'s request and token when a person granted them (else ``granted_by`` alone)."""
    moment = now or utcnow()
    if not reason.strip():
        raise InvalidInput("a conversation grant needs a reason")
    if repository.user_by_id(session, user_id) is None:
        raise NotFound(f"no user with id {user_id}")
    wanted = sorted(set(conversation_ids))
    known = repository.known_conversations(session, wanted)
    if missing := [conversation_id for conversation_id in wanted if conversation_id not in known]:
        raise NotFound(
            f"no conversation with id {', '.join(map(str, missing[:10]))}",
            hint="take the ids from GET /api/v1/conversations",
        )
    existing = repository.granted_conversations(session, user_id, wanted)
    new = [conversation_id for conversation_id in wanted if conversation_id not in existing]
    for conversation_id in new:
        repository.add_grant(
            session,
            ConversationGrant(
                user_id=user_id,
                conversation_id=conversation_id,
                reason=reason[:512],
                granted_by=granted_by[:64],
                granted_at=moment,
            ),
        )
    action, target = "admin.grant.conversations", {"user_id": user_id, "conversation_ids": new, "reason": reason[:512]}
    record = (
        access_log.record_of(actor, action, target, result_count=len(new))
        if actor
        else access_log.AccessRecord(granted_by[:64], "", "system", action, target, result_count=len(new))
    )
    access_log.append(session, record, moment)
    repository.flush(session)
    return len(new)


def _log_admin(
    session: Session, actor: Principal, action: str, target: dict[str, object], count: int, now: datetime
) -> None:
    access_log.append_admin(session, actor, action, dict(target), count, now)


def list_grants(session: Session, user_id: int) -> list[GrantView]:
    return [
        GrantView(row.conversation_id, row.reason, row.granted_by, row.granted_at)
        for row in repository.grants(session, user_id)
    ]


def revoke_grant(
    session: Session, actor: Principal, user_id: int, conversation_id: int, now: datetime
) -> list[GrantView]:
    """Take one conversation grant away (NotFound if the user has none for it). Logged.
    Returns the user's remaining grants."""
    grant = repository.grant(session, user_id, conversation_id)
    if grant is None:
        raise NotFound(f"user {user_id} holds no grant for conversation {conversation_id}")
    repository.delete_row(session, grant)
    _log_admin(
        session, actor, "admin.grant.revoke", {"user_id": user_id, "conversation_ids": [conversation_id]}, 1, now
    )
    repository.flush(session)
    return list_grants(session, user_id)


def list_protected(session: Session) -> list[ProtectedView]:
    officers = repository.officers(session)
    return [
        ProtectedView(row.corp_id, row.userid, row.reason, officers.get((row.corp_id, row.userid), []), row.created_at)
        for row in repository.protected_people(session)
    ]


def unprotect_person(
    session: Session, actor: Principal, *, corp_id: str, userid: str, now: datetime
) -> list[ProtectedView]:
    """Lift the protection of a member (their chats fall back to ordinary scopes). Logged.
    Returns the people still protected."""
    person = repository.protected_person(session, corp_id, userid)
    if person is None:
        raise NotFound(f"{userid!r} of corp {corp_id!r} is not protected")
    repository.remove_officers(session, corp_id, userid)
    repository.delete_row(session, person)
    _log_admin(session, actor, "admin.protected.remove", {"corp_id": corp_id, "userid": userid}, 1, now)
    repository.flush(session)
    return list_protected(session)
