"""Handover cases over HTTP (``audit.handover``, ADR 0016): list and open cases, show one,
read a customer's dossier (chat excerpts: through the access gate, with a purpose), decide
per item or in bulk, accept the suggested successors, execute the transfers, poll WeCom's
results, download the report (HTML or PDF) and sign it off.

``handover:read`` reads, ``handover:manage`` changes; a case is visible only when the
caller's department scope covers the member's departments (``audit.handover.views``).
Handlers parse, call one step of ``audit.handover.service`` (the ``*_in_scope`` steps,
``read_report``, ``sign_off_with_report``: the console calls the same ones) and shape the
answer. Every step, report reads included, is written to the access log by the service.
WeCom is called outside any transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from api.auth.guards import context_of, principal_of, requires
from api.pagination import PathId, decode_cursor, encode_cursor, page_size
from api.routes.content import reader_of
from api.unit_of_work import Db
from archive.clock import utcnow
from audit.errors import InvalidInput
from audit.handover import detail as detail_of
from audit.handover import report as reports
from audit.handover import service, views
from audit.handover.models import CaseKind
from audit.handover.report import GroupLine
from audit.handover.views import CaseSummary
from audit.security.roles import Permission

READ = [requires(Permission.HANDOVER_READ)]
MANAGE = [requires(Permission.HANDOVER_MANAGE)]
# The dossier holds chat excerpts: both permissions (the gate checks content:read again).
DOSSIER = [requires(Permission.HANDOVER_READ), requires(Permission.CONTENT_READ)]
Lang = Literal["zh", "en"]
UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Ids = Annotated[list[UserId], msgspec.Meta(max_length=10_000)]
Note = Annotated[str, msgspec.Meta(max_length=2000)]
ExternalUserId = Annotated[str, PathParameter(min_length=1, max_length=64)]


# --- structs -----------------------------------------------------------------------------------


class CasePage(msgspec.Struct, frozen=True):
    items: list[CaseSummary]
    next_cursor: str | None


class DossierSummaryOut(msgspec.Struct, frozen=True):
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
    tags: list[str]
    conversations: int
    deleted_at: str | None


class CustomerOut(msgspec.Struct, frozen=True):
    external_userid: str
    name: str
    assigned: bool
    deleted_before_leaving: bool
    risk: str
    risk_reasons: list[str]
    dossier: DossierSummaryOut
    suggested_successor: str | None
    # Reason codes (``audit.handover.reasons``) and the same in English.
    suggestion_reason: str | None
    suggestion_reason_text: str | None
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
    needs_follow_up: bool


class InheritanceOut(msgspec.Struct, frozen=True):
    successor: str
    conversations: int
    granted_to: list[str]


class CaseOut(msgspec.Struct, frozen=True):
    id: int
    corp_id: str
    kind: str
    status: str
    handover_userid: str
    handover_name: str
    departments: list[str]
    dimission_at: datetime | None
    source: str
    opened_by: str
    opened_at: datetime
    transfer_message: str | None
    executed_by: str | None
    executed_at: datetime | None
    completed_at: datetime | None
    signed_off_by: str | None
    signed_off_at: datetime | None
    sign_off_note: str | None
    report_sha256: str | None
    # Why the case cannot be signed off yet (empty: it can, once completed): reason codes
    # (``audit.handover.reasons``) and the same in English.
    sign_off_blockers: list[str]
    sign_off_blockers_text: list[str]
    member_names: dict[str, str]
    customers: list[CustomerOut]
    groups: list[GroupLine]  # the report's lines as they are
    inheritances: list[InheritanceOut]


class DossierOut(msgspec.Struct, frozen=True):
    case_id: int
    external_userid: str
    # As stored at inventory time (ADR 0016), excerpts included.
    dossier: dict[str, Any]


class OpenCaseRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    userid: UserId
    kind: Literal["resigned", "onjob"] = "resigned"
    corp_id: UserId | None = None
    # On-job transfers: the message WeCom shows the customers.
    transfer_message: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class DecideRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Decide named customers/groups, or all of a kind (``all_customers``/``all_groups``:
    every item of that kind that can still be decided)."""

    decision: Literal["transfer", "hold", "keep"]
    customers: Ids = msgspec.field(default_factory=list)
    groups: Ids = msgspec.field(default_factory=list)
    all_customers: bool = False
    all_groups: bool = False
    successor: UserId | None = None
    note: Note | None = None


class DecidedOut(msgspec.Struct, frozen=True):
    case_id: int
    decided: int


class ExecutionOut(msgspec.Struct, frozen=True):
    case_id: int
    customers_sent: int
    customers_failed: int
    groups_completed: int
    groups_failed: int
    calls: int
    case_status: str


class PollOut(msgspec.Struct, frozen=True):
    case_id: int
    completed: int
    refused: int
    limited: int
    waiting: int
    released: int
    inherited_conversations: int
    case_status: str
    follow_up: list[str]


class SignOffRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: Note | None = None
    # The language of the PDF whose SHA-256 is recorded (download that one to verify it).
    lang: Lang = "zh"


class SignOffOut(msgspec.Struct, frozen=True):
    case_id: int
    status: str
    signed_off_by: str
    signed_off_at: datetime
    report_sha256: str
    lang: str


# --- helpers ------------------------------------------------------------------------------------


def _case_out(detail: detail_of.CaseDetail) -> CaseOut:
    case, report, blockers = detail.case, detail.report, detail.blockers
    return CaseOut(
        id=case.id,
        corp_id=case.corp_id,
        kind=case.kind,
        status=case.status,
        handover_userid=case.handover_userid,
        handover_name=case.handover_name,
        departments=list(report.departments),
        dimission_at=case.dimission_at,
        source=case.source,
        opened_by=case.opened_by,
        opened_at=case.opened_at,
        transfer_message=case.transfer_message,
        executed_by=case.executed_by,
        executed_at=case.executed_at,
        completed_at=case.completed_at,
        signed_off_by=case.signed_off_by,
        signed_off_at=case.signed_off_at,
        sign_off_note=case.sign_off_note,
        report_sha256=case.report_sha256,
        sign_off_blockers=[blocker.encode() for blocker in blockers],
        sign_off_blockers_text=[blocker.text("en") for blocker in blockers],
        member_names=dict(report.member_names),
        customers=msgspec.convert(report.customers, list[CustomerOut], from_attributes=True),
        groups=list(report.groups),
        inheritances=msgspec.convert(report.inheritances, list[InheritanceOut], from_attributes=True),
    )


def read_report(request: Request[Any, Any, Any], db: Db, case_id: int, fmt: str, lang: str) -> service.RenderedReport:
    """The report as the caller may read it (logged), times in the configured zone."""
    timezone = context_of(request).settings.search.timezone
    return service.read_report(db, principal_of(request), case_id, fmt=fmt, lang=lang, timezone=timezone, now=utcnow())


def pdf_response(rendered: service.RenderedReport) -> Response[bytes]:
    """The report's PDF as a download, its hash (and whether it is the signed one) in headers."""
    pdf = service.report_pdf(rendered)
    headers = {
        "Content-Disposition": f'attachment; filename="handover-{rendered.case_id}-{rendered.lang}.pdf"',
        "X-Report-SHA256": pdf.sha256,
    }
    if pdf.signed:
        headers["X-Report-Signed"] = pdf.signed
    return Response(pdf.data, media_type="application/pdf", headers=headers)


def read_dossier(request: Request[Any, Any, Any], case_id: int, external_userid: str) -> dict[str, Any]:
    """A customer's full dossier through the access gate (purpose, scope, access log)."""
    return reader_of(request).through(
        reports.DOSSIER_ACTION,
        {"case_id": case_id, "external_userid": external_userid},
        lambda gate: views.read_dossier(gate, case_id, external_userid),
    )


# --- routes -------------------------------------------------------------------------------------


@get("/api/v1/handover/cases", guards=READ, sync_to_thread=True)
def list_cases(
    request: Request[Any, Any, Any],
    db: Db,
    corp_id: FromQuery[str | None] = None,
    status: FromQuery[list[Literal["open", "executing", "completed", "signed_off", "cancelled"]] | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
) -> CasePage:
    """Handover cases in your department scope, newest first."""
    size = page_size(limit)
    key = decode_cursor(cursor, int)
    items = views.list_cases(
        db, principal_of(request), corp_id=corp_id, statuses=status or (), before_id=key[0] if key else None, limit=size
    )
    return CasePage(list(items), encode_cursor(items[-1].id) if len(items) == size else None)


@post("/api/v1/handover/cases", guards=MANAGE, status_code=201)
async def open_case(request: Request[Any, Any, Any], data: JSONBody[OpenCaseRequest]) -> CaseOut:
    """Open a case for a member: WeCom's inventory of their customers and groups, then
    dossiers and suggested successors. Resigned members come from WeCom's unassigned
    list; ``onjob`` moves a staying member's customers (with ``transfer_message``)."""
    context, principal = context_of(request), principal_of(request)
    case_id = await service.open_case_in_scope(
        context.session_factory,
        context.wecom_contacts,
        corp_id=context.settings.corp(data.corp_id).corp_id,
        userid=data.userid,
        kind=CaseKind(data.kind),
        actor=principal,
        now=utcnow(),
        transfer_message=data.transfer_message,
    )
    return _case_out(await to_thread.run_sync(detail_of.shown_case, context.session_factory, principal, case_id))


@get("/api/v1/handover/cases/{case_id:int}", guards=READ, sync_to_thread=True)
def show_case(request: Request[Any, Any, Any], db: Db, case_id: PathId) -> CaseOut:
    """One case: its customers with risks and dossier summaries (no excerpts), groups,
    decisions, transfer outcomes and what the successors inherited."""
    return _case_out(detail_of.case_detail(db, principal_of(request), case_id))


@get(
    "/api/v1/handover/cases/{case_id:int}/customers/{external_userid:str}/dossier",
    guards=DOSSIER,
    sync_to_thread=True,
)
def customer_dossier(request: Request[Any, Any, Any], case_id: PathId, external_userid: ExternalUserId) -> DossierOut:
    """A customer's full dossier, with the excerpts of open promises and unanswered
    messages: chat content, so it needs a purpose (X-Access-Purpose) and is logged."""
    return DossierOut(case_id, external_userid, read_dossier(request, case_id, external_userid))


@post("/api/v1/handover/cases/{case_id:int}/decisions", guards=MANAGE, sync_to_thread=True, status_code=200)
def decide(request: Request[Any, Any, Any], db: Db, case_id: PathId, data: JSONBody[DecideRequest]) -> DecidedOut:
    """Transfer to ``successor``, hold, or keep named customers/groups — or all of a kind."""
    if (data.all_customers and data.customers) or (data.all_groups and data.groups):
        raise InvalidInput("name items or ask for all of a kind, not both", hint="drop the list or the all_* flag")
    decided = service.decide_in_scope(
        db,
        principal_of(request),
        case_id,
        customers=None if data.all_customers else list(data.customers),
        groups=None if data.all_groups else list(data.groups),
        decision=data.decision,
        successor=data.successor,
        note=data.note,
        now=utcnow(),
    )
    return DecidedOut(case_id, decided)


@post("/api/v1/handover/cases/{case_id:int}/accept-suggestions", guards=MANAGE, sync_to_thread=True, status_code=200)
def accept_suggestions(request: Request[Any, Any, Any], db: Db, case_id: PathId) -> DecidedOut:
    """Decide every undecided item 'transfer to the suggested successor'."""
    decided = service.accept_suggestions_in_scope(db, principal_of(request), case_id, utcnow())
    return DecidedOut(case_id, decided)


@post("/api/v1/handover/cases/{case_id:int}/execute", guards=MANAGE, status_code=200)
async def execute(request: Request[Any, Any, Any], case_id: PathId) -> ExecutionOut:
    """Send every decided, unsent transfer to WeCom (batches of 100 per successor)."""
    context = context_of(request)
    summary = await service.execute_in_scope(
        context.session_factory, context.wecom_contacts, case_id, principal_of(request), utcnow()
    )
    return msgspec.convert(summary, ExecutionOut, from_attributes=True)


@post("/api/v1/handover/cases/{case_id:int}/poll", guards=MANAGE, status_code=200)
async def poll(request: Request[Any, Any, Any], case_id: PathId) -> PollOut:
    """Read WeCom's transfer results now (the scheduler does this every minute)."""
    context = context_of(request)
    summary = await service.poll_in_scope(
        context.session_factory, context.wecom_contacts, case_id, principal_of(request), utcnow()
    )
    return msgspec.convert(summary, PollOut, from_attributes=True)


@get(
    "/api/v1/handover/cases/{case_id:int}/report.html",
    guards=READ,
    sync_to_thread=True,
    media_type="text/html; charset=utf-8",
)
def report_html(
    request: Request[Any, Any, Any], db: Db, case_id: PathId, lang: FromQuery[Lang] = "zh"
) -> Response[str]:
    """The handover report as one self-contained HTML page (Chinese; ``lang=en`` English)."""
    return Response(read_report(request, db, case_id, "html", lang).html, media_type="text/html; charset=utf-8")


@get(
    "/api/v1/handover/cases/{case_id:int}/report.pdf",
    guards=READ,
    sync_to_thread=True,
    media_type="application/pdf",
)
def report_pdf(
    request: Request[Any, Any, Any], db: Db, case_id: PathId, lang: FromQuery[Lang] = "zh"
) -> Response[bytes]:
    """The handover report as PDF. ``X-Report-SHA256`` is this file's hash; once signed,
    the same language's PDF has the hash recorded at sign-off (``report_sha256``)."""
    return pdf_response(read_report(request, db, case_id, "pdf", lang))


@post("/api/v1/handover/cases/{case_id:int}/sign-off", guards=MANAGE, sync_to_thread=True, status_code=200)
def sign_off(request: Request[Any, Any, Any], db: Db, case_id: PathId, data: JSONBody[SignOffRequest]) -> SignOffOut:
    """Sign the completed case off: the report is rendered as signed, and its PDF's
    SHA-256 is recorded with the sign-off."""
    timezone = context_of(request).settings.search.timezone
    signed = service.sign_off_with_report(
        db, principal_of(request), case_id, data.note, data.lang, utcnow(), timezone=timezone
    )
    return msgspec.convert(signed, SignOffOut, from_attributes=True)
