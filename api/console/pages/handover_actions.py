"""The handover pages' actions: open a case, decide (per item, selected items, all
undecided customers), accept the suggestions, execute, poll now, sign off.

Each one validates the posted form with the JSON API's request struct and calls the same
step of ``audit.handover.service`` as the API (the ``*_in_scope`` steps and
``sign_off_with_report``): the same visibility check, access-log rows and, at sign-off,
the same report hash. Plain forms post and come back to the page with a notice; "poll
now" and the progress refresh are htmx requests answered with the progress fragment.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request, Response, post
from litestar.params import FromPath

from api.auth.guards import context_of
from api.console.auth import principal_of, signed_in
from api.console.nav import CONSOLE_PATH
from api.console.pages.formdata import Form, back, in_thread, read_form
from api.console.pages.handover_view import load_case_view, render_progress
from api.console.render import language
from api.routes import handover as api_handover
from api.unit_of_work import Db
from archive.clock import utcnow
from audit.errors import InvalidInput
from audit.handover import service
from audit.handover.models import CaseKind
from audit.security.roles import Permission

MANAGE = [signed_in(Permission.HANDOVER_MANAGE)]
S = TypeVar("S", bound=msgspec.Struct)


def _body(kind: type[S], values: dict[str, Any]) -> S:
    """The API's request struct from form values, validated as the API validates JSON."""
    try:
        return msgspec.convert(values, kind)
    except msgspec.ValidationError as error:
        raise InvalidInput(f"the form is not valid: {error}", hint="correct the field and send it again") from None


def _case_url(case_id: int) -> str:
    return f"{CONSOLE_PATH}/handover/{case_id}"


def _next(form: Form, case_id: int) -> str:
    return form.text("next") or _case_url(case_id)


@post("/handover", guards=MANAGE, status_code=303)
async def open_case(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await read_form(request)
    body = _body(
        api_handover.OpenCaseRequest,
        {
            "userid": form.text("userid"),
            "kind": form.text("kind") or "resigned",
            "transfer_message": form.text("transfer_message") or None,
        },
    )
    context = context_of(request)
    case_id = await service.open_case_in_scope(
        context.session_factory,
        context.wecom_contacts,
        corp_id=context.settings.corp(body.corp_id).corp_id,
        userid=body.userid,
        kind=CaseKind(body.kind),
        actor=principal_of(request),
        now=utcnow(),
        transfer_message=body.transfer_message,
    )
    return back(_case_url(case_id), notice="opened")


@post("/handover/{case_id:int}/decisions", guards=MANAGE, status_code=303)
async def decide(request: Request[Any, Any, Any], db: Db, case_id: FromPath[int]) -> Response[Any]:
    form = await read_form(request)
    decision = form.text("decision")
    every_customer = form.checked("all_customers")
    body = _body(
        api_handover.DecideRequest,
        {
            "decision": decision,
            "customers": [] if every_customer else form.texts("customers"),
            "groups": form.texts("groups"),
            "all_customers": every_customer,
            # The successor list keeps its choice when "hold" is picked: only a transfer takes it.
            "successor": (form.text("successor") or None) if decision == "transfer" else None,
            "note": form.text("note") or None,
        },
    )
    if not (body.customers or body.groups or body.all_customers):
        raise InvalidInput(
            "no customer or group was selected", hint="tick customers or groups in the tables, then save the decision"
        )
    decided = await in_thread(
        lambda: service.decide_in_scope(
            db,
            principal_of(request),
            case_id,
            customers=None if body.all_customers else list(body.customers),
            # Without named groups, "all customers" leaves the groups alone.
            groups=list(body.groups),
            decision=body.decision,
            successor=body.successor,
            note=body.note,
            now=utcnow(),
        )
    )
    return back(_next(form, case_id), notice="decided", count=decided)


@post("/handover/{case_id:int}/accept-suggestions", guards=MANAGE, status_code=303)
async def accept_suggestions(request: Request[Any, Any, Any], db: Db, case_id: FromPath[int]) -> Response[Any]:
    await read_form(request)
    decided = await in_thread(lambda: service.accept_suggestions_in_scope(db, principal_of(request), case_id, utcnow()))
    return back(_case_url(case_id), notice="accepted", count=decided)


@post("/handover/{case_id:int}/execute", guards=MANAGE, status_code=303)
async def execute(request: Request[Any, Any, Any], case_id: FromPath[int]) -> Response[Any]:
    await read_form(request)
    context = context_of(request)
    summary = await service.execute_in_scope(
        context.session_factory, context.wecom_contacts, case_id, principal_of(request), utcnow()
    )
    return back(
        _case_url(case_id),
        notice="executed",
        sent=summary.customers_sent,
        failed=summary.customers_failed,
        groups=summary.groups_completed,
    )


@post("/handover/{case_id:int}/poll", guards=MANAGE, status_code=303)
async def poll(request: Request[Any, Any, Any], db: Db, case_id: FromPath[int]) -> Response[Any]:
    """Ask WeCom for the transfer results now (the scheduler does it every minute)."""
    form = await read_form(request)
    context = context_of(request)
    summary = await service.poll_in_scope(
        context.session_factory, context.wecom_contacts, case_id, principal_of(request), utcnow()
    )
    if request.headers.get("hx-request"):
        view = await in_thread(lambda: load_case_view(request, db, case_id))
        return render_progress(request, view, seen_status=form.text("seen") or None)
    return back(
        _case_url(case_id),
        notice="polled",
        completed=summary.completed,
        refused=summary.refused,
        waiting=summary.waiting,
    )


@post("/handover/{case_id:int}/sign-off", guards=MANAGE, status_code=303)
async def sign_off(request: Request[Any, Any, Any], db: Db, case_id: FromPath[int]) -> Response[Any]:
    form = await read_form(request)
    body = _body(api_handover.SignOffRequest, {"note": form.text("note") or None, "lang": language(request)})
    timezone = context_of(request).settings.search.timezone
    await in_thread(
        lambda: service.sign_off_with_report(
            db, principal_of(request), case_id, body.note, body.lang, utcnow(), timezone=timezone
        )
    )
    return back(_case_url(case_id), notice="signed")


HANDLERS = [open_case, decide, accept_suggestions, execute, poll, sign_off]
