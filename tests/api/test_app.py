"""The JSON API over a real archive: status shows what the puller stored."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from api.app import create_app
from tests.conftest import Edge


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_status_endpoint_reports_the_archive(edge: Edge) -> None:
    edge.simulator.populate(500, messages_per_day=20_000, seq_gap_every=100)
    edge.register_keys()
    context = edge.context()
    assert context.puller(edge.simulator.corp_id).run().stored == 500
    with TestClient(app=create_app(context)) as client:
        assert client.get("/health/live").json() == {"status": "ok"}
        response = client.get("/api/v1/archive/status")
        completeness = client.get("/api/v1/archive/completeness")
    context.close()
    assert response.status_code == 200
    (row,) = response.json()
    assert row["corp_id"] == edge.simulator.corp_id
    assert row["messages"] == 500 and row["quarantined"] == 0
    assert row["last_pull"]["status"] == "completed"
    assert row["media"].get("pending", 0) > 0  # attachments wait for the media job

    assert completeness.status_code == 200
    (report,) = completeness.json()
    assert report["gaps"]["gaps"] == len(report["first_gaps"]) >= 4  # one after every 100 messages
    assert report["lag"]["pending_media"] == row["media"]["pending"]
    assert report["open_alerts"] == []
