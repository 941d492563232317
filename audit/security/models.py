"""Storage models of the audit API's security: users, data scopes, protected people,
conversation grants, API tokens and login sessions.

Secrets are never stored: passwords as argon2id hashes, API tokens and session ids as
SHA-256 digests (they are 256-bit random values, so a fast hash is enough).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base, BigIntId

USERNAME_LENGTH = 64
DIGEST_LENGTH = 64  # SHA-256 in hex
REASON_LENGTH = 512


class SecurityUser(Base):
    """A person who signs in to the audit API or console. Disabled, never deleted: the
    access log names them."""

    __tablename__ = "security_users"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(USERNAME_LENGTH), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))
    # True: every department of every corp (protected people still apply).
    scope_all: Mapped[bool]
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]
    # The WeCom member this account belongs to, if any (a handover successor inherits
    # conversations through it).
    wecom_corp_id: Mapped[str | None] = mapped_column(String(CORP_ID_LENGTH))
    wecom_userid: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))


class SecurityScope(Base):
    """One department subtree a user may read chats of."""

    __tablename__ = "security_scopes"

    user_id: Mapped[int] = mapped_column(ForeignKey("security_users.id", ondelete="CASCADE"), primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    dept_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ProtectedPerson(Base):
    """A member (for example an executive) whose chats only named officers may open."""

    __tablename__ = "security_protected_people"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH))
    created_at: Mapped[datetime]


class ProtectedPersonOfficer(Base):
    """An officer named to open one protected person's chats."""

    __tablename__ = "security_protected_officers"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("security_users.id", ondelete="CASCADE"), primary_key=True)


class ConversationGrant(Base):
    """Access to one conversation outside the user's department scope (e.g. a handover
    successor's), with who granted it and why."""

    __tablename__ = "security_conversation_grants"

    user_id: Mapped[int] = mapped_column(ForeignKey("security_users.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH))
    granted_by: Mapped[str] = mapped_column(String(USERNAME_LENGTH))
    granted_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for an integration: scoped to a subset of its owner's permissions,
    expiring and revocable. Only the digest is stored; the token is shown once."""

    __tablename__ = "security_api_tokens"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("security_users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    # The first characters, to recognise a token in a list without storing it.
    prefix: Mapped[str] = mapped_column(String(16))
    permissions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class LoginSession(Base):
    """A console/API login session (cookie). The access purpose given during the session
    is remembered here."""

    __tablename__ = "security_sessions"
    __table_args__ = (Index(None, "user_id"),)

    digest: Mapped[str] = mapped_column(String(DIGEST_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("security_users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(DIGEST_LENGTH))
    purpose: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """Login attempts per client address, for rate limiting across processes."""

    __tablename__ = "security_login_attempts"
    __table_args__ = (UniqueConstraint("client", "window_start"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(128))
    window_start: Mapped[datetime]
    attempts: Mapped[int]


class LoginFailure(Base):
    """Failed logins of one client for one user name, and the lock they led to.

    Keyed by client *and* name, whether or not the name exists: a lock then says nothing
    about which accounts exist, and an attacker's failures lock the attacker's client out
    of that account, never the account's owner signing in from elsewhere."""

    __tablename__ = "security_login_failures"
    __table_args__ = (UniqueConstraint("client", "username"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(128))
    username: Mapped[str] = mapped_column(String(USERNAME_LENGTH), index=True)
    failures: Mapped[int]
    locked_until: Mapped[datetime | None]
    last_failed_at: Mapped[datetime]
