"""One handover case as its readers see it: the use cases behind "show a case" for the
JSON API, the console and the command line, and the member lists the console's forms
offer (who a case could be opened for, who may take over).

Each is one read in the caller's transaction; the case must be in the caller's scope
(``audit.handover.views``) except for :func:`case_rows`, the command line's company-wide
view.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from archive.directory import repository as directory
from archive.directory.names import Names, display_names
from audit.handover import report as reports
from audit.handover import views
from audit.handover.decisions import load_case
from audit.handover.execution import case_customers, case_groups
from audit.handover.models import HandoverCase, HandoverCustomer, HandoverGroup
from audit.handover.reasons import Reason
from audit.handover.service import sign_off_blockers
from audit.security.principal import Principal
from audit.security.roles import Permission
from audit.security.scope import resolve_scope
from config.database import session_scope


@dataclass(frozen=True)
class MemberOption:
    """A member who may take over (the leaver's departments first)."""

    userid: str
    name: str
    same_department: bool


@dataclass(frozen=True)
class MemberChoice:
    """A member a case could be opened for (departed first)."""

    userid: str
    name: str
    departed: bool


@dataclass(frozen=True)
class CaseDetail:
    case: HandoverCase
    report: reports.CaseReport
    blockers: list[Reason]  # why it cannot be signed off yet (empty once signed off)
    successors: list[MemberOption]  # only when asked for (managers' forms)


def successor_options(session: Session, case: HandoverCase) -> list[MemberOption]:
    """Active members other than the leaver, the leaver's departments first."""
    members = directory.members(session, case.corp_id)
    departments = directory.memberships(session, case.corp_id)
    wanted = set(case.department_ids or ())
    options = [
        MemberOption(userid, member.name, bool(departments.get(userid, set()) & wanted))
        for userid, member in members.items()
        if member.is_active and userid != case.handover_userid
    ]
    return sorted(options, key=lambda m: (not m.same_department, m.name, m.userid))


def case_detail(session: Session, principal: Principal, case_id: int, *, successors: bool = False) -> CaseDetail:
    """The case as the caller may see it (NotFound / OutOfScope otherwise), with its report
    and sign-off blockers; ``successors``: also who may take over (managers only)."""
    case = views.visible_case(session, principal, case_id)
    return CaseDetail(
        case=case,
        report=reports.build_report(session, case_id),
        blockers=[] if case.signed_off_at else sign_off_blockers(session, case),
        successors=successor_options(session, case) if successors and principal.can(Permission.HANDOVER_MANAGE) else [],
    )


def members_in_scope(session: Session, principal: Principal, corp_id: str) -> list[MemberChoice]:
    """Members a case could be opened for by this caller: departed first (the usual case)."""
    scope = resolve_scope(session, principal)
    departments = directory.memberships(session, corp_id)
    choices = [
        MemberChoice(userid, member.name, not member.is_active)
        for userid, member in directory.members(session, corp_id).items()
        if scope.everything or departments.get(userid, set()) & scope.department_ids
    ]
    return sorted(choices, key=lambda m: (not m.departed, m.name, m.userid))


@dataclass(frozen=True)
class CaseRows:
    """A case with its rows as stored (the command line's ``show``), detached."""

    case: HandoverCase
    customers: list[HandoverCustomer]
    groups: list[HandoverGroup]
    blockers: list[Reason]
    names: Names  # the successors, decided and suggested


def case_rows(session: Session, case_id: int) -> CaseRows:
    """The case and its customers and groups, company-wide (NotFound if there is none)."""
    case = load_case(session, case_id)
    customers = case_customers(session, case_id)
    groups = case_groups(session, case_id)
    blockers = sign_off_blockers(session, case)
    lines: list[HandoverCustomer | HandoverGroup] = [*customers, *groups]
    members = {p for line in lines for p in (line.successor_userid, line.suggested_successor) if p}
    names = display_names(session, case.corp_id, members)
    session.expunge_all()
    return CaseRows(case, customers, groups, blockers, names)


def shown_case(session_factory: sessionmaker[Session], principal: Principal, case_id: int) -> CaseDetail:
    """:func:`case_detail` in a transaction of its own (after an awaited step, e.g. opening)."""
    with session_scope(session_factory) as session:
        return case_detail(session, principal, case_id)
