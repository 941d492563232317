"""The handover report: built from the stored case, rendered to HTML (Chinese by default,
English on request) and to a PDF that really renders — Chinese glyphs from Noto CJK, a
non-blank page — and gives the same bytes every time (the signed hash stays checkable)."""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from archive.directory.models import DirectoryDepartment, DirectoryMember
from audit.accesslog import log as access_log
from audit.errors import InvalidInput, NotFound
from audit.handover.models import CaseKind, CaseStatus, HandoverCase, HandoverCustomer, HandoverGroup, ItemState
from audit.handover.report import build_report, render_html, render_pdf
from tests.conftest import Database

pdfium = pytest.importorskip("pypdfium2")
raw = pytest.importorskip("pypdfium2.raw")

CORP = "wwreport"
OPENED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
# As ``audit.handover.successor`` stores it: codes with parameters, words at rendering.
SUGGESTION_REASON = "same_department;previous_chat:last=2026-11-02;lowest_load_followed:of=3,load=12"
README_PAGE = Path(__file__).resolve().parents[3] / "docs" / "images" / "handover-report.png"


def _dossier(**extra: object) -> dict[str, object]:
    return {
        "relationship_days": 412,
        "first_contact": "2025-10-04T03:00:00+00:00",
        "last_contact": "2026-11-15T06:30:00+00:00",
        "messages": {"total": 180, "from_staff": 101, "from_customer": 79},
        "tags": ["VIP", "华东"],
        "open_promises": [{"message_id": 1, "at": "2026-11-14T02:00:00+00:00", "excerpt": "明天一定给您回电"}],
        "unanswered": [],
        "alerts": {"open": 1, "past": 2, "items": []},
        "sentiment": {"trend": [], "recent_negative_share": 0.25},
        "conversation_ids": [1, 2],
        "deleted_at": None,
        "risk_reasons": ["open_promises", "open_alerts"],
        **extra,
    }


def seed_case(session: Session) -> int:
    """A departed member's case as the workflow leaves it: decided, executed, one refusal,
    one customer deleted before leaving, one group transferred."""
    now = OPENED
    session.add(
        DirectoryDepartment(corp_id=CORP, dept_id=7, name="华东销售部", parent_id=1, is_active=True, updated_at=now)
    )
    for userid, name in (("zhangwei", "张伟"), ("lina", "李娜"), ("wangfang", "王芳")):
        session.add(DirectoryMember(corp_id=CORP, userid=userid, name=name, is_active=True, updated_at=now))
    case = HandoverCase(
        corp_id=CORP,
        kind=CaseKind.RESIGNED,
        handover_userid="zhangwei",
        handover_name="张伟",
        department_ids=[7],
        dimission_at=now - timedelta(days=3),
        status=CaseStatus.COMPLETED,
        source="unassigned",
        opened_by="system",
        opened_at=now,
        inventoried_at=now,
        executed_by="manager",
        executed_at=now + timedelta(hours=1),
        completed_at=now + timedelta(days=1, hours=2),
    )
    session.add(case)
    session.flush()
    decided = {"decided_by": "manager", "decided_at": now + timedelta(minutes=30)}
    customers = [
        ("wmAccepted", "陈先生", True, False, "low", ItemState.COMPLETED, "transfer", "lina", None),
        ("wmRefused", "刘女士", True, False, "high", ItemState.REFUSED, "transfer", "lina", None),
        ("wmFailed", "赵总", True, False, "medium", ItemState.FAILED, "transfer", "wangfang", 40128),
        ("wmDeleted", "孙经理", False, True, "high", ItemState.PENDING, None, None, None),
    ]
    for ext, name, assigned, deleted, risk, state, decision, successor, errcode in customers:
        session.add(
            HandoverCustomer(
                case_id=case.id,
                external_userid=ext,
                name=name,
                assigned=assigned,
                deleted_before_leaving=deleted,
                risk=risk,
                dossier=_dossier(deleted_at="2026-11-16T01:00:00+00:00" if deleted else None),
                suggested_successor="lina",
                suggestion_reason=SUGGESTION_REASON,
                decision=decision,
                successor_userid=successor,
                decision_note="大客户,需回访" if ext == "wmRefused" else None,
                state=state,
                errcode=errcode,
                sent_to=successor,
                sent_at=now + timedelta(hours=1) if successor else None,
                final_at=now + timedelta(days=1) if state != ItemState.PENDING else None,
                **(decided if decision else {}),
            )
        )
    session.add(
        HandoverGroup(
            case_id=case.id,
            chat_id="wrGroup1",
            name="华东大客户群",
            member_count=12,
            customer_count=9,
            dossier={},
            suggested_successor="lina",
            decision="transfer",
            successor_userid="lina",
            state=ItemState.COMPLETED,
            sent_to="lina",
            final_at=now + timedelta(hours=1),
            **decided,
        )
    )
    for action, actor, at in (
        ("handover.open", "system", now),
        ("content.handover_dossier", "manager", now + timedelta(minutes=10)),
        ("handover.decide", "manager", now + timedelta(minutes=30)),
        ("handover.report", "manager", now + timedelta(minutes=40)),  # views of the report: not its trail
        ("handover.execute", "manager", now + timedelta(hours=1)),
    ):
        access_log.append(
            session,
            access_log.AccessRecord(actor, "manager", "session", action, {"case_id": case.id}),
            at,
        )
    access_log.append(
        session, access_log.AccessRecord("manager", "manager", "session", "handover.decide", {"case_id": 999}), now
    )
    session.flush()
    return case.id


@pytest.fixture
def case_id(database: Database) -> int:
    with database.sessions.begin() as session:
        return seed_case(session)


def test_the_report_holds_what_a_reader_needs(database: Database, case_id: int) -> None:
    with database.sessions() as session:
        report = build_report(session, case_id)
    assert (report.handover_name, report.departments) == ("张伟", ("华东销售部",))
    assert report.customers[0].external_userid == "wmDeleted"  # deleted-before-leaving first, then by risk
    assert [c.external_userid for c in report.follow_up] == ["wmDeleted", "wmRefused", "wmFailed"]
    assert report.state_counts == {"completed": 1, "refused": 1, "failed": 1}
    assert report.customers[1].dossier.open_promises == 1 and report.customers[1].dossier.alerts_open == 1
    assert [line.action for line in report.trail] == [
        "handover.open",
        "content.handover_dossier",
        "handover.decide",
        "handover.execute",
    ]
    assert report.reviewers == ("manager",)
    assert report.member_names["lina"] == "李娜"


def test_html_is_chinese_by_default_english_on_request_and_carries_no_excerpts(
    database: Database, case_id: int
) -> None:
    with database.sessions() as session:
        report = build_report(session, case_id)
    zh = render_html(report)
    assert '<html lang="zh-CN">' in zh
    for text in (
        "客户交接报告",
        "张伟",
        "刘女士",
        "客户拒绝",
        "离职前被删除",
        "华东大客户群",
        "李娜 (lina)",
        "40128",
        "草稿",
    ):
        assert text in zh, text
    assert "明天一定给您回电" not in zh  # dossier excerpts are chat content: never in the report
    # Self-contained: the one link is the inline (empty) icon, so a browser asks for no /favicon.ico.
    assert re.findall(r"<link[^>]*>", zh) == ['<link rel="icon" href="data:,">']
    assert "<script" not in zh and "http" not in zh.split("</style>")[1]
    en = render_html(report, lang="en")
    english = ("Customer handover report", "refused by the customer", "Deleted before leaving", "DRAFT", "open alerts")
    for text in english:
        assert text in en, text
    signed = render_html(report.signed("manager", OPENED + timedelta(days=2), "已复核"), lang="en")
    assert "Signed by:</b> manager" in signed and "已复核" in signed and "DRAFT" not in signed
    with pytest.raises(InvalidInput):
        render_html(report, lang="fr")


def test_suggestion_reasons_are_words_in_the_report_language(database: Database, case_id: int) -> None:
    with database.sessions() as session:
        report = build_report(session, case_id)
    zh, en = render_html(report), render_html(report, lang="en")
    assert "同部门；曾与该客户聊天（最近 2026-11-02）；3 位候选人中负担最轻：跟进客户 12 位" in zh
    english = "same department; chatted with this customer (last 2026-11-02); lowest load of 3: 12 customers followed"
    assert english in en
    for page in (zh, en):
        assert "previous_chat" not in page and "lowest_load" not in page  # never the codes
    # The CLI and the JSON API read it in English beside the code.
    assert report.customers[0].suggestion_reason == SUGGESTION_REASON
    assert report.customers[0].suggestion_reason_text == english


def test_times_are_shown_in_the_zone_given(database: Database, case_id: int) -> None:
    with database.sessions() as session:
        report = build_report(session, case_id)
    opened = re.compile(r"<th>创建</th><td>([0-9: -]+) ·")
    shanghai = opened.search(render_html(report, timezone="Asia/Shanghai"))
    assert shanghai and shanghai[1] == "2026-11-20 10:00"
    berlin = render_html(report, timezone="Europe/Berlin")
    assert (found := opened.search(berlin)) and found[1] == "2026-11-20 03:00"
    assert "Europe/Berlin" in berlin.split("<footer>")[1]


def test_unknown_case(database: Database) -> None:
    with database.sessions() as session, pytest.raises(NotFound):
        build_report(session, 424242)


def _fonts(page: Any) -> set[str]:  # a pypdfium2 page: the library ships no types
    textpage = page.get_textpage()
    names: set[str] = set()
    buffer = ctypes.create_string_buffer(256)
    flags = ctypes.c_int()
    for index in range(textpage.count_chars()):
        if raw.FPDFText_GetFontInfo(textpage, index, buffer, len(buffer), ctypes.byref(flags)):
            names.add(buffer.value.decode())
    return names


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_pdf_renders_chinese_and_is_reproducible(database: Database, case_id: int) -> None:
    with database.sessions() as session:
        report = build_report(session, case_id)
    pdf = render_pdf(render_html(report))
    assert pdf.startswith(b"%PDF-")
    assert hashlib.sha256(render_pdf(render_html(report))).digest() == hashlib.sha256(pdf).digest()

    document = pdfium.PdfDocument(pdf)
    page = document[0]
    text = page.get_textpage().get_text_range()
    for name in ("客户交接报告", "张伟", "刘女士", "华东销售部"):
        assert name in text, name
    assert any("NotoSansCJK" in font.replace("-", "") for font in _fonts(page)), _fonts(page)

    image = page.render(scale=1.5).to_pil()
    histogram = image.convert("L").histogram()
    dark = sum(histogram[:128]) / (image.width * image.height)
    assert 0.005 < dark < 0.5, f"the page looks blank or black ({dark:.3%} dark pixels)"
    if os.environ.get("WECOM_AUDIT_README_IMAGES"):  # refresh the page the README shows
        README_PAGE.parent.mkdir(parents=True, exist_ok=True)
        image.save(README_PAGE)
