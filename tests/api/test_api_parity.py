"""API parity: everything the console lets an officer or administrator do is in the JSON API,
documented in its OpenAPI schema (issue 16, item 6).

The console's actions are read from the app itself (every POST/PUT/PATCH/DELETE route under
/console) and from its templates (every ``<form method="post">``, ``hx-post`` and
``data-post-download`` target). ``TWINS`` maps each console action to the API operation(s)
doing the same thing; a console action without a row fails here, and so does a row whose
API operation is not in ``app.openapi_schema.paths``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar import Litestar, Router, post
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.routes import HTTPRoute

from api.app import create_app
from api.console.nav import CONSOLE_PATH
from api.context import AppContext
from config.settings import DatabaseSettings, Settings

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "console" / "templates"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Operation = tuple[str, str]  # (method, path as in the OpenAPI schema)

# (method, console route path as the app declares it) → the API operations that do the same.
TWINS: dict[Operation, list[Operation]] = {
    # session
    ("POST", "/console/login"): [("POST", "/api/v1/auth/login")],
    ("POST", "/console/logout"): [("POST", "/api/v1/auth/logout")],
    ("POST", "/console/purpose"): [("PUT", "/api/v1/auth/purpose")],
    # search (saved searches)
    ("POST", "/console/search/saved"): [("POST", "/api/v1/search/saved")],
    ("POST", "/console/search/saved/{saved_id:int}/delete"): [("DELETE", "/api/v1/search/saved/{saved_id}")],
    # alerts, review and sampling (tags are the review action "tag")
    ("POST", "/console/alerts/{alert_id:int}/review"): [("POST", "/api/v1/alerts/{alert_id}/review")],
    ("POST", "/console/alerts/{alert_id:int}/tags"): [("POST", "/api/v1/alerts/{alert_id}/review")],
    ("POST", "/console/alerts/bulk"): [("POST", "/api/v1/alerts/review")],
    ("POST", "/console/alerts/samples/draw"): [("POST", "/api/v1/alerts/samples")],
    ("POST", "/console/alerts/samples/{sample_id:int}/complete"): [
        ("POST", "/api/v1/alerts/samples/{sample_id}/complete")
    ],
    # handover
    ("POST", "/console/handover"): [("POST", "/api/v1/handover/cases")],
    ("POST", "/console/handover/{case_id:int}/decisions"): [("POST", "/api/v1/handover/cases/{case_id}/decisions")],
    ("POST", "/console/handover/{case_id:int}/accept-suggestions"): [
        ("POST", "/api/v1/handover/cases/{case_id}/accept-suggestions")
    ],
    ("POST", "/console/handover/{case_id:int}/execute"): [("POST", "/api/v1/handover/cases/{case_id}/execute")],
    ("POST", "/console/handover/{case_id:int}/poll"): [("POST", "/api/v1/handover/cases/{case_id}/poll")],
    ("POST", "/console/handover/{case_id:int}/sign-off"): [("POST", "/api/v1/handover/cases/{case_id}/sign-off")],
    # rules (the console's save creates or replaces a group; toggle enables or disables it)
    ("POST", "/console/rules/save"): [("POST", "/api/v1/rules/groups"), ("PUT", "/api/v1/rules/groups/{name}")],
    ("POST", "/console/rules/toggle"): [
        ("POST", "/api/v1/rules/groups/{name}/enable"),
        ("POST", "/api/v1/rules/groups/{name}/disable"),
    ],
    ("POST", "/console/rules/delete"): [("DELETE", "/api/v1/rules/groups/{name}")],
    ("POST", "/console/rules/import"): [("PUT", "/api/v1/rules")],
    # users, tokens, protected people
    ("POST", "/console/users"): [("POST", "/api/v1/users")],
    ("POST", "/console/users/{username:str}"): [("PATCH", "/api/v1/users/{username}")],
    ("POST", "/console/users/{username:str}/disable"): [("POST", "/api/v1/users/{username}/disable")],
    ("POST", "/console/users/{username:str}/password"): [("PUT", "/api/v1/users/{username}/password")],
    ("POST", "/console/users/{username:str}/tokens"): [("POST", "/api/v1/tokens")],
    ("POST", "/console/tokens/{token_id:int}/revoke"): [("DELETE", "/api/v1/tokens/{token_id}")],
    ("POST", "/console/protected"): [("PUT", "/api/v1/protected-people/{corp_id}/{userid}")],
    ("POST", "/console/protected/remove"): [("DELETE", "/api/v1/protected-people/{corp_id}/{userid}")],
    # settings: retention policies
    ("POST", "/console/settings/retention"): [("POST", "/api/v1/retention/policies")],
    ("POST", "/console/settings/retention/{policy_id:int}/days"): [
        ("PUT", "/api/v1/retention/policies/{policy_id}/days")
    ],
    ("POST", "/console/settings/retention/{policy_id:int}/lock"): [
        ("POST", "/api/v1/retention/policies/{policy_id}/lock")
    ],
}

# Template expressions that stand for a path prefix (everything else is one path segment).
PREFIXES = {"console": CONSOLE_PATH, "case_url": f"{CONSOLE_PATH}/handover/{{case}}"}
_EXPRESSION = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    data = tmp_path_factory.mktemp("parity")
    settings = Settings(data_dir=data, database=DatabaseSettings(url=f"sqlite:///{data / 'parity.db'}"))
    return create_app(AppContext(settings))


def console_actions(app: Litestar) -> set[Operation]:
    """Every mutating route of the console, as (method, path as declared)."""
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith(f"{CONSOLE_PATH}/")
        for method in route.methods & MUTATING
    }


def api_operations(app: Litestar) -> set[Operation]:
    """Every operation in the app's OpenAPI schema."""
    return {
        (method.upper(), path)
        for path, item in (app.openapi_schema.paths or {}).items()
        for method in ("get", "put", "post", "patch", "delete")
        if getattr(item, method, None) is not None
    }


def unmatched(actions: set[Operation], twins: dict[Operation, list[Operation]]) -> list[Operation]:
    """Console actions without a row in ``twins``."""
    return sorted(actions - twins.keys())


def missing_twins(twins: dict[Operation, list[Operation]], operations: set[Operation]) -> list[str]:
    """Rows whose API operation is not documented: 'console action → API operation'."""
    return [
        f"{console[0]} {console[1]} → {api[0]} {api[1]}"
        for console, apis in sorted(twins.items())
        for api in apis
        if api not in operations
    ]


def form_targets() -> list[tuple[str, str]]:
    """(template, target path with every other expression as ``{x}``) of every posted form,
    ``hx-post`` and ``data-post-download`` in the console's templates."""
    found = []
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:form|button|a)\b[^>]*>", text, flags=re.S):
            is_form_post = tag.startswith("<form") and re.search(r'method="post"', tag, flags=re.I)
            for attribute, target in re.findall(r'\b(action|hx-post|data-post-download)="([^"]+)"', tag):
                if attribute == "action" and not is_form_post:
                    continue
                path = _EXPRESSION.sub(lambda m: PREFIXES.get(m.group(1), "{x}"), target).split("?")[0]
                found.append((template.name, path))
    return found


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(path)) + "$")


def route_of(target: str, routes: set[Operation]) -> Operation | None:
    """The (POST) route a form target reaches: console routes and API operations alike."""
    concrete = re.sub(r"\{[^/]*?\}", "1", target)
    for method, path in sorted(routes):
        if method == "POST" and _pattern(path).match(concrete):
            return method, path
    return None


def test_every_console_action_has_a_row(app: Litestar) -> None:
    missing = unmatched(console_actions(app), TWINS)
    assert not missing, f"console actions without an API twin in TWINS (add the API route and a row): {missing}"
    assert not sorted(TWINS.keys() - console_actions(app)), "TWINS rows for console actions that no longer exist"


def test_every_twin_is_an_api_operation_in_the_openapi_schema(app: Litestar) -> None:
    missing = missing_twins(TWINS, api_operations(app))
    assert not missing, "API twins missing from the OpenAPI schema:\n" + "\n".join(missing)


def test_every_form_of_the_console_posts_to_a_known_action(app: Litestar) -> None:
    targets = form_targets()
    assert len(targets) >= len(console_actions(app))  # the walk found the forms
    known = console_actions(app) | api_operations(app)
    lost = [(template, target) for template, target in targets if route_of(target, known) is None]
    assert not lost, f"forms posting to no console action or API operation: {lost}"
    reached = {route_of(target, known) for _, target in targets}
    assert ("POST", "/console/settings/retention/{policy_id:int}/lock") in reached
    assert ("POST", "/api/v1/exports") in reached  # the export buttons post to the API itself


def test_a_console_action_without_a_twin_is_reported(tmp_path: Path) -> None:
    @post("/planted/{thing_id:int}/frobnicate", status_code=303, sync_to_thread=False)
    def planted(thing_id: FromPath[int]) -> Redirect:
        return Redirect(CONSOLE_PATH, status_code=303)

    settings = Settings(data_dir=tmp_path, database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'planted.db'}"))
    planted_app = create_app(
        AppContext(settings),
        extra_routes=[Router(path=CONSOLE_PATH, route_handlers=[planted], include_in_schema=False)],
    )
    assert unmatched(console_actions(planted_app), TWINS) == [("POST", "/console/planted/{thing_id:int}/frobnicate")]
    assert route_of("/console/planted/{x}/frobnicate", console_actions(planted_app)) == (
        "POST",
        "/console/planted/{thing_id:int}/frobnicate",
    )
    # A row naming an API operation that does not exist is reported too.
    wrong = {**TWINS, ("POST", "/console/planted/{thing_id:int}/frobnicate"): [("POST", "/api/v1/planted")]}
    assert "POST /console/planted/{thing_id:int}/frobnicate → POST /api/v1/planted" in missing_twins(
        wrong, api_operations(planted_app)
    )


def test_every_operation_is_described_by_its_own_docstring(app: Litestar) -> None:
    """A sync handler run in a thread is wrapped once registered; its OpenAPI description
    must still be the handler's docstring, never the wrapper's."""
    undocumented = [
        f"{method.upper()} {path}"
        for path, item in (app.openapi_schema.paths or {}).items()
        if not path.startswith("/api/docs")  # Litestar's own schema and page
        for method in ("get", "post", "put", "patch", "delete")
        if (operation := getattr(item, method, None)) is not None
        and (
            not operation.description
            or "Wrap a given callable" in operation.description
            or operation.summary == "Asynccallable"
        )
    ]
    assert not undocumented, undocumented
