"""Who is using the console: the API's cookie session (``api.auth.guards``), with one
difference for plain HTML forms — their CSRF token may come in the ``csrf_token`` form
field instead of the ``X-CSRF-Token`` header (htmx requests send the header, from the
page's meta tag, through ``console.js``).

``signed_in(permission)`` is the guard of every console page: with no valid session the
console's error handler sends the browser to the login page.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth.guards import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    resolve_session,
)
from audit.security.errors import AuthenticationRequired, CsrfFailed
from audit.security.principal import Principal
from audit.security.roles import Permission

CSRF_FIELD = "csrf_token"
_PRINCIPAL = "principal"  # the same state key as api.auth.guards: request logs name the user

Connection = ASGIConnection[Any, Any, Any, Any]


def _resolve(connection: Connection, sent_csrf: str | None) -> Principal:
    cookie = connection.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise AuthenticationRequired("sign in first")
    if connection.headers.get("authorization"):
        raise AuthenticationRequired("the console uses its session cookie, not API tokens")
    refusal = CsrfFailed("this form is stale or was not sent by the console", hint="reload the page and try again")
    return resolve_session(connection, cookie, sent_csrf, refusal)


async def console_principal(connection: Connection) -> Principal:
    state = connection.scope.setdefault("state", {})
    cached = state.get(_PRINCIPAL)
    if isinstance(cached, Principal):
        return cached
    sent = connection.headers.get(CSRF_HEADER)
    if not sent and connection.scope.get("method", "GET") not in SAFE_METHODS and isinstance(connection, Request):
        form = await connection.form()  # cached by Litestar: the handler reads it again
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    principal = await to_thread.run_sync(_resolve, connection, sent)
    state[_PRINCIPAL] = principal
    return principal


def signed_in(permission: Permission | None = None) -> Any:
    """A guard: a console session (and, if given, ``permission``)."""

    async def guard(connection: Connection, _: BaseRouteHandler) -> None:
        principal = await console_principal(connection)
        if permission is not None:
            principal.require(permission)

    guard.__name__ = f"console_{permission.value.replace(':', '_') if permission else 'login'}"
    return guard


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("state", {}).get(_PRINCIPAL)
    if not isinstance(principal, Principal):
        raise AuthenticationRequired("sign in first")
    return principal
