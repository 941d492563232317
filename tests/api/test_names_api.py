"""Display names in the API (issue 14): every list and detail that carries a person's or a
group's id also carries its name from the directory, and says when it is not synced yet."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete

from api.app import create_app
from archive.directory.models import DirectoryCustomer, DirectoryGroup
from audit.monitor import jobs as monitor_jobs
from config.database import session_scope
from tests import directory_rows
from tests.api.test_cli import cli
from tests.api.world import PASSWORD, PURPOSE, World, build_world
from tests.conftest import Edge

RAW_ID = re.compile(r"\b(wo|wm|wr)[A-Za-z0-9_-]{10,}")
HEADERS = {"X-Access-Purpose": PURPOSE}


@pytest.fixture
def world(edge: Edge) -> World:
    world = build_world(edge, media=False)
    company = edge.simulator.company
    with session_scope(world.context.session_factory) as session:
        directory_rows.whole_company(session, company)
    monitor_jobs.run_all(world.context.session_factory, edge.settings)  # the group rankings
    return world


def _get(client: TestClient[Any], path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


def test_lists_and_details_carry_names_and_the_unsynced_are_marked(world: World, edge: Edge) -> None:
    company = edge.simulator.company
    customers = {c.external_userid: c for c in company.customers}
    groups = {g.roomid: g.name for g in company.groups}
    employees = {e.userid: e.name for e in company.employees}
    with TestClient(app=create_app(world.context)) as client:
        client.post("/api/v1/auth/login", json={"username": "compliance_officer", "password": PASSWORD})
        hits = _get(client, "/api/v1/search", q="", limit=500, facet=["sender", "room"])
        conversations = _get(client, "/api/v1/conversations", limit=200)["items"]
        messages = _get(client, f"/api/v1/conversations/{world.in_conversation}/messages", limit=200)["items"]
        alerts = _get(client, "/api/v1/alerts", status=["new"])["items"]
        alert = _get(client, f"/api/v1/alerts/{world.in_alert}")["alert"]
        ranked = _get(client, "/api/v1/monitor/groups", limit=200)

    senders = {hit["sender"]: hit for hit in hits["hits"]}
    assert any(s in customers for s in senders) and any(s in employees for s in senders)
    for sender, hit in senders.items():
        expected = employees.get(sender) or (customers[sender].name if sender in customers else None)
        if expected is None:  # a robot or someone the simulated directory does not list
            continue
        assert hit["sender_synced"] is True
        assert hit["sender_name"].startswith(expected), (sender, hit["sender_name"])
        if sender in customers and customers[sender].type == 2:
            assert f"＠{customers[sender].corp_name}" in hit["sender_name"]
        assert not RAW_ID.search(hit["sender_name"])
    for hit in hits["hits"]:
        if hit["roomid"] in groups:
            assert hit["room_name"].startswith(groups[hit["roomid"]])
    for value in hits["facets"]["room"]:
        assert value["name"].startswith(groups[value["value"]])

    for conversation in conversations:
        assert [n["id"] for n in conversation["participant_names"]] == conversation["participants"]
        if conversation["roomid"] in groups:
            assert conversation["room_name"].startswith(groups[conversation["roomid"]])
    assert all(m["sender_name"] for m in messages)
    assert any(a["room_name"] or a["participant_names"] for a in alerts)
    assert alert["room_name"] or [n["name"] for n in alert["participant_names"]]
    assert ranked and all(g["room_name"].startswith(groups[g["roomid"]]) for g in ranked if g["roomid"] in groups)

    # Once the directory forgets them, the same lists say so and fall back to the id.
    with session_scope(world.context.session_factory) as session:
        session.execute(delete(DirectoryCustomer))
        session.execute(delete(DirectoryGroup))
    with TestClient(app=create_app(world.context)) as client:
        client.post("/api/v1/auth/login", json={"username": "compliance_officer", "password": PASSWORD})
        hits = _get(client, "/api/v1/search", q="", limit=500)
        ranked = _get(client, "/api/v1/monitor/groups", limit=200)
    customer_hits = [hit for hit in hits["hits"] if hit["sender"] in customers]
    assert customer_hits
    for hit in customer_hits:
        assert hit["sender_synced"] is False and hit["sender_name"] == hit["sender"]
    assert all(g["room_synced"] is False and g["room_name"] == g["roomid"] for g in ranked if g["roomid"])


def test_the_cli_prints_names_with_the_ids_to_copy(world: World, edge: Edge) -> None:
    company = edge.simulator.company
    customers = {c.external_userid: c.name for c in company.customers}
    env = edge.env()
    searched = cli(env, "search", "--json", "--limit", "200", "")
    assert searched.returncode == 0, searched.stderr
    hits = [json.loads(line) for line in searched.stdout.splitlines()][:-1]
    from_customers = [hit for hit in hits if hit["sender"] in customers]
    assert from_customers
    for hit in from_customers:
        assert hit["sender_synced"] is True and hit["sender_name"].startswith(customers[hit["sender"]])
    table = cli(env, "search", "--limit", "50", "")
    assert table.returncode == 0, table.stderr
    # Name and id side by side: "name (id)".
    assert any(f"{customers[h['sender']]}" in table.stdout and h["sender"] in table.stdout for h in from_customers)

    listed = cli(env, "alerts", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    where = [place for line in listed.stdout.splitlines() for place in json.loads(line)["where"]]
    assert where and all(place["name"] and place["id"] for place in where)
