"""The console's pages: every module listed in ``PAGE_MODULES`` is one page (or a few
closely related routes) and is registered by ``api.console.routes``.

A page module exposes:
- ``HANDLERS``: its Litestar route handlers, with paths relative to ``/console`` and the
  guard ``api.console.auth.signed_in(<permission>)``;
- optionally ``MESSAGES``: its texts, ``{"key": ("中文", "English")}`` (``api.console.i18n``).

Its templates live in ``api/console/templates/`` and extend ``base.html``. A menu entry
(``api.console.nav.NAV``) whose path no module serves yet shows a placeholder page.
"""

from __future__ import annotations

from types import ModuleType

from api.console import people
from api.console.pages import (
    access_log,
    alerts,
    conversation,
    groups,
    handover,
    media,
    overview,
    rules,
    search,
    session,
    settings,
    users,
)

PAGE_MODULES: list[ModuleType] = [
    people,  # no page: the texts of the names every page shows
    session,
    overview,
    search,
    conversation,
    media,
    alerts,
    groups,
    handover,
    rules,
    access_log,
    users,
    settings,
]
