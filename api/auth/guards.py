"""Who is calling, and may they? Resolved once per request and cached on its state.

- ``Authorization: Bearer <token>`` authenticates an API token (no CSRF: a browser never
  sends it by itself).
- The ``wecom_audit_session`` cookie authenticates a console session. Unsafe methods with a
  cookie session must echo the session's CSRF token in ``X-CSRF-Token`` (the console reads
  it from the login response or the ``wecom_audit_csrf`` cookie).
- Guards raise domain errors; ``api.errors`` turns them into 401/403 problems.
- The console (``api.console.auth``, ``pages/session.py``) signs in, resolves its cookie,
  sets and clears the cookies and checks CSRF with the same functions as the JSON API
  (``sign_in``, ``resolve_session``, ``session_cookies``, ``signed_out_cookies``,
  ``csrf_matches``).
- Authentication runs before the request's ``db`` session exists: it has its own unit of
  work (``api.unit_of_work.transaction``), committed before the handler runs (a session's
  last use, a token's last use and a failed login's counters stay whatever follows).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from anyio import to_thread
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler

from api import unit_of_work
from api.context import AppContext
from archive.clock import utcnow
from audit.security import service as security
from audit.security.errors import AuthenticationRequired, CsrfFailed
from audit.security.principal import Principal
from audit.security.roles import Permission
from config.settings import AuthSettings

SESSION_COOKIE = "wecom_audit_session"
CSRF_COOKIE = "wecom_audit_csrf"
CSRF_HEADER = "x-csrf-token"
PURPOSE_HEADER = "x-access-purpose"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PRINCIPAL = "principal"

Connection = ASGIConnection[Any, Any, Any, Any]


def policy_of(settings: AuthSettings) -> security.AuthPolicy:
    return security.AuthPolicy(
        session_ttl=timedelta(seconds=settings.session_ttl_s),
        session_idle=timedelta(seconds=settings.session_idle_s),
        lockout_threshold=settings.lockout_threshold,
        lockout=timedelta(seconds=settings.lockout_s),
        login_attempts_per_minute=settings.login_attempts_per_minute,
        token_default_ttl=timedelta(days=settings.token_default_ttl_days),
    )


def context_of(connection: Connection) -> AppContext:
    context: AppContext = connection.app.state["context"]
    return context


def request_id_of(connection: Connection) -> str | None:
    value = connection.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def is_tls(connection: Connection, settings: AuthSettings) -> bool:
    if settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    if settings.trust_proxy_headers:
        forwarded = connection.headers.get("x-forwarded-proto", "")
        if forwarded:
            return forwarded.split(",")[0].strip().lower() == "https"
    return connection.url.scheme == "https"


def client_address(connection: Connection, settings: AuthSettings) -> str:
    if settings.trust_proxy_headers:
        forwarded = connection.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:128]
    return (connection.client.host if connection.client else "unknown")[:128]


def sign_in(connection: Connection, username: str, password: str, now: datetime) -> security.LoginResult:
    """Check a password and open a session (API and console login alike: same lockout, rate
    limit and log rows). Commits before returning, so a failure's counters and row stay."""
    context = context_of(connection)
    settings = context.settings.auth
    with unit_of_work.transaction(context) as session:
        return security.login(
            session,
            username[:64],
            password[:1024],
            client=client_address(connection, settings),
            policy=policy_of(settings),
            now=now,
        )


def session_cookies(connection: Connection, opened: security.NewSession, now: datetime) -> list[Cookie]:
    """The cookies of a new session (API login and console login alike): the session token
    (HttpOnly) and its CSRF token (readable by the page's script), same lifetime and flags."""
    settings = context_of(connection).settings.auth
    samesite: Any = "strict" if settings.cookie_samesite.lower() == "strict" else "lax"
    flags: dict[str, Any] = {
        "max_age": int((opened.expires_at - now).total_seconds()),
        "secure": is_tls(connection, settings),
        "samesite": samesite,
        "path": "/",
    }
    return [
        Cookie(key=SESSION_COOKIE, value=opened.token, httponly=True, **flags),
        Cookie(key=CSRF_COOKIE, value=opened.csrf_token, httponly=False, **flags),
    ]


def signed_out_cookies() -> list[Cookie]:
    """Cookies that make the browser forget the session (on sign-out)."""
    return [
        Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/"),
        Cookie(key=CSRF_COOKIE, value="", max_age=0, path="/"),
    ]


def csrf_matches(sent: str | None, expected: str) -> bool:
    """Whether the CSRF token sent with an unsafe request is the session's (constant time)."""
    return bool(sent) and hmac.compare_digest((sent or "").encode(), expected.encode())


def for_request(principal: Principal, connection: Connection) -> Principal:
    """The resolved principal carrying this request's id (access-log rows name the request)."""
    return replace(principal, request_id=request_id_of(connection))


def resolve_session(connection: Connection, cookie: str, sent_csrf: str | None, refusal: CsrfFailed) -> Principal:
    """The principal of a session cookie (API and console alike). An unsafe request must
    carry the session's CSRF token (``sent_csrf``), else ``refusal`` is raised and the
    session is not touched (a forged request does not keep it alive)."""
    context = context_of(connection)
    with unit_of_work.transaction(context) as session:
        principal, csrf_token = security.resolve_session(session, cookie, policy_of(context.settings.auth), utcnow())
        if connection.scope.get("method", "GET") not in SAFE_METHODS and not csrf_matches(sent_csrf, csrf_token):
            raise refusal
    return for_request(principal, connection)


def _resolve_token(connection: Connection, plaintext: str) -> Principal:
    with unit_of_work.transaction(context_of(connection)) as session:
        return security.resolve_token(session, plaintext, utcnow())


def _resolve(connection: Connection) -> Principal | None:
    authorization = connection.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return for_request(_resolve_token(connection, credentials.strip()), connection)
    if authorization:
        raise AuthenticationRequired("only Bearer tokens are accepted in the Authorization header")
    cookie = connection.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    refusal = CsrfFailed(
        "this request needs the session's CSRF token",
        hint="send the csrf_token from the login response in the X-CSRF-Token header",
    )
    return resolve_session(connection, cookie, connection.headers.get(CSRF_HEADER), refusal)


async def authenticate(connection: Connection) -> Principal | None:
    state = connection.scope.setdefault("state", {})
    if _PRINCIPAL not in state:
        state[_PRINCIPAL] = await to_thread.run_sync(_resolve, connection)
    principal: Principal | None = state[_PRINCIPAL]
    return principal


def requires(permission: Permission | None = None) -> Any:
    """A guard: the caller is signed in and (if given) holds ``permission``."""

    async def guard(connection: Connection, _: BaseRouteHandler) -> None:
        principal = await authenticate(connection)
        if principal is None:
            raise AuthenticationRequired(
                "sign in first", hint="POST /api/v1/auth/login, or send an API token as 'Authorization: Bearer …'"
            )
        if permission is not None:
            principal.require(permission)

    guard.__name__ = f"requires_{permission.value.replace(':', '_') if permission else 'login'}"
    return guard


async def metrics_scraper(connection: Connection, _: BaseRouteHandler) -> None:
    """A guard for /metrics: the scrape token of ``api.metrics_token`` (not a user's token:
    the scraper is no person), unless ``api.public_metrics`` opens it."""
    settings = context_of(connection).settings.api
    if settings.public_metrics:
        return
    expected = settings.metrics_token.get_secret_value()
    supplied = connection.headers.get("authorization", "")
    if expected and hmac.compare_digest(supplied.encode(), f"Bearer {expected}".encode()):
        return
    raise AuthenticationRequired(
        "/metrics needs the scrape token",
        hint="send 'Authorization: Bearer <token>' with the token set in WECOM_AUDIT_API__METRICS_TOKEN",
    )


def principal_of(connection: Connection) -> Principal:
    """The principal a guard has authenticated (every route using this has one)."""
    principal = connection.scope.get("state", {}).get(_PRINCIPAL)
    if not isinstance(principal, Principal):
        raise AuthenticationRequired("sign in first")
    return principal


def purpose_of(connection: Connection) -> str | None:
    """The purpose header, percent-decoded (HTTP headers are Latin-1; case references are not)."""
    value = connection.headers.get(PURPOSE_HEADER)
    return unquote(value).strip() or None if value else None
