"""The queries of ``audit.security``: users, their department scopes, sessions, login
counters, API tokens, conversation grants and protected people.

Functions here read and write rows and nothing else (no access log, no policy): the use
cases in ``service``, ``scope`` and ``admin`` decide. Nothing commits; writes are flushed
only where the caller needs a generated id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.orm import Session

from archive.directory.models import DirectoryMembership
from archive.models import Conversation
from audit.security.models import (
    ApiToken,
    ConversationGrant,
    LoginAttempt,
    LoginFailure,
    LoginSession,
    ProtectedPerson,
    ProtectedPersonOfficer,
    SecurityScope,
    SecurityUser,
)

# --- users ---------------------------------------------------------------------------------


def user_named(session: Session, username: str) -> SecurityUser | None:
    return session.execute(select(SecurityUser).where(SecurityUser.username == username)).scalar_one_or_none()


def user_by_id(session: Session, user_id: int) -> SecurityUser | None:
    return session.get(SecurityUser, user_id)


def users(session: Session) -> list[SecurityUser]:
    return list(session.execute(select(SecurityUser).order_by(SecurityUser.username)).scalars())


def count_users(session: Session) -> int:
    return len(session.execute(select(SecurityUser.id)).all())


def add_user(session: Session, user: SecurityUser) -> SecurityUser:
    """Insert ``user`` and flush (its id is needed at once)."""
    session.add(user)
    session.flush()
    return user


def linked_members(session: Session) -> dict[str, str]:
    """user name → the WeCom userid the account belongs to (linked accounts only)."""
    rows = session.execute(
        select(SecurityUser.username, SecurityUser.wecom_userid).where(SecurityUser.wecom_userid.is_not(None))
    )
    return {username: userid for username, userid in rows if userid}


# --- department scopes --------------------------------------------------------------------------


def departments_of(session: Session, user_id: int) -> list[tuple[str, int]]:
    rows = session.execute(
        select(SecurityScope.corp_id, SecurityScope.dept_id).where(SecurityScope.user_id == user_id)
    ).all()
    return sorted((corp_id, dept_id) for corp_id, dept_id in rows)


def set_departments(session: Session, user_id: int, departments: Iterable[tuple[str, int]]) -> None:
    """Replace the user's department scopes by ``departments``."""
    for scope in session.execute(select(SecurityScope).where(SecurityScope.user_id == user_id)).scalars():
        session.delete(scope)
    session.flush()
    for corp_id, dept_id in set(departments):
        session.add(SecurityScope(user_id=user_id, corp_id=corp_id, dept_id=dept_id))


def members_of_departments(session: Session, corp_id: str, dept_ids: Iterable[int]) -> set[str]:
    """The userids of the members of these departments (not of their sub-departments)."""
    statement = select(DirectoryMembership.userid).where(
        DirectoryMembership.corp_id == corp_id, DirectoryMembership.dept_id.in_(list(dept_ids))
    )
    return set(session.execute(statement).scalars())


def conversation_matches(session: Session, conversation_id: int, clause: ColumnElement[bool]) -> bool:
    """Whether the conversation exists and satisfies ``clause`` (a WHERE over Conversation)."""
    statement = select(Conversation.id).where(Conversation.id == conversation_id, clause)
    return session.execute(statement).first() is not None


# --- sessions and login counters -----------------------------------------------------------------


def login_session(session: Session, digest: str) -> LoginSession | None:
    return session.get(LoginSession, digest)


def add_login_session(session: Session, row: LoginSession) -> None:
    session.add(row)


def open_sessions(session: Session, user_id: int) -> list[LoginSession]:
    statement = select(LoginSession).where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
    return list(session.execute(statement).scalars())


def login_attempt(session: Session, client: str, window_start: datetime) -> LoginAttempt | None:
    return session.execute(
        select(LoginAttempt).where(LoginAttempt.client == client, LoginAttempt.window_start == window_start)
    ).scalar_one_or_none()


def add_login_attempt(session: Session, client: str, window_start: datetime) -> None:
    """The first attempt of a window, in a savepoint (IntegrityError if another process won)."""
    with session.begin_nested():
        session.add(LoginAttempt(client=client, window_start=window_start, attempts=1))


def login_failure(session: Session, client: str, username: str) -> LoginFailure | None:
    return session.execute(
        select(LoginFailure).where(LoginFailure.client == client, LoginFailure.username == username)
    ).scalar_one_or_none()


def add_login_failure(session: Session, client: str, username: str, now: datetime) -> LoginFailure:
    """A pair's first failure row, in a savepoint (IntegrityError if another process won)."""
    with session.begin_nested():
        row = LoginFailure(client=client, username=username, failures=0, locked_until=None, last_failed_at=now)
        session.add(row)
    return row


def delete_login_failure(session: Session, row: LoginFailure) -> None:
    session.delete(row)


def forget_failures(session: Session, username: str) -> None:
    """Every failure row of this name (a new password unlocks it)."""
    for failure in session.execute(select(LoginFailure).where(LoginFailure.username == username)).scalars():
        session.delete(failure)


def forget_stale_failures(session: Session, username: str, before: datetime) -> None:
    """Failure rows of this name that neither count nor lock any more (the table stays small)."""
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.username == username,
            LoginFailure.last_failed_at < before,
            or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until < before),
        )
    )


# --- API tokens ---------------------------------------------------------------------------------


def add_token(session: Session, token: ApiToken) -> ApiToken:
    """Insert ``token`` and flush (its id is logged)."""
    session.add(token)
    session.flush()
    return token


def token_by_id(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def token_by_digest(session: Session, digest: str) -> ApiToken | None:
    return session.execute(select(ApiToken).where(ApiToken.digest == digest)).scalar_one_or_none()


def active_tokens(session: Session, user_id: int) -> list[ApiToken]:
    statement = select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    return list(session.execute(statement).scalars())


def tokens_with_owners(session: Session, username: str | None = None) -> list[tuple[ApiToken, str]]:
    """Tokens with their owner's name, oldest first (of ``username`` only, if given)."""
    statement = select(ApiToken, SecurityUser.username).join(SecurityUser).order_by(ApiToken.id)
    if username is not None:
        statement = statement.where(SecurityUser.username == username)
    return [(token, name) for token, name in session.execute(statement).all()]


# --- conversation grants ------------------------------------------------------------------------


def known_conversations(session: Session, conversation_ids: list[int]) -> set[int]:
    return set(session.execute(select(Conversation.id).where(Conversation.id.in_(conversation_ids))).scalars())


def granted_conversations(session: Session, user_id: int, among: list[int] | None = None) -> set[int]:
    statement = select(ConversationGrant.conversation_id).where(ConversationGrant.user_id == user_id)
    if among is not None:
        statement = statement.where(ConversationGrant.conversation_id.in_(among))
    return set(session.execute(statement).scalars())


def add_grant(session: Session, grant: ConversationGrant) -> None:
    session.add(grant)


def grants(session: Session, user_id: int) -> list[ConversationGrant]:
    return list(
        session.execute(
            select(ConversationGrant)
            .where(ConversationGrant.user_id == user_id)
            .order_by(ConversationGrant.conversation_id)
        ).scalars()
    )


def grant(session: Session, user_id: int, conversation_id: int) -> ConversationGrant | None:
    return session.get(ConversationGrant, (user_id, conversation_id))


def delete_row(session: Session, row: ConversationGrant | ProtectedPerson) -> None:
    session.delete(row)


# --- protected people ---------------------------------------------------------------------------


def protected_person(session: Session, corp_id: str, userid: str) -> ProtectedPerson | None:
    return session.get(ProtectedPerson, (corp_id, userid))


def add_protected_person(session: Session, person: ProtectedPerson) -> None:
    session.add(person)


def set_officers(session: Session, corp_id: str, userid: str, user_ids: Iterable[int]) -> None:
    """Replace the officers named for a protected person (by user id)."""
    remove_officers(session, corp_id, userid)
    session.flush()
    for user_id in user_ids:
        session.add(ProtectedPersonOfficer(corp_id=corp_id, userid=userid, user_id=user_id))


def remove_officers(session: Session, corp_id: str, userid: str) -> None:
    for row in session.execute(
        select(ProtectedPersonOfficer).where(
            ProtectedPersonOfficer.corp_id == corp_id, ProtectedPersonOfficer.userid == userid
        )
    ).scalars():
        session.delete(row)


def protected_from(session: Session, user_id: int) -> set[str]:
    """The protected people whose chats ``user_id`` may not open (not named their officer)."""
    named_for = select(ProtectedPersonOfficer.userid).where(ProtectedPersonOfficer.user_id == user_id)
    statement = select(ProtectedPerson.userid).where(ProtectedPerson.userid.not_in(named_for))
    return set(session.execute(statement).scalars())


def protected_people(session: Session) -> list[ProtectedPerson]:
    rows = session.execute(select(ProtectedPerson).order_by(ProtectedPerson.corp_id, ProtectedPerson.userid))
    return list(rows.scalars())


def officers(session: Session) -> dict[tuple[str, str], list[str]]:
    """(corp id, userid) of each protected person → the user names of their officers."""
    named: dict[tuple[str, str], list[str]] = {}
    for corp_id, userid, username in session.execute(
        select(ProtectedPersonOfficer.corp_id, ProtectedPersonOfficer.userid, SecurityUser.username)
        .join(SecurityUser, SecurityUser.id == ProtectedPersonOfficer.user_id)
        .order_by(SecurityUser.username)
    ):
        named.setdefault((corp_id, userid), []).append(username)
    return named


def flush(session: Session) -> None:
    session.flush()
