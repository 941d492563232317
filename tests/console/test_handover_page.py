"""The handover pages in the browser (issue 8: "a manager completes a handover case").

The site here serves the simulated handover world (``tests.audit.handover.edge``): a
company whose departed members' customers wait in WeCom's unassigned list, played by the
simulator's HTTP server with its own clock, their chats pulled into the archive. This
module overrides C1's ``console_site`` fixture with that site, so ``tab`` (watched for
console errors, failed requests and error responses) browses it.

A manager opens the leaver's case from the list, reviews a dossier (after giving a
purpose), holds one customer, accepts the suggested successors, changes the held customer
to a transfer, executes, lets WeCom's clock run 24 hours, polls, finds the refusing
customer listed for follow-up, downloads the PDF report and signs the case off.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from api.app import ApiServer
from api.context import AppContext
from archive.clock import utcnow
from audit.accesslog.models import AccessLogEntry
from audit.handover.models import HandoverCase, HandoverCustomer
from audit.nlp.sentiment import train_model
from audit.security import service as security
from audit.stage import DetectionStage, TrainedSentiment
from config import migrate
from config.database import create_db_engine, make_session_factory, session_scope
from tests.api.world import PASSWORD
from tests.audit.handover.edge import HandoverWorldEdge, open_handover_edge
from tests.conftest import Database
from tests.console.conftest import Site, Watched, _free_port, _wait_until_serving

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Request

PURPOSE = "离职交接复核 2026-11"
SIGN_OFF_NOTE = "已复核：被拒绝的客户由主管电话跟进"
DAY_S = 24 * 3600


@dataclass
class HandoverSite(Site):
    """The console over the handover world, and who is who in it."""

    edge: HandoverWorldEdge
    context: AppContext
    leaver: str
    successor: str


@pytest.fixture(scope="module")
def console_site(fake_sdk_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HandoverSite]:
    base = tmp_path_factory.mktemp("console-handover")
    url = f"sqlite:///{base / 'wecom-audit.db'}"
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    database = Database(url, engine, make_session_factory(engine))
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        open_handover_edge(database, fake_sdk_library, base, monkeypatch) as edge,
    ):
        company = edge.simulator.company
        leaver = edge.leavers()[0]
        department = company.employee(leaver).department_id
        colleagues = sorted(
            e.userid
            for e in company.employees
            if e.department_id == department and e.userid != leaver and edge.world.active(e.userid)
        )
        assert colleagues, "the simulated leaver has no colleague to hand over to"
        context = edge.context()
        # Detection gives the dossiers their alerts and, with the sentiment model trained by
        # the real recipe (offline, a minute or two), the customers' mood by week.
        model = train_model(base / "sentiment-models", seed=0).model_path
        stage = DetectionStage(edge.settings.detection, edge.settings.alerts, sentiment=TrainedSentiment(model))
        stage.run(context.session_factory, max_claims=1000)
        with session_scope(context.session_factory) as session:
            security.create_user(
                session,
                security.cli_principal("cli:test"),
                username="manager",
                password=PASSWORD,
                role="manager",
                now=utcnow(),
                departments=[(edge.corp_id, department)],
            )
        server = ApiServer(context, "127.0.0.1", _free_port()).start()
        try:
            _wait_until_serving(server.url)
            yield HandoverSite(
                server.url,
                edge=edge,
                context=context,
                leaver=leaver,
                successor=colleagues[-1],
            )
        finally:
            server.stop()
            context.close()
            engine.dispose()


def _chattiest_customer(site: HandoverSite) -> str:
    """The leaver's customer with the most archived messages (a dossier with something in it)."""
    with session_scope(site.context.session_factory) as session:
        customers = session.scalars(select(HandoverCustomer).where(HandoverCustomer.assigned.is_(True))).all()
        best = max(customers, key=lambda c: (c.dossier.get("messages") or {}).get("total", 0))
        assert best.dossier.get("conversation_ids"), "no customer of the leaver has an archived chat"
        return best.external_userid


def _row(page: Page, external_userid: str) -> Locator:
    return page.locator(f'tr[data-customer="{external_userid}"]')


def test_a_manager_completes_a_handover_case(tab: Watched, console_site: HandoverSite) -> None:
    site, page = console_site, tab.page
    world = site.edge.world
    book = list(world.follows[site.leaver])
    (refusing,) = set(book) & world.refusing
    (too_often,) = set(book) & world.too_often
    held = next(ext for ext in book if ext not in world.refusing | world.quick | world.too_often)
    deleted = {d.external_userid for d in world.deletions if d.userid == site.leaver}
    page.on("dialog", lambda dialog: dialog.accept())  # "execute" and "sign off" ask first

    # --- the list: empty, then the manager opens the leaver's case ------------------------
    tab.login("manager")
    page.locator('nav.menu a[data-nav="handover"]').click()
    page.wait_for_load_state()
    assert page.locator(".empty").first.is_visible()
    tab.screenshot("handover-empty")
    page.get_by_label("成员", exact=True).select_option(site.leaver)
    page.get_by_label("离职继承", exact=True).check()
    page.get_by_role("button", name="建立案例").click()
    page.wait_for_load_state()
    assert "/console/handover/" in page.url
    assert page.get_by_role("status").inner_text() == "案例已建立。"
    for ext in book:
        assert _row(page, ext).count() == 1
    for ext in deleted:  # flagged, and not something to decide
        assert _row(page, ext).locator('[data-flag="deleted"]').is_visible()
        assert _row(page, ext).locator("input[type=checkbox]").count() == 0
    case_url = page.url
    # Why each successor was suggested, and why the case cannot be signed off yet: in Chinese.
    for ext in book:
        reason = _row(page, ext).locator("[data-suggestion-reason]")
        assert (reason.get_attribute("data-suggestion-reason") or "").startswith("same_department;")  # codes
        assert reason.inner_text().startswith("同部门；"), reason.inner_text()
    blockers = page.locator("[data-blocker]")
    assert blockers.first.get_attribute("data-blocker") == "case_not_completed"
    assert blockers.first.inner_text() == "案例状态为「审阅中」，尚未完成"
    tab.screenshot("handover-case")

    # --- a dossier is chat content: a purpose first, then the facts --------------------------
    reviewed = _chattiest_customer(site)
    _row(page, reviewed).get_by_role("link").first.click()
    page.wait_for_load_state()
    assert "/console/purpose" in page.url
    tab.give_purpose(PURPOSE)
    page.wait_for_load_state("networkidle")
    assert "/customers/" in page.url
    assert page.get_by_role("heading", level=1).inner_text().startswith("客户档案")
    for heading in ("关系", "未兑现的承诺", "未回复的客户消息", "与该客户的会话"):
        assert page.get_by_role("heading", name=heading).is_visible(), heading
    chart = page.locator("[data-chart]")  # the mood trend, drawn by ECharts from the server's option
    assert chart.get_attribute("data-drawn") == "1"
    assert chart.locator("canvas").count() == 1
    tab.screenshot("handover-dossier")
    page.locator("a[data-conversation]").first.click()  # the leaver's chat with this customer
    page.wait_for_load_state("networkidle")
    assert "/console/conversations/" in page.url
    assert page.locator(".bubble").count() > 0
    tab.goto(case_url.removeprefix(site.url))

    # --- decisions: one held, every suggestion accepted, the held one then transferred ------
    _row(page, held).locator("input[type=checkbox]").check()
    page.locator("#decide select[name=decision]").select_option("hold")
    page.get_by_role("button", name="保存决定").click()
    page.wait_for_load_state()
    assert _row(page, held).locator("[data-decision]").get_attribute("data-decision") == "hold"
    accept = page.get_by_role("button", name="全部采用建议接替人")
    accept.focus()
    page.keyboard.press("Enter")  # the page works from the keyboard
    page.wait_for_url("**notice=accepted**")
    assert page.get_by_role("status").inner_text().startswith("已为")
    assert _row(page, held).locator("[data-decision]").get_attribute("data-decision") == "hold"
    _row(page, held).locator("input[type=checkbox]").check()
    page.locator("#decide select[name=decision]").select_option("transfer")
    page.locator("#decide select[name=successor]").select_option(site.successor)
    page.locator("#decide input[name=note]").fill("客户要求由同组同事接手")
    page.get_by_role("button", name="保存决定").click()
    page.wait_for_load_state()
    for ext in book:
        assert _row(page, ext).locator("[data-decision]").get_attribute("data-decision") == "transfer", ext
    with session_scope(site.context.session_factory) as session:
        case = session.scalars(select(HandoverCase).where(HandoverCase.handover_userid == site.leaver)).one()
        case_id = case.id

    # --- execute, WeCom's clock moves 24 hours, poll now -------------------------------------
    page.get_by_role("button", name="执行转接").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text().startswith("已发送")
    progress = page.locator("#progress")
    assert progress.locator(f'[data-item="{too_often}"] [data-state="failed"]').is_visible()
    assert progress.locator(f'[data-item="{refusing}"] [data-state="sent"]').is_visible()
    site.edge.clock.advance(DAY_S)
    progress.get_by_role("button", name="立即查询结果").click()  # htmx; the page reloads once completed
    refused = page.locator(f'[data-follow-up-customer="{refusing}"] [data-state="refused"]')
    refused.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.locator('[data-status="completed"]').first.is_visible()
    assert page.locator(f'[data-follow-up-customer="{too_often}"] [data-state="failed"]').is_visible()
    tab.screenshot("handover-progress")

    # --- the report: the HTML page and the PDF file ------------------------------------------
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 PDF").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert download.value.suggested_filename == f"handover-{case_id}-zh.pdf"
    # The HTML report opened in the tab: self-contained, it asks for nothing else (no
    # /favicon.ico either: it names an inline icon), and its reasons are in Chinese.
    report_url = site.at(page.get_by_role("link", name="查看报告（网页）").get_attribute("href") or "")
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    tab.goto(report_url.removeprefix(site.url))
    page.remove_listener("request", record)
    assert page.title().startswith("客户交接报告")
    assert page.get_by_text("同部门；").first.is_visible()
    assert requested == [report_url], requested
    tab.goto(case_url.removeprefix(site.url))

    # --- sign-off ----------------------------------------------------------------------------
    page.get_by_label("签署意见").fill(SIGN_OFF_NOTE)
    page.get_by_role("button", name="签署报告").click()
    page.wait_for_load_state()
    assert page.locator("[data-signed-off]").is_visible()
    assert page.locator('[data-status="signed_off"]').first.is_visible()
    tab.screenshot("handover-signed")
    page.get_by_role("link", name="English").click()  # English is a click away
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Handover case #{case_id}")
    assert page.get_by_role("heading", name="Follow-up").is_visible()
    page.get_by_role("link", name="中文").click()
    tab.goto("/console/handover")
    assert page.locator(f'tr[data-case-id="{case_id}"] [data-status="signed_off"]').is_visible()
    tab.screenshot("handover")

    with session_scope(site.context.session_factory) as session:
        signed = session.get(HandoverCase, case_id)
        assert signed is not None
        assert (signed.status, signed.signed_off_by, signed.sign_off_note) == ("signed_off", "manager", SIGN_OFF_NOTE)
        assert signed.report_sha256 and len(signed.report_sha256) == 64
        rows = session.scalars(select(AccessLogEntry).where(AccessLogEntry.actor == "manager")).all()
    steps = {row.action for row in rows if (row.target or {}).get("case_id") == case_id}
    assert {
        "handover.open",
        "content.handover_dossier",
        "handover.decide",
        "handover.accept_suggestions",
        "handover.execute",
        "handover.poll",
        "handover.report",
        "handover.sign_off",
    } <= steps
    dossier_reads = [row for row in rows if row.action == "content.handover_dossier"]
    assert dossier_reads and all(row.purpose == PURPOSE for row in dossier_reads)
