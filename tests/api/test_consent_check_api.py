"""API parity for what the command line or the console could do alone (issue 16): an
admin runs the consent ledger's check (``wecom-audit consent check``), the monitor
(``wecom-audit monitor run``) and marks days for a rebuild (``monitor rebuild``) over
HTTP, nobody else may; and the console overview's figures are ``GET /api/v1/overview``,
each part for the roles that cover it, within the caller's scope."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api import app as app_module
from api.app import create_app
from api.routes import consent as consent_routes
from api.routes import monitor as monitor_routes
from api.routes import overview as overview_routes
from api.routes.docs import DOCS_PATH
from tests.api.test_consent_api import _single_pairs, world
from tests.api.world import PASSWORD, World

__all__ = ["world"]  # the fixture, imported for pytest
NEW_ROUTES = [
    consent_routes.check_consent,
    monitor_routes.run_monitor,
    monitor_routes.rebuild_monitor,
    overview_routes.get_overview,
]


def _login(client: TestClient[Any], username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def _app(world: World) -> Litestar:
    registered = {id(handler) for handler in app_module.route_handlers()}
    assert all(id(handler) in registered for handler in NEW_ROUTES)
    return create_app(world.context)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_admin_runs_the_consent_check_and_the_monitor_through_the_api(world: World) -> None:
    with TestClient(app=_app(world)) as client:
        headers = _login(client, "compliance_officer")
        for path, body in (
            ("/api/v1/consent/check", {}),
            ("/api/v1/monitor/run", {}),
            ("/api/v1/monitor/rebuild", {"since": "2026-01-01"}),
        ):
            refused = client.post(path, json=body, headers=headers)
            assert refused.status_code == 403 and "permission" in refused.json()["type"], path
    with TestClient(app=_app(world)) as client:
        headers = _login(client, "admin")
        checked = client.post("/api/v1/consent/check", json={"all": True}, headers=headers)
        assert checked.status_code == 200, checked.text
        report: dict[str, Any] = checked.json()
        assert report["checks"]["pairs_checked"] == len(_single_pairs(world)) > 0
        assert report["checks"]["recorded"] == 0  # nothing changed since the fixture's run
        assert (
            client.post("/api/v1/consent/check", json={"corp_id": "wwNOSUCHCORP"}, headers=headers).status_code == 400
        )

        ran = client.post("/api/v1/monitor/run", json={}, headers=headers)
        assert ran.status_code == 200, ran.text
        assert ran.json()["corp_id"] == world.edge.simulator.corp_id
        rebuilt = client.post("/api/v1/monitor/rebuild", json={"since": "2020-01-01"}, headers=headers)
        assert rebuilt.status_code == 202, rebuilt.text
        assert rebuilt.json()["marked"] > 0
        again = client.post("/api/v1/monitor/run", json={}, headers=headers)
        assert again.json()["days_recomputed"] > 0
        assert client.post("/api/v1/monitor/rebuild", json={"since": "1899-12-31"}, headers=headers).status_code == 400
        assert client.post("/api/v1/monitor/run", json={"corp_id": "wwNOSUCHCORP"}, headers=headers).status_code == 400
        docs = client.get(f"{DOCS_PATH}/openapi.json")
    assert docs.status_code == 200, docs.text
    paths = docs.json()["paths"]
    assert {"/api/v1/consent/check", "/api/v1/monitor/run", "/api/v1/monitor/rebuild"} <= set(paths)
    assert all(paths[path]["post"].get("description") for path in ("/api/v1/consent/check", "/api/v1/monitor/run"))


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_overview_figures_are_in_the_api_for_the_roles_that_see_them(world: World) -> None:
    with TestClient(app=_app(world)) as client:
        headers = _login(client, "admin")
        assert client.post("/api/v1/monitor/run", json={}, headers=headers).status_code == 200
    shown: dict[str, dict[str, Any]] = {}
    for role in ("compliance_officer", "reviewer", "auditor"):
        with TestClient(app=_app(world)) as client:
            _login(client, role)
            response = client.get("/api/v1/overview?group_days=30")
            assert response.status_code == 200, response.text
            shown[role] = response.json()
            assert client.get("/api/v1/overview?timezone=Mars/Olympus").status_code == 400
    officer, reviewer = shown["compliance_officer"], shown["reviewer"]
    assert [corp["corp_id"] for corp in officer["ingest"]] == [world.edge.simulator.corp_id]
    assert officer["ingest"][0]["messages"] > 0 and officer["ingest"][0]["last_pull"]["status"] == "completed"
    assert sum(day["count"] for day in officer["alerts_by_day"]) >= sum(
        day["count"] for day in reviewer["alerts_by_day"]
    )
    assert officer["riskiest_groups"], "the world's groups had hits"
    assert {g["conversation_id"] for g in reviewer["riskiest_groups"]} <= world.reviewer_conversations
    assert reviewer["ingest"] is None
    assert shown["auditor"]["riskiest_groups"] is None and shown["auditor"]["alerts_by_day"] is None
