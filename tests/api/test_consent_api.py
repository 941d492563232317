"""The consent ledger over HTTP, in the console and on the command line: a compliance
officer reads a customer's consent (purpose, access log), a reviewer only what their scope
covers, bad requests are 4xx — and `wecom-audit consent check|show` do the same work."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from archive.consent import service
from archive.consent.jobs import ConsentCheckLimits, run_corp
from archive.messages import is_external_id
from archive.models import Conversation
from archive.simulator.consent import ConsentWorld
from audit.accesslog.models import AccessLogEntry
from config.database import session_scope
from tests.api import handover_probes
from tests.api.world import PASSWORD, PURPOSE, World, build_world
from tests.conftest import Edge

LIMITS = ConsentCheckLimits(timedelta(hours=24), max_pairs=5000, max_rooms=500)


@dataclass
class Declined:
    """The in-scope single chat whose customer declined archiving (and never agreed since)."""

    conversation_id: int
    member: str
    customer: str
    at_ms: int


@pytest.fixture
def world(edge: Edge) -> World:
    built = build_world(edge, media=False)
    edge.settings.wecom.api_base_url = edge.server.url
    consent = ConsentWorld(edge.simulator, baseline_ms=1_690_000_000_000).install(edge.server)
    conversation_id, (member, customer) = min(
        (c, p) for c, p in _single_pairs(built).items() if c in built.reviewer_conversations
    )
    # Recent: the simulated WeCom serves only messages inside its retention window.
    declined_ms = int((datetime.now(UTC) - timedelta(hours=2)).timestamp()) * 1000
    consent.change(member, customer, "Disagree", declined_ms, callback=False)
    assert built.context.puller(edge.simulator.corp_id).run().status == "completed"
    asyncio.run(run_corp(edge.database.sessions, edge.settings.wecom, datetime.now(UTC), LIMITS))
    built.__dict__["declined"] = Declined(conversation_id, member, customer, declined_ms)
    return built


def declined(world: World) -> Declined:
    found: Declined = world.__dict__["declined"]
    return found


def _single_pairs(world: World) -> dict[int, tuple[str, str]]:
    """Single conversations with a customer: id → (member, customer)."""
    pairs: dict[int, tuple[str, str]] = {}
    with session_scope(world.context.session_factory) as session:
        for c in session.scalars(select(Conversation).where(Conversation.kind == "single", Conversation.has_external)):
            a, b = c.participant_a or "", c.participant_b or ""
            if is_external_id(a) != is_external_id(b):
                pairs[c.id] = (b, a) if is_external_id(a) else (a, b)
    return pairs


def login(client: TestClient[Any], username: str) -> None:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text


def consent_reads(world: World) -> list[AccessLogEntry]:
    with session_scope(world.context.session_factory) as session:
        return [
            row
            for row in session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.position))
            if row.action == "content.consent"
        ]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_compliance_officer_reads_a_customers_consent_with_a_purpose(world: World) -> None:
    pairs = _single_pairs(world)
    member, customer = next(iter(pairs.values()))
    with TestClient(app=create_app(world.context)) as client:
        login(client, "compliance_officer")
        assert client.get(f"/api/v1/consent?customer={customer}").status_code == 428
        headers = {"X-Access-Purpose": quote("合规检查 " + PURPOSE)}
        response = client.get(f"/api/v1/consent?customer={customer}", headers=headers)
        assert response.status_code == 200, response.text
        by_path = client.get(f"/api/v1/consent/{customer}", headers=headers)
        assert by_path.json()["records"] == response.json()["records"]
        # Bad requests: neither or both subjects, an over-long or unprintable id, an unknown corp.
        for query in (
            "",
            f"customer={customer}&room=wr1",
            "customer=" + "w" * 200,
            "customer=wm%00x",
            f"customer={customer}%20",
            f"customer={customer}&corp=wwNOSUCHCORP",
        ):
            bad = client.get(f"/api/v1/consent?{query}", headers=headers)
            assert bad.status_code == 400, (query, bad.text)
            assert bad.headers["content-type"].startswith("application/problem+json")
    document = response.json()
    record = next(r for r in document["records"] if r["member"] == member)
    assert record["scope"] == "single" and record["external_userid"] == customer
    assert record["state"] in ("agreed", "disagreed") and record["history"]
    assert all(e["source"] in ("check_api", "message", "callback") for e in record["history"])
    with TestClient(app=create_app(world.context)) as client:
        login(client, "compliance_officer")
        (row,) = client.get("/api/v1/archive/completeness").json()
    assert row["consent"]["pairs_seen"] == len(pairs) and row["consent"]["without_consent"] >= 1
    reads = consent_reads(world)
    assert [(r.actor, r.purpose, r.result_count) for r in reads] == [
        ("compliance_officer", "合规检查 " + PURPOSE, len(document["records"])),
        ("compliance_officer", "合规检查 " + PURPOSE, len(document["records"])),
    ]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_reviewer_sees_only_the_consent_of_conversations_in_scope_and_an_auditor_none(world: World) -> None:
    pairs = _single_pairs(world)
    inside = [p for c, p in pairs.items() if c in world.reviewer_conversations]
    outside_customers = {p[1] for c, p in pairs.items() if c not in world.reviewer_conversations} - {
        p[1] for p in inside
    }
    assert inside and outside_customers
    member, customer = inside[0]
    stranger = sorted(outside_customers)[0]
    with TestClient(app=create_app(world.context)) as client:
        login(client, "reviewer")
        headers = {"X-Access-Purpose": PURPOSE}
        mine = client.get(f"/api/v1/consent?customer={customer}", headers=headers).json()["records"]
        theirs = client.get(f"/api/v1/consent?customer={stranger}", headers=headers).json()["records"]
    assert member in {r["member"] for r in mine}
    assert theirs == []
    with TestClient(app=create_app(world.context)) as client:
        login(client, "auditor")
        assert client.get(f"/api/v1/consent?customer={customer}", headers=headers).status_code == 403


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_conversation_view_shows_the_consent_panel(world: World) -> None:
    chat = declined(world)
    with TestClient(app=create_app(world.context)) as client:
        login(client, "compliance_officer")
        page = client.get(f"/console/conversations/{chat.conversation_id}", headers={"X-Access-Purpose": PURPOSE})
        assert page.status_code == 200, page.text
    html = page.text
    assert "存档同意情况" in html
    # The customer declined two hours ago and has not agreed since: 未同意, with its history.
    assert 'data-consent="disagreed"' in html and "未同意" in html
    assert html.count('data-consent-event="disagreed"') == 2  # the message and WeCom's check API
    assert "同意/拒绝消息" in html and "企业微信接口" in html
    # The member the consent was given to is shown by name, the id one hover away.
    name = world.edge.simulator.company.employee(chat.member).name
    assert f'data-wecom-id="{chat.member}" title="{chat.member}">{name}</span>' in html


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_consent_check_and_show_on_the_command_line(world: World) -> None:
    edge = world.edge
    env = {
        "WECOM_AUDIT_DATA_DIR": str(edge.settings.data_dir),
        "WECOM_AUDIT_DATABASE__URL": edge.database.url,
        "WECOM_AUDIT_WECOM__CORP_ID": edge.simulator.corp_id,
        "WECOM_AUDIT_WECOM__ARCHIVE_SECRET": edge.simulator.archive_secret,
        "WECOM_AUDIT_WECOM__API_BASE_URL": edge.server.url,
        "COLUMNS": "200",
    }
    runner = CliRunner()
    checked = runner.invoke(cli_app, ["consent", "check", "--all", "--json"], env=env)
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["checks"]["pairs_checked"] == len(_single_pairs(world)) > 0
    assert report["checks"]["recorded"] == 0  # nothing changed since the fixture's run

    member, customer = declined(world).member, declined(world).customer
    refused = runner.invoke(cli_app, ["consent", "show", "--customer", customer, "--purpose", " "], env=env)
    assert refused.exit_code == 1 and "purpose" in refused.output
    shown = runner.invoke(cli_app, ["consent", "show", "--customer", customer, "--purpose", PURPOSE, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    records = json.loads(shown.stdout)["records"]
    record = next(r for r in records if r["member"] == member)
    assert record["state"] == "disagreed"
    assert record["history"][0]["changed_at"] == datetime.fromtimestamp(declined(world).at_ms / 1000, UTC).isoformat()
    table = runner.invoke(cli_app, ["consent", "show", "--customer", customer, "--purpose", PURPOSE], env=env)
    assert table.exit_code == 0 and "未同意" in table.stdout

    # The completeness report counts the pairs without consent and says they are not data loss.
    report_json = runner.invoke(cli_app, ["completeness", "--json"], env=env)
    assert report_json.exit_code == 0, report_json.output
    consent = json.loads(report_json.stdout)["consent"]
    assert consent["pairs_seen"] == len(_single_pairs(world)) and consent["disagreed"] >= 1
    assert consent["without_consent"] == consent["disagreed"] + consent["unknown"] + consent["unchecked"]
    text = runner.invoke(cli_app, ["completeness"], env=env)
    assert "not data loss" in " ".join(text.stdout.split())
    assert [r.actor.startswith("cli:") for r in consent_reads(world)] == [True, True]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_handover_dossier_shows_the_customers_consent(world: World) -> None:
    handover_probes.prepare(world)
    member = world.handover_in_member
    agreed = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with session_scope(world.context.session_factory) as session:
        service.record_approval(
            session, world.edge.simulator.corp_id, member, handover_probes.CUSTOMER, agreed, datetime.now(UTC)
        )
    case_id = world.handover_in_case
    with TestClient(app=create_app(world.context)) as client:
        login(client, "compliance_officer")
        page = client.get(
            f"/console/handover/{case_id}/customers/{handover_probes.CUSTOMER}", headers={"X-Access-Purpose": PURPOSE}
        )
        assert page.status_code == 200, page.text
    assert "存档同意情况" in page.text
    assert 'data-consent="agreed"' in page.text and f'data-consent-party="{member}"' in page.text
    assert "企业微信回调" in page.text  # the source: the msg_audit_approved callback
    name = world.edge.simulator.company.employee(member).name
    assert f'data-wecom-id="{member}" title="{member}">{name}</span>' in page.text
    assert consent_reads(world)[-1].target == {
        "corp_id": world.edge.simulator.corp_id,
        "customer": handover_probes.CUSTOMER,
        "room": None,
    }
