"""Rules one group at a time, rule simulation, grants and protected people, monitoring
detail and alert paging — as an administrator, officer or reviewer would use them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from archive.clock import utcnow
from archive.models import Message
from audit.accesslog.models import AccessLogEntry
from audit.alerts.service import raise_alert
from audit.detect.hits import Severity
from audit.monitor.models import ConversationDaily
from audit.security.models import SecurityUser
from config.database import session_scope
from tests.api.world import PASSWORD, PURPOSE, World, build_world
from tests.conftest import Edge

GROUP = {"name": "side-deals", "category": "fraud", "severity": "medium", "terms": ["私下交易"]}


@pytest.fixture
def world(edge: Edge) -> World:
    return build_world(edge, media=False)


def signed_in(client: TestClient[Any], username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"], "X-Access-Purpose": PURPOSE}


def admin_actions(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    with session_scope(world.context.session_factory) as session:
        return [
            (row.actor, row.action, dict(row.target))
            for row in session.execute(
                select(AccessLogEntry)
                .where(AccessLogEntry.action.startswith("admin."))
                .order_by(AccessLogEntry.position)
            ).scalars()
        ]


def test_a_word_group_is_created_changed_switched_and_deleted_and_each_step_is_logged(world: World) -> None:
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "compliance_officer")
        created = client.post("/api/v1/rules/groups", json=GROUP, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["terms"] == ["私下交易"] and created.json()["enabled"] is True
        assert client.post("/api/v1/rules/groups", json=GROUP, headers=headers).status_code == 409

        changed = client.put(
            "/api/v1/rules/groups/side-deals",
            json={**GROUP, "severity": "high", "terms": ["私下交易", "走私单"]},
            headers=headers,
        )
        assert changed.status_code == 200
        assert (changed.json()["severity"], changed.json()["terms"]) == ("high", ["私下交易", "走私单"])
        disabled = client.post("/api/v1/rules/groups/side-deals/disable", headers=headers)
        assert disabled.json()["enabled"] is False
        assert client.get("/api/v1/rules/groups/side-deals", headers=headers).json()["enabled"] is False
        assert client.post("/api/v1/rules/groups/side-deals/enable", headers=headers).json()["enabled"] is True
        assert client.delete("/api/v1/rules/groups/side-deals", headers=headers).status_code == 200
        gone = client.get("/api/v1/rules/groups/side-deals", headers=headers)
        assert gone.status_code == 404 and "GET /api/v1/rules" in gone.json()["hint"]
        blank = client.post("/api/v1/rules/groups", json={**GROUP, "name": "   "}, headers=headers)
        assert blank.status_code == 400

    assert [(a, action, target["group"]) for a, action, target in admin_actions(world) if "rules" in action] == [
        ("compliance_officer", f"admin.rules.{step}", "side-deals")
        for step in ("create", "update", "disable", "enable", "delete")
    ]


def test_a_simulation_counts_the_whole_corp_but_samples_only_the_callers_scope(world: World) -> None:
    with session_scope(world.context.session_factory) as session:
        texts = session.execute(
            select(Message.text).where(
                Message.conversation_id == world.out_conversation, Message.msgtype == "text", Message.text.is_not(None)
            )
        ).scalars()
        term = next(text for text in texts if text and len(text.strip()) >= 4).strip()[:4]
    draft = {"groups": [{**GROUP, "name": "draft", "terms": [term]}], "days": 90}
    results = {}
    for user in ("compliance_officer", "admin", "reviewer"):
        with TestClient(app=create_app(world.context)) as client:
            results[user] = client.post("/api/v1/rules/simulate", json=draft, headers=signed_in(client, user))
    assert results["reviewer"].status_code == 403  # reviewers read rules; officers change and try them
    (officer,) = results["compliance_officer"].json()["rules"]
    (admin,) = results["admin"].json()["rules"]
    assert officer["rule"] == "draft" and officer["hits"] >= 1 and officer["messages"] >= 1
    assert (admin["hits"], admin["messages"], admin["alerts"]) == (
        officer["hits"],
        officer["messages"],
        officer["alerts"],
    )
    assert officer["samples"] and all(term not in sample["excerpt"] for sample in officer["samples"])  # masked
    assert admin["samples"] == []  # the admin reads no chats: counts only
    simulated = [actor for actor, action, _ in admin_actions(world) if action == "admin.rules.simulate"]
    assert simulated == ["compliance_officer", "admin"]


def test_grants_and_protected_people_are_listed_and_removed_with_a_log_row(world: World) -> None:
    corp_id = world.edge.simulator.corp_id
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "admin")
        grants = client.get("/api/v1/users/manager/grants", headers=headers).json()
        assert [(g["conversation_id"], g["reason"]) for g in grants] == [
            (world.in_conversation, "handover of a leaver")
        ]
        # A conversation that does not exist is a 404 naming it (it was a 500: a foreign key).
        nowhere = client.post(
            "/api/v1/users/manager/grants", json={"conversation_ids": [99_999_999], "reason": "x"}, headers=headers
        )
        assert nowhere.status_code == 404 and "99999999" in nowhere.json()["detail"]
        protect = client.put(
            f"/api/v1/protected-people/{corp_id}/ceo",
            json={"reason": "executive", "officers": ["compliance_officer"]},
            headers=headers,
        )
        assert protect.status_code == 200
        listed = client.get("/api/v1/protected-people", headers=headers).json()
        assert [(p["userid"], p["officers"]) for p in listed] == [("ceo", ["compliance_officer"])]

        remaining = client.delete(f"/api/v1/users/manager/grants/{world.in_conversation}", headers=headers)
        assert remaining.status_code == 200 and remaining.json() == []
        again = client.delete(f"/api/v1/users/manager/grants/{world.in_conversation}", headers=headers)
        assert again.status_code == 404
        assert client.delete(f"/api/v1/protected-people/{corp_id}/ceo", headers=headers).json() == []
    with TestClient(app=create_app(world.context)) as client:
        manager = signed_in(client, "manager")
        # The grant is gone: the handover manager no longer reads that conversation.
        assert client.get(f"/api/v1/messages/{world.in_message}", headers=manager).status_code == 403
    actions = [(action, target) for _actor, action, target in admin_actions(world)]
    revoked = {"user_id": _user_id(world, "manager"), "conversation_ids": [world.in_conversation]}
    assert ("admin.grant.revoke", revoked) in actions
    assert ("admin.protected.remove", {"corp_id": corp_id, "userid": "ceo"}) in actions


def _user_id(world: World, username: str) -> int:
    from audit.security import service as security

    with session_scope(world.context.session_factory) as session:
        return security.get_user(session, username).id


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_monitoring_detail_is_scoped_and_top_words_are_logged_reads(world: World) -> None:
    today = utcnow().date().isoformat()
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "reviewer")
        series_in = client.get(f"/api/v1/monitor/groups/{world.in_conversation}/series", headers=headers)
        series_out = client.get(f"/api/v1/monitor/groups/{world.out_conversation}/series", headers=headers)
        words = client.get(f"/api/v1/monitor/groups/{world.in_conversation}/words?day={today}", headers=headers)
        employees = client.get("/api/v1/monitor/employees", headers=headers)
    assert (series_in.status_code, series_out.status_code, words.status_code) == (200, 403, 200)
    assert employees.status_code == 200
    with session_scope(world.context.session_factory) as session:
        logged = [
            (row.action, row.purpose, row.outcome)
            for row in session.execute(select(AccessLogEntry).order_by(AccessLogEntry.position)).scalars()
            if row.actor == "reviewer" and row.action.startswith("content.")
        ]
    # Series are counts (not logged); top words are chat fragments (logged with purpose).
    assert logged == [("content.top_words", PURPOSE, "allowed")]


def test_alert_pages_are_full_for_a_scoped_reviewer(world: World) -> None:
    corp_id = world.edge.simulator.corp_id
    with session_scope(world.context.session_factory) as session:
        now = utcnow()
        for minute in range(12):  # newer alerts, all outside the reviewer's scope
            raise_alert(
                session,
                corp_id=corp_id,
                conversation_id=world.out_conversation,
                rule=f"test.hidden.{minute}",
                category="test",
                severity=Severity.HIGH,
                source="detect",
                explanation={"matches": []},
                message_ids=[world.out_message],
                now=now + timedelta(minutes=minute),
            )
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "reviewer")
        first = client.get("/api/v1/alerts?limit=1", headers=headers).json()
    # Before, the first page held a hidden alert (dropped after the query): an empty page.
    assert [item["id"] for item in first["items"]] == [world.in_alert]


def test_the_first_word_group_keeps_the_starter_lexicons_in_force(world: World) -> None:
    """With empty rule tables detection runs on the starter lexicons; creating the first
    group (or importing a file) must add to them, not silently replace them."""
    from audit.detect.rules.models import LexiconGroupRow
    from audit.detect.rules.service import rules_or_starter
    from audit.detect.rules.starter import starter_groups

    data_dir = world.context.settings.detection.lexicon_data_dir
    with session_scope(world.context.session_factory) as session:
        for row in session.scalars(select(LexiconGroupRow)).all():
            session.delete(row)
        session.flush()
        in_force = {group.name for group in rules_or_starter(session, data_dir=data_dir).groups}
    assert in_force == {group.name for group in starter_groups(data_dir)}

    with TestClient(app=create_app(world.context)) as client:
        created = client.post("/api/v1/rules/groups", json=GROUP, headers=signed_in(client, "compliance_officer"))
        assert created.status_code == 201, created.text
    with session_scope(world.context.session_factory) as session:
        after = {group.name for group in rules_or_starter(session, data_dir=data_dir).groups}
    assert after == in_force | {GROUP["name"]}


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_monitoring_defaults_to_today_in_the_detection_zone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 17:00 UTC it is already tomorrow in Shanghai, where rollup days are dated: the
    default period must include that day (a UTC "today" would leave it out)."""
    evening_utc = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    shanghai_day = date(2026, 11, 24)
    monkeypatch.setattr("api.routes.monitor.utcnow", lambda: evening_utc)
    with session_scope(world.context.session_factory) as session:
        session.add(
            ConversationDaily(
                conversation_id=world.in_conversation,
                day=shanghai_day,
                corp_id=world.edge.simulator.corp_id,
                kind="group",
                messages=7,
                customer_messages=3,
                active_members=2,
                scored=0,
                negative=0,
                complaints=0,
                threats=0,
                hits=1,
                hit_points=6,
                hits_by_category={"test": 1},
                unanswered_customers=0,
                computed_at=evening_utc,
            )
        )
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "compliance_officer")
        series = client.get(f"/api/v1/monitor/groups/{world.in_conversation}/series", headers=headers)
        ranked = client.get("/api/v1/monitor/groups", headers=headers)
    assert series.status_code == 200 and ranked.status_code == 200
    assert {"day": shanghai_day.isoformat(), "messages": 7}.items() <= series.json()[-1].items()
    assert world.in_conversation in {group["conversation_id"] for group in ranked.json()}


def test_an_account_created_through_the_api_belongs_to_its_wecom_member(world: World) -> None:
    """As the console's users page and ``wecom-audit users add --wecom-userid`` do."""
    member = next(e.userid for e in world.edge.simulator.company.employees)
    body = {"username": "linked", "password": "Kq7#vantage-lattice-19", "role": "reviewer", "wecom_userid": member}
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "admin")
        created = client.post("/api/v1/users", json=body, headers=headers)
        assert created.status_code == 201, created.text
        assert set(created.json()) == {
            "id", "username", "display_name", "role", "scope_all", "departments", "disabled", "created_at"
        }  # fmt: skip
    with session_scope(world.context.session_factory) as session:
        user = session.execute(select(SecurityUser).where(SecurityUser.username == "linked")).scalar_one()
        assert (user.wecom_corp_id, user.wecom_userid) == (world.edge.simulator.corp_id, member)
    assert admin_actions(world)[-1][1:] == (
        "admin.user.create",
        {
            "user": "linked",
            "role": "reviewer",
            "scope_all": False,
            "departments": [],
            "wecom_member": [world.edge.simulator.corp_id, member],
        },
    )
