"""The handover case workflow in one place for the CLI, the API and the scheduler:
open (inventory), list, decide, execute, poll, sign off (ADR 0016).

The steps themselves live in ``inventory`` (opening), ``decisions``, ``execution`` and
``inheritance``; this module adds what spans them (listing cases, the sign-off rule) and
re-exports the step functions so callers import one module. Sync functions take an open
session (the caller commits); async ones take a session factory and never hold a
transaction across a WeCom call. The ``*_in_scope`` steps, ``read_report`` and
``sign_off_with_report`` are the steps as the JSON API and the console take them (the
case must be in the caller's department scope); both call exactly these, so they cannot
drift apart. The command line acts company-wide and calls the plain steps
(``execute_case`` and ``poll_cases`` find the case's corp for it). Every step that changes
a case takes the handover's own lock first (``audit.handover.locks``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from archive.wecom.contacts import WeComContacts
from audit.accesslog import log as access_log
from audit.errors import Conflict, InvalidInput
from audit.handover import report as reports
from audit.handover import views
from audit.handover.decisions import accept_suggestions, decide, load_case, log_step, parse_decision
from audit.handover.execution import ExecutionSummary, Progress, execute
from audit.handover.inheritance import apply_pending_inheritances
from audit.handover.inventory import open_case, take_inventory
from audit.handover.locks import lock_case
from audit.handover.models import (
    FINAL_STATES,
    CaseKind,
    CaseStatus,
    Decision,
    HandoverCase,
    HandoverCustomer,
    HandoverGroup,
    ItemState,
)
from audit.handover.polling import PollSummary, poll, poll_executing
from audit.handover.reasons import Reason
from audit.security.errors import OutOfScope
from audit.security.principal import Principal
from audit.security.roles import Permission
from config.database import session_scope

__all__ = [
    "CaseListing",
    "ContactsFor",
    "ExecutionSummary",
    "PollSummary",
    "RenderedReport",
    "ReportPdf",
    "SignedOff",
    "accept_suggestions",
    "accept_suggestions_in_scope",
    "apply_pending_inheritances",
    "decide",
    "decide_in_scope",
    "execute",
    "execute_case",
    "execute_in_scope",
    "list_cases",
    "load_case",
    "open_case_in_scope",
    "open_member_case",
    "parse_decision",
    "poll",
    "poll_cases",
    "poll_executing",
    "poll_in_scope",
    "read_report",
    "report_pdf",
    "sign_off",
    "sign_off_blockers",
    "sign_off_with_report",
]

SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
SIGN_OFF_NOTE_MAX_CHARS: Final = 2000


@dataclass(frozen=True)
class CaseListing:
    id: int
    corp_id: str
    kind: str
    handover_userid: str
    handover_name: str
    status: str
    source: str
    opened_at: datetime
    customers: int
    groups: int
    undecided: int  # assigned customers and groups without a decision (or on hold)
    in_flight: int  # sent, waiting for WeCom
    follow_up: int  # refused, limited or failed


def list_cases(
    session: Session, *, status: str | None = None, corp_id: str | None = None, limit: int = 200
) -> list[CaseListing]:
    """Cases, newest first, with counts of where their items stand."""
    statement = select(HandoverCase).order_by(HandoverCase.id.desc()).limit(limit)
    if status is not None:
        statement = statement.where(HandoverCase.status == CaseStatus(status).value)
    if corp_id is not None:
        statement = statement.where(HandoverCase.corp_id == corp_id)
    cases = list(session.execute(statement).scalars())
    counts: dict[int, dict[str, int]] = {case.id: {} for case in cases}
    ids = list(counts)
    customer_rows = session.execute(
        select(HandoverCustomer.case_id, HandoverCustomer.decision, HandoverCustomer.state, func.count())
        .where(HandoverCustomer.case_id.in_(ids), HandoverCustomer.assigned.is_(True))
        .group_by(HandoverCustomer.case_id, HandoverCustomer.decision, HandoverCustomer.state)
    ).all()
    group_rows = session.execute(
        select(HandoverGroup.case_id, HandoverGroup.decision, HandoverGroup.state, func.count())
        .where(HandoverGroup.case_id.in_(ids))
        .group_by(HandoverGroup.case_id, HandoverGroup.decision, HandoverGroup.state)
    ).all()
    for kind, rows in (("customers", customer_rows), ("groups", group_rows)):
        for case_id, decision, state, count in rows:
            tally = counts[case_id]
            tally[kind] = tally.get(kind, 0) + count
            if decision in (None, Decision.HOLD):
                tally["undecided"] = tally.get("undecided", 0) + count
            if state == ItemState.SENT:
                tally["in_flight"] = tally.get("in_flight", 0) + count
            if state in (ItemState.REFUSED, ItemState.LIMITED, ItemState.FAILED):
                tally["follow_up"] = tally.get("follow_up", 0) + count
    return [
        CaseListing(
            case.id,
            case.corp_id,
            case.kind,
            case.handover_userid,
            case.handover_name,
            case.status,
            case.source,
            case.opened_at,
            counts[case.id].get("customers", 0),
            counts[case.id].get("groups", 0),
            counts[case.id].get("undecided", 0),
            counts[case.id].get("in_flight", 0),
            counts[case.id].get("follow_up", 0),
        )
        for case in cases
    ]


async def open_member_case(
    session_factory: sessionmaker[Session],
    contacts: WeComContacts,
    *,
    corp_id: str,
    userid: str,
    kind: CaseKind,
    actor: Principal,
    now: datetime,
    transfer_message: str | None = None,
) -> int:
    """A manager opens a case for a member (resigned or on-job): WeCom's inventory, then
    the case with dossiers and suggestions. Returns the case id."""
    actor.require(Permission.HANDOVER_MANAGE)
    inventory = await take_inventory(session_factory, contacts, corp_id, userid, kind)
    with session_scope(session_factory) as session:
        case = open_case(
            session,
            inventory,
            actor=actor.username,
            source="manager",
            now=now,
            transfer_message=transfer_message,
            actor_role=actor.role.value,
            via=actor.via,
            token_id=actor.token_id,
        )
        return case.id


def sign_off_blockers(session: Session, case: HandoverCase) -> list[Reason]:
    """Why the case cannot be signed off yet (empty: it can), as reason codes
    (``audit.handover.reasons``; ``.text(lang)`` for words). The rule: the case is
    completed, every customer still the member's and every group is decided (not on
    hold), and every transfer that was decided is final."""
    blockers: list[Reason] = []
    if case.status != CaseStatus.COMPLETED:
        blockers.append(Reason("case_not_completed", {"status": case.status}))
    customers = session.execute(select(HandoverCustomer).where(HandoverCustomer.case_id == case.id)).scalars()
    groups = session.execute(select(HandoverGroup).where(HandoverGroup.case_id == case.id)).scalars()
    items = [(c.external_userid, c) for c in customers if c.assigned] + [(g.chat_id, g) for g in groups]
    undecided = [item_id for item_id, item in items if item.decision in (None, Decision.HOLD)]
    if undecided:
        blockers.append(Reason("items_undecided", {"count": len(undecided)}))
    unfinished = [
        item_id for item_id, item in items if item.decision == Decision.TRANSFER and item.state not in FINAL_STATES
    ]
    if unfinished:
        blockers.append(Reason("transfers_not_final", {"count": len(unfinished)}))
    return blockers


def _check_signable(session: Session, case: HandoverCase, hint: str) -> None:
    blockers = sign_off_blockers(session, case)
    if blockers:
        raise Conflict(
            f"case {case.id} cannot be signed off: {'; '.join(b.text('en') for b in blockers)}",
            hint=hint,
        )


def sign_off(
    session: Session, actor: Principal, case_id: int, note: str | None, report_sha256: str, now: datetime
) -> HandoverCase:
    """Record the manager's sign-off of the case's report (the SHA-256 of the signed PDF)."""
    actor.require(Permission.HANDOVER_MANAGE)
    if not SHA256_HEX.fullmatch(report_sha256):
        raise InvalidInput("the report hash must be a SHA-256 in lower-case hex (64 characters)")
    if note is not None and len(note) > SIGN_OFF_NOTE_MAX_CHARS:
        raise InvalidInput(f"the sign-off note is longer than {SIGN_OFF_NOTE_MAX_CHARS} characters")
    case = load_case(session, case_id, for_update=True)
    _check_signable(
        session,
        case,
        f"decide the remaining items and run `wecom-audit handover execute {case_id}` / "
        f"`poll {case_id}` until the case is completed",
    )
    case.status = CaseStatus.SIGNED_OFF.value
    case.signed_off_by, case.signed_off_at = actor.username, now
    case.sign_off_note, case.report_sha256 = note, report_sha256
    log_step(session, actor, "handover.sign_off", case_id, {"report_sha256": report_sha256, "note": bool(note)}, now)
    session.flush()
    return case


# --- the steps as a caller with a department scope takes them (JSON API and console) --------
#
# Each checks that the case (or member) is in the caller's scope, then runs the step; the
# HTTP handlers and console pages only parse input, call one of these and shape output.

ContactsFor = Callable[[str | None], AbstractAsyncContextManager[WeComContacts]]


@dataclass(frozen=True)
class RenderedReport:
    case_id: int
    lang: str
    html: str
    # The SHA-256 recorded at sign-off (of the PDF in the language signed), if signed.
    signed_sha256: str | None


@dataclass(frozen=True)
class ReportPdf:
    data: bytes
    sha256: str
    signed: str | None  # "match" / "differs" with the signed hash; None before sign-off


@dataclass(frozen=True)
class SignedOff:
    case_id: int
    status: str
    signed_off_by: str
    signed_off_at: datetime
    report_sha256: str
    lang: str


def _lock_log(session: Session, now: datetime) -> None:
    """A read that appends to the access log (and changes nothing else): on SQLite the
    log's lock is taken before reading (a WAL read snapshot cannot become a writer later;
    see ``audit.accesslog.log``). Steps that change a case take ``lock_case`` first instead."""
    if session.get_bind().dialect.name == "sqlite":
        access_log.lock_head(session, now)


def _visible_corp(session_factory: sessionmaker[Session], actor: Principal, case_id: int) -> str:
    with session_scope(session_factory) as session:
        return views.visible_case(session, actor, case_id).corp_id


async def open_case_in_scope(
    session_factory: sessionmaker[Session],
    contacts_for: ContactsFor,
    *,
    corp_id: str,
    userid: str,
    kind: CaseKind,
    actor: Principal,
    now: datetime,
    transfer_message: str | None = None,
) -> int:
    """:func:`open_member_case` for a member in the caller's department scope."""
    actor.require(Permission.HANDOVER_MANAGE)
    with session_scope(session_factory) as session:
        if not views.member_visible(session, actor, corp_id, userid):
            raise OutOfScope(f"member {userid!r} is outside your department scope")
    async with contacts_for(corp_id) as contacts:
        return await open_member_case(
            session_factory,
            contacts,
            corp_id=corp_id,
            userid=userid,
            kind=kind,
            actor=actor,
            now=now,
            transfer_message=transfer_message,
        )


def decide_in_scope(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    customers: list[str] | None,
    groups: list[str] | None,
    decision: str,
    successor: str | None,
    note: str | None,
    now: datetime,
) -> int:
    """:func:`decide` on a case in the caller's scope (``decision`` as sent: validated here)."""
    lock_case(session, case_id)
    views.visible_case(session, actor, case_id)
    return decide(
        session,
        actor,
        case_id,
        customers=customers,
        groups=groups,
        decision=parse_decision(decision),
        successor=successor,
        note=note,
        now=now,
    )


def accept_suggestions_in_scope(session: Session, actor: Principal, case_id: int, now: datetime) -> int:
    """:func:`accept_suggestions` on a case in the caller's scope."""
    lock_case(session, case_id)
    views.visible_case(session, actor, case_id)
    return accept_suggestions(session, actor, case_id, now)


async def execute_in_scope(
    session_factory: sessionmaker[Session], contacts_for: ContactsFor, case_id: int, actor: Principal, now: datetime
) -> ExecutionSummary:
    """:func:`execute` a case in the caller's scope, with the contacts of the case's corp."""
    corp_id = _visible_corp(session_factory, actor, case_id)
    async with contacts_for(corp_id) as contacts:
        return await execute(session_factory, contacts, case_id, actor, now)


async def poll_in_scope(
    session_factory: sessionmaker[Session], contacts_for: ContactsFor, case_id: int, actor: Principal, now: datetime
) -> PollSummary:
    """:func:`poll` a case in the caller's scope now (the scheduler does it every minute)."""
    corp_id = _visible_corp(session_factory, actor, case_id)
    async with contacts_for(corp_id) as contacts:
        return await poll(session_factory, contacts, case_id, now, actor=actor)


def _case_corp(session_factory: sessionmaker[Session], case_id: int) -> str:
    with session_scope(session_factory) as session:
        return load_case(session, case_id).corp_id


async def execute_case(
    session_factory: sessionmaker[Session],
    contacts_for: ContactsFor,
    case_id: int,
    actor: Principal,
    now: datetime,
    *,
    progress: Progress | None = None,
) -> ExecutionSummary:
    """:func:`execute` company-wide (the command line), with the contacts of the case's corp."""
    corp_id = _case_corp(session_factory, case_id)
    async with contacts_for(corp_id) as contacts:
        return await execute(session_factory, contacts, case_id, actor, now, progress=progress)


async def poll_cases(
    session_factory: sessionmaker[Session],
    contacts_for: ContactsFor,
    case_id: int | None,
    corp_id: str,
    actor: Principal,
    now: datetime,
) -> list[PollSummary]:
    """:func:`poll` one case company-wide (the command line), or every executing case of
    ``corp_id`` (``case_id`` None)."""
    if case_id is not None:
        async with contacts_for(_case_corp(session_factory, case_id)) as contacts:
            return [await poll(session_factory, contacts, case_id, now, actor=actor)]
    async with contacts_for(corp_id) as contacts:
        return await poll_executing(session_factory, contacts, corp_id, now)


def read_report(
    session: Session, actor: Principal, case_id: int, *, fmt: str, lang: str, timezone: str, now: datetime
) -> RenderedReport:
    """The report's HTML in ``lang`` with times in ``timezone`` (the configured zone),
    logged as a ``handover.report`` read in ``fmt`` (it names customers)."""
    actor.require(Permission.HANDOVER_READ)
    _lock_log(session, now)
    case = views.visible_case(session, actor, case_id)
    html = reports.render_html(reports.build_report(session, case_id), lang, timezone=timezone)
    access_log.append(
        session,
        access_log.record_of(actor, "handover.report", {"case_id": case_id, "format": fmt, "lang": lang}),
        now,
    )
    return RenderedReport(case_id, lang, html, case.report_sha256)


def report_pdf(rendered: RenderedReport) -> ReportPdf:
    """The PDF of a rendered report (outside any transaction: WeasyPrint takes a while),
    with its hash compared to the one recorded at sign-off."""
    data = reports.render_pdf(rendered.html)
    digest = hashlib.sha256(data).hexdigest()
    signed = None if rendered.signed_sha256 is None else "match" if rendered.signed_sha256 == digest else "differs"
    return ReportPdf(data, digest, signed)


def sign_off_with_report(
    session: Session,
    actor: Principal,
    case_id: int,
    note: str | None,
    lang: str,
    now: datetime,
    *,
    timezone: str,
) -> SignedOff:
    """Sign a completed case in the caller's scope off: the report is rendered as signed
    (``lang``, times in ``timezone``), and its PDF's SHA-256 is recorded by :func:`sign_off`."""
    actor.require(Permission.HANDOVER_MANAGE)
    lock_case(session, case_id)
    case = views.visible_case(session, actor, case_id)
    # Checked before rendering (a second or so); sign_off checks again under the row lock.
    _check_signable(session, case, "decide the remaining items, execute and poll until the case is completed")
    report = reports.build_report(session, case_id).signed(actor.username, now, note)
    digest = hashlib.sha256(reports.render_pdf(reports.render_html(report, lang, timezone=timezone))).hexdigest()
    signed = sign_off(session, actor, case_id, note, digest, now)
    return SignedOff(case_id, signed.status, actor.username, now, digest, lang)
