"""The navigation of every console page, in menu order.

A page appears in the menu only for callers holding its permission. A menu entry with no
registered route serves a "not available yet" page (``api.console.pages.placeholders``)
until its page module is registered in ``api.console.pages.PAGE_MODULES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.security.principal import Principal
from audit.security.roles import Permission

CONSOLE_PATH = "/console"


@dataclass(frozen=True)
class NavItem:
    key: str  # also the message key "nav.<key>"
    path: str  # below /console
    permission: Permission | None  # None: every signed-in user

    @property
    def url(self) -> str:
        return f"{CONSOLE_PATH}{self.path}" if self.path != "/" else f"{CONSOLE_PATH}/"


NAV: tuple[NavItem, ...] = (
    NavItem("overview", "/", None),
    NavItem("search", "/search", Permission.CONTENT_READ),
    NavItem("alerts", "/alerts", Permission.ALERTS_READ),
    NavItem("groups", "/groups", Permission.MONITOR_READ),
    NavItem("handover", "/handover", Permission.HANDOVER_READ),
    NavItem("rules", "/rules", Permission.RULES_READ),
    NavItem("access_log", "/access-log", Permission.ACCESS_LOG_READ),
    NavItem("users", "/users", Permission.USERS_ADMIN),
    NavItem("settings", "/settings", Permission.USERS_ADMIN),
)


def visible_nav(principal: Principal) -> list[NavItem]:
    return [item for item in NAV if item.permission is None or principal.can(item.permission)]
