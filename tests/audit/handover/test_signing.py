"""The report and sign-off steps as the JSON API and the console take them
(``audit.handover.service``): the caller's scope is checked, report reads are logged,
times are shown in the zone passed in, sign-off blockers and suggestion reasons are
codes rendered in Chinese or English, and the hash recorded at sign-off is the hash of
the PDF a reader downloads afterwards."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from audit.accesslog.models import AccessLogEntry
from audit.errors import Conflict
from audit.handover import reasons, service
from audit.handover.models import CaseStatus, HandoverCase
from audit.security import service as security
from audit.security.errors import OutOfScope
from audit.security.principal import Principal
from audit.security.roles import ROLE_PERMISSIONS, Role
from tests.audit.handover.test_report import CORP, OPENED, seed_case
from tests.conftest import Database

SIGNED_AT = OPENED + timedelta(days=2)


def _manager(database: Database, username: str, dept_id: int) -> Principal:
    with database.sessions.begin() as session:
        user = security.create_user(
            session,
            security.cli_principal("cli:test"),
            username=username,
            password="a long enough password 1",
            role="manager",
            departments=[(CORP, dept_id)],
            now=OPENED,
        )
    return Principal(user.id, username, Role.MANAGER, ROLE_PERMISSIONS[Role.MANAGER], "session")


@pytest.fixture
def case_id(database: Database) -> int:
    with database.sessions.begin() as session:
        return seed_case(session)


def test_reasons_are_codes_in_either_language() -> None:
    stored = reasons.encode(
        [reasons.Reason("same_department"), reasons.Reason("lowest_load_chatted", {"of": 4, "load": 2, "days": 90})]
    )
    assert stored == "same_department;lowest_load_chatted:of=4,load=2,days=90"
    assert reasons.describe(stored, "zh") == "同部门；4 位候选人中负担最轻：90 天内聊过的客户 2 位"
    assert reasons.describe(stored, "en") == "same department; lowest load of 4: 2 customers chatted with in 90 days"
    blocker = reasons.Reason("case_not_completed", {"status": "executing"})
    assert blocker.text("zh") == "案例状态为「转接中」，尚未完成"
    assert blocker.text("en") == "the case is executing, not completed"
    # Free text stored before codes, or a code this version does not know: shown, not lost.
    assert reasons.describe("same department; lowest load of 5: 3", "zh") == "same department；lowest load of 5: 3"
    assert reasons.describe("future_code:n=1", "en") == "future_code:n=1"
    assert reasons.describe("previous_chat", "en") == "previous_chat"  # a parameter missing
    with pytest.raises(ValueError, match="reason token"):
        reasons.Reason("previous_chat", {"last": "a;b"}).encode()


def test_every_reason_code_has_both_languages_with_the_same_parameters() -> None:
    import string

    for code, (zh, en) in reasons.REASON_TEXT.items():
        fields = [{name for _, name, _, _ in string.Formatter().parse(text) if name} for text in (zh, en)]
        assert fields[0] == fields[1], code


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sign_off_records_the_hash_of_the_pdf_readers_download(database: Database, case_id: int) -> None:
    manager = _manager(database, "east", 7)
    with database.sessions.begin() as session:
        signed = service.sign_off_with_report(
            session, manager, case_id, "已复核", "zh", SIGNED_AT, timezone="Europe/Berlin"
        )
    assert (signed.status, signed.signed_off_by, signed.lang) == ("signed_off", "east", "zh")
    with database.sessions.begin() as session:
        rendered = service.read_report(
            session, manager, case_id, fmt="pdf", lang="zh", timezone="Europe/Berlin", now=SIGNED_AT
        )
        case = session.get(HandoverCase, case_id)
        assert case is not None and case.report_sha256 == signed.report_sha256
        actions = list(session.scalars(select(AccessLogEntry.action).order_by(AccessLogEntry.position)))
    assert actions[-2:] == ["handover.sign_off", "handover.report"]
    pdf = service.report_pdf(rendered)
    assert pdf.sha256 == hashlib.sha256(pdf.data).hexdigest() == signed.report_sha256
    assert pdf.signed == "match"
    # The same report in another zone is another document: the hash says so.
    with database.sessions.begin() as session:
        shanghai = service.read_report(
            session, manager, case_id, fmt="pdf", lang="zh", timezone="Asia/Shanghai", now=SIGNED_AT
        )
    assert "2026-11-22 03:00" in rendered.html and "2026-11-22 10:00" in shanghai.html  # signed at 02:00 UTC
    assert service.report_pdf(shanghai).signed == "differs"


def test_the_steps_check_the_callers_scope(database: Database, case_id: int) -> None:
    elsewhere = _manager(database, "west", 8)
    with database.sessions.begin() as session, pytest.raises(OutOfScope):
        service.read_report(session, elsewhere, case_id, fmt="html", lang="zh", timezone="UTC", now=SIGNED_AT)
    with database.sessions.begin() as session, pytest.raises(OutOfScope):
        service.sign_off_with_report(session, elsewhere, case_id, None, "zh", SIGNED_AT, timezone="UTC")
    with database.sessions.begin() as session, pytest.raises(OutOfScope):
        service.accept_suggestions_in_scope(session, elsewhere, case_id, SIGNED_AT)
    with database.sessions() as session:
        case = session.get(HandoverCase, case_id)
        assert case is not None and case.status == CaseStatus.COMPLETED


def test_a_case_not_ready_says_why_in_codes_and_refuses_sign_off(database: Database, case_id: int) -> None:
    manager = _manager(database, "east", 7)
    with database.sessions.begin() as session:
        case = session.get(HandoverCase, case_id)
        assert case is not None
        case.status = CaseStatus.EXECUTING.value
    with database.sessions() as session:
        case = session.get(HandoverCase, case_id)
        assert case is not None
        blockers = service.sign_off_blockers(session, case)
    assert [b.encode() for b in blockers] == ["case_not_completed:status=executing"]
    assert [b.text("zh") for b in blockers] == ["案例状态为「转接中」，尚未完成"]
    with (
        database.sessions.begin() as session,
        pytest.raises(Conflict, match="cannot be signed off: the case is executing, not completed"),
    ):
        service.sign_off_with_report(session, manager, case_id, None, "zh", SIGNED_AT, timezone="UTC")
