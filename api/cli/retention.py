"""``wecom-audit retention``: policies, legal holds, disposition runs. Translates and delegates only.

``api.cli`` adds :data:`app` as ``retention``. Changes are made as the OS
user, as an admin (whoever can run this command can reach the database directly anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.support import (
    CorpOption,
    console,
    err_console,
    fail,
    guarded,
    open_context,
    os_user,
    transaction,
    with_app,
)
from api.context import AppContext
from archive.clock import utcnow
from archive.retention.disposition import DispositionReport, dispose
from archive.retention.service import Actor, RetentionService, years_to_days
from archive.retention.views import HoldView, PolicyScope

# Dates typed without a time or zone are days in the company's zone (no DST in China).
DISPLAY_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

app = typer.Typer(help="Retention policies, legal holds and disposition.", no_args_is_help=True)
policy_app = typer.Typer(help="Retention policies (the longest applicable one wins).", no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: held messages are never disposed.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(hold_app, name="hold")

ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the admin history).")]

T = TypeVar("T")


def _actor() -> Actor:
    return Actor(os_user(), is_admin=True)


def _with_service(corp: str | None, action: Callable[[RetentionService], T]) -> T:
    """Run ``action`` in one transaction with the corp's retention service; errors as the CLI shows them."""

    def run(context: AppContext) -> T:
        corp_id = corp or context.settings.corp().corp_id
        with transaction(context) as session:
            return action(RetentionService(session, corp_id))

    return with_app(run)


def _when(value: datetime | None) -> str:
    return value.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M") if value is not None else "—"


def _day_start(text: str, *, end: bool) -> datetime:
    """``YYYY-MM-DD`` (a whole day in the company's zone; ``end`` means through that day) or
    an ISO date-time (with a zone, or read in the company's zone)."""

    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), DISPLAY_TZ)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"not a date: {text!r}", "write YYYY-MM-DD or an ISO date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=DISPLAY_TZ)


# --- policies -------------------------------------------------------------------------------


@policy_app.command("add")
def policy_add(
    scope: Annotated[str, typer.Option("--scope", help="corp, department:ID or chat:TYPE.")],
    days: Annotated[int | None, typer.Option("--days", help="Keep messages this many days.")] = None,
    years: Annotated[int | None, typer.Option("--years", help="Keep messages this many years.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Default: the scope.")] = None,
    reason: ReasonOption = None,
    corp: CorpOption = None,
) -> None:
    """Add a retention policy. TYPE is single_external, single_internal or group."""
    if (days is None) == (years is None):
        raise fail("give exactly one of --days and --years")
    retain_days = days if days is not None else years_to_days(years or 0)
    parsed = guarded(lambda: PolicyScope.parse(scope))
    policy = _with_service(
        corp, lambda service: service.create_policy(_actor(), parsed, retain_days, name=name, reason=reason)
    )
    console.print(f"Added policy {policy.id} {policy.name!r}: {policy.scope.label}, {policy.retain_days} days.")


@policy_app.command("list")
def policy_list(corp: CorpOption = None) -> None:
    """Every policy with its scope, period and lock."""
    policies = _with_service(corp, lambda service: service.policies())
    if not policies:
        console.print("No retention policies: nothing is ever disposed.")
        return
    table = Table(title="Retention policies")
    for column in ("id", "name", "scope", "days", "locked", "updated"):
        table.add_column(column)
    for policy in policies:
        table.add_row(
            str(policy.id),
            policy.name,
            policy.scope.label,
            str(policy.retain_days),
            "locked" if policy.locked else "",
            f"{_when(policy.updated_at)} by {policy.updated_by}",
        )
    console.print(table)


@policy_app.command("lock")
def policy_lock(
    policy_id: Annotated[int, typer.Argument(help="Policy id.")], reason: ReasonOption = None, corp: CorpOption = None
) -> None:
    """Lock a policy for good: nobody, admins included, can shorten it afterwards."""
    policy = _with_service(corp, lambda service: service.lock_policy(_actor(), policy_id, reason=reason))
    console.print(f"Policy {policy.id} {policy.name!r} is locked at {policy.retain_days} days (irreversible).")


@policy_app.command("set-days")
def policy_set_days(
    policy_id: Annotated[int, typer.Argument(help="Policy id.")],
    days: Annotated[int, typer.Argument(help="The new period in days.")],
    reason: ReasonOption = None,
    corp: CorpOption = None,
) -> None:
    """Change a policy's period (shortening needs --reason; a locked policy cannot be shortened)."""
    policy = _with_service(corp, lambda service: service.set_policy_days(_actor(), policy_id, days, reason=reason))
    console.print(f"Policy {policy.id} {policy.name!r} now keeps messages {policy.retain_days} days.")


# --- holds ----------------------------------------------------------------------------------


@hold_app.command("add")
def hold_add(
    employee: Annotated[list[str] | None, typer.Option("--employee", help="A userid (repeat with --case).")] = None,
    customer: Annotated[list[str] | None, typer.Option("--customer", help="An external userid.")] = None,
    room: Annotated[list[str] | None, typer.Option("--room", help="A group chat's roomid.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="First day held (YYYY-MM-DD).")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day held (YYYY-MM-DD).")] = None,
    case: Annotated[str | None, typer.Option("--case", help="Case reference: one hold, several subjects.")] = None,
    reason: ReasonOption = None,
    corp: CorpOption = None,
) -> None:
    """Place a legal hold on an employee, a customer, a room, a date range, or a case of several."""
    subjects = [
        *(("employee", value) for value in employee or []),
        *(("customer", value) for value in customer or []),
        *(("room", value) for value in room or []),
    ]
    starts_at = _day_start(date_from, end=False) if date_from else None
    ends_at = _day_start(date_to, end=True) if date_to else None
    hold = _with_service(
        corp,
        lambda service: service.create_hold(
            _actor(), subjects, starts_at=starts_at, ends_at=ends_at, case=case, reason=reason
        ),
    )
    console.print(f"Placed legal hold {hold.id} {hold.name!r} ({hold.kind}).")


@hold_app.command("list")
def hold_list(
    include_released: Annotated[bool, typer.Option("--all", help="Include released holds.")] = False,
    corp: CorpOption = None,
) -> None:
    """Legal holds with what they cover."""
    holds = _with_service(corp, lambda service: service.holds(include_released=include_released))
    if not holds:
        console.print("No legal holds.")
        return
    table = Table(title="Legal holds")
    for column in ("id", "name", "kind", "covers", "from", "to (excl.)", "placed", "released"):
        table.add_column(column)
    for hold in holds:
        table.add_row(
            str(hold.id),
            hold.name,
            hold.kind,
            _subjects(hold),
            _when(hold.starts_at),
            _when(hold.ends_at),
            f"{_when(hold.created_at)} by {hold.created_by}",
            "" if hold.active else f"{_when(hold.released_at)} by {hold.released_by}: {hold.release_reason}",
        )
    console.print(table)


def _subjects(hold: HoldView) -> str:
    return ", ".join(f"{kind} {value}" for kind, value in hold.subjects) or "every message in the dates"


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument(help="Hold id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the hold ends (required, recorded).")],
    corp: CorpOption = None,
) -> None:
    """Release a legal hold; its messages are disposed at the next run if their retention has run out."""
    hold = _with_service(corp, lambda service: service.release_hold(_actor(), hold_id, reason=reason))
    console.print(f"Released legal hold {hold.id} {hold.name!r}.")


# --- history, disposition -------------------------------------------------------------------


@app.command("history")
def history(limit: int = 50, corp: CorpOption = None) -> None:
    """Who changed which policy or hold, from what to what, and why (newest first)."""
    entries = _with_service(corp, lambda service: service.history(limit=limit))
    table = Table(title="Retention admin history")
    for column in ("when", "who", "action", "target", "reason"):
        table.add_column(column)
    for entry in entries:
        target = f"policy {entry.policy_id}" if entry.policy_id is not None else f"hold {entry.hold_id}"
        who = entry.actor + (" (admin)" if entry.actor_is_admin else "")
        table.add_row(_when(entry.at), who, entry.action.value, target, entry.reason or "")
    console.print(table)


@app.command("dispose")
def dispose_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be disposed; delete nothing.")] = False,
    corp: CorpOption = None,
) -> None:
    """Delete messages past their retention that no legal hold covers (with their media)."""
    context = open_context()
    try:
        corp_id = corp or guarded(lambda: context.settings.corp().corp_id)
        context.migrate()
        report = _dispose_with_progress(context, corp_id, dry_run=dry_run)
    finally:
        context.close()
    _print_report(report)
    if report.status == "failed":
        raise typer.Exit(code=1)


def _dispose_with_progress(context: AppContext, corp_id: str, *, dry_run: bool) -> DispositionReport:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("Examining messages", total=None)

        def on_batch(report: DispositionReport) -> None:
            progress.update(task, total=report.candidates, completed=report.examined)

        return dispose(
            context.session_factory,
            corp_id,
            blob_store=context.blob_store,
            dry_run=dry_run,
            clock=utcnow,
            on_batch=on_batch,
        )


def _print_report(report: DispositionReport) -> None:
    title = f"{'Dry run of disposition' if report.dry_run else 'Disposition'} of {report.corp_id}: {report.status}"
    table = Table(title=title, show_header=False)
    verb = "would dispose" if report.dry_run else "disposed"
    for label, value in [
        ("examined (older than the shortest policy)", report.examined),
        (verb, report.disposed),
        ("kept by legal holds", report.held),
        ("media tasks deleted", report.media_deleted),
        ("media files deleted", report.blobs_deleted),
        ("batches", report.batches),
        ("duration", f"{report.duration_s:.1f} s"),
    ]:
        table.add_row(label, str(value))
    for name, count in sorted(report.by_policy.items()):
        table.add_row(f"  {verb} under {name!r}", str(count))
    console.print(table)
    if report.status == "skipped":
        err_console.print("Another disposition is running for this corp; nothing was done.")
    if report.error:
        message, _, hint = report.error.partition(" — ")
        err_console.print(f"[bold red]Error:[/] {message}")
        if hint:
            err_console.print(f"[yellow]What to do:[/] {hint}")


@app.command("runs")
def runs(limit: int = 20, corp: CorpOption = None) -> None:
    """The last disposition runs with what each disposed, and under which policy."""
    recorded = _with_service(corp, lambda service: service.runs(limit=limit))
    if not recorded:
        console.print("No disposition has run yet.")
        return
    table = Table(title="Disposition runs")
    for column in ("id", "started", "status", "dry run", "examined", "disposed", "held", "media", "by policy", "error"):
        table.add_column(column)
    for run in recorded:
        table.add_row(
            str(run.id),
            _when(run.started_at),
            run.status,
            "yes" if run.dry_run else "",
            f"{run.examined:,}",
            f"{run.disposed:,}",
            f"{run.held:,}",
            f"{run.media_deleted:,} tasks, {run.blobs_deleted:,} files",
            ", ".join(f"{name}: {count:,}" for name, count in sorted(run.by_policy.items())),
            run.error or "",
        )
    console.print(table)
