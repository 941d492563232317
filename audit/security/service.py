"""Users, logins, sessions and API tokens.

Every change made by an administrator is written to the access log in the same
transaction (action ``admin.*``); logins are logged too (``auth.*``), failed ones with
outcome ``denied``. Services only flush: the caller's unit of work commits. Their rows are
read and written through ``audit.security.repository``; ``audit.security.admin`` holds the
administration use cases made of several of these calls.

Login failures must be committed (lockout counters, rate-limit windows, the log row), so
:func:`login` returns the error instead of raising it; the caller (``api.auth.guards.sign_in``,
in its own unit of work) raises it after the commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.accesslog import log as access_log
from audit.errors import Conflict, InvalidInput, NotFound
from audit.security import passwords
from audit.security import repository as users_db
from audit.security.errors import AccountLocked, InvalidCredentials, PermissionDenied, RateLimited, SecurityError
from audit.security.models import ApiToken, LoginFailure, LoginSession, SecurityUser
from audit.security.principal import Principal
from audit.security.roles import (
    CONTENT_PERMISSIONS,
    ROLE_PERMISSIONS,
    Permission,
    Role,
    parse_permissions,
    parse_role,
)

TOKEN_PREFIX = "wa_"  # noqa: S105 - a marker that makes leaked tokens greppable, not a secret
TOKEN_BYTES = 32


@dataclass(frozen=True)
class AuthPolicy:
    """The knobs of ``config.settings.AuthSettings`` the services need."""

    session_ttl: timedelta = timedelta(hours=8)
    session_idle: timedelta = timedelta(hours=1)
    lockout_threshold: int = 5
    lockout: timedelta = timedelta(minutes=15)
    login_attempts_per_minute: int = 20
    token_default_ttl: timedelta = timedelta(days=90)


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    display_name: str
    role: str
    scope_all: bool
    departments: list[tuple[str, int]]
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class TokenView:
    id: int
    username: str
    name: str
    prefix: str
    permissions: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class NewSession:
    token: str  # the cookie value, shown once
    csrf_token: str
    expires_at: datetime
    principal: Principal


@dataclass(frozen=True)
class LoginResult:
    session: NewSession | None
    error: SecurityError | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _audit(session: Session, actor: Principal, action: str, target: dict[str, Any], now: datetime) -> None:
    access_log.append_admin(session, actor, action, target, 0, now)


# --- users --------------------------------------------------------------------------------


def _user(session: Session, username: str) -> SecurityUser:
    user = users_db.user_named(session, username)
    if user is None:
        raise NotFound(f"no user named {username!r}", hint="`wecom-audit users list` shows the users")
    return user


def count_users(session: Session) -> int:
    return users_db.count_users(session)


def create_user(
    session: Session,
    actor: Principal,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    scope_all: bool = False,
    departments: list[tuple[str, int]] | None = None,
    wecom_member: tuple[str, str] | None = None,
    now: datetime,
) -> UserView:
    """A new account; ``wecom_member`` (corp id, userid) links it to the WeCom member it
    belongs to (a handover successor inherits conversations through it: the caller then
    applies ``audit.handover.inheritance.apply_pending_inheritances``)."""
    parsed_role = parse_role(role)
    if not username or len(username) > 64 or not username.replace("-", "").replace(".", "").replace("_", "").isalnum():
        raise InvalidInput("user names are 1–64 letters, digits, '.', '-' or '_'")
    if users_db.user_named(session, username) is not None:
        raise Conflict(f"a user named {username!r} already exists")
    user = users_db.add_user(
        session,
        SecurityUser(
            username=username,
            display_name=display_name or username,
            role=parsed_role.value,
            password_hash=passwords.hash_password(password, user_inputs=(username, display_name)),
            scope_all=scope_all,
            disabled_at=None,
            created_at=now,
            password_changed_at=now,
            wecom_corp_id=wecom_member[0] if wecom_member else None,
            wecom_userid=wecom_member[1] if wecom_member else None,
        ),
    )
    users_db.set_departments(session, user.id, departments or [])
    _audit(
        session,
        actor,
        "admin.user.create",
        {
            "user": username,
            "role": parsed_role.value,
            "scope_all": scope_all,
            "departments": _depts(departments),
            **({"wecom_member": list(wecom_member)} if wecom_member else {}),
        },
        now,
    )
    users_db.flush(session)
    return _view(session, user)


def _depts(departments: list[tuple[str, int]] | None) -> list[list[Any]]:
    return [[corp_id, dept_id] for corp_id, dept_id in sorted(departments or [])]


def _view(session: Session, user: SecurityUser) -> UserView:
    return UserView(
        user.id,
        user.username,
        user.display_name,
        user.role,
        user.scope_all,
        users_db.departments_of(session, user.id),
        user.disabled_at is not None,
        user.created_at,
    )


def list_users(session: Session) -> list[UserView]:
    return [_view(session, user) for user in users_db.users(session)]


def get_user(session: Session, username: str) -> UserView:
    return _view(session, _user(session, username))


def update_user(
    session: Session,
    actor: Principal,
    username: str,
    *,
    role: str | None = None,
    scope_all: bool | None = None,
    departments: list[tuple[str, int]] | None = None,
    now: datetime,
) -> UserView:
    user = _user(session, username)
    changes: dict[str, Any] = {"user": username}
    if role is not None:
        user.role = parse_role(role).value
        changes["role"] = user.role
    if scope_all is not None:
        user.scope_all = scope_all
        changes["scope_all"] = scope_all
    if departments is not None:
        users_db.set_departments(session, user.id, departments)
        changes["departments"] = _depts(departments)
    _audit(session, actor, "admin.user.update", changes, now)
    return _view(session, user)


def may_review_alerts(session: Session, username: str) -> bool:
    """Whether ``username`` is an active user whose role reviews alerts (who an alert may be
    assigned to)."""
    user = users_db.user_named(session, username)
    return (
        user is not None and user.disabled_at is None and Permission.ALERTS_REVIEW in ROLE_PERMISSIONS[Role(user.role)]
    )


def disable_user(session: Session, actor: Principal, username: str, now: datetime) -> UserView:
    user = _user(session, username)
    if user.id == actor.user_id:
        raise InvalidInput("you cannot disable your own account", hint="ask another administrator")
    user.disabled_at = user.disabled_at or now
    _end_sessions(session, user.id, now)
    _audit(session, actor, "admin.user.disable", {"user": username}, now)
    return _view(session, user)


def set_password(session: Session, actor: Principal, username: str, password: str, now: datetime) -> UserView:
    """A new password (a reset or a change): unlocks the account, ends its sessions and
    revokes its API tokens, so nothing obtained with the old password keeps working."""
    user = _user(session, username)
    user.password_hash = passwords.hash_password(password, user_inputs=(user.username, user.display_name))
    user.password_changed_at = now
    users_db.forget_failures(session, username)
    _end_sessions(session, user.id, now)
    revoked = _revoke_tokens(session, user.id, now)
    _audit(session, actor, "admin.user.password", {"user": username, "tokens_revoked": revoked}, now)
    return _view(session, user)


def _end_sessions(session: Session, user_id: int, now: datetime) -> None:
    for row in users_db.open_sessions(session, user_id):
        row.revoked_at = now


def _revoke_tokens(session: Session, user_id: int, now: datetime) -> int:
    revoked = 0
    for token in users_db.active_tokens(session, user_id):
        token.revoked_at = now
        revoked += 1
    return revoked


# --- logins and sessions ---------------------------------------------------------------------


def _count_attempt(session: Session, client: str, policy: AuthPolicy, now: datetime) -> int:
    window = now.replace(second=0, microsecond=0)
    row = users_db.login_attempt(session, client, window)
    if row is None:
        try:
            users_db.add_login_attempt(session, client, window)
            return 1
        except IntegrityError:  # another process opened the window first
            row = users_db.login_attempt(session, client, window)
            assert row is not None
    row.attempts += 1
    return row.attempts


def _failure_row(session: Session, client: str, username: str, now: datetime) -> LoginFailure:
    row = users_db.login_failure(session, client, username)
    if row is not None:
        return row
    try:
        return users_db.add_login_failure(session, client, username, now)
    except IntegrityError:  # another process counted this pair's first failure at the same time
        row = users_db.login_failure(session, client, username)
        assert row is not None
        return row


def login(
    session: Session, username: str, password: str, *, client: str, policy: AuthPolicy, now: datetime
) -> LoginResult:
    """Check the password; on success open a session. See the module docstring on errors.

    Lockout counts failures per client *and* user name, whether the name exists or not: an
    unknown name locks exactly as an existing one does (a lock reveals nothing), and failures
    from one address never lock the owner out when they sign in from another."""
    attempts = _count_attempt(session, client, policy, now)
    if attempts > policy.login_attempts_per_minute:
        return _denied(session, username, "rate_limited", now, RateLimited(60 - now.second))
    failure = users_db.login_failure(session, client, username)
    if failure is not None and failure.locked_until is not None and failure.locked_until > now:
        retry_after_s = max(1, int((failure.locked_until - now).total_seconds()))
        return _denied(session, username, "locked", now, AccountLocked(retry_after_s))
    user = users_db.user_named(session, username)
    password_ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or user.disabled_at is not None:
        failure = failure or _failure_row(session, client, username, now)
        if failure.last_failed_at < now - policy.lockout:
            failure.failures = 0  # failures count within one lockout period, not forever
        failure.failures += 1
        failure.last_failed_at = now
        users_db.forget_stale_failures(session, username, now - policy.lockout)
        if failure.failures >= policy.lockout_threshold:
            failure.failures, failure.locked_until = 0, now + policy.lockout
        return _denied(session, username, "bad_credentials", now, InvalidCredentials("wrong user name or password"))
    if failure is not None:
        users_db.delete_login_failure(session, failure)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    token, csrf = secrets.token_urlsafe(TOKEN_BYTES), secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + policy.session_ttl
    users_db.add_login_session(
        session,
        LoginSession(
            digest=digest(token),
            user_id=user.id,
            csrf_token=csrf,
            purpose=None,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            revoked_at=None,
        ),
    )
    principal = _principal(user, "session", session_digest=digest(token))
    _audit(session, principal, "auth.login", {"user": username}, now)
    return LoginResult(NewSession(token, csrf, expires_at, principal), None)


def _denied(session: Session, username: str, reason: str, now: datetime, error: SecurityError) -> LoginResult:
    access_log.append(
        session,
        access_log.AccessRecord(
            actor=username[:64],
            actor_role="",
            via="session",
            action="auth.login",
            target={"user": username[:64], "reason": reason},
            outcome="denied",
        ),
        now,
    )
    return LoginResult(None, error)


def _principal(
    user: SecurityUser,
    via: str,
    *,
    session_digest: str | None = None,
    token_id: int | None = None,
    token_permissions: frozenset[Permission] | None = None,
    purpose: str | None = None,
) -> Principal:
    role = Role(user.role)
    permissions = ROLE_PERMISSIONS[role]
    if token_permissions is not None:
        permissions = permissions & token_permissions
    return Principal(user.id, user.username, role, permissions, via, session_digest, token_id, purpose)


def resolve_session(session: Session, token: str, policy: AuthPolicy, now: datetime) -> tuple[Principal, str]:
    """The principal of a session cookie and the session's CSRF token."""
    row = users_db.login_session(session, digest(token))
    idle = row is not None and row.last_seen_at + policy.session_idle <= now
    if row is None or row.revoked_at is not None or row.expires_at <= now or idle:
        raise InvalidCredentials("the session has ended", hint="sign in again")
    user = users_db.user_by_id(session, row.user_id)
    if user is None or user.disabled_at is not None:
        raise InvalidCredentials("the session has ended", hint="sign in again")
    row.last_seen_at = now
    return _principal(user, "session", session_digest=row.digest, purpose=row.purpose), row.csrf_token


def remember_purpose(session: Session, principal: Principal, purpose: str) -> None:
    if principal.session_digest is None:
        return
    row = users_db.login_session(session, principal.session_digest)
    if row is not None:
        row.purpose = purpose


def logout(session: Session, principal: Principal, now: datetime) -> None:
    if principal.session_digest is not None:
        row = users_db.login_session(session, principal.session_digest)
        if row is not None:
            row.revoked_at = now
    _audit(session, principal, "auth.logout", {"user": principal.username}, now)


def cli_principal(operator: str) -> Principal:
    """The principal of an operator at the command line: access to the server and its
    configuration is the credential, as for migrations and keys. Logged as ``operator``."""
    return Principal(0, operator[:64], Role.ADMIN, ROLE_PERMISSIONS[Role.ADMIN], "cli")


# --- API tokens --------------------------------------------------------------------------------


def create_token(
    session: Session,
    actor: Principal,
    *,
    username: str,
    name: str,
    permissions: list[str],
    ttl: timedelta,
    now: datetime,
) -> tuple[TokenView, str]:
    """A new token for ``username``; the plaintext is returned once and never stored."""
    user = _user(session, username)
    wanted = parse_permissions(permissions)
    allowed = ROLE_PERMISSIONS[Role(user.role)]
    if not wanted or not wanted <= allowed:
        raise InvalidInput(
            "a token's permissions must be a non-empty subset of its owner's role",
            hint=f"the {user.role} role allows: {', '.join(sorted(p.value for p in allowed)) or 'nothing'}",
        )
    if actor.via != "cli" and actor.user_id != user.id and not actor.can(Permission.USERS_ADMIN):
        raise PermissionDenied("only administrators create tokens for other users")
    if actor.user_id != user.id and wanted & CONTENT_PERMISSIONS:
        raise PermissionDenied(
            "nobody may create a token that reads chat content for another user",
            hint=f"{username} signs in and creates it: "
            f"{', '.join(sorted(p.value for p in wanted & CONTENT_PERMISSIONS))} only in their own tokens",
        )
    if actor.via == "token" and actor.user_id == user.id and not wanted <= actor.permissions:
        raise PermissionDenied("a token cannot create a token with more permissions than itself")
    if ttl <= timedelta(0) or ttl > timedelta(days=366):
        raise InvalidInput("a token expires after 1 second to 366 days")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token = users_db.add_token(
        session,
        ApiToken(
            user_id=user.id,
            name=name[:128],
            digest=digest(plaintext),
            prefix=plaintext[:10],
            permissions=sorted(p.value for p in wanted),
            created_at=now,
            expires_at=now + ttl,
            revoked_at=None,
            last_used_at=None,
        ),
    )
    _audit(session, actor, "admin.token.create", {"user": username, "token_id": token.id, "name": token.name}, now)
    return _token_view(token, username), plaintext


def _token_view(token: ApiToken, username: str) -> TokenView:
    return TokenView(
        token.id,
        username,
        token.name,
        token.prefix,
        list(token.permissions),
        token.created_at,
        token.expires_at,
        token.revoked_at,
        token.last_used_at,
    )


def list_tokens(session: Session, username: str | None = None) -> list[TokenView]:
    return [_token_view(token, name) for token, name in users_db.tokens_with_owners(session, username)]


def revoke_token(session: Session, actor: Principal, token_id: int, now: datetime) -> TokenView:
    token = users_db.token_by_id(session, token_id)
    if token is None or (
        actor.via != "cli" and token.user_id != actor.user_id and not actor.can(Permission.USERS_ADMIN)
    ):
        raise NotFound(f"no token {token_id}")
    token.revoked_at = token.revoked_at or now
    owner = users_db.user_by_id(session, token.user_id)
    username = owner.username if owner else "?"
    _audit(session, actor, "admin.token.revoke", {"user": username, "token_id": token_id}, now)
    return _token_view(token, username)


def resolve_token(session: Session, plaintext: str, now: datetime) -> Principal:
    token = users_db.token_by_digest(session, digest(plaintext))
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise InvalidCredentials("the API token is unknown, expired or revoked", hint="create a new token")
    user = users_db.user_by_id(session, token.user_id)
    if user is None or user.disabled_at is not None:
        raise InvalidCredentials("the API token's owner is disabled")
    token.last_used_at = now
    return _principal(user, "token", token_id=token.id, token_permissions=parse_permissions(token.permissions))
