"""A read made with an API token is logged under that token, not only its owner (issue 15
item 4): an auditor can tell an integration's reads from the officer's own."""

from __future__ import annotations

from datetime import timedelta

from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from archive.clock import utcnow
from audit.accesslog.models import AccessLogEntry
from audit.security import service as security
from config.database import session_scope
from tests.api.world import PASSWORD, PURPOSE, World, build_world, signed_in
from tests.conftest import Edge


def test_a_read_with_a_token_names_the_token_in_its_row_and_the_listing(edge: Edge) -> None:
    world: World = build_world(edge, messages=40, media=False)
    with session_scope(world.context.session_factory) as session:
        view, secret = security.create_token(
            session,
            signed_in(session, "compliance_officer"),
            username="compliance_officer",
            name="integration",
            permissions=["content:read"],
            ttl=timedelta(days=1),
            now=utcnow(),
        )
    with TestClient(app=create_app(world.context)) as client:
        read = client.get(
            f"/api/v1/messages/{world.in_message}",
            headers={"Authorization": f"Bearer {secret}", "X-Access-Purpose": PURPOSE},
        )
        assert read.status_code == 200, read.text
        with session_scope(world.context.session_factory) as session:
            row = session.execute(select(AccessLogEntry).order_by(AccessLogEntry.position.desc()).limit(1)).scalar_one()
        assert (row.actor, row.via, row.action, row.token_id) == (
            "compliance_officer",
            "token",
            "content.message",
            view.id,
        )

        login = client.post("/api/v1/auth/login", json={"username": "auditor", "password": PASSWORD})
        assert login.status_code == 200, login.text
        listed = client.get("/api/v1/access-log", params={"action": "content.message"}).json()["items"]
        assert listed[0]["token_id"] == view.id
        assert client.get("/api/v1/access-log/verify").json()["ok"] is True


def test_an_admin_action_made_with_a_token_names_the_token(edge: Edge) -> None:
    world: World = build_world(edge, messages=40, media=False)
    with session_scope(world.context.session_factory) as session:
        view, secret = security.create_token(
            session,
            security.cli_principal("cli:test"),
            username="admin",
            name="provisioning",
            permissions=["users:admin"],
            ttl=timedelta(days=1),
            now=utcnow(),
        )
    with TestClient(app=create_app(world.context)) as client:
        granted = client.post(
            "/api/v1/users/manager/grants",
            json={"conversation_ids": [world.out_conversation], "reason": "cover for a colleague"},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert granted.status_code == 200, granted.text
    with session_scope(world.context.session_factory) as session:
        row = (
            session.execute(
                select(AccessLogEntry)
                .where(AccessLogEntry.action == "admin.grant.conversations")
                .order_by(AccessLogEntry.position.desc())
            )
            .scalars()
            .first()
        )
    assert row is not None and (row.actor, row.via, row.token_id) == ("admin", "token", view.id)


def test_an_auditor_verifies_and_checkpoints_the_log_through_the_api(edge: Edge) -> None:
    """``POST /api/v1/access-log/checkpoints`` does what ``wecom-audit access-log verify`` does."""
    world: World = build_world(edge, messages=10, media=False)
    with TestClient(app=create_app(world.context)) as client:
        login = client.post("/api/v1/auth/login", json={"username": "auditor", "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"X-CSRF-Token": login.json()["csrf_token"]}
        done = client.post("/api/v1/access-log/checkpoints", headers=headers)
        assert done.status_code == 200, done.text
        report = done.json()["report"]
        assert report["ok"] is True and report["problems"] == []
        checkpoint = done.json()["checkpoint"]
        assert checkpoint is not None and checkpoint["position"] == report["head_position"]
        again = client.post("/api/v1/access-log/checkpoints", headers=headers).json()
        # The second call's verification is itself not logged: the head did not move.
        assert again["report"]["ok"] is True and again["report"]["checkpoints_checked"] >= 1
