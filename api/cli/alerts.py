"""``wecom-audit alerts``: the review queue, the detection stage, notifications, sampling,
routing and rule simulation. It translates and delegates only: each command calls the use
case the JSON API and the console call (``audit.review.queue``, ``audit.review.actions``,
``audit.review.sampling``, ``audit.alerts.routing``, ``audit.review.simulate``), or the
detection stage and delivery (``audit.stage``, ``audit.notify``).

The CLI is trusted with the whole archive (no data scope); the acting reviewer recorded in
the trail is ``--as`` (default: $USER).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.orm import Session

from api.cli.support import CorpOption, console, err_console, open_context, os_user, transaction
from api.context import AppContext
from archive.clock import utcnow
from archive.corps import corp_in_question
from archive.directory.names import Place
from archive.errors import ArchiveError
from audit.alerts import routing
from audit.alerts.errors import AlertError
from audit.alerts.models import Alert
from audit.detect.hits import Severity
from audit.detect.rules.io import read_rules
from audit.errors import AuditError
from audit.notify import service as notify
from audit.review import actions, queue, sampling
from audit.review import service as review
from audit.review.actions import ReviewStep
from audit.review.queue import AlertFilters
from audit.review.simulate import simulate_with_current
from audit.stage import DetectionStage, StageReport, TrainedSentiment, rescan
from config.settings import ConfigError

app = typer.Typer(help="Alerts, the review workflow, notifications and rule simulation.", no_args_is_help=True)
routes_app = typer.Typer(help="Who hears about which alerts.", no_args_is_help=True)
app.add_typer(routes_app, name="routes")

ActorOption = Annotated[str, typer.Option("--as", help="Who is acting (recorded in the audit trail).")]
NoteOption = Annotated[str | None, typer.Option("--note", help="A note for the audit trail.")]
IdsArgument = Annotated[list[int], typer.Argument(help="Alert ids (several for a bulk action).")]


@contextmanager
def _opened() -> Iterator[AppContext]:
    """The app, migrated; an error of the domain or the settings is printed (exit 1)."""
    context = open_context()
    try:
        context.migrate()
        yield context
    except (AuditError, AlertError, ArchiveError, ConfigError, ValueError) as exc:
        err_console.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(code=1) from None
    finally:
        context.close()


@contextmanager
def _unit_of_work() -> Iterator[tuple[AppContext, Session]]:
    """:func:`_opened` with one transaction (``api.cli.support.transaction``)."""
    with _opened() as context, transaction(context) as session:
        yield context, session


def _corp(context: AppContext, session: Session, corp: str | None) -> str:
    return corp_in_question(session, context.settings, corp)


@app.command("list")
def list_(
    corp: CorpOption = None,
    status: Annotated[list[str] | None, typer.Option(help="new, claimed, escalated, resolved, false_positive")] = None,
    severity: Annotated[str | None, typer.Option(help="Minimum severity.")] = None,
    category: Annotated[str | None, typer.Option(help="Category (a prefix such as pii covers pii.*).")] = None,
    assignee: str | None = None,
    limit: int = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Alerts, newest first (open ones unless --status is given)."""
    with _unit_of_work() as (context, session):
        filters = AlertFilters(
            statuses=status or list(review.OPEN_STATUSES),
            min_severity=Severity(severity) if severity else None,
            category=category,
            assignee=assignee,
        )
        listing = queue.list_alerts(session, _corp(context, session, corp), filters, scope=None, limit=limit)
        rows, places = listing.alerts, listing.places
        if as_json:
            for row in rows:
                typer.echo(json.dumps(_alert_json(row, places), ensure_ascii=False))
            return
        table = Table(title=f"Alerts ({len(rows)})")
        columns = ("id", "severity", "status", "category", "rule", "conversation", "where", "msgs", "assignee", "seen")
        for column in columns:
            table.add_column(column)
        zone = ZoneInfo(context.settings.detection.timezone)
        for row in rows:
            table.add_row(
                str(row.id),
                row.severity,
                row.status,
                row.category,
                row.rule,
                str(row.conversation_id or ""),
                _where(places.get(row.conversation_id or 0)),
                str(len(row.message_ids)),
                row.assignee or "",
                row.last_seen_at.astimezone(zone).strftime("%m-%d %H:%M"),
            )
        console.print(table if rows else "No alerts match.")


@app.command()
def show(alert_id: int) -> None:
    """One alert: its explanation (masked excerpts), audit trail and delivery receipts."""
    with _unit_of_work() as (_context, session):
        detail = queue.alert_detail(session, None, alert_id)
        row = detail.alert
        places = {row.conversation_id: detail.place} if row.conversation_id and detail.place else {}
        console.print_json(json.dumps(_alert_json(row, places), ensure_ascii=False))
        if detail.place:
            console.print(f"Where: {_where(detail.place)}", highlight=False)
        if detail.people:
            console.print(f"People: {', '.join(escape(p.with_id()) for p in detail.people)}", highlight=False)
        console.print(f"Allowed next: {', '.join(detail.allowed_actions) or 'none'}")
        trail = Table(title="Audit trail")
        for column in ("at", "actor", "action", "from", "to", "note"):
            trail.add_column(column)
        for entry in detail.trail:
            trail.add_row(
                f"{entry.at:%Y-%m-%d %H:%M}",
                entry.actor,
                entry.action,
                entry.from_status,
                entry.to_status,
                entry.note or "",
            )
        console.print(trail)
        for receipt in queue.receipts(session, None, alert_id):
            console.print(
                f"notification {receipt.id} → {receipt.target}: {receipt.status}, {receipt.attempts} attempt(s)"
                + (f", last error {receipt.last_error}" if receipt.last_error else "")
            )


def _review(ids: list[int], step: ReviewStep, actor: str) -> None:
    """The step on each alert (``audit.review.actions``); refusals are listed (exit 1)."""
    with _unit_of_work() as (_context, session):
        result = actions.review_alerts(session, None, ids, step, actor=actor or os_user(), now=utcnow())
    if result.done:
        console.print(f"Done: {', '.join(map(str, result.done))}")
    for alert_id, reason in result.refused.items():
        err_console.print(f"[yellow]Refused {alert_id}:[/] {reason}")
    if result.refused:
        raise typer.Exit(code=1)


@app.command()
def claim(ids: IdsArgument, actor: ActorOption = "", assignee: str | None = None) -> None:
    """Claim new alerts (for yourself, or assign them with --assignee)."""
    _review(ids, ReviewStep("claim", assignee=assignee), actor)


@app.command()
def assign(ids: IdsArgument, assignee: Annotated[str, typer.Option()], actor: ActorOption = "") -> None:
    """Hand open alerts to someone."""
    _review(ids, ReviewStep("assign", assignee=assignee), actor)


@app.command()
def release(ids: IdsArgument, actor: ActorOption = "", note: NoteOption = None) -> None:
    """Give claimed alerts back to the queue."""
    _review(ids, ReviewStep("release", note=note), actor)


@app.command()
def escalate(ids: IdsArgument, actor: ActorOption = "", note: NoteOption = None) -> None:
    """Escalate to the managers routed for the alert's scope (they are notified)."""
    _review(ids, ReviewStep("escalate", note=note), actor)


@app.command()
def resolve(
    ids: IdsArgument,
    disposition: Annotated[str, typer.Option(help=", ".join(review.DISPOSITIONS))],
    actor: ActorOption = "",
    note: NoteOption = None,
) -> None:
    """Close alerts with a disposition."""
    _review(ids, ReviewStep("resolve", note=note, disposition=disposition), actor)


@app.command("false-positive")
def false_positive(ids: IdsArgument, actor: ActorOption = "", note: NoteOption = None) -> None:
    """Close as false positives; the same match in the same conversation stays quiet."""
    _review(ids, ReviewStep("false_positive", note=note), actor)


@app.command()
def reopen(ids: IdsArgument, actor: ActorOption = "", note: NoteOption = None) -> None:
    """Reopen closed alerts (suppressions they created are lifted)."""
    _review(ids, ReviewStep("reopen", note=note), actor)


@app.command()
def note(alert_id: int, text: str, actor: ActorOption = "") -> None:
    """Add a note to an alert's audit trail."""
    _review([alert_id], ReviewStep("note", note=text), actor)


@app.command()
def tag(
    ids: IdsArgument,
    add: Annotated[list[str] | None, typer.Option("--add")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove")] = None,
    actor: ActorOption = "",
) -> None:
    """Add or remove tags."""
    _review(ids, ReviewStep("tag", add_tags=add or [], remove_tags=remove or []), actor)


@app.command("rescan")
def rescan_(
    since: Annotated[str, typer.Option(help="Date or date-time (the detection time zone unless given).")],
    until: Annotated[str | None, typer.Option(help="Default: now.")] = None,
    corp: CorpOption = None,
) -> None:
    """Queue stored messages for detection again (after a rule change); `alerts run` or
    the scheduler processes them."""
    with _unit_of_work() as (context, session):
        zone = ZoneInfo(context.settings.detection.timezone)
        start, end = _when(since, zone), _when(until, zone) if until else utcnow()
        queued = rescan(session, _corp(context, session, corp), start, end, utcnow())
    console.print(f"Queued {queued:,} messages for detection. Run `wecom-audit alerts run` (or the scheduler).")


@app.command()
def run() -> None:
    """Run the detection stage until the queue is empty, then deliver notifications."""
    with _opened() as context:
        stage = DetectionStage(
            context.settings.detection,
            context.settings.alerts,
            sentiment=TrainedSentiment.from_settings(context.settings),
        )
        total = StageReport()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("detecting", total=None)
            while True:
                report = stage.run(context.session_factory)
                total.merge(report)
                progress.update(task, description=f"{total.messages:,} messages")
                if report.claims == 0 or report.failed_claims:
                    break
        with transaction(context) as session:
            delivery = notify.deliver_due(session, context.settings.notify, utcnow())
    console.print(
        f"Scanned {total.messages:,} messages: {total.hits:,} hits, {total.alerts_created:,} new alerts, "
        f"{total.alerts_updated:,} updated, sentiment for {total.sentiment:,}."
    )
    if total.sentiment_skipped:
        console.print(
            f"[yellow]No sentiment for {total.sentiment_skipped:,} messages:[/] {stage.sentiment.missing_reason}"
        )
        console.print("What to do: run `wecom-audit nlp train`, then `wecom-audit alerts rescan --since …`.")
    if total.failed_claims:
        err_console.print(f"[red]A batch failed ({', '.join(total.errors)}); it is retried with backoff.[/]")
    console.print(
        f"Notifications: {delivery.delivered} delivered, {delivery.retried} to retry, {delivery.failed} failed."
    )


@app.command()
def deliver() -> None:
    """Send due notifications now (retries and digests included)."""
    with _unit_of_work() as (context, session):
        report = notify.deliver_due(session, context.settings.notify, utcnow())
    console.print(
        f"{report.delivered} delivered, {report.retried} to retry, {report.failed} failed, "
        f"{report.held} held for a digest, {report.digests} digests."
    )


@app.command()
def status() -> None:
    """The detection backlog and whether sentiment analysis is ready."""
    with _unit_of_work() as (context, session):
        stage = DetectionStage(
            context.settings.detection,
            context.settings.alerts,
            sentiment=TrainedSentiment.from_settings(context.settings),
        )
        state = stage.status(session)
    console.print(f"Detection queue: {state.pending_entries} batches ({state.failing_entries} failing).")
    console.print("Sentiment: ready." if state.sentiment_ready else f"[yellow]Sentiment: not ready[/] — {state.hint}")


@app.command()
def sample(
    day: Annotated[str, typer.Option(help="The day to sample (YYYY-MM-DD, detection time zone).")],
    rate: Annotated[float | None, typer.Option(help="Share of unflagged conversations (default: setting).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: setting); same seed, same draw.")] = None,
    corp: CorpOption = None,
) -> None:
    """Draw unflagged conversations of a day into the supervisory review queue."""
    with _unit_of_work() as (context, session):
        settings = context.settings.alerts
        drawn = sampling.draw_day(
            session,
            _corp(context, session, corp),
            date.fromisoformat(day),
            zone=ZoneInfo(context.settings.detection.timezone),
            rate=settings.sampling_rate if rate is None else rate,
            seed=settings.sampling_seed if seed is None else seed,
            now=utcnow(),
        )
    console.print(f"{len(drawn)} conversations to review: {', '.join(str(s.conversation_id) for s in drawn)}")


@app.command()
def simulate(
    rules_file: Annotated[
        Path, typer.Argument(help="Draft lexicon groups (CSV or Excel).", exists=True, dir_okay=False)
    ],
    days: Annotated[int, typer.Option(help="Scan the last N days.")] = 7,
    corp: CorpOption = None,
    samples: Annotated[int, typer.Option(help="Sample hits shown per rule.")] = 3,
) -> None:
    """Run draft rules (added to the current ones) over stored messages; writes nothing."""
    with _unit_of_work() as (context, session):
        drafts = read_rules(rules_file)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("simulating", total=None)
            result = simulate_with_current(
                session,
                drafts,
                corp_id=_corp(context, session, corp),
                days=days,
                until=utcnow(),
                detection=context.settings.detection,
                alerts=context.settings.alerts,
                samples_per_rule=samples,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    draft_names = {g.name for g in drafts.groups}
    table = Table(title=f"Simulation over {result.messages_scanned:,} messages of the last {days} days")
    for column in ("rule", "draft", "hits", "messages", "alerts"):
        table.add_column(column)
    for rule in sorted(set(result.hits_by_rule) | draft_names):
        table.add_row(
            rule,
            "yes" if rule in draft_names else "",
            str(result.hits_by_rule[rule]),
            str(result.messages_by_rule[rule]),
            str(result.alerts_by_rule[rule]),
        )
    console.print(table)
    for rule in sorted(draft_names):
        for hit in result.samples.get(rule, []):
            console.print(f"  {rule}: message {hit.message_id} 「{hit.excerpt}」 → {hit.normalised}")


@routes_app.command("add")
def routes_add(
    name: str,
    target: Annotated[list[str], typer.Option(help="email:<address>, webhook:<name>, wecom:<name> or a user name")],
    role: Annotated[str, typer.Option(help="reviewer (new alerts) or manager (escalations)")] = routing.REVIEWER,
    min_severity: Annotated[str, typer.Option(help="low, medium, high, critical")] = "low",
    category: Annotated[list[str] | None, typer.Option(help="Categories (prefixes); default all.")] = None,
    department: Annotated[list[int] | None, typer.Option(help="Department ids (with subtrees).")] = None,
    room: Annotated[list[str] | None, typer.Option(help="Room ids.")] = None,
    corp: CorpOption = None,
) -> None:
    """Route alerts in a scope to targets."""
    with _unit_of_work() as (context, session):
        spec = routing.RouteSpec(
            name, role, target, Severity(min_severity), category or [], department or [], room or []
        )
        routing.add_route(session, _corp(context, session, corp), spec, utcnow())
    console.print(f"Route {name!r} added.")


@routes_app.command("list")
def routes_list(corp: CorpOption = None) -> None:
    """Routing rules."""
    with _unit_of_work() as (context, session):
        table = Table(title="Alert routes")
        for column in ("name", "role", "min severity", "categories", "departments", "rooms", "targets"):
            table.add_column(column)
        for rule in routing.list_routes(session, _corp(context, session, corp)):
            table.add_row(
                rule.name,
                rule.role,
                rule.min_severity,
                ", ".join(rule.categories) or "any",
                ", ".join(map(str, rule.department_ids)) or "any",
                ", ".join(rule.roomids) or "any",
                ", ".join(rule.targets),
            )
        console.print(table)


@routes_app.command("remove")
def routes_remove(name: str, corp: CorpOption = None) -> None:
    """Delete a routing rule (notifications it already queued are still sent)."""
    with _unit_of_work() as (context, session):
        routing.remove_route(session, _corp(context, session, corp), name, utcnow())
    console.print(f"Route {name!r} removed.")


def _when(value: str, zone: ZoneInfo) -> datetime:
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def _where(place: Place | None) -> str:
    """Where an alert happened, by name with the ids (a user may need to copy one)."""
    if place is None:
        return ""
    joined = " ↔ ".join(escape(name.with_id()) for name in place.names)
    return f"群 {joined}" if place.kind == "group" else joined


def _alert_json(row: Alert, places: dict[int, Place]) -> dict[str, Any]:
    place = places.get(row.conversation_id or 0)
    return {
        "id": row.id,
        "corp_id": row.corp_id,
        "status": row.status,
        "severity": row.severity,
        "category": row.category,
        "rule": row.rule,
        "source": row.source,
        "conversation_id": row.conversation_id,
        "where": [{"id": n.id, "name": n.label, "kind": n.kind, "synced": n.synced} for n in place.names]
        if place
        else [],
        "message_ids": row.message_ids,
        "assignee": row.assignee,
        "disposition": row.disposition,
        "tags": row.tags,
        "routed_to": row.routed_to,
        "first_seen_at": row.first_seen_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "explanation": row.explanation,
    }
