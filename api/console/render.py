"""Rendering console pages: one Jinja2 environment over ``templates/``, autoescaped.

Every page gets the caller (``principal``), the menu for their permissions, the
translator ``t``, the language, the CSRF token (for the meta tag that ``console.js``
sends with htmx requests, and for the hidden field of plain forms), the user's time zone
and the ``format_time`` filter.

Jinja2 is used directly rather than through Litestar's app-level ``template_config`` so
that the console stays one self-contained router the app registers with one line.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request, Response
from litestar.datastructures import Cookie

from api.auth.guards import CSRF_COOKIE, context_of
from api.console.i18n import LANGUAGE_COOKIE, language_of, translator
from api.console.nav import CONSOLE_PATH, visible_nav
from audit.security.principal import Principal

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_PATH = f"{CONSOLE_PATH}/static"
TIMEZONE_COOKIE = "wecom_audit_tz"
HTML = "text/html; charset=utf-8"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,  # a typo in a template is an error in the tests, not a blank
    trim_blocks=True,
    lstrip_blocks=True,
)


def zone_of(request: Request[Any, Any, Any]) -> ZoneInfo:
    """The browser's zone (``console.js`` stores it in a cookie), else the configured one."""
    name = request.cookies.get(TIMEZONE_COOKIE)
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(context_of(request).settings.search.timezone)


def language(request: Request[Any, Any, Any]) -> str:
    return language_of(request.cookies.get(LANGUAGE_COOKIE))


def page_context(request: Request[Any, Any, Any], principal: Principal | None) -> dict[str, Any]:
    zone = zone_of(request)

    def format_time(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(zone).strftime(pattern) if moment is not None else ""

    return {
        "request_path": request.url.path,
        "principal": principal,
        "nav": visible_nav(principal) if principal is not None else [],
        "t": translator(language(request)),
        "lang": language(request),
        "csrf_token": request.cookies.get(CSRF_COOKIE, "") if principal is not None else "",
        "zone": zone.key,
        "format_time": format_time,
        "static": STATIC_PATH,
        "console": CONSOLE_PATH,
    }


def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    principal: Principal | None,
    status_code: int = 200,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> Response[str]:
    """A full page, or only its ``content`` block for an htmx request that targets it."""
    body = environment.get_template(template).render(**page_context(request, principal), **values)
    return Response(body, status_code=status_code, media_type=HTML, cookies=cookies, headers=headers)
