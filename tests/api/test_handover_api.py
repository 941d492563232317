"""The handover API beyond the main story (``test_handover_e2e.py``): an on-the-job transfer
with the message WeCom shows the customer, the errors a manager meets (each a problem
document that says what to do), scope refusals that never reach WeCom, and the demo's
wiring (its simulator serves the handover world; discovery opens the leavers' cases)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select

from api.demo import prepare_demo
from api.scheduler import PullScheduler
from audit.accesslog.models import AccessLogEntry
from audit.handover.models import HandoverCase, HandoverCustomer
from config.database import session_scope
from config.settings import Settings, SimulatorSettings
from tests.api.handover_office import Office, office  # noqa: F401 - the fixture

PURPOSE = "handover review"
HOUR_S = 3600
GREETING = "您好,我是您的新顾问,之后由我为您服务"


def _contact_calls(site: Office) -> int:
    return sum(1 for path in site.edge.server.api_requests if "/externalcontact/" in path)


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_on_the_job_transfer_carries_the_message_wecom_shows(office: Office) -> None:  # noqa: F811
    world, company = office.edge.world, office.edge.simulator.company
    colleagues = [
        e.userid
        for e in company.employees
        if e.department_id == office.department and world.active(e.userid) and e.userid != office.successor
    ]
    special = world.quick | world.refusing | world.too_often
    stayer = next(u for u in colleagues if any(ext not in special for ext in world.follows.get(u, [])))
    customer = next(ext for ext in world.follows[stayer] if ext not in special)
    manager = office.caller("manager")

    case = manager.ok(
        manager.post("/api/v1/handover/cases", {"userid": stayer, "kind": "onjob", "transfer_message": GREETING}),
        201,
    )
    assert (case["kind"], case["transfer_message"], case["dimission_at"]) == ("onjob", GREETING, None)
    assert {c["external_userid"] for c in case["customers"]} >= {customer}
    decisions = f"/api/v1/handover/cases/{case['id']}/decisions"
    one = {"decision": "transfer", "customers": [customer], "successor": office.successor}
    assert manager.ok(manager.post(decisions, one))["decided"] == 1
    rest = {"decision": "keep", "all_customers": True, "all_groups": True}
    manager.ok(manager.post(decisions, rest))
    executed = manager.ok(manager.post(f"/api/v1/handover/cases/{case['id']}/execute"))
    assert (executed["customers_sent"], executed["customers_failed"]) == (1, 0)
    (transfer,) = [t for t in world.transfers if t.external_userid == customer and t.handover == stayer]
    assert (transfer.kind, transfer.takeover) == ("onjob", office.successor)

    office.edge.clock.advance(25 * HOUR_S)
    assert manager.ok(manager.post(f"/api/v1/handover/cases/{case['id']}/poll"))["case_status"] == "completed"
    html = manager.get(f"/api/v1/handover/cases/{case['id']}/report.html").text
    assert "在职继承" in html and GREETING in html


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_errors_say_what_to_do_and_scope_refusals_never_reach_wecom(office: Office) -> None:  # noqa: F811
    manager, elsewhere, officer = office.caller("manager"), office.caller("elsewhere"), office.caller("officer")
    problem = manager.get("/api/v1/handover/cases/987654")
    assert problem.status_code == 404 and problem.headers["content-type"].startswith("application/problem+json")
    assert "hint" in problem.json()

    calls = _contact_calls(office)
    refused = elsewhere.post("/api/v1/handover/cases", {"userid": office.leaver})
    assert refused.status_code == 403 and refused.json()["type"].endswith(":out_of_scope")
    assert _contact_calls(office) == calls  # refused before anything was asked of WeCom
    assert officer.post("/api/v1/handover/cases", {"userid": office.leaver}).status_code == 403  # read-only role

    case_id = manager.ok(manager.post("/api/v1/handover/cases", {"userid": office.leaver}), 201)["id"]
    listed = manager.ok(manager.get("/api/v1/handover/cases", params={"status": ["open", "executing"], "limit": 1}))
    assert [item["id"] for item in listed["items"]] == [case_id] and listed["next_cursor"]
    later = manager.ok(manager.get("/api/v1/handover/cases", params={"cursor": listed["next_cursor"]}))
    assert case_id not in [item["id"] for item in later["items"]]
    assert manager.ok(manager.get("/api/v1/handover/cases?status=signed_off"))["items"] == []
    assert manager.get("/api/v1/handover/cases?status=lost").status_code == 400
    decisions = f"/api/v1/handover/cases/{case_id}/decisions"
    shown = manager.ok(manager.get(f"/api/v1/handover/cases/{case_id}"))
    some = shown["customers"][0]["external_userid"]
    # Why not yet, and why each suggestion: codes for programs, English beside them.
    assert shown["sign_off_blockers"][0] == "case_not_completed:status=open"
    assert shown["sign_off_blockers_text"][0] == "the case is open, not completed"
    for customer in (c for c in shown["customers"] if c["assigned"]):
        assert customer["suggestion_reason"].startswith("same_department;"), customer["suggestion_reason"]
        assert customer["suggestion_reason_text"].startswith("same department; "), customer["suggestion_reason_text"]
    both = manager.post(decisions, {"decision": "hold", "customers": [some], "all_customers": True})
    assert both.status_code == 400 and both.json()["hint"]
    to_leaver = manager.post(decisions, {"decision": "transfer", "customers": [some], "successor": office.leaver})
    assert to_leaver.status_code == 400 and "handing over" in to_leaver.json()["detail"]
    no_successor = manager.post(decisions, {"decision": "transfer", "customers": [some]})
    assert no_successor.status_code == 400
    unknown = manager.post(decisions, {"decision": "hold", "customers": ["wmNobody"]})
    assert unknown.status_code == 404

    early = manager.post(f"/api/v1/handover/cases/{case_id}/sign-off", {"note": "too soon"})
    assert early.status_code == 409 and "not completed" in early.json()["detail"]
    assert elsewhere.post(f"/api/v1/handover/cases/{case_id}/sign-off", {}).status_code == 403
    assert elsewhere.get(f"/api/v1/handover/cases/{case_id}/report.html").status_code == 403
    assert manager.get(f"/api/v1/handover/cases/{case_id}/report.html?lang=fr").status_code == 400

    reading = {"X-Access-Purpose": PURPOSE}
    missing = manager.get(f"/api/v1/handover/cases/{case_id}/customers/wmNobody/dossier", headers=reading)
    assert missing.status_code == 404
    outside = elsewhere.get(f"/api/v1/handover/cases/{case_id}/customers/{some}/dossier", headers=reading)
    assert outside.status_code == 403
    with session_scope(office.context.session_factory) as session:
        denied = session.execute(
            select(AccessLogEntry.action, AccessLogEntry.target).where(
                AccessLogEntry.actor == "elsewhere", AccessLogEntry.outcome == "denied"
            )
        ).all()
    assert [(action, target) for action, target in denied] == [
        ("content.handover_dossier", {"case_id": case_id, "external_userid": some})
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_demo_serves_the_handover_world_and_discovery_opens_the_cases(
    tmp_path: Path, fake_sdk_library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECOM_FAKE_SDK_URL", "")  # prepare_demo sets it; restored afterwards
    settings = Settings(
        data_dir=tmp_path / "data",
        simulator=SimulatorSettings(port=_free_port(), history_days=0.5, messages_per_day=3000),
    )
    environment = prepare_demo(settings, Console(quiet=True))
    context: Any = environment.context
    try:
        assert (
            settings.wecom.contact_secret.get_secret_value() and settings.wecom.api_base_url == environment.server.url
        )
        assert context.puller(settings.wecom.corp_id).run().status == "completed"
        PullScheduler(context).discover_handovers()  # the `handover:discover` job, once
        with session_scope(context.session_factory) as session:
            cases = list(session.execute(select(HandoverCase)).scalars())
            flagged = session.execute(
                select(HandoverCustomer.external_userid).where(HandoverCustomer.deleted_before_leaving.is_(True))
            ).scalars()
            flagged_ids = set(flagged)
        assert len(cases) == 2 and {case.source for case in cases} == {"unassigned"}
        assert all(case.department_ids for case in cases)  # in their departments' scopes
        assert flagged_ids, "the customers deleted before leaving are flagged"
    finally:
        environment.server.stop()
        context.close()
