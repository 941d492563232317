"""Signing in and out, the purpose prompt and the language switch.

Sign-in opens the same session as ``POST /api/v1/auth/login`` (same cookies, same lockout
and rate limits, same log rows); the purpose is remembered for the session exactly as
``PUT /api/v1/auth/purpose`` does, and is asked for before the first content read.

The login form is protected against login CSRF (another site signing the browser in to an
account of its choosing) by a double-submitted token: the login page sets it in a
SameSite=Strict cookie and in the form, and a sign-in whose two copies differ (a form
posted from elsewhere carries no such cookie) is refused before the password is checked.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from api.auth.guards import context_of, csrf_matches, is_tls, session_cookies, sign_in, signed_out_cookies
from api.console.auth import principal_of, signed_in
from api.console.errors import safe_next
from api.console.i18n import LANGUAGE_COOKIE, LANGUAGES
from api.console.nav import CONSOLE_PATH
from api.console.pages.formdata import FORM_BODY, CsrfForm
from api.console.render import render
from api.unit_of_work import Db
from archive.clock import utcnow
from audit.access.gate import clean_purpose
from audit.errors import InvalidInput
from audit.security import service as security
from audit.security.errors import AccountLocked, RateLimited
from audit.security.roles import Permission

LANGUAGE_COOKIE_MAX_AGE_S = 365 * 24 * 3600
LOGIN_CSRF_COOKIE = "wecom_audit_login_csrf"
LOGIN_CSRF_MAX_AGE_S = 3600
LOGIN_CSRF_BYTES = 32


class LoginForm(msgspec.Struct):
    username: str = ""
    password: str = ""
    next: str = ""
    csrf_token: str = ""


def _login_page(
    request: Request[Any, Any, Any],
    *,
    next_page: str,
    status_code: int = 200,
    error: tuple[str, dict[str, Any]] | None = None,
    username: str = "",
) -> Response[str]:
    """The login form with a fresh login-CSRF token (in the form and in its cookie)."""
    token = secrets.token_urlsafe(LOGIN_CSRF_BYTES)
    cookie = Cookie(
        key=LOGIN_CSRF_COOKIE,
        value=token,
        max_age=LOGIN_CSRF_MAX_AGE_S,
        path=CONSOLE_PATH,
        httponly=True,
        secure=is_tls(request, context_of(request).settings.auth),
        samesite="strict",
    )
    return render(
        request,
        "login.html",
        principal=None,
        status_code=status_code,
        cookies=[cookie],
        headers={"Cache-Control": "no-store"},
        next=next_page,
        error=error,
        username=username,
        login_csrf=token,
    )


class PurposeForm(msgspec.Struct):
    purpose: str = ""
    next: str = ""
    csrf_token: str = ""


@get("/login", sync_to_thread=False)
def login_page(request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Response[str]:
    return _login_page(request, next_page=safe_next(next))


@post("/login", sync_to_thread=True, status_code=303)
def login(request: Request[Any, Any, Any], data: Annotated[LoginForm, FORM_BODY]) -> Response[Any]:
    if not csrf_matches(data.csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE) or ""):
        # Not sent by our login page (or the page is stale): no password is checked.
        return _login_page(request, next_page=safe_next(data.next), status_code=403, error=("login.stale", {}))
    now = utcnow()
    result = sign_in(request, data.username.strip(), data.password, now)
    if result.error is not None:
        error = result.error
        if isinstance(error, AccountLocked):
            message: tuple[str, dict[str, Any]] = ("login.locked", {"seconds": error.retry_after_s})
        elif isinstance(error, RateLimited):
            message = ("login.throttled", {"seconds": error.retry_after_s})
        else:
            message = ("login.failed", {})
        status = 429 if isinstance(error, RateLimited) else 423 if isinstance(error, AccountLocked) else 401
        return _login_page(
            request, next_page=safe_next(data.next), status_code=status, error=message, username=data.username[:64]
        )
    assert result.session is not None
    return Redirect(
        safe_next(data.next),
        status_code=303,
        cookies=[
            *session_cookies(request, result.session, now),
            Cookie(key=LOGIN_CSRF_COOKIE, value="", max_age=0, path=CONSOLE_PATH),
        ],
    )


@post("/logout", guards=[signed_in()], sync_to_thread=True, status_code=303)
def logout(request: Request[Any, Any, Any], db: Db, data: Annotated[CsrfForm, FORM_BODY]) -> Response[Any]:
    security.logout(db, principal_of(request), utcnow())
    return Redirect(
        f"{CONSOLE_PATH}/login",
        status_code=303,
        cookies=signed_out_cookies(),
    )


@get("/purpose", guards=[signed_in(Permission.CONTENT_READ)], sync_to_thread=False)
def purpose_page(request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Response[str]:
    principal = principal_of(request)
    return render(
        request, "purpose.html", principal=principal, next=safe_next(next), error=None, purpose=principal.purpose or ""
    )


@post("/purpose", guards=[signed_in(Permission.CONTENT_READ)], sync_to_thread=True, status_code=303)
def set_purpose(request: Request[Any, Any, Any], db: Db, data: Annotated[PurposeForm, FORM_BODY]) -> Response[Any]:
    principal = principal_of(request)
    try:
        purpose, error = clean_purpose(data.purpose), "purpose.empty"
    except InvalidInput:
        purpose, error = "", "purpose.invalid"
    if not purpose:
        return render(
            request,
            "purpose.html",
            principal=principal,
            status_code=400,
            next=safe_next(data.next),
            error=error,
            purpose="",
        )
    security.remember_purpose(db, principal, purpose)
    return Redirect(safe_next(data.next), status_code=303)


@get("/language/{language:str}", sync_to_thread=False)
def set_language(
    request: Request[Any, Any, Any], language: FromPath[str], next: FromQuery[str | None] = None
) -> Response[Any]:
    """A preference of this browser (no session needed: the login page has the switch too)."""
    chosen = language if language in LANGUAGES else LANGUAGES[0]
    return Redirect(
        safe_next(next),
        status_code=303,
        cookies=[
            Cookie(key=LANGUAGE_COOKIE, value=chosen, max_age=LANGUAGE_COOKIE_MAX_AGE_S, path="/", samesite="lax")
        ],
    )


HANDLERS = [login_page, login, logout, purpose_page, set_purpose, set_language]
