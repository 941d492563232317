"""``wecom-audit completeness``: seq gaps, lag, coverage per member and per day, and open
alerts of a corp; and the completeness lines of ``wecom-audit status``. It translates and
delegates only (to ``archive.completeness`` and ``archive.wecom``).

``api.cli`` registers :func:`completeness` on the root app; ``api.cli.archive`` prints
:func:`status_lines` and :func:`status_fields`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from api.cli.support import CorpOption, console, err_console, fail, open_context, transaction
from archive.clock import utcnow
from archive.completeness import service
from archive.completeness.alerts import AlertSnapshot, CompletenessThresholds, assess, open_alerts
from archive.completeness.report import completeness_report, coverage_of_days
from archive.completeness.service import CoverageReport, GapSummary, LagReport, SeqGap
from archive.consent import service as consent_service
from archive.errors import ArchiveError
from archive.wecom.client import DEFAULT_API_BASE_URL, BlockingWeComClient, WeComClient
from config.settings import ConfigError

API_BASE_URL_ENV = "WECOM_AUDIT_WECOM__API_BASE_URL"
DEFAULT_COVERAGE_DAYS = 7
DEFAULT_GAP_LIMIT = 20
SECONDS_PER_HOUR = 3600


def completeness(
    corp: CorpOption = None,
    days: Annotated[int, typer.Option(min=1, help="Coverage period: this many local days up to now.")] = (
        DEFAULT_COVERAGE_DAYS
    ),
    zone: Annotated[str, typer.Option(help="Time zone of the coverage days.")] = service.DEFAULT_ZONE,
    gap_limit: Annotated[int, typer.Option(min=1, help="List at most this many seq gaps.")] = DEFAULT_GAP_LIMIT,
    api_base_url: Annotated[
        str, typer.Option(envvar=API_BASE_URL_ENV, help="WeCom's HTTP API, for the archive permit list.")
    ] = DEFAULT_API_BASE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Seq gaps, lag behind WeCom, coverage of the members with the archiving licence, open alerts."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"Unknown time zone {zone!r}.", "use an IANA name such as Asia/Shanghai") from None
    context = open_context()
    try:
        thresholds = context.completeness_thresholds
        corp_settings = context.settings.corp(corp)
        context.migrate()
        permit_error: ArchiveError | None = None
        permitted: list[str] | None = None
        client = WeComClient(
            api_base_url,
            corp_settings.corp_id,
            corp_settings.archive_secret.get_secret_value(),
            timeout_s=context.settings.sdk.timeout_s,
        )
        with BlockingWeComClient(client) as wecom:
            try:
                permitted = wecom.permit_users()
            except ArchiveError as exc:  # shown below; the other sections need no WeCom
                permit_error = exc
        now = utcnow()
        with transaction(context) as session:
            corp_id = corp_settings.corp_id
            found = completeness_report(session, corp_id, now, gap_limit=gap_limit, thresholds=thresholds)
            report = (
                None
                if permitted is None
                else coverage_of_days(session, corp_id, permitted, now=now, days=days, zone=zone)
            )
        summary, gap_list, lag = found.gaps, found.first_gaps, found.lag
        alerts, consent = found.open_alerts, found.consent
    except ConfigError as exc:
        raise fail(str(exc)) from None
    finally:
        context.close()
    if as_json:
        print(
            json.dumps(
                {
                    "corp_id": corp_settings.corp_id,
                    "gaps": asdict(summary) | {"first": [asdict(gap) for gap in gap_list]},
                    "lag": asdict(lag),
                    "coverage": asdict(report) if report else None,
                    "coverage_error": _error_fields(permit_error),
                    "alerts": [asdict(alert) for alert in alerts],
                    "consent": asdict(consent),
                },
                default=_json_value,
                ensure_ascii=False,
            )
        )
    else:
        _print_tables(summary, gap_list, lag, report, alerts, thresholds)
        if consent.without_consent:
            console.print(_consent_line(corp_settings.corp_id, consent))
    if permit_error is not None:
        message, _, hint = str(permit_error).partition(" — ")
        err_console.print(f"[bold red]Coverage unavailable:[/] {message}")
        if hint:
            err_console.print(f"[yellow]What to do:[/] {hint}")
        raise typer.Exit(code=1)


def status_lines(
    session: Session, corp_id: str, now: datetime, thresholds: CompletenessThresholds | None = None
) -> list[str]:
    """Completeness lines for ``wecom-audit status`` (rich markup): exposure, media backlog
    and every open alert. Reads only the database (no call to WeCom, no gap scan)."""
    lag = service.lag(session, corp_id, now)
    level = (thresholds or CompletenessThresholds()).lag_severity(lag.exposure_s)
    lines = [
        f"{corp_id}: messages up to {_hours(lag.exposure_s)} old may be unarchived{_tag(level)} "
        f"(newest message {_hours(lag.message_lag_s)} old, last complete pull "
        f"{_hours(_age(now, lag.last_drained_at))} ago)",
        f"{corp_id}: media {lag.pending_media:,} pending (oldest {_hours(lag.media_lag_s)}), "
        f"{lag.failed_media:,} failed",
    ]
    consent = consent_service.coverage(session, corp_id)
    if consent.without_consent:
        lines.append(_consent_line(corp_id, consent))
    lines += [
        f"{corp_id}: [{_COLOUR[alert.severity]}]{alert.severity}[/] {alert.kind} since "
        f"{alert.first_raised_at.astimezone():%Y-%m-%d %H:%M}: {alert.summary}"
        for alert in open_alerts(session, corp_id)
    ]
    return lines


def status_fields(session: Session, corp_id: str, now: datetime) -> dict[str, Any]:
    """The same for ``wecom-audit status --json``: JSON-ready values."""
    lag = service.lag(session, corp_id, now)
    return {
        "exposure_s": lag.exposure_s,
        "last_drained_at": _json_value(lag.last_drained_at) if lag.last_drained_at else None,
        "pending_media": lag.pending_media,
        "media_lag_s": lag.media_lag_s,
        "failed_media": lag.failed_media,
        "consent": asdict(consent_service.coverage(session, corp_id)),
        "open_alerts": [
            {"kind": a.kind, "severity": a.severity, "since": _json_value(a.first_raised_at), "summary": a.summary}
            for a in open_alerts(session, corp_id)
        ],
    }


# --- rendering ----------------------------------------------------------------------------


def _consent_line(corp_id: str, consent: consent_service.ConsentCoverage) -> str:
    # WeCom archives nothing of a chat with a customer who has not agreed (spec §9.17): quiet
    # customers or members may be that, not lost data.
    return (
        f"{corp_id}: {consent.without_consent:,} of {consent.pairs_seen:,} member–customer pairs have no recorded "
        f"consent ({consent.disagreed:,} declined, {consent.unknown:,} unknown, {consent.unchecked:,} not yet "
        "checked): WeCom does not archive their chats until the customer agrees — gaps there are not data loss "
        "(`wecom-audit consent check`)"
    )


_COLOUR = {"warning": "yellow", "critical": "bold red"}


def _print_tables(
    summary: GapSummary,
    gap_list: list[SeqGap],
    lag: LagReport,
    report: CoverageReport | None,
    alerts: list[AlertSnapshot],
    thresholds: CompletenessThresholds,
) -> None:
    findings = {finding.kind: finding for finding in assess(lag, summary, thresholds)}
    table = Table(
        title=f"Lag of {lag.corp_id} (alerts at {thresholds.lag_warning_h:g} h / {thresholds.lag_critical_h:g} h)"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("level")
    table.add_row("messages possibly unarchived for", _hours(lag.exposure_s), _level(findings["message_lag"].severity))
    table.add_row("newest stored message", _hours(lag.message_lag_s) + " ago", "")
    table.add_row("last complete pull", _hours(_age(lag.measured_at, lag.last_drained_at)) + " ago", "")
    table.add_row("media pending", f"{lag.pending_media:,}", "")
    table.add_row("oldest pending media", _hours(lag.media_lag_s), _level(findings["media_lag"].severity))
    table.add_row("media given up", f"{lag.failed_media:,}", "")
    console.print(table)

    console.print(
        f"Seq gaps: {summary.gaps:,} gaps, {summary.missing:,} seqs missing between seq {summary.first_seq or '—'} "
        f"and {summary.last_seq or '—'} ({summary.envelopes:,} records stored){_tag(findings['seq_gap'].severity)}"
    )
    if gap_list:
        gaps_table = Table(title=f"The first {len(gap_list)} gaps")
        for column in ("after seq", "before seq", "missing"):
            gaps_table.add_column(column, justify="right")
        for gap in gap_list:
            gaps_table.add_row(str(gap.after_seq), str(gap.before_seq), str(gap.missing))
        console.print(gaps_table)

    if report is not None:
        _print_coverage(report)

    alerts_table = Table(title="Open alerts")
    for column in ("kind", "severity", "since", "last seen", "summary"):
        alerts_table.add_column(column)
    for alert in alerts:
        alerts_table.add_row(
            alert.kind,
            _level(alert.severity),
            f"{alert.first_raised_at.astimezone():%Y-%m-%d %H:%M}",
            f"{alert.last_seen_at.astimezone():%Y-%m-%d %H:%M}",
            alert.summary,
        )
    console.print(alerts_table if alerts else "No open alerts.")


def _print_coverage(report: CoverageReport) -> None:
    console.print(
        f"Coverage since {report.since.astimezone(ZoneInfo(report.zone)):%Y-%m-%d} ({report.zone}): "
        f"{report.permitted} members with the archiving licence, {report.covered} seen, {report.silent} silent; "
        f"{report.unpermitted} seen without a licence"
    )
    members = Table(title="Silent members and members without a licence")
    for column in ("userid", "status", "messages", "sent", "last seen", "without a permitted party"):
        members.add_column(column, justify="left" if column in ("userid", "status") else "right")
    for employee in report.employees:
        if employee.status == "covered":
            continue  # the count in the title says enough; --json lists them all
        colour = "red" if employee.without_permitted_party else "yellow"
        members.add_row(
            employee.userid,
            f"[{colour}]{employee.status}[/]",
            f"{employee.messages:,}",
            f"{employee.sent:,}",
            f"{employee.last_seen.astimezone():%Y-%m-%d %H:%M}" if employee.last_seen else "—",
            f"{employee.without_permitted_party:,}",
        )
    console.print(members)
    days = Table(title=f"Messages per day ({report.zone})")
    for column in ("day", "messages", "active employees"):
        days.add_column(column, justify="right")
    for day in report.days:
        days.add_row(day.day.isoformat(), f"{day.messages:,}", f"{day.active_employees:,}")
    console.print(days)


def _level(severity: str | None) -> str:
    return "ok" if severity is None else f"[{_COLOUR[severity]}]{severity}[/]"


def _tag(severity: str | None) -> str:
    return "" if severity is None else f" [{_COLOUR[severity]}]({severity})[/]"


def _hours(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / SECONDS_PER_HOUR:.1f} h"


def _age(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def _json_value(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _error_fields(error: ArchiveError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"code": error.code, "message": str(error).partition(" — ")[0], "hint": error.hint}
