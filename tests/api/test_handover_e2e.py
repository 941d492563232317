"""Issue 7's acceptance, end to end over real HTTP: wecom-audit's API served by uvicorn on
loopback, WeCom played by the simulator's HTTP server (customer-contact API), a pulled
archive of the company's chats behind both.

A departed member's case goes from inventory to a signed-off report: a customer deleted
before the departure is flagged, one customer refuses, one is accepted at once, the rest
are auto-accepted after WeCom's 24 hours (the simulator's clock is advanced), one fails
(transferred too often), a customer group changes owner, and WeCom's rate limit is met
and retried. The successor's console account then opens exactly the inherited
conversations — nothing else of the predecessor's — and every step is in the access log.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from archive.models import Conversation
from audit.accesslog import log as access_log
from audit.accesslog.models import AccessLogEntry
from config.database import session_scope
from tests.api.handover_office import Office, office  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from tests.audit.handover.edge import HandoverWorldEdge

pdfium = pytest.importorskip("pypdfium2")
raw = pytest.importorskip("pypdfium2.raw")

PURPOSE = "handover review 2026-11"
HOUR_S = 3600
README_PAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "handover-report.png"


def _contact_calls(edge: HandoverWorldEdge) -> int:
    return sum(1 for path in edge.server.api_requests if "/externalcontact/" in path)


def _pair_conversations(site: Office) -> dict[str, int]:
    """The leaver's single chats: the other party → conversation id."""
    with session_scope(site.context.session_factory) as session:
        found: dict[str, int] = {}
        for conversation in session.execute(
            select(Conversation).where(Conversation.corp_id == site.edge.corp_id, Conversation.kind == "single")
        ).scalars():
            parties = {p for p in (conversation.participant_a, conversation.participant_b) if p is not None}
            if site.leaver in parties and len(parties) == 2:
                found[(parties - {site.leaver}).pop()] = conversation.id
        return found


def _room_conversations(site: Office) -> dict[str, int]:
    with session_scope(site.context.session_factory) as session:
        return {
            roomid: conversation_id
            for roomid, conversation_id in session.execute(
                select(Conversation.roomid, Conversation.id).where(Conversation.kind == "group")
            )
            if roomid
        }


def _fonts(page: Any) -> set[str]:  # a pypdfium2 page: the library ships no types
    textpage = page.get_textpage()
    names, buffer, flags = set(), ctypes.create_string_buffer(256), ctypes.c_int()
    for index in range(textpage.count_chars()):
        if raw.FPDFText_GetFontInfo(textpage, index, buffer, len(buffer), ctypes.byref(flags)):
            names.add(buffer.value.decode())
    return names


@pytest.mark.slow
def test_a_departed_members_case_from_inventory_to_signed_report(office: Office) -> None:  # noqa: F811
    edge, world, leaver, successor = office.edge, office.edge.world, office.leaver, office.successor
    manager, officer, elsewhere = office.caller("manager"), office.caller("officer"), office.caller("elsewhere")
    book = list(world.follows[leaver])
    deleted = {d.external_userid for d in world.deletions if d.userid == leaver}
    (quick,) = set(book) & world.quick
    (refusing,) = set(book) & world.refusing
    (too_often,) = set(book) & world.too_often
    chats = _pair_conversations(office)
    auto = [ext for ext in book if ext not in {quick, refusing, too_often}]
    # Kept with the departed member's account (not transferred): one with an archived chat.
    kept = next((ext for ext in auto if ext in chats), auto[-1])
    groups = sorted(chat_id for chat_id, owner in world.group_owner.items() if owner == leaver)
    assert auto and groups and deleted

    # --- inventory: the manager opens the case -------------------------------------------
    opened = manager.ok(manager.post("/api/v1/handover/cases", {"userid": leaver, "kind": "resigned"}), 201)
    case_id = opened["id"]
    customers = {c["external_userid"]: c for c in opened["customers"]}
    assert {ext for ext, c in customers.items() if c["assigned"]} == set(book)
    assert {ext for ext, c in customers.items() if c["deleted_before_leaving"]} == deleted
    assert all(customers[ext]["needs_follow_up"] and not customers[ext]["assigned"] for ext in deleted)
    assert {g["chat_id"] for g in opened["groups"]} == set(groups)
    twice = manager.ok(manager.post("/api/v1/handover/cases", {"userid": leaver}), 400)
    assert twice["type"].endswith(":handover_case_open")  # one open case per member

    # Visible inside the department scope only; reading needs handover:read, deciding manage.
    listed = [c["id"] for c in manager.ok(manager.get("/api/v1/handover/cases"))["items"]]
    assert case_id in listed
    assert case_id not in [c["id"] for c in elsewhere.ok(elsewhere.get("/api/v1/handover/cases"))["items"]]
    assert elsewhere.get(f"/api/v1/handover/cases/{case_id}").status_code == 403
    assert officer.get(f"/api/v1/handover/cases/{case_id}").status_code == 200
    refused_decision = officer.post(f"/api/v1/handover/cases/{case_id}/accept-suggestions")
    assert refused_decision.status_code == 403

    # --- review: a dossier is chat content (purpose, access log) -------------------------
    dossier_path = f"/api/v1/handover/cases/{case_id}/customers/{refusing}/dossier"
    assert manager.get(dossier_path).status_code == 428
    dossier = manager.ok(manager.get(dossier_path, headers={"X-Access-Purpose": PURPOSE}))["dossier"]
    assert dossier["risk"] in {"high", "medium", "low"} and "messages" in dossier

    # --- decisions: one kept (per item), the other customers in bulk, groups as suggested ---
    decisions = f"/api/v1/handover/cases/{case_id}/decisions"
    keep = {"decision": "keep", "customers": [kept], "note": "客户要求暂不更换顾问"}
    assert manager.ok(manager.post(decisions, keep))["decided"] == 1
    everyone = {"decision": "transfer", "all_customers": True, "successor": successor}
    assert manager.ok(manager.post(decisions, everyone))["decided"] == len(book) - 1
    suggested = manager.ok(manager.post(f"/api/v1/handover/cases/{case_id}/accept-suggestions"))
    assert suggested["decided"] == len(groups)  # only the groups were still undecided

    # --- execute, meeting WeCom's rate limit once (retried by the client) ------------------
    calls_before = _contact_calls(edge)
    world.faults.rate_limited = 1
    executed = manager.ok(manager.post(f"/api/v1/handover/cases/{case_id}/execute"))
    assert world.faults.rate_limited == 0
    assert (executed["customers_sent"], executed["customers_failed"]) == (len(book) - 2, 1)  # kept; 40128
    assert executed["groups_completed"] == len(groups)
    assert _contact_calls(edge) == calls_before + executed["calls"] + 1  # one call answered 45009, retried

    # --- poll as WeCom's clock moves: accepted, refused, auto-accepted after 24 h ---------
    def poll() -> dict[str, Any]:
        result: dict[str, Any] = manager.ok(manager.post(f"/api/v1/handover/cases/{case_id}/poll"))
        return result

    edge.clock.advance(1.5 * HOUR_S)
    assert poll()["completed"] == 1  # the quick one
    edge.clock.advance(1 * HOUR_S)
    after_refusal = poll()
    assert (after_refusal["refused"], after_refusal["case_status"]) == (1, "executing")
    assert refusing in after_refusal["follow_up"]
    edge.clock.advance(24 * HOUR_S)
    final = poll()
    assert final["case_status"] == "completed"

    case = manager.ok(manager.get(f"/api/v1/handover/cases/{case_id}"))
    states = {c["external_userid"]: (c["state"], c["errcode"]) for c in case["customers"]}
    assert states[quick] == ("completed", None)
    assert states[refusing] == ("refused", None)
    assert states[too_often] == ("failed", 40128)
    assert states[kept] == ("pending", None)
    assert all(states[ext] == ("completed", None) for ext in auto if ext != kept)
    assert all(g["state"] == "completed" and g["sent_to"] == g["suggested_successor"] for g in case["groups"])
    inherited_groups = [g["chat_id"] for g in case["groups"] if g["sent_to"] == successor]
    assert case["sign_off_blockers"] == []
    assert {c["external_userid"] for c in case["customers"] if c["needs_follow_up"]} == {
        refusing,
        too_often,
        *deleted,
    }

    # --- the successor opens exactly what they inherited -----------------------------------
    heir = office.caller("heir")
    reading = {"X-Access-Purpose": PURPOSE}
    inherited_customers = [ext for ext, (state, _) in states.items() if state == "completed"]
    rooms = _room_conversations(office)
    expected = {chats[ext] for ext in inherited_customers if ext in chats} | {
        rooms[chat_id] for chat_id in inherited_groups if chat_id in rooms
    }
    assert expected, "the archive holds none of the inherited conversations: nothing to check"
    visible = {c["id"] for c in heir.ok(heir.get("/api/v1/conversations?limit=200", headers=reading))["items"]}
    assert visible == expected
    for conversation_id in expected:
        assert heir.get(f"/api/v1/conversations/{conversation_id}/messages", headers=reading).status_code == 200
    not_inherited = set(chats.values()) - expected
    assert not_inherited, "the leaver has no other archived chat: 'nothing else' would go unchecked"
    for conversation_id in not_inherited:
        assert heir.get(f"/api/v1/conversations/{conversation_id}/messages", headers=reading).status_code == 403

    # --- the report, signed off ---------------------------------------------------------------
    html = manager.ok(manager.get(f"/api/v1/handover/cases/{case_id}/report.html")).text
    leaver_name = case["handover_name"]
    for text in (leaver_name, "客户拒绝", "离职前被删除", "客户要求暂不更换顾问", "草稿"):
        assert text in html, text
    assert "Customer handover report" in manager.get(f"/api/v1/handover/cases/{case_id}/report.html?lang=en").text
    signed = manager.ok(manager.post(f"/api/v1/handover/cases/{case_id}/sign-off", {"note": "已复核,同意"}))
    assert (signed["status"], signed["signed_off_by"]) == ("signed_off", "manager")
    pdf = manager.get(f"/api/v1/handover/cases/{case_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == signed["report_sha256"] == pdf.headers["x-report-sha256"]
    assert pdf.headers["x-report-signed"] == "match"
    assert manager.ok(manager.get(f"/api/v1/handover/cases/{case_id}"))["report_sha256"] == signed["report_sha256"]
    again = manager.post(f"/api/v1/handover/cases/{case_id}/sign-off", {"note": "twice"})
    assert again.status_code == 409

    document = pdfium.PdfDocument(pdf.content)
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    for expected_text in (leaver_name, "客户交接报告", "签署人", "已复核"):
        assert expected_text in text, expected_text
    first = document[0]
    assert any("NotoSansCJK" in font.replace("-", "") for font in _fonts(first)), _fonts(first)
    image = first.render(scale=1.5).to_pil()
    histogram = image.convert("L").histogram()
    dark = sum(histogram[:128]) / (image.width * image.height)
    assert 0.005 < dark < 0.5, f"the first page looks blank or black ({dark:.3%} dark pixels)"
    if os.environ.get("WECOM_AUDIT_README_IMAGES"):  # refresh the page the README shows
        README_PAGE.parent.mkdir(parents=True, exist_ok=True)
        image.save(README_PAGE)

    # --- every step is in the access log (hash-chained, intact) -----------------------------
    with session_scope(office.context.session_factory) as session:
        rows = list(session.execute(select(AccessLogEntry).order_by(AccessLogEntry.position)).scalars())
        assert access_log.verify(session).ok
    steps = {(row.actor, row.action) for row in rows if (row.target or {}).get("case_id") == case_id}
    for step in (
        ("manager", "handover.open"),
        ("manager", "content.handover_dossier"),
        ("manager", "handover.accept_suggestions"),
        ("manager", "handover.decide"),
        ("manager", "handover.execute"),
        ("manager", "handover.transfer"),
        ("manager", "handover.poll"),
        ("manager", "handover.grant"),
        ("manager", "handover.complete"),
        ("manager", "handover.report"),
        ("manager", "handover.sign_off"),
    ):
        assert step in steps, step
    heir_reads = [row for row in rows if row.actor == "heir" and row.action.startswith("content.")]
    assert heir_reads and all(row.purpose == PURPOSE for row in heir_reads)
    assert {row.outcome for row in heir_reads} == {"allowed", "denied"}
    denied = [row for row in rows if row.outcome == "denied" and row.actor in {"heir", "elsewhere"}]
    assert {row.target.get("conversation_id") for row in denied if row.actor == "heir"} == not_inherited
    auditor = office.caller("auditor")
    assert auditor.ok(auditor.get("/api/v1/access-log/verify"))["ok"] is True
