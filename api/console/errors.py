"""Console errors as HTML: the same status decisions as the API (``api.errors``), shown
as a page in the user's language. No session → the login page; no purpose → the purpose
prompt; both come back to the page that was asked for. An htmx request is redirected with
``HX-Redirect`` (htmx would otherwise swap the login page into a fragment)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from api.console.i18n import translator
from api.console.nav import CONSOLE_PATH
from api.console.render import language, render
from api.errors import STATUS_BY_ERROR, internal_error
from archive.errors import ArchiveError
from audit.errors import Conflict, InvalidInput, NotFound
from audit.security import errors as security
from audit.security.passwords import MIN_PASSWORD_LENGTH
from audit.security.principal import Principal

# Errors whose own message is written for the user (never holds content or secrets).
_SHOWN_DETAIL = (InvalidInput, NotFound, Conflict, security.OutOfScope)


def safe_next(target: str | None) -> str:
    """Only a console path: never an open redirect to another site."""
    if not target or "\\" in target or target.startswith("//"):
        return f"{CONSOLE_PATH}/"
    if target == CONSOLE_PATH or target.startswith((f"{CONSOLE_PATH}/", f"{CONSOLE_PATH}?")):
        return target
    return f"{CONSOLE_PATH}/"


def _here(request: Request[Any, Any, Any]) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _redirect(request: Request[Any, Any, Any], to: str) -> Response[Any]:
    if request.headers.get("hx-request"):
        return Response("", status_code=200, headers={"HX-Redirect": to})
    return Redirect(to, status_code=303)


def _principal(request: Request[Any, Any, Any]) -> Principal | None:
    principal = request.scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else None


def error_page(
    request: Request[Any, Any, Any], status: int, detail: str | None = None, hint: str | None = None
) -> Response[Any]:
    return render(
        request,
        "error.html",
        principal=_principal(request),
        status_code=status,
        status=status,
        detail=detail,
        hint=hint,
        request_id=request.scope.get("state", {}).get("request_id"),
    )


def console_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    back = quote(_here(request) if request.method == "GET" else request.headers.get("hx-current-url", ""), safe="/?=&")
    if isinstance(error, security.AuthenticationRequired | security.InvalidCredentials):
        return _redirect(request, f"{CONSOLE_PATH}/login?next={back}")
    if isinstance(error, security.PurposeRequired):
        return _redirect(request, f"{CONSOLE_PATH}/purpose?next={back}")
    if isinstance(error, ValidationException):
        return error_page(request, 400)
    if isinstance(error, security.WeakPassword):  # said in the user's language, not the domain's English
        return error_page(
            request, 400, translator(language(request))(f"password.{error.reason}", length=MIN_PASSWORD_LENGTH)
        )
    if isinstance(error, HTTPException):
        return error_page(request, error.status_code) if error.status_code < 500 else _internal(request, error)
    for error_type, status, _title in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            shown = isinstance(error, _SHOWN_DETAIL)
            return error_page(request, status, str(error) if shown else None, getattr(error, "hint", None))
    if isinstance(error, ArchiveError) and error.retryable:
        return error_page(request, 503, str(error), error.hint)
    return _internal(request, error)


def _internal(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    internal_error(request, error)  # logs the frames (never the message) with the request id
    return error_page(request, 500)


def console_exception_handlers() -> ExceptionHandlersMap:
    return {Exception: console_error}
