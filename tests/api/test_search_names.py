"""Names in the search language over HTTP (issue 14): a name finds what its id finds, an
ambiguous one is a 400 problem listing the candidates (name, department, id), an unknown
one a 400 that says it matched nothing, and ids keep working."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from archive.clock import utcnow
from archive.directory.models import DirectoryDepartment, DirectoryMember, DirectoryMembership
from archive.models import Message
from config.database import session_scope
from tests.api.world import PASSWORD, PURPOSE, World, build_world
from tests.conftest import Edge


@pytest.fixture
def world(edge: Edge) -> World:
    return build_world(edge, media=False)


def get(client: TestClient[Any], q: str) -> Any:
    return client.get("/api/v1/search", params={"q": q, "limit": "500"}, headers={"X-Access-Purpose": PURPOSE})


def test_names_in_filters_over_http(world: World) -> None:
    corp_id = world.edge.simulator.corp_id
    with session_scope(world.context.session_factory) as session:
        members = {m.userid: m.name for m in session.execute(select(DirectoryMember)).scalars()}
        names = list(members.values())
        senders = session.execute(select(Message.sender).distinct()).scalars()
        sender = next(s for s in sorted(senders) if s in members and names.count(members[s]) == 1)
        name = members[sender]
        department = session.execute(
            select(DirectoryDepartment.name)
            .join(
                DirectoryMembership,
                (DirectoryMembership.corp_id == DirectoryDepartment.corp_id)
                & (DirectoryMembership.dept_id == DirectoryDepartment.dept_id),
            )
            .where(DirectoryMembership.corp_id == corp_id, DirectoryMembership.userid == sender)
        ).scalar_one()
    with TestClient(app=create_app(world.context)) as client:
        client.post("/api/v1/auth/login", json={"username": "compliance_officer", "password": PASSWORD})
        by_id = get(client, f"from:{sender}")
        by_name = get(client, f"from:{name}")
        assert by_id.status_code == by_name.status_code == 200, by_name.text
        assert by_name.json()["hits"] and by_name.json()["hits"] == by_id.json()["hits"]

        with session_scope(world.context.session_factory) as session:  # a namesake joins
            session.add(
                DirectoryMember(corp_id=corp_id, userid="namesake01", name=name, is_active=True, updated_at=utcnow())
            )
        ambiguous = get(client, f"返利 from:{name}")
        assert ambiguous.status_code == 400
        problem = ambiguous.json()
        assert problem["type"].endswith(":ambiguous_name") and problem["position"] == len("返利 from:")
        assert {(c["id"], c["name"], c["detail"]) for c in problem["candidates"]} == {
            (sender, name, department),
            ("namesake01", name, ""),
        }
        assert sender in problem["detail"] and "namesake01" in problem["detail"]
        assert get(client, f"from:{sender}").json()["hits"] == by_id.json()["hits"]  # the id still works

        unknown = get(client, "customer:查无此人")
        assert unknown.status_code == 400 and unknown.json()["type"].endswith(":unknown_name")
        assert "matches nothing" in unknown.json()["detail"] and unknown.json()["candidates"] == []
