"""Reading chat content over HTTP: sign in, give a purpose, read within scope — and every
read leaves a hash-chained access-log row that says who, what and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from audit.accesslog import log as access_log
from audit.accesslog.models import AccessLogEntry
from config.database import session_scope
from tests.api import handover_probes
from tests.api.world import PASSWORD, PURPOSE, World, build_world
from tests.conftest import Edge


@pytest.fixture
def world(edge: Edge) -> World:
    return build_world(edge)


def login(client: TestClient[Any], username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def rows(world: World) -> list[AccessLogEntry]:
    with session_scope(world.context.session_factory) as session:
        return list(session.execute(select(AccessLogEntry).order_by(AccessLogEntry.position)).scalars())


def test_reads_need_a_purpose_which_the_session_remembers(world: World) -> None:
    with TestClient(app=create_app(world.context)) as client:
        login(client, "reviewer")
        refused = client.get(f"/api/v1/messages/{world.in_message}")
        assert refused.status_code == 428
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith(":purpose_required")

        first = client.get(
            f"/api/v1/messages/{world.in_message}", headers={"X-Access-Purpose": quote("案件 " + PURPOSE)}
        )
        assert first.status_code == 200
        again = client.get(f"/api/v1/messages/{world.in_message}/context?before=3&after=3")
        assert again.status_code == 200  # the purpose was remembered for the session
        assert world.in_message in [m["id"] for m in again.json()["messages"]]

    reads = [row for row in rows(world) if row.action.startswith("content.")]
    assert [(row.actor, row.action, row.purpose) for row in reads] == [
        ("reviewer", "content.message", "案件 " + PURPOSE),
        ("reviewer", "content.conversation", "案件 " + PURPOSE),
    ]
    assert reads[0].target["message_id"] == world.in_message and reads[0].result_count == 1
    assert reads[1].result_count == len(reads[1].target["message_ids"]) >= 1


def test_out_of_scope_reads_are_refused_and_logged(world: World) -> None:
    with TestClient(app=create_app(world.context)) as client:
        login(client, "reviewer")
        headers = {"X-Access-Purpose": PURPOSE}
        assert client.get(f"/api/v1/messages/{world.out_message}", headers=headers).status_code == 403
        listed = client.get("/api/v1/conversations?limit=200", headers=headers).json()["items"]
    ids = {item["id"] for item in listed}
    assert world.in_conversation in ids and world.out_conversation not in ids
    denied = [row for row in rows(world) if row.outcome == "denied"]
    assert [(row.actor, row.action, row.target) for row in denied] == [
        ("reviewer", "content.message", {"message_id": world.out_message})
    ]
    with session_scope(world.context.session_factory) as session:
        assert access_log.verify(session).ok


# Every route that returns chat content, with the values to call it with. A route guarded
# by content:read that is missing here fails the test below.
CONTENT_ROUTES: dict[str, Callable[[World], str | tuple[str, dict[str, Any]] | None]] = {
    "/api/v1/conversations": lambda w: "/api/v1/conversations",
    "/api/v1/conversations/{conversation_id:int}/messages": lambda w: (
        f"/api/v1/conversations/{w.in_conversation}/messages"
    ),
    "/api/v1/messages/{message_id:int}": lambda w: f"/api/v1/messages/{w.in_message}",
    "/api/v1/messages/{message_id:int}/context": lambda w: f"/api/v1/messages/{w.in_message}/context",
    "/api/v1/messages/{message_id:int}/media/{task_id:int}": lambda w: (
        f"/api/v1/messages/{w.in_media[0]}/media/{w.in_media[1]}" if w.in_media else None
    ),
    "/api/v1/search": lambda w: "/api/v1/search?q=",
    "/api/v1/monitor/groups/{conversation_id:int}/words": lambda w: (
        f"/api/v1/monitor/groups/{w.in_conversation}/words?day=2026-11-01"
    ),
    "/api/v1/handover/cases/{case_id:int}/customers/{external_userid:str}/dossier": lambda w: (
        f"/api/v1/handover/cases/{handover_probes.prepare(w).handover_in_case}"
        f"/customers/{handover_probes.CUSTOMER}/dossier"
    ),
    "/api/v1/alerts/{alert_id:int}/matches": lambda w: f"/api/v1/alerts/{w.in_alert}/matches",
    "/api/v1/consent": lambda w: "/api/v1/consent?customer=wmPROBE",
    "/api/v1/consent/{external_userid:str}": lambda w: "/api/v1/consent/wmPROBE",
    # POST routes: (url, JSON body).
    "/api/v1/exports": lambda w: ("/api/v1/exports", {"conversation_id": w.in_conversation}),
}
# Need content:read but return no chat content (a purpose; the caller's own saved queries).
NOT_CONTENT = {"/api/v1/auth/purpose", "/api/v1/search/saved", "/api/v1/search/saved/{saved_id:int}"}


def content_guarded_routes() -> set[str]:
    from api.context import AppContext
    from config.settings import Settings

    app = create_app(AppContext(Settings()))
    return {
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if any(getattr(guard, "__name__", "") == "requires_content_read" for guard in handler.guards or ())
    } - NOT_CONTENT


def test_every_content_route_is_listed() -> None:
    assert content_guarded_routes() == CONTENT_ROUTES.keys()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_content_route_writes_an_access_log_row_with_purpose(world: World) -> None:
    require_media = world.in_media is not None
    with TestClient(app=create_app(world.context)) as client:
        csrf = login(client, "compliance_officer")
        for index, (route, url_of) in enumerate(CONTENT_ROUTES.items()):
            target = url_of(world)
            if target is None:
                continue
            before = len(rows(world))
            purpose = f"case-{index}"
            headers = {"X-Access-Purpose": purpose, **csrf}
            if isinstance(target, tuple):
                response = client.post(target[0], json=target[1], headers=headers)
            else:
                response = client.get(target, headers=headers)
            assert response.status_code == 200, (route, response.text)
            new = rows(world)[before:]
            assert [(row.actor, row.purpose, row.outcome) for row in new] == [
                ("compliance_officer", purpose, "allowed")
            ], route
            assert new[0].action.startswith("content.")
    assert require_media, "the simulated media job downloaded nothing: the media route went unchecked"


def test_protected_people_are_only_opened_by_their_named_officers(world: World) -> None:
    from archive.clock import utcnow
    from archive.models import Message
    from audit.security import scope as scopes
    from audit.security import service as security

    with session_scope(world.context.session_factory) as session:
        sender = session.get_one(Message, world.in_message).sender
        operator = security.cli_principal("cli:test")
        security.create_user(
            session,
            operator,
            username="officer2",
            password=PASSWORD,
            role="compliance_officer",
            scope_all=True,
            now=utcnow(),
        )
        scopes.protect_person(
            session,
            operator,
            corp_id=world.edge.simulator.corp_id,
            userid=sender,
            reason="executive",
            officers=["compliance_officer"],
            now=utcnow(),
        )
    app = create_app(world.context)
    headers = {"X-Access-Purpose": PURPOSE}
    statuses = {}
    for user in ("compliance_officer", "officer2", "reviewer"):
        with TestClient(app=app) as client:
            login(client, user)
            statuses[user] = client.get(f"/api/v1/messages/{world.in_message}", headers=headers).status_code
            listed = {c["id"] for c in client.get("/api/v1/conversations?limit=200", headers=headers).json()["items"]}
            hits = client.get("/api/v1/search", params={"q": "", "limit": "500"}, headers=headers).json()["hits"]
            assert (world.in_conversation in listed) == (user == "compliance_officer"), user
            assert all(hit["sender"] != sender for hit in hits) or user == "compliance_officer", user
    assert statuses == {"compliance_officer": 200, "officer2": 403, "reviewer": 403}
