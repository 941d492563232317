"""The JSON API over a real archive: status shows what the puller stored; operations
endpoints (health, readiness, metrics, docs) work without internet; metrics answer only to
the scrape token, the docs only to signed-in users unless opened (docs/security.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr

from api.app import create_app
from archive.clock import utcnow
from audit.security import service as security
from config.database import session_scope
from tests.conftest import Edge

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_status_endpoint_reports_the_archive(edge: Edge) -> None:
    edge.simulator.populate(500, messages_per_day=20_000, seq_gap_every=100)
    edge.register_keys()
    context = edge.context()
    context.settings.api.metrics_token = SecretStr("scrape-token")
    assert context.puller(edge.simulator.corp_id).run().stored == 500
    with session_scope(context.session_factory) as session:
        security.create_user(
            session, security.cli_principal("cli:test"), username="ops", password=PASSWORD, role="admin", now=utcnow()
        )
    with TestClient(app=create_app(context)) as client:
        assert client.get("/health/live").json() == {"status": "ok"}
        assert client.get("/api/v1/archive/status").status_code == 401
        client.post("/api/v1/auth/login", json={"username": "ops", "password": PASSWORD})
        response = client.get("/api/v1/archive/status")
        completeness = client.get("/api/v1/archive/completeness")
        ready = client.get("/health/ready")
        # A signed-in admin is no scraper: /metrics takes the scrape token only.
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer another-token"}).status_code == 401
        metrics = client.get("/metrics", headers={"Authorization": "Bearer scrape-token"})
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

    assert ready.status_code == 200
    assert {check["name"]: check["ok"] for check in ready.json()["checks"]} == {"database": True, "search": True}
    text = metrics.text
    corp = edge.simulator.corp_id
    assert f'wecom_audit_messages_stored{{corp_id="{corp}"}} 500.0' in text
    assert f'wecom_audit_pull_runs_total{{corp_id="{corp}",status="completed"}} 1.0' in text
    assert re.search(r"wecom_audit_outbox_depth\{consumer=\"detect\"\} [1-9]", text)  # one entry per batch
    assert re.search(r"wecom_audit_search_lag_seconds [0-9]", text)  # stored, not yet detected nor indexed
    assert (
        'wecom_audit_http_request_duration_seconds_count{method="GET",route="/api/v1/archive/status",status="200"}'
        in text
    )


class _Beat:
    """What /health/ready reads of a scheduler: its heartbeat and interval."""

    def __init__(self, heartbeat: object) -> None:
        self.heartbeat, self.interval_s = heartbeat, 30.0

    def trigger(self, corp_id: str) -> None:  # pragma: no cover - not called here
        raise AssertionError


def test_readiness_reports_a_silent_scheduler(tmp_path: Path) -> None:
    from datetime import timedelta

    from api.context import AppContext
    from config.settings import Settings

    context = AppContext(Settings(data_dir=tmp_path))
    context.migrate()
    fresh = create_app(context, scheduler=_Beat(utcnow()))
    stale = create_app(context, scheduler=_Beat(utcnow() - timedelta(hours=1)))
    with TestClient(app=fresh) as client:
        assert client.get("/health/ready").status_code == 200
    with TestClient(app=stale) as client:
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert {"name": "scheduler", "ok": False, "detail": "no recent pull"} in response.json()["checks"]
    context.close()


def test_docs_work_offline_with_strict_headers(tmp_path: Path) -> None:
    from api.context import AppContext
    from config.settings import ApiSettings, Settings

    settings = Settings(data_dir=tmp_path, api=ApiSettings(public_docs=True))
    with TestClient(app=create_app(AppContext(settings))) as client:
        page = client.get("/api/docs")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(url.startswith("/api/docs/assets/") for url in assets)
        for url in assets:
            asset = client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 100
        assert "<script>" not in page.text  # no inline script: the CSP forbids it
        init = client.get("/api/docs/assets/swagger-init.js").text
        assert "http" not in init
        schema = client.get("/api/docs/openapi.json").json()
    csp = page.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "frame-ancestors 'none'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "no-referrer"
    assert "/api/v1/messages/{message_id}" in schema["paths"]
    assert schema["paths"]["/api/v1/messages/{message_id}"]["get"]["responses"]["428"]["content"][
        "application/problem+json"
    ]
