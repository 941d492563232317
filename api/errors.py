"""The one mapping from errors to HTTP responses: RFC 9457 problem details.

Domain errors know nothing about HTTP; this module decides their status once. Details
carry the error's own message (which never holds secrets or chat content), a hint, the
request id, and typed extras (``position`` of a query syntax error, ``retry_after_s``).
Unexpected errors become a bare 500 with the request id: the traceback goes to the log,
never to the client.
"""

from __future__ import annotations

import traceback
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from archive.corps import NoCorpError
from archive.errors import ArchiveError
from archive.integrity.errors import CheckpointFileError
from archive.retention.errors import InvalidRetentionRuleError, RetentionError, RetentionNotFoundError
from archive.wecom.callback_crypto import CallbackRejected
from archive.wecom.errors import WeComConfigurationError, WeComRejectedError
from audit.alerts.errors import TransitionRefusedError
from audit.errors import Conflict, InvalidInput, NotFound
from audit.review.errors import AssigneeRefusedError
from audit.security import errors as security
from config.logs import get_logger
from config.settings import ConfigError
from search.errors import InvalidCursorError, NameResolutionError, QuerySyntaxError, SearchBackendError

log = get_logger("api.errors")

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first matching class wins. Every audit error is one of the
# generic kinds (``audit.errors``) or a security error; a subclass is listed only where its
# title differs from its kind's.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int, str], ...] = (
    (security.AuthenticationRequired, 401, "Authentication required"),
    (security.InvalidCredentials, 401, "Invalid credentials"),
    (security.AccountLocked, 423, "Account locked"),
    (security.RateLimited, 429, "Too many requests"),
    (security.CsrfFailed, 403, "CSRF check failed"),
    (security.PermissionDenied, 403, "Permission denied"),
    (security.OutOfScope, 403, "Outside your data scope"),
    (security.PurposeRequired, 428, "Purpose required"),
    (AssigneeRefusedError, 400, "Invalid assignee"),
    (TransitionRefusedError, 409, "Not allowed in this state"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (InvalidInput, 400, "Invalid input"),
    (NoCorpError, 400, "Invalid input"),
    (RetentionNotFoundError, 404, "Not found"),
    (InvalidRetentionRuleError, 400, "Invalid input"),
    (RetentionError, 409, "Conflict"),  # locked, or a change that needs a reason
    (CheckpointFileError, 503, "Checkpoint file unavailable"),
    (NameResolutionError, 400, "Unknown or ambiguous name"),
    (QuerySyntaxError, 400, "Query syntax error"),
    (InvalidCursorError, 400, "Invalid cursor"),
    (SearchBackendError, 503, "Search unavailable"),
    (CallbackRejected, 400, "Callback rejected"),
    (ConfigError, 503, "Not configured"),
    (WeComConfigurationError, 503, "WeCom is not configured for this"),
    (WeComRejectedError, 502, "WeCom refused the request"),
)


def _code(error: Exception) -> str:
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return code
    name = type(error).__name__.removesuffix("Error")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def problem(
    request: Request[Any, Any, Any], status: int, title: str, detail: str, code: str, **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"urn:wecom-audit:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request.scope.get("state", {}).get("request_id"),
        **{key: value for key, value in extra.items() if value not in (None, "")},
    }
    headers = {}
    if "retry_after_s" in extra:
        headers["Retry-After"] = str(extra["retry_after_s"])
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_problem(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    for error_type, status, title in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            detail = error.message if isinstance(error, QuerySyntaxError) else str(error)
            if isinstance(error, ArchiveError) and error.args:  # its str() appends the hint
                detail = str(error.args[0])
            extra: dict[str, Any] = {"hint": getattr(error, "hint", None)}
            if isinstance(error, QuerySyntaxError):
                extra["position"] = error.position
            if isinstance(error, NameResolutionError):  # what the name could mean, to pick from
                extra["field"], extra["value"] = error.field, error.value
                extra["candidates"] = [
                    {"kind": c.kind, "id": c.id, "name": c.name, "detail": c.detail, "corp_id": c.corp_id}
                    for c in error.candidates
                ]
            if isinstance(error, security.AccountLocked | security.RateLimited):
                extra["retry_after_s"] = error.retry_after_s
            if isinstance(error, CallbackRejected):
                detail = "the callback request was refused"  # never say which check failed
            return problem(request, status, title, detail, _code(error), **extra)
    if isinstance(error, ArchiveError) and error.retryable:
        return problem(request, 503, "Temporarily unavailable", str(error), error.code, hint=error.hint)
    return internal_error(request, error)


def http_problem(request: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(error, ValidationException):
        # Field names and messages only: the rejected values may be passwords or queries.
        errors = [
            {"key": item.get("key"), "message": item.get("message"), "source": item.get("source")}
            for item in (error.extra if isinstance(error.extra, list) else [])
            if isinstance(item, dict)
        ]
        return problem(
            request,
            400,
            "Invalid request",
            "the request does not match the API",
            "invalid_request",
            errors=errors or None,
        )
    status = error.status_code
    if status >= 500:
        return internal_error(request, error)
    title = {404: "Not found", 405: "Method not allowed", 401: "Authentication required", 403: "Forbidden"}.get(
        status, "Bad request"
    )
    return problem(request, status, title, str(error.detail), title.lower().replace(" ", "_"))


def internal_error(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.error(
        "api.request.failed",
        error_type=type(error).__name__,
        path=request.url.path,
        request_id=request.scope.get("state", {}).get("request_id"),
        # Frames only: an exception's message may quote SQL parameters, i.e. chat content.
        traceback="".join(traceback.format_tb(error.__traceback__)),
    )
    return problem(
        request, 500, "Internal error", "the server failed; the request id identifies it in the logs", "internal_error"
    )


def exception_handlers() -> ExceptionHandlersMap:
    return {HTTPException: http_problem, Exception: domain_problem}
