"""One corp's completeness, lag and member coverage through the JSON API: the same report as
``wecom-audit completeness`` (one use case); bad input 400, roles without archive:status 403."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient

from api.app import create_app
from archive.completeness import service
from config.database import session_scope
from tests.api.test_admin_routes import signed_in
from tests.api.world import World, build_world
from tests.conftest import Edge


@pytest.fixture
def world(edge: Edge) -> World:
    built = build_world(edge, messages=60, media=False)
    built.context.settings.wecom.api_base_url = edge.server.url  # the simulated WeCom's permit list
    return built


def test_the_report_has_gaps_lag_thresholds_alerts_and_consent(world: World) -> None:
    corp_id = world.edge.simulator.corp_id
    path = f"/api/v1/archive/completeness/{corp_id}"
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "compliance_officer")
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        report = response.json()
        with session_scope(world.context.session_factory) as session:
            summary = service.gap_summary(session, corp_id)
        assert report["corp_id"] == corp_id and report["gaps"]["envelopes"] == summary.envelopes
        assert report["gaps"]["gaps"] == summary.gaps and len(report["first_gaps"]) == min(summary.gaps, 20)
        assert report["lag"]["corp_id"] == corp_id and report["lag"]["newest_msgtime"] is not None
        assert report["thresholds"] == {"lag_warning_h": 12.0, "lag_critical_h": 24.0, "seq_gap_tolerance": 0}
        assert sorted(finding["kind"] for finding in report["findings"]) == ["media_lag", "message_lag", "seq_gap"]
        assert isinstance(report["open_alerts"], list) and "pairs_seen" in report["consent"]
        assert client.get(path, params={"gap_limit": 1, "from_seq": 0}, headers=headers).status_code == 200

        for query in ({"gap_limit": 0}, {"gap_limit": "x"}, {"from_seq": -1}):
            assert client.get(path, params=query, headers=headers).status_code == 400, query
        empty = client.get("/api/v1/archive/completeness/nobody", headers=headers).json()
        assert (empty["gaps"]["envelopes"], empty["lag"]["newest_msgtime"]) == (0, None)


def test_member_coverage_asks_wecom_for_the_permit_list(world: World) -> None:
    corp_id = world.edge.simulator.corp_id
    path = f"/api/v1/archive/completeness/{corp_id}/coverage"
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "admin")
        response = client.get(path, params={"days": 3}, headers=headers)
        assert response.status_code == 200, response.text
        coverage = response.json()
        assert coverage["permitted"] == sum(1 for e in world.edge.simulator.company.employees if e.archived)
        assert len(coverage["days"]) == 3 and coverage["zone"] == "Asia/Shanghai"
        assert coverage["covered"] + coverage["silent"] == coverage["permitted"]
        since = datetime.fromisoformat(coverage["since"])
        assert datetime.now(UTC) - since <= timedelta(days=3)

        assert client.get(path, params={"zone": "Mars/Olympus"}, headers=headers).status_code == 400
        assert client.get(path, params={"days": 0}, headers=headers).status_code == 400
        assert client.get("/api/v1/archive/completeness/elsewhere/coverage", headers=headers).status_code == 404
        world.context.settings.wecom.api_base_url = "http://127.0.0.1:9"  # nobody listens
        assert client.get(path, headers=headers).status_code in (502, 503)


@pytest.mark.parametrize("user", ["reviewer", "auditor", "manager"])
def test_roles_without_archive_status_are_refused(world: World, user: str) -> None:
    corp_id = world.edge.simulator.corp_id
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, user)
        assert client.get(f"/api/v1/archive/completeness/{corp_id}", headers=headers).status_code == 403
        assert client.get(f"/api/v1/archive/completeness/{corp_id}/coverage", headers=headers).status_code == 403
