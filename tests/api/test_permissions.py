"""The permission matrix: every route of the app × every role (+ anonymous, + an API
token) × data inside and outside the caller's scope, with the exact status expected.

Routes are enumerated from the app itself: a route without an entry in ``MATRIX`` fails
``test_every_route_has_a_matrix_entry``. To add a route, add one ``MATRIX`` line (the
helpers below say who may call it and what they get)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.context import AppContext
from archive.clock import utcnow
from audit.detect.hits import Severity
from audit.detect.rules.io import csv_text
from audit.detect.rules.repository import save_group
from audit.detect.rules.spec import LexiconGroup
from audit.security import scope as scopes
from audit.security import service as security
from config.database import session_scope
from config.settings import Settings
from tests.api import handover_probes
from tests.api.world import PASSWORD, PURPOSE, World, build_world, officer_token, signed_in
from tests.conftest import Edge

ANON, ADMIN, OFFICER, REVIEWER, MANAGER, AUDITOR, TOKEN = (
    "anonymous",
    "admin",
    "compliance_officer",
    "reviewer",
    "manager",
    "auditor",
    "token",  # the compliance officer's token with archive:status and content:read
)
ACTORS = (ANON, ADMIN, OFFICER, REVIEWER, MANAGER, AUDITOR, TOKEN)
SIGNED_IN = frozenset(ACTORS) - {ANON}
TOKEN_PERMISSIONS = ["archive:status", "content:read"]

# Who holds which permission (written out here, not read from the code under test).
ARCHIVE = frozenset({ADMIN, OFFICER, TOKEN})
CONTENT = frozenset({OFFICER, REVIEWER, MANAGER, TOKEN})
ADMINS = frozenset({ADMIN})
AUDITORS = frozenset({AUDITOR})
ALERT_READERS = frozenset({OFFICER, REVIEWER})
RULE_READERS = frozenset({ADMIN, OFFICER, REVIEWER})
RULE_WRITERS = frozenset({ADMIN, OFFICER})
MONITORS = frozenset({OFFICER, REVIEWER, MANAGER})
HANDOVER_READERS = frozenset({OFFICER, MANAGER})
HANDOVER_MANAGERS = frozenset({MANAGER})
# Who sees the out-of-scope conversation: the officer reads every department, and so does
# the officer's token; the reviewer is scoped to one department, the manager to one grant.
SEES_OUT_OF_SCOPE = frozenset({OFFICER, TOKEN})
# A permission each actor holds, for creating a token of its own.
OWN_PERMISSION = {
    ADMIN: "users:admin",
    OFFICER: "content:read",
    REVIEWER: "content:read",
    MANAGER: "content:read",
    AUDITOR: "access_log:read",
    TOKEN: "content:read",
    ANON: "content:read",
}


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ACTORS, status)


def allowed(holders: frozenset[str], status: int = 200, *, others: int = 403) -> dict[str, int]:
    return {actor: 401 if actor == ANON else status if actor in holders else others for actor in ACTORS}


def in_scope(status: int = 200) -> dict[str, int]:
    return allowed(CONTENT, status)


def out_of_scope(status: int = 200) -> dict[str, int]:
    return {**allowed(CONTENT, status), REVIEWER: 403, MANAGER: 403}


@dataclass
class Env:
    world: World
    revocable_tokens: dict[str, int] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        return getattr(self.world, name)


@dataclass(frozen=True)
class Probe:
    expect: dict[str, int] | Callable[[Env], dict[str, int]]
    path: dict[str, Callable[[Env, str], Any]] = field(default_factory=dict)
    query: str = ""
    body: Callable[[Env, str], Any] | None = None
    # Logout ends the session it is sent with: give it a session of its own.
    fresh_session: bool = False


def world_value(name: str) -> Callable[[Env, str], Any]:
    return lambda env, _actor: env.value(name)


def literal(value: Any) -> Callable[[Env, str], Any]:
    return lambda _env, _actor: value


def media_of(which: str, part: int) -> Callable[[Env, str], Any]:
    def value(env: Env, _actor: str) -> Any:
        media = env.value(which)
        fallback = (env.value(which.replace("media", "message")), 999_999)
        return (media or fallback)[part]

    return value


def media_expect(which: str, builder: Callable[[int], dict[str, int]]) -> Callable[[Env], dict[str, int]]:
    # Without a downloaded attachment the allowed callers get 404 (the scope check comes first).
    return lambda env: builder(200 if env.value(which) else 404)


NOTE = {"action": "note", "note": "checked with the branch"}
IN_CONVERSATION = {"conversation_id": world_value("in_conversation")}
OUT_CONVERSATION = {"conversation_id": world_value("out_conversation")}
IN_MESSAGE = {"message_id": world_value("in_message")}
OUT_MESSAGE = {"message_id": world_value("out_message")}

IN_CASE = {"case_id": world_value("handover_in_case")}
OUT_CASE = {"case_id": world_value("handover_out_case")}
HANDOVER_CUSTOMER = handover_probes.CUSTOMER
HOLD_CUSTOMER = {"decision": "hold", "customers": [handover_probes.CUSTOMER]}
RULE_BODY = {"category": "probe", "severity": "medium", "terms": ["加微信聊"]}
SHARED_GROUP = {"name": literal("probe-shared")}
REMOVABLE_VIP = "removable-vip"

# (method, route path as the app declares it) → probes. One line per route.
MATRIX: dict[tuple[str, str], list[Probe]] = {
    ("GET", "/health/live"): [Probe(everyone(200))],
    ("GET", "/health/ready"): [Probe(everyone(200))],
    ("GET", "/metrics"): [Probe(everyone(401))],  # the scrape token only (tests/api/test_app.py)
    ("GET", "/wecom/callback"): [Probe(everyone(400), query="msg_signature=00&timestamp=1&nonce=2&echostr=AAAA")],
    ("POST", "/wecom/callback"): [
        Probe(
            everyone(400),
            query="msg_signature=00&timestamp=1&nonce=2",
            body=literal("<xml><Encrypt>AAAA</Encrypt></xml>"),
        )
    ],
    ("GET", "/api/docs"): [Probe(allowed(SIGNED_IN))],
    ("GET", "/api/docs/openapi.json"): [Probe(allowed(SIGNED_IN))],
    ("GET", "/api/docs/{path:str}"): [Probe(allowed(SIGNED_IN, 404), path={"path": literal("nothing-here")})],
    ("GET", "/api/docs/assets/{file_path:path}"): [
        Probe(everyone(200), path={"file_path": literal("swagger-init.js")})
    ],
    ("POST", "/api/v1/auth/login"): [Probe(everyone(401), body=literal({"username": "nobody", "password": "x" * 12}))],
    ("POST", "/api/v1/auth/logout"): [Probe(allowed(SIGNED_IN), fresh_session=True)],
    ("GET", "/api/v1/auth/me"): [Probe(allowed(SIGNED_IN))],
    ("PUT", "/api/v1/auth/purpose"): [
        Probe({**allowed(CONTENT), TOKEN: 400}, body=literal({"purpose": PURPOSE}))  # tokens send it per request
    ],
    ("GET", "/api/v1/archive/status"): [Probe(allowed(ARCHIVE))],
    ("GET", "/api/v1/archive/completeness"): [Probe(allowed(ARCHIVE))],
    # Starts a background sync (it fails there: the world has no 客户联系 secret) and answers 202.
    ("POST", "/api/v1/directory/sync"): [Probe(allowed(ADMINS, 202), body=literal({}))],
    ("GET", "/api/v1/directory/status"): [Probe(allowed(ARCHIVE))],
    ("GET", "/api/v1/conversations"): [Probe(allowed(CONTENT))],
    ("GET", "/api/v1/conversations/{conversation_id:int}/messages"): [
        Probe(in_scope(), path=IN_CONVERSATION),
        Probe(out_of_scope(), path=OUT_CONVERSATION),
    ],
    ("GET", "/api/v1/messages/{message_id:int}"): [
        Probe(in_scope(), path=IN_MESSAGE),
        Probe(out_of_scope(), path=OUT_MESSAGE),
    ],
    ("GET", "/api/v1/messages/{message_id:int}/context"): [
        Probe(in_scope(), path=IN_MESSAGE, query="before=2&after=2"),
        Probe(out_of_scope(), path=OUT_MESSAGE),
    ],
    ("GET", "/api/v1/messages/{message_id:int}/media/{task_id:int}"): [
        Probe(
            media_expect("in_media", in_scope),
            path={"message_id": media_of("in_media", 0), "task_id": media_of("in_media", 1)},
        ),
        Probe(
            media_expect("out_media", out_of_scope),
            path={"message_id": media_of("out_media", 0), "task_id": media_of("out_media", 1)},
        ),
    ],
    ("GET", "/api/v1/search"): [Probe(allowed(CONTENT), query="q=&limit=5")],  # scope filters hits: see test_search
    ("GET", "/api/v1/search/saved"): [Probe(allowed(CONTENT))],  # each sees only their own
    ("POST", "/api/v1/search/saved"): [
        Probe(allowed(CONTENT), body=lambda _e, actor: {"name": f"probe-{actor}", "query": "加微信"})
    ],
    ("DELETE", "/api/v1/search/saved/{saved_id:int}"): [
        Probe(allowed(CONTENT, 404), path={"saved_id": literal(999_999)})  # another's or none: 404
    ],
    # Needs no database and no permission beyond being signed in; a JSON body is refused.
    ("POST", "/api/v1/exports/verify"): [Probe(allowed(SIGNED_IN, 400), body=literal({}))],
    # Scope filters the records (see tests/api/test_consent_api.py).
    ("GET", "/api/v1/consent"): [Probe(allowed(CONTENT), query="customer=wmPROBE")],
    ("GET", "/api/v1/consent/{external_userid:str}"): [
        Probe(allowed(CONTENT), path={"external_userid": literal("wmPROBE")})
    ],
    ("GET", "/api/v1/roles"): [Probe(allowed(SIGNED_IN))],
    ("GET", "/api/v1/users"): [Probe(allowed(ADMINS))],
    ("POST", "/api/v1/users"): [
        Probe(
            allowed(ADMINS, 201),
            body=lambda _env, actor: {"username": f"new-{actor}", "password": PASSWORD, "role": "reviewer"},
        )
    ],
    ("GET", "/api/v1/users/{username:str}"): [Probe(allowed(ADMINS), path={"username": literal("reviewer")})],
    ("PATCH", "/api/v1/users/{username:str}"): [
        Probe(allowed(ADMINS), path={"username": literal("victim")}, body=literal({"scope_all": False}))
    ],
    ("POST", "/api/v1/users/{username:str}/disable"): [Probe(allowed(ADMINS), path={"username": literal("victim")})],
    ("PUT", "/api/v1/users/{username:str}/password"): [
        Probe(allowed(ADMINS), path={"username": literal("victim")}, body=literal({"password": PASSWORD + "!"}))
    ],
    ("POST", "/api/v1/users/{username:str}/grants"): [
        Probe(
            allowed(ADMINS),
            path={"username": literal("victim")},
            body=lambda env, _a: {"conversation_ids": [env.world.in_conversation], "reason": "handover"},
        )
    ],
    ("PUT", "/api/v1/protected-people/{corp_id:str}/{userid:str}"): [
        Probe(
            allowed(ADMINS),
            path={"corp_id": lambda env, _a: env.world.edge.simulator.corp_id, "userid": literal("nobody-vip")},
            body=literal({"reason": "executive", "officers": ["compliance_officer"]}),
        )
    ],
    ("GET", "/api/v1/tokens"): [Probe(allowed(SIGNED_IN))],
    ("POST", "/api/v1/tokens"): [
        Probe(
            allowed(SIGNED_IN, 201), body=lambda _env, actor: {"name": "probe", "permissions": [OWN_PERMISSION[actor]]}
        )
    ],
    ("DELETE", "/api/v1/tokens/{token_id:int}"): [
        Probe(allowed(SIGNED_IN), path={"token_id": lambda env, actor: env.revocable_tokens.get(actor, 1)})
    ],
    ("GET", "/api/v1/alerts"): [Probe(allowed(ALERT_READERS))],
    ("GET", "/api/v1/alerts/{alert_id:int}"): [
        Probe(allowed(ALERT_READERS), path={"alert_id": world_value("in_alert")}),
        Probe({**allowed(ALERT_READERS), REVIEWER: 403}, path={"alert_id": world_value("out_alert")}),
    ],
    ("GET", "/api/v1/alerts/{alert_id:int}/matches"): [  # unmasked: content, through the gate
        Probe(allowed(ALERT_READERS & CONTENT), path={"alert_id": world_value("in_alert")}),
        Probe({**allowed(ALERT_READERS & CONTENT), REVIEWER: 403}, path={"alert_id": world_value("out_alert")}),
    ],
    ("POST", "/api/v1/alerts/{alert_id:int}/review"): [
        Probe(allowed(ALERT_READERS), path={"alert_id": world_value("in_alert")}, body=literal(NOTE)),
        Probe(
            {**allowed(ALERT_READERS), REVIEWER: 403}, path={"alert_id": world_value("out_alert")}, body=literal(NOTE)
        ),
    ],
    ("GET", "/api/v1/rules"): [Probe(allowed(RULE_READERS))],
    ("GET", "/api/v1/rules/export"): [Probe(allowed(RULE_READERS))],
    ("GET", "/api/v1/rules/export.xlsx"): [Probe(allowed(RULE_READERS))],
    ("PUT", "/api/v1/rules"): [Probe(allowed(RULE_WRITERS), body=lambda _env, _actor: csv_text([]))],
    ("GET", "/api/v1/monitor/groups"): [Probe(allowed(MONITORS))],
    ("GET", "/api/v1/rules/groups/{name:str}"): [Probe(allowed(RULE_READERS), path=SHARED_GROUP)],
    ("POST", "/api/v1/rules/groups"): [
        Probe(allowed(RULE_WRITERS, 201), body=lambda _env, actor: {**RULE_BODY, "name": f"new-{actor}"})
    ],
    ("PUT", "/api/v1/rules/groups/{name:str}"): [
        Probe(allowed(RULE_WRITERS), path=SHARED_GROUP, body=literal({**RULE_BODY, "severity": "high"}))
    ],
    ("POST", "/api/v1/rules/groups/{name:str}/enable"): [Probe(allowed(RULE_WRITERS), path=SHARED_GROUP)],
    ("POST", "/api/v1/rules/groups/{name:str}/disable"): [Probe(allowed(RULE_WRITERS), path=SHARED_GROUP)],
    ("DELETE", "/api/v1/rules/groups/{name:str}"): [
        Probe(allowed(RULE_WRITERS), path={"name": lambda _env, actor: f"doomed-{actor}"})
    ],
    ("POST", "/api/v1/rules/simulate"): [
        Probe(allowed(RULE_WRITERS), body=literal({"groups": [{**RULE_BODY, "name": "draft"}], "days": 30}))
    ],
    ("GET", "/api/v1/monitor/groups/{conversation_id:int}/series"): [
        Probe(allowed(MONITORS), path=IN_CONVERSATION),
        Probe({**allowed(MONITORS), REVIEWER: 403, MANAGER: 403}, path=OUT_CONVERSATION),
    ],
    ("GET", "/api/v1/monitor/groups/{conversation_id:int}/words"): [
        Probe(allowed(MONITORS & CONTENT), path=IN_CONVERSATION, query="day=2026-11-01"),
        Probe(
            {**allowed(MONITORS & CONTENT), REVIEWER: 403, MANAGER: 403}, path=OUT_CONVERSATION, query="day=2026-11-01"
        ),
    ],
    ("GET", "/api/v1/monitor/employees"): [Probe(allowed(MONITORS))],
    ("POST", "/api/v1/exports"): [
        Probe(in_scope(), body=lambda env, _a: {"conversation_id": env.world.in_conversation}),
        Probe(out_of_scope(), body=lambda env, _a: {"conversation_id": env.world.out_conversation}),
        Probe(allowed(CONTENT), body=literal({"query": "", "max_messages": 50_000})),  # scope filters rows
    ],
    ("GET", "/api/v1/users/{username:str}/grants"): [Probe(allowed(ADMINS), path={"username": literal("manager")})],
    ("DELETE", "/api/v1/users/{username:str}/grants/{conversation_id:int}"): [
        Probe(allowed(ADMINS), path={"username": literal("victim"), "conversation_id": world_value("in_conversation")})
    ],
    ("GET", "/api/v1/protected-people"): [Probe(allowed(ADMINS))],
    ("DELETE", "/api/v1/protected-people/{corp_id:str}/{userid:str}"): [
        Probe(
            allowed(ADMINS),
            path={"corp_id": lambda env, _a: env.world.edge.simulator.corp_id, "userid": literal(REMOVABLE_VIP)},
        )
    ],
    ("GET", "/api/v1/access-log"): [Probe(allowed(AUDITORS))],
    ("GET", "/api/v1/access-log/verify"): [Probe(allowed(AUDITORS))],
    ("POST", "/api/v1/access-log/checkpoints"): [Probe(allowed(AUDITORS))],
    # Bulk review, notifications, samples and routing (API parity with the console and the CLI).
    ("POST", "/api/v1/alerts/review"): [
        Probe(
            allowed(ALERT_READERS), body=lambda env, _a: {"ids": [env.world.in_alert], "action": "note", "note": "x"}
        ),
        Probe(
            {**allowed(ALERT_READERS), REVIEWER: 403},
            body=lambda env, _a: {"ids": [env.world.out_alert], "action": "note", "note": "x"},
        ),
    ],
    ("GET", "/api/v1/alerts/{alert_id:int}/notifications"): [
        Probe(allowed(ALERT_READERS), path={"alert_id": world_value("in_alert")}),
        Probe({**allowed(ALERT_READERS), REVIEWER: 403}, path={"alert_id": world_value("out_alert")}),
    ],
    ("GET", "/api/v1/alerts/samples"): [Probe(allowed(ALERT_READERS))],
    ("POST", "/api/v1/alerts/samples"): [Probe(allowed(ALERT_READERS), body=literal({"day": "2000-01-01"}))],
    ("POST", "/api/v1/alerts/samples/{sample_id:int}/complete"): [
        Probe(allowed(frozenset()), path={"sample_id": literal(999_999)}, body=literal({}))  # missing = out of scope
    ],
    ("GET", "/api/v1/alerts/routes"): [Probe(allowed(RULE_READERS))],
    ("POST", "/api/v1/alerts/routes"): [
        Probe(
            allowed(RULE_WRITERS, 201),
            body=lambda _e, actor: {"name": f"route-{actor}", "targets": ["email:d@example.com"]},
        )
    ],
    ("DELETE", "/api/v1/alerts/routes/{name:str}"): [
        Probe(allowed(RULE_WRITERS, 404), path={"name": literal("no-such-route")})
    ],
    ("POST", "/api/v1/notifications/deliver"): [Probe(allowed(RULE_WRITERS))],
    # The overview's figures (each part for the roles that cover it) and the admin's runs.
    ("GET", "/api/v1/overview"): [Probe(allowed(SIGNED_IN))],
    # WeCom's customer-contact API is not configured in this world: past the guards, 503.
    ("POST", "/api/v1/consent/check"): [Probe(allowed(ADMINS, 503), body=literal({}))],
    ("POST", "/api/v1/monitor/run"): [Probe(allowed(ADMINS), body=literal({}))],
    ("POST", "/api/v1/monitor/rebuild"): [Probe(allowed(ADMINS, 202), body=literal({"since": "2026-01-01"}))],
    # Retention, integrity and completeness (API parity with the settings page and the CLI).
    ("GET", "/api/v1/archive/completeness/{corp_id:str}"): [
        Probe(allowed(ARCHIVE), path={"corp_id": literal("probe-corp")})
    ],
    # Coverage asks WeCom for the permit list: a corp that is not configured is a 404 before that.
    ("GET", "/api/v1/archive/completeness/{corp_id:str}/coverage"): [
        Probe(allowed(ARCHIVE, 404), path={"corp_id": literal("probe-corp")})
    ],
    ("POST", "/api/v1/integrity/verify"): [Probe(allowed(ARCHIVE), body=literal({}))],
    ("GET", "/api/v1/integrity/checkpoints"): [Probe(allowed(ARCHIVE))],
    ("POST", "/api/v1/integrity/checkpoints"): [Probe(allowed(ARCHIVE, 201), body=literal({}))],
    ("GET", "/api/v1/retention/policies"): [Probe(allowed(ADMINS))],
    ("POST", "/api/v1/retention/policies"): [
        Probe(allowed(ADMINS, 201), body=literal({"scope": "chat:group", "days": 3650}))
    ],
    ("PUT", "/api/v1/retention/policies/{policy_id:int}/days"): [
        Probe(allowed(ADMINS, 404), path={"policy_id": literal(999_999)}, body=literal({"days": 30, "reason": "probe"}))
    ],
    ("POST", "/api/v1/retention/policies/{policy_id:int}/lock"): [
        Probe(allowed(ADMINS, 404), path={"policy_id": literal(999_999)}, body=literal({}))
    ],
    ("GET", "/api/v1/retention/holds"): [Probe(allowed(ADMINS))],
    ("POST", "/api/v1/retention/holds"): [
        Probe(allowed(ADMINS, 201), body=literal({"subjects": [["employee", "probe"]]}))
    ],
    ("POST", "/api/v1/retention/holds/{hold_id:int}/release"): [
        Probe(allowed(ADMINS, 404), path={"hold_id": literal(999_999)}, body=literal({"reason": "probe"}))
    ],
    ("GET", "/api/v1/retention/history"): [Probe(allowed(ADMINS))],
    ("GET", "/api/v1/retention/runs"): [Probe(allowed(ADMINS))],
    # Handover cases (tests/api/handover_probes.py): the manager's scope covers the "in" case
    # only; WeCom's customer-contact API is not configured here, so steps that call it
    # answer 503 once the caller is past the guards and the scope.
    ("GET", "/api/v1/handover/cases"): [Probe(allowed(HANDOVER_READERS))],
    ("POST", "/api/v1/handover/cases"): [
        Probe(allowed(HANDOVER_MANAGERS, 503), body=lambda env, _a: {"userid": env.value("handover_in_member")}),
        Probe(
            {**allowed(HANDOVER_MANAGERS), MANAGER: 403},
            body=lambda env, _a: {"userid": env.value("handover_out_member")},
        ),
    ],
    ("GET", "/api/v1/handover/cases/{case_id:int}"): [
        Probe(allowed(HANDOVER_READERS), path=IN_CASE),
        Probe({**allowed(HANDOVER_READERS), MANAGER: 403}, path=OUT_CASE),
    ],
    ("GET", "/api/v1/handover/cases/{case_id:int}/customers/{external_userid:str}/dossier"): [
        Probe(allowed(HANDOVER_READERS & CONTENT), path={**IN_CASE, "external_userid": literal(HANDOVER_CUSTOMER)}),
        Probe(
            {**allowed(HANDOVER_READERS & CONTENT), MANAGER: 403},
            path={**OUT_CASE, "external_userid": literal(HANDOVER_CUSTOMER)},
        ),
    ],
    ("POST", "/api/v1/handover/cases/{case_id:int}/decisions"): [
        Probe(allowed(HANDOVER_MANAGERS), path=IN_CASE, body=literal(HOLD_CUSTOMER)),
        Probe({**allowed(HANDOVER_MANAGERS), MANAGER: 403}, path=OUT_CASE, body=literal(HOLD_CUSTOMER)),
    ],
    ("POST", "/api/v1/handover/cases/{case_id:int}/accept-suggestions"): [
        Probe(allowed(HANDOVER_MANAGERS), path=IN_CASE),
        Probe({**allowed(HANDOVER_MANAGERS), MANAGER: 403}, path=OUT_CASE),
    ],
    ("POST", "/api/v1/handover/cases/{case_id:int}/execute"): [
        Probe(allowed(HANDOVER_MANAGERS, 503), path=IN_CASE),
        Probe({**allowed(HANDOVER_MANAGERS), MANAGER: 403}, path=OUT_CASE),
    ],
    ("POST", "/api/v1/handover/cases/{case_id:int}/poll"): [
        Probe(allowed(HANDOVER_MANAGERS, 503), path=IN_CASE),
        Probe({**allowed(HANDOVER_MANAGERS), MANAGER: 403}, path=OUT_CASE),
    ],
    ("GET", "/api/v1/handover/cases/{case_id:int}/report.html"): [
        Probe(allowed(HANDOVER_READERS), path=IN_CASE),
        Probe({**allowed(HANDOVER_READERS), MANAGER: 403}, path=OUT_CASE),
    ],
    ("GET", "/api/v1/handover/cases/{case_id:int}/report.pdf"): [
        Probe(allowed(HANDOVER_READERS), path=IN_CASE),
        Probe({**allowed(HANDOVER_READERS), MANAGER: 403}, path=OUT_CASE),
    ],
    ("POST", "/api/v1/handover/cases/{case_id:int}/sign-off"): [
        Probe(allowed(HANDOVER_MANAGERS, 409), path=IN_CASE, body=literal({})),  # the case is not completed
        Probe({**allowed(HANDOVER_MANAGERS), MANAGER: 403}, path=OUT_CASE, body=literal({})),
    ],
}

# Generated by the framework for every route; not application routes.
FRAMEWORK_METHODS = frozenset({"OPTIONS", "HEAD"})


def app_routes(app: Litestar) -> set[tuple[str, str]]:
    """The API's routes; the console's (HTML pages under /console, and / redirecting there)
    are enumerated and checked by tests/console/test_guards.py."""
    return {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method not in FRAMEWORK_METHODS and not (route.path == "/" or route.path.startswith("/console"))
    }


def test_every_route_has_a_matrix_entry(tmp_path: Any) -> None:
    app = create_app(AppContext(Settings(data_dir=tmp_path)))
    routes = app_routes(app)
    missing = sorted(routes - MATRIX.keys())
    assert not missing, f"routes without a permission-matrix entry (add them to MATRIX): {missing}"
    assert not sorted(MATRIX.keys() - routes), "matrix entries for routes that no longer exist"


def _fill(path: str, values: dict[str, Any]) -> str:
    for name, value in values.items():
        for kind in ("int", "str", "path"):
            path = path.replace(f"{{{name}:{kind}}}", str(value))
    return path


class Callers:
    def __init__(self, app: Litestar, env: Env, stack: ExitStack) -> None:
        self.app, self.env, self.stack = app, env, stack
        self.clients: dict[str, tuple[TestClient[Any], dict[str, str]]] = {}
        self.calls = 0
        for actor in ACTORS:
            self.clients[actor] = self.connect(actor)

    def connect(self, actor: str) -> tuple[TestClient[Any], dict[str, str]]:
        client = self.stack.enter_context(TestClient(app=self.app))
        headers = {"X-Access-Purpose": PURPOSE}
        if actor == TOKEN:
            headers["Authorization"] = f"Bearer {officer_token(self.env.world, TOKEN_PERMISSIONS)}"
        elif actor != ANON:
            response = client.post("/api/v1/auth/login", json={"username": actor, "password": PASSWORD})
            assert response.status_code == 200, response.text
            headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return client, headers

    def call(self, actor: str, method: str, path: str, probe: Probe) -> int:
        client, headers = self.connect(actor) if probe.fresh_session else self.clients[actor]
        url = _fill(path, {name: value(self.env, actor) for name, value in probe.path.items()})
        if probe.query:
            url += "?" + probe.query
        body = probe.body(self.env, actor) if probe.body else None
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, str):
            kwargs["content"] = body
        elif body is not None:
            kwargs["json"] = body
        self.calls += 1
        return client.request(method, url, **kwargs).status_code


def _prepare(world: World) -> Env:
    env = Env(world)
    handover_probes.prepare(world)
    operator = security.cli_principal("cli:test")
    with session_scope(world.context.session_factory) as session:
        security.create_user(session, operator, username="victim", password=PASSWORD, role="reviewer", now=utcnow())
        for actor in SIGNED_IN:
            owner = OFFICER if actor == TOKEN else actor
            view, _ = security.create_token(
                session,
                signed_in(session, owner),  # content tokens are created by their owners only
                username=owner,
                name=f"revocable-{actor}",
                permissions=[OWN_PERMISSION[actor]],
                ttl=timedelta(days=1),
                now=utcnow(),
            )
            env.revocable_tokens[actor] = view.id
        # Fixtures the write probes change or remove: one per caller where each may succeed.
        now = utcnow()
        save_group(session, LexiconGroup("probe-shared", "probe", Severity.LOW, ("加微信聊",)), now)
        for actor in SIGNED_IN:
            save_group(session, LexiconGroup(f"doomed-{actor}", "probe", Severity.LOW, ("加微信聊",)), now)
        victim = security.get_user(session, "victim")
        scopes.grant_conversations(session, victim.id, [world.in_conversation], "probe", "cli:test", now=now)
        scopes.protect_person(
            session,
            operator,
            corp_id=world.edge.simulator.corp_id,
            userid=REMOVABLE_VIP,
            reason="probe",
            officers=[],
            now=now,
        )
    return env


def _mismatches(callers: Callers, env: Env) -> Iterator[str]:
    for (method, path), probes in MATRIX.items():
        for index, probe in enumerate(probes):
            expected = probe.expect(env) if callable(probe.expect) else probe.expect
            for actor in ACTORS:
                status = callers.call(actor, method, path, probe)
                if status != expected[actor]:
                    yield f"{method} {path} [probe {index}] as {actor}: {status}, expected {expected[actor]}"


@pytest.mark.slow
def test_permission_matrix(edge: Edge) -> None:
    world = build_world(edge)
    # Every actor tries the same unknown name from the same test client: not a lockout test
    # (tests/api/test_auth.py has those), so the threshold is out of the way.
    world.context.settings.auth.lockout_threshold = len(ACTORS) + 1
    env = _prepare(world)
    app = create_app(world.context)
    with ExitStack() as stack:
        callers = Callers(app, env, stack)
        mismatches = list(_mismatches(callers, env))
    assert not mismatches, "\n".join(mismatches)
    assert callers.calls == sum(len(probes) for probes in MATRIX.values()) * len(ACTORS)
