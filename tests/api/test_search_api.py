"""Search over HTTP: hits are limited to the caller's scope, a malformed query is a 400
problem that points at the error, and every search is logged with its query and purpose."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from api.app import create_app
from archive.models import Message
from audit.accesslog.models import AccessLogEntry
from config.database import session_scope
from tests.api.world import PASSWORD, PURPOSE, World, build_world
from tests.conftest import Edge


@pytest.fixture
def world(edge: Edge) -> World:
    return build_world(edge, media=False)


def search_all(client: TestClient[Any], username: str) -> list[dict[str, object]]:
    client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    hits, cursor = [], None
    while True:
        params = {"q": "", "limit": "500", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/search", params=params, headers={"X-Access-Purpose": PURPOSE})
        assert page.status_code == 200, page.text
        hits += page.json()["hits"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return hits


def test_search_hits_stay_inside_the_callers_scope(world: World) -> None:
    app = create_app(world.context)
    with TestClient(app=app) as officer, TestClient(app=app) as reviewer:
        everything = search_all(officer, "compliance_officer")
        scoped = search_all(reviewer, "reviewer")
    with session_scope(world.context.session_factory) as session:
        indexed = {m for m in session.execute(select(Message.conversation_id)).scalars() if m is not None}
    # Messages outside any conversation (e.g. a corp switch) are the officer's to see too.
    assert {hit["conversation_id"] for hit in everything} - {None} == indexed
    assert {hit["conversation_id"] for hit in scoped} == world.reviewer_conversations & indexed
    assert world.out_conversation not in {hit["conversation_id"] for hit in scoped}


def test_a_malformed_query_is_a_problem_with_its_position(world: World) -> None:
    with TestClient(app=create_app(world.context)) as client:
        client.post("/api/v1/auth/login", json={"username": "reviewer", "password": PASSWORD})
        response = client.get("/api/v1/search", params={"q": "(合同 OR 回扣"}, headers={"X-Access-Purpose": PURPOSE})
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"].endswith(":query_syntax") and problem["position"] == len("(合同 OR 回扣")


def test_every_search_is_logged_with_query_and_purpose(world: World) -> None:
    with TestClient(app=create_app(world.context)) as client:
        client.post("/api/v1/auth/login", json={"username": "reviewer", "password": PASSWORD})
        response = client.get("/api/v1/search", params={"q": "", "limit": "3"}, headers={"X-Access-Purpose": PURPOSE})
        assert client.get("/api/v1/search", params={"q": "x"}).status_code == 200  # purpose remembered
    with session_scope(world.context.session_factory) as session:
        logged = list(
            session.execute(select(AccessLogEntry).where(AccessLogEntry.action == "content.search")).scalars()
        )
    assert [(row.actor, row.purpose, row.target["query"]) for row in logged] == [
        ("reviewer", PURPOSE, ""),
        ("reviewer", PURPOSE, "x"),
    ]
    with session_scope(world.context.session_factory) as session:
        visible = session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id.in_(world.reviewer_conversations))
        )
    assert logged[0].result_count == len(response.json()["hits"]) == min(3, visible or 0)


def test_a_department_filter_covers_its_subtree(world: World) -> None:
    """`dept:N` means department N and everything below it, as the directory says today."""
    from archive.directory.models import DirectoryDepartment

    with session_scope(world.context.session_factory) as session:
        parent = session.scalar(
            select(DirectoryDepartment.parent_id).where(DirectoryDepartment.dept_id == world.department_id)
        )
    assert parent is not None, "the scoped department should sit below another one"

    def conversations(client: TestClient[Any], dept: int) -> set[object]:
        response = client.get(
            "/api/v1/search", params={"q": f"dept:{dept}", "limit": "500"}, headers={"X-Access-Purpose": PURPOSE}
        )
        assert response.status_code == 200, response.text
        return {hit["conversation_id"] for hit in response.json()["hits"]}

    with TestClient(app=create_app(world.context)) as client:
        client.post("/api/v1/auth/login", json={"username": "compliance_officer", "password": PASSWORD})
        child, whole = conversations(client, world.department_id), conversations(client, parent)
    assert child, "the department's own staff have messages"
    assert child <= whole


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_saved_searches_are_each_users_own(world: World) -> None:
    """The console's saved searches over the API: save (or replace by name), list, delete."""
    app = create_app(world.context)
    with TestClient(app=app) as reviewer, TestClient(app=app) as officer:
        token = reviewer.post("/api/v1/auth/login", json={"username": "reviewer", "password": PASSWORD}).json()
        headers = {"X-CSRF-Token": token["csrf_token"]}
        first = reviewer.post("/api/v1/search/saved", json={"name": "返利", "query": "返利"}, headers=headers)
        assert first.status_code == 200, first.text
        wider = {"name": "返利", "query": "返利 OR 回扣"}
        replaced = reviewer.post("/api/v1/search/saved", json=wider, headers=headers)
        assert replaced.json()["id"] == first.json()["id"]
        empty = reviewer.post("/api/v1/search/saved", json={"name": "x", "query": " "}, headers=headers)
        listed = reviewer.get("/api/v1/search/saved").json()
        assert [(row["name"], row["query"]) for row in listed] == [("返利", "返利 OR 回扣")]

        other = officer.post("/api/v1/auth/login", json={"username": "compliance_officer", "password": PASSWORD})
        other_headers = {"X-CSRF-Token": other.json()["csrf_token"]}
        assert officer.get("/api/v1/search/saved").json() == []
        path = f"/api/v1/search/saved/{first.json()['id']}"
        assert officer.delete(path, headers=other_headers).status_code == 404
        assert reviewer.delete(path, headers=headers).status_code == 204
        assert reviewer.get("/api/v1/search/saved").json() == []
    assert empty.status_code == 400
