"""A "not available yet" page for each menu entry no page module serves yet."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from api.console.auth import principal_of, signed_in
from api.console.nav import NavItem
from api.console.render import render


def placeholder(item: NavItem) -> HTTPRouteHandler:
    @get(item.path, guards=[signed_in(item.permission)], sync_to_thread=False, name=f"console-placeholder-{item.key}")
    def page(request: Request[Any, Any, Any]) -> Response[str]:
        return render(request, "placeholder.html", principal=principal_of(request), page=item.key)

    return page
