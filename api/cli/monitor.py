"""``wecom-audit groups`` / ``replies`` / ``monitor``: group monitoring rollups, reply-time
metrics and the monitor run. It translates and delegates only (to ``audit.monitor``);
the root (``api.cli``) registers :data:`groups_app`, :data:`replies_app` and
:data:`monitor_app`. Everything shown comes from rollups, never raw chats.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from api.cli.support import CorpOption, console, fail, open_context, transaction
from api.context import AppContext
from archive.clock import utcnow
from archive.corps import NoCorpError, corp_in_question
from audit.errors import NotFound
from audit.monitor import views
from audit.monitor.jobs import mark_rebuild, policy_from_settings, run_corp
from audit.monitor.worktime import WorkingCalendar, WorkingTimeError
from config.settings import ConfigError

groups_app = typer.Typer(help="Group monitoring: risk ranking, time series, top words.", no_args_is_help=True)
replies_app = typer.Typer(help="Reply timeouts: per-employee response metrics.", no_args_is_help=True)
monitor_app = typer.Typer(help="The monitor job (rollups, reply timeouts, spikes).", no_args_is_help=True)

DaysOption = Annotated[int, typer.Option("--days", min=1, help="Period: this many local days up to today.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _period(calendar: WorkingCalendar, days: int) -> tuple[date, date]:
    today = calendar.local_day(utcnow())
    return today - timedelta(days=days - 1), today


def _json(value: Any) -> None:
    console.print_json(json.dumps(value, ensure_ascii=False, default=str))


def _open_corp(corp: str | None) -> tuple[AppContext, str, WorkingCalendar]:
    """The app opened and migrated, the corp in question and its working calendar; a
    settings, calendar or corp error exits 1 with its hint (the app is then closed)."""
    context = open_context()
    try:
        calendar = WorkingCalendar.from_settings(context.settings.detection)
        context.migrate()
        with transaction(context) as session:
            corp_id = corp_in_question(session, context.settings, corp)
    except (ConfigError, WorkingTimeError, NoCorpError) as exc:
        context.close()
        raise fail(str(exc), getattr(exc, "hint", "")) from None
    return context, corp_id, calendar


@monitor_app.command("run")
def monitor_run(corp: CorpOption = None) -> None:
    """Update rollups, reply threads and spikes now (the scheduler does this every minute)."""
    context, corp_id, _ = _open_corp(corp)
    try:
        with console.status(f"Updating the monitor rollups of {corp_id}…"):
            report = run_corp(context.session_factory, corp_id, policy_from_settings(context.settings))
    finally:
        context.close()
    console.print(
        f"{report.new_messages:,} new messages, {report.threads_written:,} reply threads written, "
        f"{report.days_recomputed:,} conversation-days recomputed "
        f"({report.days_pending_detection:,} still waiting for detection, "
        f"{report.days_left:,} left for the next run); "
        f"{report.timeout_alerts} reply-timeout and {report.spike_alerts} spike alerts raised."
    )


@monitor_app.command("rebuild")
def monitor_rebuild(
    since: Annotated[str, typer.Option(help="First local day to rebuild, YYYY-MM-DD.")],
    corp: CorpOption = None,
) -> None:
    """Recompute rollups and reply threads from a day on (after changing the time zone,
    working hours or reply timeout, or after a disposal)."""
    try:
        first = date.fromisoformat(since)
    except ValueError:
        raise fail(f"--since must look like 2026-11-01 (got {since!r})") from None
    context, corp_id, _ = _open_corp(corp)
    policy = policy_from_settings(context.settings)
    try:
        with (
            console.status(f"Replaying reply threads of {corp_id} since {first}…"),
            transaction(context) as session,
        ):
            marked = mark_rebuild(session, corp_id, context.settings, first, utcnow())
        recomputed = 0
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Recomputing conversation-days", total=marked)
            while True:
                report = run_corp(context.session_factory, corp_id, policy)
                recomputed += report.days_recomputed
                progress.update(task, completed=min(recomputed, marked))
                if report.days_left == 0:
                    break
    finally:
        context.close()
    console.print(f"Rebuilt {marked:,} conversation-days of {corp_id} since {first}.")


@groups_app.command("top")
def groups_top(corp: CorpOption = None, days: DaysOption = 7, limit: int = 20, as_json: JsonOption = False) -> None:
    """Groups ranked by risk over the period (hits by severity, complaints, threats,
    unanswered customers and negative share; see docs/adr/0013-group-monitoring.md)."""
    context, corp_id, calendar = _open_corp(corp)
    first, last = _period(calendar, days)
    try:
        with transaction(context) as session:
            top = views.top_groups(session, corp_id, first, last, limit=limit)
    finally:
        context.close()
    ranked, names = top.groups, top.names
    if as_json:
        _json([asdict(group) | {"room_name": names.label(group.roomid) if group.roomid else None} for group in ranked])
        return
    if not ranked:
        console.print(f"No group activity from {first} to {last}. Run `wecom-audit monitor run` after a pull.")
        return
    table = Table(title=f"Groups by risk, {first} … {last}")
    for column in ("room", "risk", "messages", "negative", "hits (points)", "complaints", "threats", "unanswered"):
        table.add_column(column, justify="left" if column == "room" else "right")
    for group in ranked:
        table.add_row(
            escape(names.of(group.roomid).with_id()) if group.roomid else str(group.conversation_id),
            f"{group.risk_score:.1f}",
            f"{group.messages:,}",
            f"{group.negative_share:.0%}" if group.scored else "–",
            f"{group.hits} ({group.hit_points})",
            str(group.complaints),
            str(group.threats),
            str(group.unanswered_customers),
        )
    console.print(table)


@groups_app.command("show")
def groups_show(
    room: Annotated[str, typer.Argument(help="The room id (roomid) of the group.")],
    corp: CorpOption = None,
    days: DaysOption = 14,
    day: Annotated[str | None, typer.Option(help="Day of the top words, YYYY-MM-DD (default: today).")] = None,
    as_json: JsonOption = False,
) -> None:
    """A group's daily series over the period and its top words of one day."""
    context, corp_id, calendar = _open_corp(corp)
    first, last = _period(calendar, days)
    try:
        words_day = date.fromisoformat(day) if day else last
    except ValueError:
        context.close()
        raise fail(f"--day must look like 2026-11-23 (got {day!r})") from None
    try:
        with transaction(context) as session:
            report = views.group_report(session, corp_id, room, first, last, words_day)
    except NotFound as exc:
        raise fail(str(exc), exc.hint) from None
    finally:
        context.close()
    series, words, shown = report.series, report.words, report.names.of(room)
    if as_json:
        _json(
            {
                "room": room,
                "room_name": shown.label,
                "series": [asdict(p) for p in series],
                "top_words": [asdict(w) for w in words],
            }
        )
        return
    table = Table(title=f"Group {escape(shown.with_id())}, {first} … {last}")
    for column in ("day", "messages", "members", "negative", "hits", "complaints", "unanswered", "categories"):
        table.add_column(column, justify="left" if column in ("day", "categories") else "right")
    for point in series:
        table.add_row(
            point.day.isoformat(),
            f"{point.messages:,}",
            str(point.active_members),
            "–" if point.negative_share is None else f"{point.negative_share:.0%}",
            f"{point.hits} ({point.hit_points})",
            str(point.complaints),
            str(point.unanswered_customers),
            ", ".join(f"{k} {v}" for k, v in point.hits_by_category.items()),
        )
    console.print(table)
    if words:
        console.print(f"Top words of {words_day}: " + "  ".join(f"{w.word}×{w.count}" for w in words))
    else:
        console.print(f"No top words for {words_day}.")


@replies_app.command("metrics")
def replies_metrics(
    corp: CorpOption = None,
    days: DaysOption = 7,
    employee: Annotated[str | None, typer.Option(help="Only this employee (userid).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Per employee: customer threads, reply rate, answers within the timeout, and the
    mean/max first-response time in working minutes (lowest reply rate first)."""
    context, corp_id, calendar = _open_corp(corp)
    first, last = _period(calendar, days)
    timeout = context.settings.detection.reply_timeout_minutes
    try:
        with transaction(context) as session:
            metrics = views.all_employee_metrics(session, corp_id, first, last, employee=employee)
    finally:
        context.close()
    rows, names = metrics.rows, metrics.names
    if as_json:
        _json([asdict(row) | {"employee_name": names.label(row.employee)} for row in rows])
        return
    if not rows:
        console.print(f"No customer threads from {first} to {last}.")
        return
    table = Table(title=f"Reply metrics, {first} … {last} (timeout {timeout} working minutes)")
    for column in ("employee", "threads", "reply rate", "in time", "overdue", "mean min", "max min"):
        table.add_column(column, justify="left" if column == "employee" else "right")
    for row in rows:
        table.add_row(
            escape(names.of(row.employee).with_id()),
            str(row.threads),
            f"{row.reply_rate:.0%}",
            f"{row.on_time_rate:.0%}",
            str(row.overdue),
            "–" if row.mean_response_minutes is None else f"{row.mean_response_minutes:.1f}",
            "–" if row.max_response_minutes is None else f"{row.max_response_minutes:.1f}",
        )
    console.print(table)
