"""``wecom-audit handover …``: handover cases from the command line (ADR 0016).

list → open → show → decide → execute → poll. The command line acts as a handover
manager (whoever can run it on the server can read its configuration anyway); every step
is written to the access log as ``cli:<os user>``. WeCom is reached with the corp's
客户联系 secret (``WECOM_AUDIT_WECOM__CONTACT_SECRET``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy.orm import Session

from api.cli.support import CorpOption, console, err_console, fail, operator_principal, transaction, with_app
from api.context import AppContext
from archive.clock import utcnow
from archive.directory.names import Names
from archive.wecom.contacts import WeComContacts
from audit.handover import detail
from audit.handover import service as handover
from audit.handover.models import CaseKind, Decision, HandoverCustomer
from audit.handover.reasons import describe
from audit.security.roles import Role

app = typer.Typer(help="Handover cases: departed or reassigned members' customers.", no_args_is_help=True)

T = TypeVar("T")
STATE_STYLES = {
    "completed": "green",
    "sent": "cyan",
    "refused": "red",
    "limited": "red",
    "failed": "red",
    "pending": "dim",
}


def _in_session(work: Callable[[Session], T]) -> T:
    return with_app(lambda context: _committed(context, work))


def _committed(context: AppContext, work: Callable[[Session], T]) -> T:
    with transaction(context) as session:
        return work(session)


def _with_wecom(corp: str | None, work: Callable[[AppContext, WeComContacts], Awaitable[T]]) -> T:
    async def run(context: AppContext) -> T:
        async with context.wecom_contacts(corp) as contacts:
            return await work(context, contacts)

    return with_app(lambda context: asyncio.run(run(context)))


@app.command("list")
def list_cases(
    status: Annotated[str | None, typer.Option(help="open, executing, completed, signed_off or cancelled.")] = None,
    corp: CorpOption = None,
) -> None:
    """Cases, newest first, with where their customers and groups stand."""
    try:
        cases = _in_session(lambda session: handover.list_cases(session, status=status, corp_id=corp))
    except ValueError:
        raise fail(f"unknown status {status!r}", "use open, executing, completed, signed_off or cancelled") from None
    if not cases:
        console.print("No handover cases. Open one with `wecom-audit handover open USERID`.")
        return
    table = Table("case", "member", "kind", "status", "customers", "groups", "undecided", "waiting", "follow-up")
    for case in cases:
        table.add_row(
            str(case.id),
            f"{case.handover_name} ({case.handover_userid})",
            case.kind,
            case.status,
            str(case.customers),
            str(case.groups),
            str(case.undecided),
            str(case.in_flight),
            f"[red]{case.follow_up}[/]" if case.follow_up else "0",
        )
    console.print(table)


@app.command("open")
def open_case(
    userid: Annotated[str, typer.Argument(help="The member's WeCom userid.")],
    onjob: Annotated[bool, typer.Option("--onjob", help="The member stays; move their customers (在职继承).")] = False,
    message: Annotated[
        str | None, typer.Option(help="On-job only: the message WeCom shows each customer (≤200 characters).")
    ] = None,
    corp: CorpOption = None,
) -> None:
    """Open a case: read the member's customers and groups from WeCom, build the dossiers."""
    kind = CaseKind.ONJOB if onjob else CaseKind.RESIGNED

    async def work(context: AppContext, contacts: WeComContacts) -> int:
        corp_id = context.settings.corp(corp).corp_id
        with console.status(f"Reading {userid}'s customers and groups from WeCom…"):
            return await handover.open_member_case(
                context.session_factory,
                contacts,
                corp_id=corp_id,
                userid=userid,
                kind=kind,
                actor=operator_principal(Role.MANAGER),
                now=utcnow(),
                transfer_message=message,
            )

    case_id = _with_wecom(corp, work)
    console.print(f"Opened case [bold]{case_id}[/]. Next: `wecom-audit handover show {case_id}`.")


@app.command("show")
def show(case_id: int) -> None:
    """One case: its customers (risk, suggestion, decision, outcome) and groups."""

    rows = _in_session(lambda session: detail.case_rows(session, case_id))
    case, customers, groups, blockers, names = rows.case, rows.customers, rows.groups, rows.blockers, rows.names
    console.print(
        f"[bold]Case {case.id}[/] · {case.handover_name} ({case.handover_userid}) · {case.kind} · "
        f"[bold]{case.status}[/] · opened {case.opened_at:%Y-%m-%d %H:%M} UTC by {case.opened_by}"
    )
    if case.transfer_message:
        console.print(f"Message to customers: {case.transfer_message}")
    table = Table("customer", "name", "risk", "suggested", "decision", "state", title="Customers")
    for row in customers:
        decision = row.decision or "—"
        if row.decision == Decision.TRANSFER:
            decision = f"→ {_member(names, row.successor_userid)}"
        state = row.state if not row.errcode else f"{row.state} ({row.errcode})"
        table.add_row(
            row.external_userid,
            row.name + (" [yellow]✗ deleted[/]" if row.deleted_before_leaving else ""),
            row.risk,
            _suggested(row, names),
            decision,
            f"[{STATE_STYLES.get(row.state, 'white')}]{state}[/]",
        )
    console.print(table)
    if groups:
        group_table = Table("group", "name", "members", "suggested", "decision", "state", title="Customer groups")
        for group in groups:
            decision = (
                f"→ {_member(names, group.successor_userid)}"
                if group.decision == Decision.TRANSFER
                else group.decision or "—"
            )
            state = group.state if not group.errcode else f"{group.state} ({group.errcode})"
            group_table.add_row(
                group.chat_id,
                group.name,
                str(group.member_count),
                _member(names, group.suggested_successor),
                decision,
                f"[{STATE_STYLES.get(group.state, 'white')}]{state}[/]",
            )
        console.print(group_table)
    deleted = sum(1 for row in customers if row.deleted_before_leaving)
    if deleted:
        console.print(f"[yellow]{deleted} customers were deleted by the member before leaving[/] (✗ deleted).")
    if blockers and case.status != "signed_off":
        console.print("[yellow]Not ready for sign-off:[/] " + "; ".join(blocker.text("en") for blocker in blockers))


def _member(names: Names, userid: str | None) -> str:
    return escape(names.of(userid).with_id()) if userid else "—"


def _suggested(row: HandoverCustomer, names: Names) -> str:
    """The suggested successor and, dimmed below, why (in English)."""
    reason = describe(row.suggestion_reason, "en")
    return _member(names, row.suggested_successor) + (f"\n[dim]{escape(reason)}[/]" if reason else "")


@app.command("decide")
def decide(
    case_id: int,
    transfer_to: Annotated[str | None, typer.Option("--transfer-to", help="Successor's WeCom userid.")] = None,
    hold: Annotated[bool, typer.Option("--hold", help="Decide later (blocks sign-off).")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Do not transfer.")] = False,
    accept_suggestions: Annotated[
        bool, typer.Option("--accept-suggestions", help="Transfer every undecided item to its suggested successor.")
    ] = False,
    customer: Annotated[
        list[str] | None, typer.Option(help="external_userid (repeatable). Default: every undecided item.")
    ] = None,
    group: Annotated[list[str] | None, typer.Option(help="Group chat_id (repeatable).")] = None,
    note: Annotated[str | None, typer.Option(help="Why (kept with the decision).")] = None,
) -> None:
    """Decide customers and groups: --transfer-to USERID, --hold, --keep or --accept-suggestions.

    Without --customer/--group every undecided customer and group is decided; naming only
    customers leaves the groups alone (and the other way round)."""
    chosen = [transfer_to is not None, hold, keep, accept_suggestions]
    if sum(chosen) != 1:
        raise fail(
            "choose exactly one decision",
            "use --transfer-to USERID, --hold, --keep or --accept-suggestions",
        )
    actor, now = operator_principal(Role.MANAGER), utcnow()
    if accept_suggestions:
        decided = _in_session(lambda session: handover.accept_suggestions(session, actor, case_id, now))
    else:
        decision = Decision.TRANSFER if transfer_to else Decision.HOLD if hold else Decision.KEEP
        named = customer is not None or group is not None
        customers = customer if customer is not None else ([] if named else None)
        groups = group if group is not None else ([] if named else None)
        decided = _in_session(
            lambda session: handover.decide(
                session,
                actor,
                case_id,
                customers=customers,
                groups=groups,
                decision=decision,
                successor=transfer_to,
                note=note,
                now=now,
            )
        )
    console.print(f"Decided {decided} items of case {case_id}. Next: `wecom-audit handover execute {case_id}`.")


@app.command("execute")
def execute(case_id: int) -> None:
    """Send the decided transfers to WeCom (batches of 100 per successor)."""

    async def work(context: AppContext) -> handover.ExecutionSummary:
        columns = (TextColumn("Transferring"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=err_console, transient=True) as progress:
            task = progress.add_task("transfer", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await handover.execute_case(
                context.session_factory,
                context.wecom_contacts,
                case_id,
                operator_principal(Role.MANAGER),
                utcnow(),
                progress=advance,
            )

    summary = with_app(lambda context: asyncio.run(work(context)))
    table = Table(title=f"Case {case_id}: {summary.case_status}", show_header=False)
    table.add_row("customers sent (waiting for WeCom)", str(summary.customers_sent))
    table.add_row("customers failed", str(summary.customers_failed))
    table.add_row("groups transferred", str(summary.groups_completed))
    table.add_row("groups failed", str(summary.groups_failed))
    table.add_row("WeCom calls", str(summary.calls))
    console.print(table)
    if summary.customers_failed or summary.groups_failed:
        console.print(f"Failures are listed by `wecom-audit handover show {case_id}`; re-decide them to try again.")
    if summary.customers_sent:
        console.print(
            f"Customers have up to 24 h to refuse. `wecom-audit handover poll {case_id}` reads the results "
            "(the scheduler does it every minute)."
        )


@app.command("poll")
def poll(
    case_id: Annotated[int | None, typer.Argument(help="A case; default: every executing case.")] = None,
    corp: CorpOption = None,
) -> None:
    """Read WeCom's transfer results; completed transfers grant the successor access."""

    async def work(context: AppContext) -> list[handover.PollSummary]:
        corp_id = context.settings.corp(corp).corp_id if case_id is None else ""
        return await handover.poll_cases(
            context.session_factory,
            context.wecom_contacts,
            case_id,
            corp_id,
            operator_principal(Role.MANAGER),
            utcnow(),
        )

    summaries = with_app(lambda context: asyncio.run(work(context)))
    if not summaries:
        console.print("No case is executing.")
        return
    table = Table("case", "status", "completed", "refused", "limited", "waiting", "conversations granted")
    for summary in summaries:
        table.add_row(
            str(summary.case_id),
            summary.case_status,
            str(summary.completed),
            str(summary.refused),
            str(summary.limited),
            str(summary.waiting),
            str(summary.inherited_conversations),
        )
    console.print(table)
