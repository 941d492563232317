"""Per-request plumbing as one ASGI middleware: request ids, security headers, latency
metrics and one structured log line per request.

The log line has the method, the route *template* (``/api/v1/messages/{message_id:int}``),
status, duration, request id and the caller's user name — never the query string or a
body, which may hold search terms, passwords or tokens.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import ApiMetrics
from config.logs import get_logger

log = get_logger("api.request")

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
# Static documentation and console assets may be cached; everything else may hold content and is not.
CACHEABLE_PREFIX = ("/api/docs/assets/", "/console/static/")


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


def request_middleware(metrics: ApiMetrics) -> Any:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            request_id = request_id_from(scope)
            scope.setdefault("state", {})["request_id"] = request_id
            started = time.perf_counter()
            status = 500

            async def send_with_headers(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower() not in {REQUEST_ID_HEADER, b"cache-control"}
                        or (name.lower() == b"cache-control" and scope["path"].startswith(CACHEABLE_PREFIX))
                    ]
                    headers.append((REQUEST_ID_HEADER, request_id.encode()))
                    headers.extend(SECURITY_HEADERS)
                    if not scope["path"].startswith(CACHEABLE_PREFIX):
                        headers.append((b"cache-control", b"no-store"))
                    message["headers"] = headers
                await send(message)

            try:
                await app(scope, receive, send_with_headers)
            finally:
                elapsed_s = time.perf_counter() - started
                route = str(scope.get("path_template") or "unmatched")
                method = str(scope.get("method", "-"))
                metrics.observe_request(method, route, status, elapsed_s)
                principal = scope.get("state", {}).get("principal")
                log.info(
                    "api.request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed_s * 1000, 1),
                    request_id=request_id,
                    user=getattr(principal, "username", None),
                )

        return middleware

    return factory
