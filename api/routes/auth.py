"""Sign in and out, who am I, and the purpose remembered for the session."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from litestar import Request, Response, get, post, put
from litestar.params import JSONBody

from api.auth.guards import (
    principal_of,
    requires,
    session_cookies,
    sign_in,
    signed_out_cookies,
)
from api.schemas import Health, LoginRequest, PurposeRequest, SessionView
from api.unit_of_work import Db
from archive.clock import utcnow
from audit.access.gate import clean_purpose
from audit.errors import InvalidInput
from audit.security import service as security
from audit.security.errors import CsrfFailed
from audit.security.principal import Principal
from audit.security.roles import Permission


def _view(principal: Principal, **extra: Any) -> SessionView:
    return SessionView(
        principal.username,
        principal.role.value,
        sorted(p.value for p in principal.permissions),
        principal.via,
        principal.purpose,
        **extra,
    )


@post("/api/v1/auth/login", sync_to_thread=True, status_code=200)
def login(request: Request[Any, Any, Any], data: JSONBody[LoginRequest]) -> Response[SessionView]:
    """Sign in with a user name and password; sets the session cookie (HttpOnly, SameSite).

    The body must be sent as ``application/json``: a form on another site can post only
    form or plain-text bodies without a CORS preflight, so it cannot sign a browser in to
    an account of its choosing (login CSRF)."""
    if request.content_type[0] != "application/json":
        raise CsrfFailed(
            "a login must be sent as application/json", hint="send the JSON body with Content-Type: application/json"
        )
    now = utcnow()
    result = sign_in(request, data.username, data.password, now)
    if result.error is not None:
        raise result.error  # after the commit: lockout counters and the log row stay
    assert result.session is not None
    cookies = session_cookies(request, result.session, now)
    view = _view(result.session.principal, csrf_token=result.session.csrf_token, expires_at=result.session.expires_at)
    return Response(view, cookies=cookies)


@post("/api/v1/auth/logout", guards=[requires()], sync_to_thread=True, status_code=200)
def logout(request: Request[Any, Any, Any], db: Db) -> Response[Health]:
    """Sign out: the console session is revoked and its cookies cleared (a token stays
    valid: revoke it with DELETE /api/v1/tokens/{token_id}). Logged."""
    security.logout(db, principal_of(request), utcnow())
    return Response(
        Health(status="signed_out"),
        cookies=signed_out_cookies(),
    )


@get("/api/v1/auth/me", guards=[requires()], sync_to_thread=False)
def me(request: Request[Any, Any, Any]) -> SessionView:
    """Who is signed in: user, role, permissions, data scope and remembered purpose."""
    return _view(principal_of(request))


@put("/api/v1/auth/purpose", guards=[requires(Permission.CONTENT_READ)], sync_to_thread=True)
def set_purpose(request: Request[Any, Any, Any], db: Db, data: JSONBody[PurposeRequest]) -> SessionView:
    """Remember why you are reading chats (a case reference) for the rest of the session."""
    principal = principal_of(request)
    purpose = clean_purpose(data.purpose)
    if not purpose:
        raise InvalidInput("the purpose is empty", hint="give a case reference or a reason")
    if principal.session_digest is None:
        raise InvalidInput(
            "only sessions remember a purpose", hint="API tokens send X-Access-Purpose with each request"
        )
    security.remember_purpose(db, principal, purpose)
    return _view(replace(principal, purpose=purpose))


HANDLERS = [
    login,
    logout,
    me,
    set_purpose,
]
