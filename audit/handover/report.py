"""The handover report of one case: HTML for the screen, PDF for the file (ADR 0016).

Contract:
- The report is built from stored facts only (the case, its items with their frozen
  dossiers, the inheritances and the case's access-log trail), so rendering it again gives
  the same bytes: the SHA-256 stored at sign-off identifies the PDF that was signed.
- It holds no chat content: dossiers appear as counts, risk levels and reasons, never
  excerpts (those are read through the access gate). Reading a report is still logged by
  the caller, since it names customers.
- The trail repeats the access log's ``handover.*`` rows of the case for humans; views of
  the report itself and the sign-off row are left out (the sign-off has its own section),
  and a signed report stops at the moment of signing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache, partial
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from archive.directory.models import DirectoryDepartment
from archive.directory.names import display_names
from audit.accesslog.models import AccessLogEntry
from audit.errors import InvalidInput, NotFound
from audit.handover import reasons
from audit.handover.dossier import RISK_REASON_TEXT
from audit.handover.models import (
    FINAL_STATES,
    HandoverCase,
    HandoverCustomer,
    HandoverGroup,
    HandoverInheritance,
    ItemState,
)
from audit.security.models import SecurityUser

LANGUAGES = ("zh", "en")
DEFAULT_TIMEZONE = "Asia/Shanghai"
# Access-log actions that are about the report, not the case: never part of its trail.
UNTRAILED_ACTIONS = frozenset({"handover.report", "handover.sign_off"})
# Reading a dossier is a content read (through the gate), logged under this action.
DOSSIER_ACTION = "content.handover_dossier"
FOLLOW_UP_STATES = frozenset({ItemState.REFUSED, ItemState.LIMITED, ItemState.FAILED})


@dataclass(frozen=True)
class DossierSummary:
    """What the report shows of a customer's dossier: numbers, no excerpts."""

    relationship_days: int | None
    first_contact: str | None
    last_contact: str | None
    messages_total: int
    messages_from_staff: int
    messages_from_customer: int
    open_promises: int
    unanswered: int
    alerts_open: int
    alerts_past: int
    recent_negative_share: float | None
    tags: tuple[str, ...]
    conversations: int
    deleted_at: str | None


@dataclass(frozen=True)
class CustomerLine:
    external_userid: str
    name: str
    assigned: bool
    deleted_before_leaving: bool
    risk: str
    risk_reasons: tuple[str, ...]
    dossier: DossierSummary
    suggested_successor: str | None
    suggestion_reason: str | None
    decision: str | None
    successor: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    state: str
    errcode: int | None
    sent_to: str | None
    sent_at: datetime | None
    takeover_at: datetime | None
    final_at: datetime | None

    @property
    def needs_follow_up(self) -> bool:
        return self.state in FOLLOW_UP_STATES or self.deleted_before_leaving or self.decision == "hold"

    @property
    def suggestion_reason_text(self) -> str | None:
        """The suggestion's reason in English (the CLI's and the JSON API's language)."""
        return reasons.describe(self.suggestion_reason, "en") if self.suggestion_reason else None


@dataclass(frozen=True)
class GroupLine:
    chat_id: str
    name: str
    member_count: int
    customer_count: int
    suggested_successor: str | None
    decision: str | None
    successor: str | None
    decided_by: str | None
    decided_at: datetime | None
    state: str
    errcode: int | None
    sent_to: str | None
    final_at: datetime | None
    # A field, not a property: the API returns these lines as they are (``CaseOut.groups``).
    needs_follow_up: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "needs_follow_up", self.state in FOLLOW_UP_STATES or self.decision == "hold")


@dataclass(frozen=True)
class InheritanceLine:
    successor: str
    conversations: int
    granted_to: tuple[str, ...]  # console accounts; empty while the successor has none linked


@dataclass(frozen=True)
class TrailLine:
    at: datetime
    actor: str
    actor_role: str
    action: str
    outcome: str
    detail: str  # ids and counts from the access-log target (never content)


@dataclass(frozen=True)
class SignOff:
    by: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class CaseReport:
    case_id: int
    corp_id: str
    kind: str
    status: str
    handover_userid: str
    handover_name: str
    departments: tuple[str, ...]
    dimission_at: datetime | None
    source: str
    opened_by: str
    opened_at: datetime
    transfer_message: str | None
    executed_by: str | None
    executed_at: datetime | None
    completed_at: datetime | None
    customers: tuple[CustomerLine, ...]
    groups: tuple[GroupLine, ...]
    inheritances: tuple[InheritanceLine, ...]
    trail: tuple[TrailLine, ...]
    sign_off: SignOff | None
    # userid → display name for the members the report mentions (leaver, successors).
    member_names: dict[str, str]

    @property
    def follow_up(self) -> tuple[CustomerLine, ...]:
        return tuple(c for c in self.customers if c.needs_follow_up)

    @property
    def groups_follow_up(self) -> tuple[GroupLine, ...]:
        return tuple(g for g in self.groups if g.needs_follow_up)

    @property
    def state_counts(self) -> dict[str, int]:
        return dict(Counter(c.state for c in self.customers if c.assigned))

    @property
    def risk_counts(self) -> dict[str, int]:
        return dict(Counter(c.risk for c in self.customers))

    @property
    def reviewers(self) -> tuple[str, ...]:
        """Everyone who decided, executed or read a dossier of this case, in order of appearance."""
        seen: dict[str, None] = {}
        for line in self.trail:
            if line.action != "handover.open" or line.actor != "system":
                seen.setdefault(line.actor, None)
        return tuple(seen)

    def signed(self, by: str, at: datetime, note: str | None) -> CaseReport:
        """This report as it reads once ``by`` signs it at ``at`` (rendered before storing
        the sign-off, so its hash can be stored with it)."""
        return replace(self, sign_off=SignOff(by, at, note), status="signed_off")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _count(value: Any) -> int:
    """A list's length or a number (H1's dossier lists items; older shapes may count)."""
    if isinstance(value, list):
        return len(value)
    return _int(value)


def summarize_dossier(dossier: dict[str, Any]) -> DossierSummary:
    """Numbers from a stored dossier, tolerant of missing keys (dossiers are frozen JSON
    written by ``audit.handover.dossier``; an older or partial one must still render)."""
    messages = dossier.get("messages") or {}
    alerts = dossier.get("alerts") or {}
    sentiment = dossier.get("sentiment") or {}
    share = sentiment.get("recent_negative_share")
    days = dossier.get("relationship_days")
    return DossierSummary(
        relationship_days=days if isinstance(days, int) else None,
        first_contact=dossier.get("first_contact"),
        last_contact=dossier.get("last_contact"),
        messages_total=_int(messages.get("total")),
        messages_from_staff=_int(messages.get("from_staff")),
        messages_from_customer=_int(messages.get("from_customer")),
        open_promises=_count(dossier.get("open_promises")),
        unanswered=_count(dossier.get("unanswered")),
        alerts_open=_int(alerts.get("open")),
        alerts_past=_int(alerts.get("past")),
        recent_negative_share=float(share) if isinstance(share, int | float) else None,
        tags=tuple(str(tag) for tag in dossier.get("tags") or ()),
        conversations=len(dossier.get("conversation_ids") or ()),
        deleted_at=dossier.get("deleted_at"),
    )


def _customer_line(row: HandoverCustomer) -> CustomerLine:
    dossier = row.dossier or {}
    return CustomerLine(
        external_userid=row.external_userid,
        name=row.name,
        assigned=row.assigned,
        deleted_before_leaving=row.deleted_before_leaving,
        risk=row.risk,
        risk_reasons=tuple(str(reason) for reason in dossier.get("risk_reasons") or ()),
        dossier=summarize_dossier(dossier),
        suggested_successor=row.suggested_successor,
        suggestion_reason=row.suggestion_reason,
        decision=row.decision,
        successor=row.successor_userid,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
        state=row.state,
        errcode=row.errcode,
        sent_to=row.sent_to,
        sent_at=row.sent_at,
        takeover_at=row.takeover_at,
        final_at=row.final_at,
    )


def _group_line(row: HandoverGroup) -> GroupLine:
    return GroupLine(
        chat_id=row.chat_id,
        name=row.name,
        member_count=row.member_count,
        customer_count=row.customer_count,
        suggested_successor=row.suggested_successor,
        decision=row.decision,
        successor=row.successor_userid,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        state=row.state,
        errcode=row.errcode,
        sent_to=row.sent_to,
        final_at=row.final_at,
    )


_RISK_ORDER = {"high": 0, "medium": 1, "low": 2}
_DETAIL_SKIPPED = frozenset({"case_id", "corp_id", "note"})
_DETAIL_LIST_MAX = 5


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        if "ids" in value:  # a logged id list (``decisions.logged_ids``)
            return _compact(value["ids"]) + (f" (+{value['ids_left_out']})" if value.get("ids_left_out") else "")
        return ", ".join(f"{k} {_compact(v)}" for k, v in value.items() if v not in (None, [], {}, ""))
    if isinstance(value, list):
        shown = ", ".join(_compact(item) for item in value[:_DETAIL_LIST_MAX])
        return shown + (f" (+{len(value) - _DETAIL_LIST_MAX})" if len(value) > _DETAIL_LIST_MAX else "")
    return str(value)


def _detail(target: dict[str, Any]) -> str:
    """A short, language-neutral account of an access-log target (ids and counts only)."""
    return "; ".join(
        f"{key}: {_compact(value)}"
        for key, value in target.items()
        if key not in _DETAIL_SKIPPED and value not in (None, [], {}, "", False)
    )


def case_trail(session: Session, case_id: int, *, until: datetime | None = None) -> list[TrailLine]:
    """The access log's rows about this case (``handover.*`` and dossier reads with its ``case_id``)."""
    query = (
        select(AccessLogEntry)
        .where(
            or_(AccessLogEntry.action.like("handover.%"), AccessLogEntry.action == DOSSIER_ACTION),
            AccessLogEntry.action.not_in(UNTRAILED_ACTIONS),
        )
        .order_by(AccessLogEntry.position)
    )
    if until is not None:
        query = query.where(AccessLogEntry.occurred_at < until)
    # The target is JSON on both databases; matching the case id in Python keeps one query
    # for SQLite and PostgreSQL (a case has tens of rows among the handover actions).
    return [
        TrailLine(row.occurred_at, row.actor, row.actor_role, row.action, row.outcome, _detail(row.target))
        for row in session.execute(query).scalars()
        if row.target.get("case_id") == case_id
    ]


def build_report(session: Session, case_id: int) -> CaseReport:
    """Everything a reader of the report needs, from the stored case."""
    case = session.get(HandoverCase, case_id)
    if case is None:
        raise NotFound(f"there is no handover case {case_id}", hint="list the cases: GET /api/v1/handover/cases")
    customers = sorted(
        (
            _customer_line(row)
            for row in session.execute(select(HandoverCustomer).where(HandoverCustomer.case_id == case_id)).scalars()
        ),
        key=lambda c: (not c.deleted_before_leaving, _RISK_ORDER.get(c.risk, 3), c.name, c.external_userid),
    )
    groups = [
        _group_line(row)
        for row in session.execute(
            select(HandoverGroup).where(HandoverGroup.case_id == case_id).order_by(HandoverGroup.name)
        ).scalars()
    ]
    inherited: dict[str, set[int]] = {}
    accounts: dict[str, set[str]] = {}
    for successor, conversation_id, username in session.execute(
        select(HandoverInheritance.successor_userid, HandoverInheritance.conversation_id, SecurityUser.username)
        .outerjoin(SecurityUser, SecurityUser.id == HandoverInheritance.granted_user_id)
        .where(HandoverInheritance.case_id == case_id)
    ):
        inherited.setdefault(successor, set()).add(conversation_id)
        if username:
            accounts.setdefault(successor, set()).add(username)
    inheritances = [
        InheritanceLine(successor, len(ids), tuple(sorted(accounts.get(successor, ()))))
        for successor, ids in sorted(inherited.items())
    ]
    people = {case.handover_userid} | set(inherited)
    lines: list[CustomerLine | GroupLine] = [*customers, *groups]
    for line in lines:
        people.update(p for p in (line.successor, line.suggested_successor, line.sent_to) if p)
    names = {name.id: name.label for name in display_names(session, case.corp_id, people)}
    names[case.handover_userid] = case.handover_name
    departments = dict(
        session.execute(
            select(DirectoryDepartment.dept_id, DirectoryDepartment.name).where(
                DirectoryDepartment.corp_id == case.corp_id, DirectoryDepartment.dept_id.in_(case.department_ids or [])
            )
        ).all()
    )
    sign_off = (
        SignOff(case.signed_off_by, case.signed_off_at, case.sign_off_note)
        if case.signed_off_by and case.signed_off_at
        else None
    )
    return CaseReport(
        case_id=case.id,
        corp_id=case.corp_id,
        kind=case.kind,
        status=case.status,
        handover_userid=case.handover_userid,
        handover_name=case.handover_name,
        departments=tuple(departments.get(d, str(d)) for d in case.department_ids or []),
        dimission_at=case.dimission_at,
        source=case.source,
        opened_by=case.opened_by,
        opened_at=case.opened_at,
        transfer_message=case.transfer_message,
        executed_by=case.executed_by,
        executed_at=case.executed_at,
        completed_at=case.completed_at,
        customers=tuple(customers),
        groups=tuple(groups),
        inheritances=tuple(inheritances),
        trail=tuple(case_trail(session, case_id, until=sign_off.at if sign_off else None)),
        sign_off=sign_off,
        member_names=names,
    )


# --- rendering ------------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("audit.handover", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment


@cache
def _labels() -> dict[str, dict[str, Any]]:
    text = resources.files("audit.handover").joinpath("templates/labels.json").read_text(encoding="utf-8")
    labels: dict[str, dict[str, Any]] = json.loads(text)
    return labels


def _formatter(zone: ZoneInfo) -> Any:
    def when(value: datetime | str | None, *, date_only: bool = False) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, str):  # dossier times are ISO strings
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return value
        else:
            moment = value
        if moment.tzinfo is None:  # a naive time is UTC (as stored)
            moment = moment.replace(tzinfo=ZoneInfo("UTC"))
        local = moment.astimezone(zone)
        return local.strftime("%Y-%m-%d" if date_only else "%Y-%m-%d %H:%M")

    return when


def _name_of(names: dict[str, str], userid: str | None) -> str:
    if not userid:
        return "—"
    return f"{names[userid]} ({userid})" if userid in names else userid


def render_html(report: CaseReport, lang: str = "zh", *, timezone: str = DEFAULT_TIMEZONE) -> str:
    """The report as one self-contained HTML page (inline CSS, no external resources).
    Chinese by default; ``lang="en"`` for English. Times are shown in ``timezone``: callers
    pass the configured zone (``settings.search.timezone``), which the footer names."""
    if lang not in LANGUAGES:
        raise InvalidInput(f"no report language {lang!r}", hint=f"use one of: {', '.join(LANGUAGES)}")
    zone = ZoneInfo(timezone)
    labels = _labels()
    template = _environment().get_template("report.html.j2")
    return template.render(
        r=report,
        t=labels[lang],
        lang=lang,
        timezone=timezone,
        when=_formatter(zone),
        name_of=partial(_name_of, report.member_names),
        risk_reason=lambda code: RISK_REASON_TEXT.get(code, (code, code))[LANGUAGES.index(lang)],
        suggestion_reason=lambda encoded: reasons.describe(encoded, lang),
        final_states={state.value for state in FINAL_STATES},
    )


def render_pdf(html: str) -> bytes:
    """The HTML rendered to PDF by WeasyPrint. Fonts come from the system (Debian's
    ``fonts-noto-cjk``); the same HTML always gives the same bytes."""
    import weasyprint  # here: loading Pango costs ~1 s, and only report downloads need it

    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf
