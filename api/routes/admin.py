"""Users, roles, data scopes, protected people, conversation grants and API tokens.

Each route parses, calls the use case the console's users page and ``wecom-audit users``
call too (``audit.security.admin``, ``service``, ``scope``), and converts. Every change is
written to the access log by the use cases (``admin.*``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, patch, post, put
from litestar.params import JSONBody, PathParameter

from api.auth.guards import principal_of, requires
from api.pagination import PathId
from api.schemas import (
    GrantOut,
    GrantRequest,
    GrantResult,
    PasswordChange,
    ProtectedOut,
    ProtectedPersonOut,
    ProtectRequest,
    RoleOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from api.unit_of_work import Context, Db
from archive.clock import utcnow
from archive.corps import corp_in_question
from audit.handover.inheritance import apply_pending_inheritances
from audit.security import admin
from audit.security import scope as scopes
from audit.security import service as security
from audit.security.roles import ROLE_PERMISSIONS, Permission

ADMIN = [requires(Permission.USERS_ADMIN)]
UserName = Annotated[str, PathParameter(min_length=1, max_length=64)]
CorpIdParam = Annotated[str, PathParameter(min_length=1, max_length=64)]
UserIdParam = Annotated[str, PathParameter(min_length=1, max_length=128)]


def user_out(view: security.UserView) -> UserOut:
    return msgspec.convert(view, UserOut, from_attributes=True)


def token_out(view: security.TokenView) -> TokenOut:
    return msgspec.convert(view, TokenOut, from_attributes=True)


@get("/api/v1/roles", guards=[requires()], sync_to_thread=False)
def list_roles() -> list[RoleOut]:
    """Every role and the permissions it grants."""
    return [RoleOut(role.value, sorted(p.value for p in permissions)) for role, permissions in ROLE_PERMISSIONS.items()]


@get("/api/v1/users", guards=ADMIN, sync_to_thread=True)
def list_users(db: Db) -> list[UserOut]:
    """Every user account, with role, departments and state."""
    return [user_out(view) for view in security.list_users(db)]


@post("/api/v1/users", guards=ADMIN, sync_to_thread=True)
def create_user(request: Request[Any, Any, Any], db: Db, context: Context, data: JSONBody[UserCreate]) -> UserOut:
    """Create an account (also: the console's users page, `wecom-audit users add`). With
    ``wecom_userid`` it belongs to that WeCom member and is granted at once what the member
    inherited through handover cases."""
    member = (corp_in_question(db, context.settings, data.corp_id), data.wecom_userid) if data.wecom_userid else None
    added = admin.add_user(
        db,
        principal_of(request),
        username=data.username,
        password=data.password,
        role=data.role,
        display_name=data.display_name,
        scope_all=data.scope_all,
        departments=list(data.departments),
        wecom_member=member,
        inherit=apply_pending_inheritances,
        now=utcnow(),
    )
    return user_out(added.user)


@get("/api/v1/users/{username:str}", guards=ADMIN, sync_to_thread=True)
def get_user(db: Db, username: UserName) -> UserOut:
    """One user account."""
    return user_out(security.get_user(db, username))


@patch("/api/v1/users/{username:str}", guards=ADMIN, sync_to_thread=True)
def update_user(request: Request[Any, Any, Any], db: Db, username: UserName, data: JSONBody[UserUpdate]) -> UserOut:
    """Change a user's role, departments, display name or linked WeCom member (logged)."""
    view = security.update_user(
        db,
        principal_of(request),
        username,
        role=data.role,
        scope_all=data.scope_all,
        departments=None if data.departments is None else list(data.departments),
        now=utcnow(),
    )
    return user_out(view)


@post("/api/v1/users/{username:str}/disable", guards=ADMIN, sync_to_thread=True, status_code=200)
def disable_user(request: Request[Any, Any, Any], db: Db, username: UserName) -> UserOut:
    """Disable an account: its sessions and tokens stop working at once (logged)."""
    return user_out(security.disable_user(db, principal_of(request), username, utcnow()))


@put("/api/v1/users/{username:str}/password", guards=ADMIN, sync_to_thread=True)
def set_password(
    request: Request[Any, Any, Any], db: Db, username: UserName, data: JSONBody[PasswordChange]
) -> UserOut:
    """Reset a password: unlocks the account, ends its sessions and revokes its API tokens."""
    return user_out(security.set_password(db, principal_of(request), username, data.password, utcnow()))


@post("/api/v1/users/{username:str}/grants", guards=ADMIN, sync_to_thread=True, status_code=200)
def grant(request: Request[Any, Any, Any], db: Db, username: UserName, data: JSONBody[GrantRequest]) -> GrantResult:
    """Let a user read specific conversations beyond their department scope."""
    granted = admin.grant_conversations(
        db, principal_of(request), username, list(data.conversation_ids), data.reason, utcnow()
    )
    return GrantResult(granted)


@get("/api/v1/users/{username:str}/grants", guards=ADMIN, sync_to_thread=True, operation_id="ListGrants")
def list_grants(db: Db, username: UserName) -> list[GrantOut]:
    """The conversations a user may read beyond their department scope, and why."""
    return msgspec.convert(admin.grants_of(db, username), list[GrantOut], from_attributes=True)


@delete("/api/v1/users/{username:str}/grants/{conversation_id:int}", guards=ADMIN, sync_to_thread=True, status_code=200)
def revoke_grant(
    request: Request[Any, Any, Any], db: Db, username: UserName, conversation_id: PathId
) -> list[GrantOut]:
    """Take one conversation grant away; returns the user's remaining grants."""
    remaining = admin.revoke_grant(db, principal_of(request), username, conversation_id, utcnow())
    return msgspec.convert(remaining, list[GrantOut], from_attributes=True)


@get("/api/v1/protected-people", guards=ADMIN, sync_to_thread=True)
def list_protected(db: Db) -> list[ProtectedPersonOut]:
    """Protected members and the officers named to open their chats."""
    return msgspec.convert(scopes.list_protected(db), list[ProtectedPersonOut], from_attributes=True)


@delete(
    "/api/v1/protected-people/{corp_id:str}/{userid:str}",
    guards=ADMIN,
    sync_to_thread=True,
    status_code=200,
    operation_id="UnprotectPerson",
)
def unprotect(
    request: Request[Any, Any, Any], db: Db, corp_id: CorpIdParam, userid: UserIdParam
) -> list[ProtectedPersonOut]:
    """Lift a member's protection; returns the remaining protected people."""
    remaining = scopes.unprotect_person(db, principal_of(request), corp_id=corp_id, userid=userid, now=utcnow())
    return msgspec.convert(remaining, list[ProtectedPersonOut], from_attributes=True)


@put("/api/v1/protected-people/{corp_id:str}/{userid:str}", guards=ADMIN, sync_to_thread=True)
def protect(
    request: Request[Any, Any, Any],
    db: Db,
    corp_id: CorpIdParam,
    userid: UserIdParam,
    data: JSONBody[ProtectRequest],
) -> ProtectedOut:
    """Protect a member: only the named officers may open their chats."""
    view = scopes.protect_person(
        db,
        principal_of(request),
        corp_id=corp_id,
        userid=userid,
        reason=data.reason,
        officers=data.officers,
        now=utcnow(),
    )
    return msgspec.convert(view, ProtectedOut, from_attributes=True)


@get("/api/v1/tokens", guards=[requires()], sync_to_thread=True)
def list_tokens(request: Request[Any, Any, Any], db: Db) -> list[TokenOut]:
    """Your tokens (administrators: everyone's). Secrets are never shown again."""
    return [token_out(view) for view in admin.tokens_visible_to(db, principal_of(request))]


@post("/api/v1/tokens", guards=[requires()], sync_to_thread=True)
def create_token(
    request: Request[Any, Any, Any], db: Db, context: Context, data: JSONBody[TokenCreate]
) -> TokenCreated:
    """A new API token; its secret is in this response only."""
    principal = principal_of(request)
    days = data.ttl_days if data.ttl_days is not None else context.settings.auth.token_default_ttl_days
    view, secret = security.create_token(
        db,
        principal,
        username=data.username or principal.username,
        name=data.name,
        permissions=data.permissions,
        ttl=timedelta(days=days),
        now=utcnow(),
    )
    return TokenCreated(token_out(view), secret)


@delete("/api/v1/tokens/{token_id:int}", guards=[requires()], sync_to_thread=True, status_code=200)
def revoke_token(request: Request[Any, Any, Any], db: Db, token_id: PathId) -> TokenOut:
    """Revoke an API token (its own holder or an administrator; logged)."""
    return token_out(security.revoke_token(db, principal_of(request), token_id, utcnow()))


HANDLERS = [
    list_roles,
    list_users,
    create_user,
    get_user,
    update_user,
    disable_user,
    set_password,
    grant,
    protect,
    list_grants,
    revoke_grant,
    list_protected,
    unprotect,
    list_tokens,
    create_token,
    revoke_token,
]
