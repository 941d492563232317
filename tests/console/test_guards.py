"""Every console route is guarded, by the same permissions as the menu and the JSON API.

The API's permission matrix (tests/api/test_permissions.py) covers ``/api``; the console's
routes are enumerated here from the app itself, so a new page without a guard fails. Then
each role opens every page that needs no record id over HTTP: allowed roles get the page
(or the purpose prompt first, for chat content), the others the 403 page, and nobody
signed out gets anything but the way to the login page. No browser is needed for that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.console.nav import NAV
from api.context import AppContext
from archive.clock import utcnow
from audit.security import service as security
from audit.security.roles import ROLE_PERMISSIONS, Permission, Role
from config.database import session_scope
from config.settings import DatabaseSettings, Settings

PASSWORD = "correct horse battery staple"
# Open to anyone: the login form, the language switch, static assets, the 404 page and
# the redirect from / to the console.
PUBLIC = {
    ("GET", "/"),
    ("GET", "/console/login"),
    ("POST", "/console/login"),
    ("GET", "/console/language/{language:str}"),
    ("GET", "/console/static/{file_path:path}"),
    ("HEAD", "/console/static/{file_path:path}"),
    ("GET", "/console/{rest:path}"),
}
SIGNED_IN_ONLY = "console_login"
# Pages that need a record named in the query string (they answer 400 without one).
NEEDS_QUERY = {"/console/rules/edit"}


def console_routes(app: Litestar) -> dict[tuple[str, str], list[str]]:
    """(method, path) → the names of its guards, for every console route."""
    routes: dict[tuple[str, str], list[str]] = {}
    for route in app.routes:
        if not (route.path == "/" or route.path.startswith("/console")):
            continue
        for handler in getattr(route, "route_handlers", ()):
            for method in getattr(handler, "http_methods", ()):
                if method != "OPTIONS":
                    routes[(method, route.path)] = [guard.__name__ for guard in handler.guards or ()]
    return routes


def guard_name(permission: Permission) -> str:
    return f"console_{permission.value.replace(':', '_')}"


@pytest.fixture
def app(tmp_path: Path) -> Litestar:
    context = AppContext(Settings(data_dir=tmp_path, database=DatabaseSettings(url=f"sqlite:///{tmp_path}/a.db")))
    context.migrate()
    with session_scope(context.session_factory) as session:
        for role in Role:
            security.create_user(
                session,
                security.cli_principal("cli:test"),
                username=role.value,
                password=PASSWORD,
                role=role.value,
                scope_all=True,
                now=utcnow(),
            )
    return create_app(context)


def test_every_console_route_is_public_by_name_or_guarded(app: Litestar) -> None:
    routes = console_routes(app)
    assert routes.keys() >= PUBLIC, sorted(PUBLIC - routes.keys())
    known = {guard_name(permission) for permission in Permission} | {SIGNED_IN_ONLY}
    unguarded = [route for route, guards in routes.items() if route not in PUBLIC and not known & set(guards)]
    assert not unguarded, f"console routes without a console guard: {sorted(unguarded)}"
    public_but_guarded = [route for route in PUBLIC if routes[route]]
    assert not public_but_guarded


def test_each_menu_page_needs_the_menu_entrys_permission(app: Litestar) -> None:
    routes = console_routes(app)
    for item in NAV:
        guards = routes[("GET", item.url.rstrip("/") or "/console")]
        assert guards == [guard_name(item.permission) if item.permission else SIGNED_IN_ONLY], item.key


def pages_without_ids(app: Litestar) -> dict[str, list[str]]:
    return {
        path: guards
        for (method, path), guards in console_routes(app).items()
        if method == "GET" and "{" not in path and (method, path) not in PUBLIC and path not in NEEDS_QUERY
    }


def signed_in_client(app: Litestar, username: str) -> TestClient[Any]:
    client = TestClient(app=app)
    client.__enter__()
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_each_role_gets_exactly_the_pages_of_its_permissions(app: Litestar, role: str) -> None:
    held = {guard_name(permission) for permission in ROLE_PERMISSIONS[Role(role)]} | {SIGNED_IN_ONLY}
    client = signed_in_client(app, role)
    try:
        for path, guards in pages_without_ids(app).items():
            response = client.get(path, follow_redirects=False)
            if set(guards) <= held:
                expected = {200} | ({303} if guard_name(Permission.CONTENT_READ) in guards else set())
                assert response.status_code in expected, (path, response.status_code)
                if response.status_code == 303:  # chat content: the purpose prompt comes first
                    assert response.headers["location"].startswith("/console/purpose"), path
            else:
                assert response.status_code == 403, (path, response.status_code)
                assert "text/html" in response.headers["content-type"]
    finally:
        client.__exit__(None, None, None)


def test_signed_out_every_page_leads_to_the_login_form(app: Litestar) -> None:
    with TestClient(app=app) as client:
        for path in pages_without_ids(app):
            response = client.get(path, follow_redirects=False)
            assert response.status_code in {302, 303}, (path, response.status_code)
            assert response.headers["location"].startswith("/console/login"), path


def test_a_form_post_without_the_csrf_token_is_refused(app: Litestar) -> None:
    client = signed_in_client(app, Role.ADMIN.value)
    try:
        form = {"username": "mallory", "password": PASSWORD, "role": "admin", "display_name": "M"}
        response = client.post("/console/users", data=form, follow_redirects=False)
        assert response.status_code == 403
        # The same form with the session's token goes through (so the refusal above was CSRF's).
        token = _csrf_from_page(client)
        accepted = client.post("/console/users", data={**form, "csrf_token": token}, follow_redirects=False)
        assert accepted.status_code in {302, 303}, accepted.text
    finally:
        client.__exit__(None, None, None)
    with session_scope(app.state["context"].session_factory) as session:
        assert [user.username for user in security.list_users(session)].count("mallory") == 1


def _csrf_from_page(client: TestClient[Any]) -> str:
    page = client.get("/console/users").text
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]
