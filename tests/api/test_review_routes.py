"""The review desk in the JSON API, as the console and ``wecom-audit alerts`` offer it:
review steps one by one and in bulk, the sampling queue, routing rules, notifications and
the lexicon as a file (``api.routes.workflow``, ``api.routes.review``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from api import app as app_module
from api.app import create_app
from api.routes import review as review_routes
from audit.detect.hits import Severity
from audit.detect.rules.io import csv_text
from audit.detect.rules.spec import LexiconGroup
from tests.api.test_admin_routes import admin_actions, signed_in
from tests.api.world import World, build_world
from tests.conftest import Edge


@pytest.fixture
def world(edge: Edge) -> World:
    return build_world(edge, media=False)


@pytest.fixture
def client(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient[Any]]:
    registered = set(app_module.route_handlers())
    missing = [handler for handler in review_routes.HANDLERS if handler not in registered]
    monkeypatch.setattr(app_module, "FEATURE_ROUTES", [*app_module.FEATURE_ROUTES, *missing])
    with TestClient(app=create_app(world.context)) as test_client:
        yield test_client


def test_review_steps_one_by_one_and_in_bulk(world: World, client: TestClient[Any]) -> None:
    headers = signed_in(client, "reviewer")
    alert = f"/api/v1/alerts/{world.in_alert}"
    tagged = client.post(f"{alert}/review", json={"action": "tag", "add_tags": ["vip"]}, headers=headers)
    assert tagged.status_code == 200 and tagged.json()["tags"] == ["vip"]
    blank = client.post(f"{alert}/review", json={"action": "note", "note": "  "}, headers=headers)
    assert blank.status_code == 400  # was a 500 (the workflow's own error had no status)
    assigned = client.post(f"{alert}/review", json={"action": "assign", "assignee": "reviewer"}, headers=headers)
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "reviewer"
    detail = client.get(alert, headers=headers).json()
    assert [t["action"] for t in detail["trail"]] == ["tag", "claim"]

    outside = client.post(
        "/api/v1/alerts/review", json={"ids": [world.in_alert, world.out_alert], "action": "escalate"}, headers=headers
    )
    assert outside.status_code == 403  # nothing done when one is out of scope
    bulk = client.post(
        "/api/v1/alerts/review", json={"ids": [world.in_alert], "action": "claim"}, headers=headers
    ).json()
    assert bulk["done"] == [] and list(bulk["refused"]) == [str(world.in_alert)]  # already claimed
    bulk = client.post(
        "/api/v1/alerts/review", json={"ids": [world.in_alert], "action": "escalate", "note": "boss"}, headers=headers
    ).json()
    assert bulk == {"done": [world.in_alert], "refused": {}}
    receipts = client.get(f"{alert}/notifications", headers=headers)
    assert receipts.status_code == 200 and isinstance(receipts.json(), list)
    assert client.get(f"/api/v1/alerts/{world.out_alert}/notifications", headers=headers).status_code == 403


def test_the_sampling_queue_as_the_console_shows_it(world: World, client: TestClient[Any]) -> None:
    officer = signed_in(client, "compliance_officer")
    drawn = client.post("/api/v1/alerts/samples", json={"day": "2000-01-01", "rate": 1.0}, headers=officer)
    assert drawn.status_code == 200 and drawn.json() == []  # nothing was said that day
    bad = client.post("/api/v1/alerts/samples", json={"rate": 2.0}, headers=officer)
    assert bad.status_code == 400
    listed = client.get("/api/v1/alerts/samples", headers=officer)
    assert listed.status_code == 200
    missing = client.post("/api/v1/alerts/samples/999999/complete", json={"note": "x"}, headers=officer)
    assert missing.status_code == 403  # not probed: a missing sample is out of scope


def test_routing_rules_and_delivery_are_administration(world: World, client: TestClient[Any]) -> None:
    route = {"name": "desk", "targets": ["email:desk@example.com"], "min_severity": "high", "categories": ["pii"]}
    reviewer = signed_in(client, "reviewer")
    assert client.post("/api/v1/alerts/routes", json=route, headers=reviewer).status_code == 403
    assert client.post("/api/v1/notifications/deliver", headers=reviewer).status_code == 403
    admin = signed_in(client, "admin")  # the client's session is now the admin's
    created = client.post("/api/v1/alerts/routes", json=route, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["min_severity"] == "high" and created.json()["role"] == "reviewer"
    assert client.post("/api/v1/alerts/routes", json=route, headers=admin).status_code == 409
    assert [r["name"] for r in client.get("/api/v1/alerts/routes", headers=admin).json()] == ["desk"]
    assert client.delete("/api/v1/alerts/routes/desk", headers=admin).status_code == 200
    assert client.delete("/api/v1/alerts/routes/desk", headers=admin).status_code == 404
    delivered = client.post("/api/v1/notifications/deliver", headers=admin)
    assert delivered.status_code == 200 and set(delivered.json()) == {
        "delivered",
        "retried",
        "failed",
        "held",
        "digests",
    }
    assert [action for _, action, _ in admin_actions(world) if "routes" in action] == [
        "admin.routes.add",
        "admin.routes.remove",
    ]


def test_the_lexicon_goes_out_and_in_as_csv_or_excel(world: World, client: TestClient[Any]) -> None:
    officer = signed_in(client, "compliance_officer")
    corp_id = world.edge.simulator.corp_id
    group = LexiconGroup("side-deals", "fraud", Severity.MEDIUM, ("私下交易",))
    imported = client.put(
        f"/api/v1/rules?corp_id={corp_id}",
        content=csv_text([group]).encode(),
        headers={**officer, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200 and imported.json() == {"groups": 1}
    corp_group = client.get(f"/api/v1/rules/groups/side-deals?corp_id={corp_id}", headers=officer)
    assert corp_group.status_code == 200  # the corp's own group
    assert client.get("/api/v1/rules/groups/side-deals", headers=officer).status_code == 404  # not a global one
    workbook = client.get(f"/api/v1/rules/export.xlsx?corp_id={corp_id}", headers=officer)
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    again = client.put(
        "/api/v1/rules",
        content=workbook.content,
        headers={**officer, "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert again.status_code == 200 and again.json()["groups"] >= 1
    assert client.get("/api/v1/rules/groups/side-deals", headers=officer).status_code == 200  # now global too
