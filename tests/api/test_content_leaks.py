"""Content that once leaked around the access gate (issue 15, items 1–3), now shut:

- a handover dossier quotes chats: seeing the case does not let its reader read them, the
  gate decides excerpt by excerpt exactly as for the message itself;
- an alert's unmasked match (a full phone, card or ID number) is content: listings carry
  the masked excerpt only, the match is read through the gate with a purpose, and logged;
- an alert without a conversation about a protected person stays with their officers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from archive.clock import utcnow
from archive.models import Message
from audit.accesslog.models import AccessLogEntry
from audit.alerts.from_hits import ScannedMessage, alert_requests
from audit.alerts.models import Alert
from audit.alerts.service import raise_alert
from audit.detect.hits import Hit, Severity
from audit.events.service import DEL_EXTERNAL_CONTACT, record_contact_event
from audit.handover.models import CaseKind, CaseStatus, HandoverCase, HandoverCustomer, ItemState
from audit.security import scope as scopes
from audit.security import service as security
from config.database import session_scope
from tests.api import handover_probes
from tests.api.world import PASSWORD, PURPOSE, TEST_RULE, World, build_world
from tests.conftest import Edge

READING = {"X-Access-Purpose": PURPOSE}
PROMISE = "下周三前一定把合同寄给您"
UNANSWERED = "你们到底什么时候退款"
CUSTOMER = "wmLeakProbeCustomer"
PHONE = "13812345678"


@pytest.fixture
def world(edge: Edge) -> World:
    world = build_world(edge, media=False)
    with session_scope(world.context.session_factory) as session:
        # A second company-wide officer: not named for anyone, so protected people stay hidden.
        security.create_user(
            session,
            security.cli_principal("cli:test"),
            username="officer2",
            password=PASSWORD,
            role="compliance_officer",
            scope_all=True,
            now=utcnow(),
        )
    return world


def signed_in(app: Any, username: str) -> TestClient[Any]:
    client = TestClient(app=app)
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


def protect_sender_of(world: World, message_id: int) -> str:
    """Protect the person who sent ``message_id``; only compliance_officer is named."""
    with session_scope(world.context.session_factory) as session:
        message = session.get(Message, message_id)
        assert message is not None
        scopes.protect_person(
            session,
            security.cli_principal("cli:test"),
            corp_id=message.corp_id,
            userid=message.sender,
            reason="executive",
            officers=["compliance_officer"],
            now=utcnow(),
        )
        return message.sender


def log_rows(world: World, action: str) -> list[AccessLogEntry]:
    with session_scope(world.context.session_factory) as session:
        rows = session.execute(
            select(AccessLogEntry).where(AccessLogEntry.action == action).order_by(AccessLogEntry.position)
        )
        return list(rows.scalars())


# --- 1. handover dossiers -----------------------------------------------------------------------


def open_case_quoting(world: World) -> int:
    """A case in the manager's department whose dossier quotes the in-scope conversation (as
    the inventory stores it: excerpts naming their messages, the conversation, its alerts)."""
    handover_probes.prepare(world)  # the manager now manages the reviewer's department
    now = utcnow()
    with session_scope(world.context.session_factory) as session:
        member = session.get(Message, world.in_message)
        assert member is not None
        case = HandoverCase(
            corp_id=member.corp_id,
            kind=CaseKind.ONJOB,
            # A member of the department the case is recorded under: cases follow their
            # member's current departments (ADR 0021).
            handover_userid=world.handover_in_member,
            handover_name="在职员工",
            department_ids=[world.department_id],
            status=CaseStatus.OPEN,
            source="manager",
            opened_by="manager",
            opened_at=now,
            inventoried_at=now,
        )
        session.add(case)
        session.flush()
        at = now.isoformat()
        session.add(
            HandoverCustomer(
                case_id=case.id,
                external_userid=CUSTOMER,
                name="泄露探针客户",
                assigned=True,
                deleted_before_leaving=False,
                risk="high",
                dossier={
                    "messages": {"total": 2, "from_staff": 1, "from_customer": 1},
                    "open_promises": [{"message_id": world.in_message, "at": at, "excerpt": PROMISE}],
                    "unanswered": [{"message_id": world.in_message, "at": at, "excerpt": UNANSWERED, "messages": 1}],
                    "alerts": {
                        "open": 1,
                        "past": 0,
                        "open_high": 1,
                        "past_high": 0,
                        "items": [{"id": world.in_alert, "rule": TEST_RULE, "severity": "high", "status": "new"}],
                    },
                    "conversation_ids": [world.in_conversation],
                    "risk": "high",
                    "risk_reasons": ["open_high_alert"],
                },
                state=ItemState.PENDING,
            )
        )
        return case.id


def test_a_dossier_shows_only_the_excerpts_its_reader_may_open(world: World) -> None:
    case_id = open_case_quoting(world)
    dossier_url = f"/api/v1/handover/cases/{case_id}/customers/{CUSTOMER}/dossier"
    app = create_app(world.context)

    with signed_in(app, "manager") as manager:
        before = manager.get(dossier_url, headers=READING)
    assert before.status_code == 200, before.text
    assert PROMISE in before.text and UNANSWERED in before.text  # in scope: the manager reads them
    assert before.json()["dossier"].get("withheld_excerpts", 0) == 0

    protect_sender_of(world, world.in_message)
    seen: dict[str, tuple[int, dict[str, Any], str]] = {}
    for user in ("manager", "officer2", "compliance_officer"):
        with signed_in(app, user) as client:
            direct = client.get(f"/api/v1/messages/{world.in_message}", headers=READING).status_code
            response = client.get(dossier_url, headers=READING)
        assert response.status_code == 200, (user, response.text)
        seen[user] = (direct, response.json()["dossier"], response.text)

    for user in ("manager", "officer2"):  # the case is theirs to see, the chat is not
        direct, dossier, text = seen[user]
        assert direct == 403, user
        assert PROMISE not in text and UNANSWERED not in text, user
        assert (dossier["open_promises"], dossier["unanswered"], dossier["withheld_excerpts"]) == ([], [], 2), user
        assert dossier["conversation_ids"] == [] and dossier["alerts"]["items"] == [], user
    direct, dossier, text = seen["compliance_officer"]  # the protected person's named officer
    assert direct == 200 and PROMISE in text and UNANSWERED in text
    assert dossier["conversation_ids"] == [world.in_conversation] and dossier["withheld_excerpts"] == 0

    reads = {row.actor: row for row in log_rows(world, "content.handover_dossier")}
    assert reads["manager"].target["withheld_excerpts"] == 2 and reads["manager"].target["conversation_ids"] == []
    assert "withheld_excerpts" not in reads["compliance_officer"].target


# --- 2. unmasked matches of alerts ---------------------------------------------------------------


def raise_phone_alert(world: World, conversation_id: int, message_id: int) -> int:
    """An alert as the detection stage raises it for a mobile number in ``message_id``."""
    text = f"我的电话是{PHONE}，加我"
    start = text.index(PHONE)
    hit = Hit(
        "pattern",
        "1",
        "pii.mobile",
        "pattern.mobile",
        Severity.HIGH,
        start,
        start + len(PHONE),
        PHONE,
        PHONE,
        "mobile number",
    )
    with session_scope(world.context.session_factory) as session:
        corp_id = world.edge.simulator.corp_id
        scanned = ScannedMessage(message_id, corp_id, conversation_id, utcnow(), text)
        [request] = alert_requests([scanned], [[hit]], window_minutes=10, min_severity=Severity.LOW)
        alert = raise_alert(
            session,
            corp_id=corp_id,
            conversation_id=conversation_id,
            rule=request.rule,
            category=request.category,
            severity=request.severity,
            source="detect",
            explanation=request.explanation(),
            message_ids=request.message_ids,
            now=request.at,
        )
        session.flush()
        assert alert.explanation["matches"][0]["normalised"] == PHONE  # kept for review
        return alert.id


def test_alerts_show_masked_evidence_and_the_match_is_a_logged_content_read(world: World) -> None:
    inside = raise_phone_alert(world, world.in_conversation, world.in_message)
    outside = raise_phone_alert(world, world.out_conversation, world.out_message)
    app = create_app(world.context)

    for user in ("reviewer", "compliance_officer"):
        with signed_in(app, user) as client:
            listed = client.get("/api/v1/alerts", params={"limit": 200})
            shown = client.get(f"/api/v1/alerts/{inside}")
            noted = client.post(f"/api/v1/alerts/{inside}/review", json={"action": "note", "note": "看过"})
        for response in (listed, shown, noted):
            assert response.status_code == 200, (user, response.text)
            assert PHONE not in response.text, (user, str(response.url))
        (ours,) = [a for a in listed.json()["items"] if a["id"] == inside]
        (match,) = ours["explanation"]["matches"]
        assert match["excerpt"] and PHONE[-4:] not in match["excerpt"] and "normalised" not in match

    with signed_in(app, "reviewer") as reviewer:
        assert reviewer.get(f"/api/v1/alerts/{inside}/matches").status_code == 428  # no purpose
        read = reviewer.get(f"/api/v1/alerts/{inside}/matches", headers=READING)
        refused = reviewer.get(f"/api/v1/alerts/{outside}/matches", headers=READING)
    assert read.status_code == 200, read.text
    assert [(m["message_id"], m["normalised"]) for m in read.json()] == [(world.in_message, PHONE)]
    assert refused.status_code == 403 and PHONE not in refused.text
    rows = [(row.actor, row.outcome, row.purpose, row.target) for row in log_rows(world, "content.alert_matches")]
    assert rows == [
        (
            "reviewer",
            "allowed",
            PURPOSE,
            {"alert_id": inside, "conversation_id": world.in_conversation, "message_ids": [world.in_message]},
        ),
        ("reviewer", "denied", PURPOSE, {"alert_id": outside}),
    ]

    protect_sender_of(world, world.in_message)  # the gate's rule, protected people included
    with signed_in(app, "officer2") as officer2:
        assert officer2.get(f"/api/v1/alerts/{inside}/matches", headers=READING).status_code == 403


# --- 3. alerts without a conversation ------------------------------------------------------------


def test_alerts_without_a_conversation_about_a_protected_person_stay_with_their_officers(world: World) -> None:
    company = world.edge.simulator.company
    vip, ordinary = (e.userid for e in company.employees[:2])
    corp_id = world.edge.simulator.corp_id
    with session_scope(world.context.session_factory) as session:
        # Each deleted a customer the archive never saw a chat with, hours apart (conversation-less
        # alerts of one rule in one window are one alert).
        for hours_ago, member in ((3, vip), (1, ordinary)):
            record_contact_event(
                session,
                corp_id=corp_id,
                change_type=DEL_EXTERNAL_CONTACT,
                user_id=member,
                external_user_id=f"wmNeverArchived{member}",
                occurred_at=utcnow() - timedelta(hours=hours_ago),
                raw={"ChangeType": DEL_EXTERNAL_CONTACT},
            )
        session.flush()
        ids = {
            alert.explanation["user_id"]: alert.id
            for alert in session.execute(select(Alert).where(Alert.source == "contact_event")).scalars()
        }
        assert all(session.get_one(Alert, i).conversation_id is None for i in ids.values())
        scopes.protect_person(
            session,
            security.cli_principal("cli:test"),
            corp_id=corp_id,
            userid=vip,
            reason="whistle-blower",
            officers=["compliance_officer"],
            now=utcnow(),
        )
    app = create_app(world.context)
    seen: dict[str, tuple[set[int], int, int]] = {}
    for user in ("compliance_officer", "officer2", "reviewer"):
        with signed_in(app, user) as client:
            listed = {a["id"] for a in client.get("/api/v1/alerts", params={"limit": 200}).json()["items"]}
            about_vip = client.get(f"/api/v1/alerts/{ids[vip]}").status_code
            about_ordinary = client.get(f"/api/v1/alerts/{ids[ordinary]}").status_code
        seen[user] = (listed & set(ids.values()), about_vip, about_ordinary)
    assert seen == {
        "compliance_officer": ({ids[vip], ids[ordinary]}, 200, 200),  # named for the vip
        "officer2": ({ids[ordinary]}, 403, 200),
        "reviewer": (set(), 403, 403),  # department scopes never saw conversation-less alerts
    }
