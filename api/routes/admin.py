"""Users, roles, data scopes, protected people, conversation grants and API tokens.
Every change is written to the access log by the services (``admin.*``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import Request, delete, get, patch, post, put
from litestar.params import JSONBody, PathParameter

from api.auth.guards import context_of, principal_of, requires
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
from archive.clock import utcnow
from audit.security import scope as scopes
from audit.security import service as security
from audit.security.roles import ROLE_PERMISSIONS, Permission
from config.database import session_scope

ADMIN = [requires(Permission.USERS_ADMIN)]
UserName = Annotated[str, PathParameter(min_length=1, max_length=64)]
CorpIdParam = Annotated[str, PathParameter(min_length=1, max_length=64)]
UserIdParam = Annotated[str, PathParameter(min_length=1, max_length=128)]


def user_out(view: security.UserView) -> UserOut:
    return UserOut(**view.__dict__)


def token_out(view: security.TokenView) -> TokenOut:
    return TokenOut(**view.__dict__)


@get("/api/v1/roles", guards=[requires()], sync_to_thread=False)
def list_roles() -> list[RoleOut]:
    return [RoleOut(role.value, sorted(p.value for p in permissions)) for role, permissions in ROLE_PERMISSIONS.items()]


@get("/api/v1/users", guards=ADMIN, sync_to_thread=True)
def list_users(request: Request[Any, Any, Any]) -> list[UserOut]:
    with session_scope(context_of(request).session_factory) as session:
        return [user_out(view) for view in security.list_users(session)]


@post("/api/v1/users", guards=ADMIN, sync_to_thread=True)
def create_user(request: Request[Any, Any, Any], data: JSONBody[UserCreate]) -> UserOut:
    with session_scope(context_of(request).session_factory) as session:
        view = security.create_user(
            session,
            principal_of(request),
            username=data.username,
            password=data.password,
            role=data.role,
            display_name=data.display_name,
            scope_all=data.scope_all,
            departments=list(data.departments),
            now=utcnow(),
        )
    return user_out(view)


@get("/api/v1/users/{username:str}", guards=ADMIN, sync_to_thread=True)
def get_user(request: Request[Any, Any, Any], username: UserName) -> UserOut:
    with session_scope(context_of(request).session_factory) as session:
        return user_out(security.get_user(session, username))


@patch("/api/v1/users/{username:str}", guards=ADMIN, sync_to_thread=True)
def update_user(request: Request[Any, Any, Any], username: UserName, data: JSONBody[UserUpdate]) -> UserOut:
    with session_scope(context_of(request).session_factory) as session:
        view = security.update_user(
            session,
            principal_of(request),
            username,
            role=data.role,
            scope_all=data.scope_all,
            departments=None if data.departments is None else list(data.departments),
            now=utcnow(),
        )
    return user_out(view)


@post("/api/v1/users/{username:str}/disable", guards=ADMIN, sync_to_thread=True, status_code=200)
def disable_user(request: Request[Any, Any, Any], username: UserName) -> UserOut:
    with session_scope(context_of(request).session_factory) as session:
        return user_out(security.disable_user(session, principal_of(request), username, utcnow()))


@put("/api/v1/users/{username:str}/password", guards=ADMIN, sync_to_thread=True)
def set_password(request: Request[Any, Any, Any], username: UserName, data: JSONBody[PasswordChange]) -> UserOut:
    with session_scope(context_of(request).session_factory) as session:
        security.set_password(session, principal_of(request), username, data.password, utcnow())
        return user_out(security.get_user(session, username))


@post("/api/v1/users/{username:str}/grants", guards=ADMIN, sync_to_thread=True, status_code=200)
def grant(request: Request[Any, Any, Any], username: UserName, data: JSONBody[GrantRequest]) -> GrantResult:
    """Let a user read specific conversations beyond their department scope."""
    principal = principal_of(request)
    with session_scope(context_of(request).session_factory) as session:
        user = security.get_user(session, username)
        granted = scopes.grant_conversations(
            session, user.id, data.conversation_ids, data.reason, principal.username, now=utcnow(), actor=principal
        )
    return GrantResult(granted)


@get("/api/v1/users/{username:str}/grants", guards=ADMIN, sync_to_thread=True, operation_id="ListGrants")
def list_grants(request: Request[Any, Any, Any], username: UserName) -> list[GrantOut]:
    """The conversations a user may read beyond their department scope, and why."""
    with session_scope(context_of(request).session_factory) as session:
        user = security.get_user(session, username)
        return [GrantOut(**view.__dict__) for view in scopes.list_grants(session, user.id)]


@delete("/api/v1/users/{username:str}/grants/{conversation_id:int}", guards=ADMIN, sync_to_thread=True, status_code=200)
def revoke_grant(request: Request[Any, Any, Any], username: UserName, conversation_id: PathId) -> list[GrantOut]:
    """Take one conversation grant away; returns the user's remaining grants."""
    with session_scope(context_of(request).session_factory) as session:
        user = security.get_user(session, username)
        scopes.revoke_grant(session, principal_of(request), user.id, conversation_id, utcnow())
        return [GrantOut(**view.__dict__) for view in scopes.list_grants(session, user.id)]


@get("/api/v1/protected-people", guards=ADMIN, sync_to_thread=True)
def list_protected(request: Request[Any, Any, Any]) -> list[ProtectedPersonOut]:
    """Protected members and the officers named to open their chats."""
    with session_scope(context_of(request).session_factory) as session:
        return [ProtectedPersonOut(**view.__dict__) for view in scopes.list_protected(session)]


@delete(
    "/api/v1/protected-people/{corp_id:str}/{userid:str}",
    guards=ADMIN,
    sync_to_thread=True,
    status_code=200,
    operation_id="UnprotectPerson",
)
def unprotect(request: Request[Any, Any, Any], corp_id: CorpIdParam, userid: UserIdParam) -> list[ProtectedPersonOut]:
    """Lift a member's protection; returns the remaining protected people."""
    with session_scope(context_of(request).session_factory) as session:
        scopes.unprotect_person(session, principal_of(request), corp_id=corp_id, userid=userid, now=utcnow())
        return [ProtectedPersonOut(**view.__dict__) for view in scopes.list_protected(session)]


@put("/api/v1/protected-people/{corp_id:str}/{userid:str}", guards=ADMIN, sync_to_thread=True)
def protect(
    request: Request[Any, Any, Any], corp_id: CorpIdParam, userid: UserIdParam, data: JSONBody[ProtectRequest]
) -> ProtectedOut:
    """Protect a member: only the named officers may open their chats."""
    with session_scope(context_of(request).session_factory) as session:
        scopes.protect_person(
            session,
            principal_of(request),
            corp_id=corp_id,
            userid=userid,
            reason=data.reason,
            officers=data.officers,
            now=utcnow(),
        )
    return ProtectedOut(corp_id, userid, sorted(set(data.officers)))


@get("/api/v1/tokens", guards=[requires()], sync_to_thread=True)
def list_tokens(request: Request[Any, Any, Any]) -> list[TokenOut]:
    """Your tokens (administrators: everyone's). Secrets are never shown again."""
    principal = principal_of(request)
    owner = None if principal.can(Permission.USERS_ADMIN) else principal.username
    with session_scope(context_of(request).session_factory) as session:
        return [token_out(view) for view in security.list_tokens(session, owner)]


@post("/api/v1/tokens", guards=[requires()], sync_to_thread=True)
def create_token(request: Request[Any, Any, Any], data: JSONBody[TokenCreate]) -> TokenCreated:
    """A new API token; its secret is in this response only."""
    context, principal = context_of(request), principal_of(request)
    days = data.ttl_days if data.ttl_days is not None else context.settings.auth.token_default_ttl_days
    with session_scope(context.session_factory) as session:
        view, secret = security.create_token(
            session,
            principal,
            username=data.username or principal.username,
            name=data.name,
            permissions=data.permissions,
            ttl=timedelta(days=days),
            now=utcnow(),
        )
    return TokenCreated(token_out(view), secret)


@delete("/api/v1/tokens/{token_id:int}", guards=[requires()], sync_to_thread=True, status_code=200)
def revoke_token(request: Request[Any, Any, Any], token_id: PathId) -> TokenOut:
    with session_scope(context_of(request).session_factory) as session:
        return token_out(security.revoke_token(session, principal_of(request), token_id, utcnow()))
