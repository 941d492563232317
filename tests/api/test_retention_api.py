"""Retention policies and legal holds through the JSON API: the same rules as the console's
settings page and ``wecom-audit retention`` (the same service), refusals as 400/404/409,
and administrators only."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from archive.retention.service import RetentionService, years_to_days
from config.database import session_scope
from tests.api.test_admin_routes import signed_in
from tests.api.world import World, build_world
from tests.conftest import Edge

POLICIES = "/api/v1/retention/policies"
HOLDS = "/api/v1/retention/holds"


@pytest.fixture
def world(edge: Edge) -> World:
    return build_world(edge, messages=60, media=False)


def test_policies_follow_the_retention_rules_and_are_in_the_history(world: World) -> None:
    corp_id = world.edge.simulator.corp_id
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "admin")
        assert client.get(POLICIES, headers=headers).json() == []

        corp = client.post(POLICIES, json={"scope": "corp", "days": 400, "reason": "policy 7.2"}, headers=headers)
        assert corp.status_code == 201, corp.text
        policy = corp.json()
        assert (policy["scope"], policy["retain_days"], policy["locked"], policy["updated_by"]) == (
            {"kind": "corp", "value": "", "label": "corp"},
            400,
            False,
            "admin",
        )
        department = client.post(
            POLICIES, json={"scope": f"department:{world.department_id}", "years": 7}, headers=headers
        )
        assert department.status_code == 201, department.text
        assert department.json()["retain_days"] == years_to_days(7)

        # Bad input: both periods, neither, an unknown scope, a duplicate, a century and more.
        for body in (
            {"scope": "corp", "days": 10, "years": 1},
            {"scope": "chat:group"},
            {"scope": "everything", "days": 3},
            {"scope": "corp", "days": 30},
            {"scope": "chat:group", "days": 40_000},
            {"scope": "corp", "days": "many"},
        ):
            refused = client.post(POLICIES, json=body, headers=headers)
            assert refused.status_code == 400, (body, refused.text)
        assert "department:ID" in client.post(POLICIES, json={"scope": "x", "days": 3}, headers=headers).json()["hint"]

        days = f"{POLICIES}/{policy['id']}/days"
        shorter = client.put(days, json={"days": 300}, headers=headers)
        assert shorter.status_code == 409 and "needs a reason" in shorter.json()["detail"]
        shortened = client.put(days, json={"days": 300, "reason": "legal review"}, headers=headers)
        assert shortened.status_code == 200 and shortened.json()["retain_days"] == 300
        locked = client.post(f"{POLICIES}/{policy['id']}/lock", json={"reason": "regulator"}, headers=headers)
        assert locked.status_code == 200 and locked.json()["locked"] is True
        again = client.post(f"{POLICIES}/{policy['id']}/lock", headers=headers)  # no body: changes nothing
        assert again.status_code == 200 and again.json()["locked"] is True
        never = client.put(days, json={"days": 200, "reason": "costs"}, headers=headers)
        assert never.status_code == 409 and never.json()["type"].endswith("retention_policy_locked")
        assert client.put(days, json={"days": 500}, headers=headers).json()["retain_days"] == 500  # longer: fine
        missing = client.put(f"{POLICIES}/999999/days", json={"days": 5, "reason": "x"}, headers=headers)
        assert missing.status_code == 404 and "retention policy list" in missing.json()["hint"]
        assert client.put(days, json={"reason": "no days"}, headers=headers).status_code == 400
        assert client.get(POLICIES, params={"corp_id": corp_id}, headers=headers).json()[0]["retain_days"] == 500

        history = client.get("/api/v1/retention/history", headers=headers).json()
        assert [entry["action"] for entry in history][:5] == [
            "policy.retention_changed",
            "policy.locked",
            "policy.retention_changed",
            "policy.created",
            "policy.created",
        ]
        assert history[2]["reason"] == "legal review" and history[2]["before"]["retain_days"] == 400
        assert client.get("/api/v1/retention/runs", headers=headers).json() == []

    # What the API changed is what the CLI and the console read (one service).
    with session_scope(world.context.session_factory) as session:
        seen = RetentionService(session, corp_id).policies()
    assert [(p.scope.label, p.retain_days, p.locked) for p in seen] == [
        ("corp", 500, True),
        (f"department:{world.department_id}", years_to_days(7), False),
    ]


def test_holds_are_placed_listed_and_released_with_a_reason(world: World) -> None:
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "admin")
        employee = client.post(
            HOLDS, json={"subjects": [["employee", "zhangsan"]], "reason": "lawsuit"}, headers=headers
        )
        assert employee.status_code == 201, employee.text
        assert (employee.json()["kind"], employee.json()["subjects"], employee.json()["active"]) == (
            "employee",
            [["employee", "zhangsan"]],
            True,
        )
        case = client.post(
            HOLDS,
            json={
                "subjects": [["customer", "wmABC"], ["room", "wrXYZ"]],
                "case": "CASE-2026-7",
                "starts_at": "2026-01-01T00:00:00+08:00",
                "ends_at": "2026-03-01T00:00:00+08:00",
            },
            headers=headers,
        )
        assert case.status_code == 201 and case.json()["name"] == "CASE-2026-7" and case.json()["kind"] == "case"

        for body in (
            {},  # nothing to hold
            {"subjects": [["employee", "a"], ["room", "b"]]},  # several subjects need a case
            {"subjects": [["planet", "mars"]]},
            {"starts_at": "2026-01-01T00:00:00"},  # no zone
            {"starts_at": "2026-02-01T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"},
        ):
            refused = client.post(HOLDS, json=body, headers=headers)
            assert refused.status_code == 400, (body, refused.text)

        release = f"{HOLDS}/{employee.json()['id']}/release"
        assert client.post(release, json={}, headers=headers).status_code == 400  # the reason is required
        blank = client.post(release, json={"reason": "   "}, headers=headers)
        assert blank.status_code == 409 and "give a reason" in blank.json()["detail"]
        released = client.post(release, json={"reason": "case closed"}, headers=headers)
        assert released.status_code == 200, released.text
        assert (released.json()["active"], released.json()["release_reason"]) == (False, "case closed")
        assert client.post(release, json={"reason": "twice"}, headers=headers).status_code == 409
        assert client.post(f"{HOLDS}/424242/release", json={"reason": "x"}, headers=headers).status_code == 404

        assert [h["name"] for h in client.get(HOLDS, headers=headers).json()] == ["CASE-2026-7"]
        everything = client.get(HOLDS, params={"include_released": "true"}, headers=headers).json()
        assert sorted(h["name"] for h in everything) == ["CASE-2026-7", "employee:zhangsan"]
        actions = [e["action"] for e in client.get("/api/v1/retention/history", headers=headers).json()]
        assert actions == ["hold.released", "hold.created", "hold.created"]


@pytest.mark.parametrize("user", ["compliance_officer", "reviewer", "auditor"])
def test_only_administrators_see_or_change_retention(world: World, user: str) -> None:
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, user)
        calls: list[tuple[str, str, Any]] = [
            ("GET", POLICIES, None),
            ("POST", POLICIES, {"scope": "corp", "days": 30}),
            ("PUT", f"{POLICIES}/1/days", {"days": 30}),
            ("POST", f"{POLICIES}/1/lock", {}),
            ("GET", HOLDS, None),
            ("POST", HOLDS, {"subjects": [["employee", "x"]]}),
            ("POST", f"{HOLDS}/1/release", {"reason": "x"}),
            ("GET", "/api/v1/retention/history", None),
            ("GET", "/api/v1/retention/runs", None),
        ]
        for method, path, body in calls:
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, (method, path, response.text)
    with TestClient(app=create_app(world.context)) as anonymous:
        assert anonymous.get(POLICIES).status_code == 401
