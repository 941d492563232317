"""Completeness alerts: raised, escalated and resolved from the current measurements.

WeCom keeps archive data for about three days (spec §2.3); what the puller has not fetched
by then is lost for good. A lag alert gives the operator time to act: by default a warning
after 12 h and critical after 24 h, leaving two days and then one. One open alert per
(corp, kind) carries its history (first raised, last seen, resolved); its severity follows
the measurement both ways. They are not routed to people: they show in ``wecom-audit
status``, ``wecom-audit completeness``, the API's ``/api/v1/archive/status`` and
``/api/v1/archive/completeness``, and the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from archive.completeness import repository, service
from archive.completeness.models import ArchiveAlert
from archive.completeness.service import GapSummary, LagReport
from config.logs import get_logger

log = get_logger("archive.completeness")

AlertKind = Literal["message_lag", "media_lag", "seq_gap"]
Severity = Literal["warning", "critical"]
AlertChange = Literal["raised", "escalated", "deescalated", "unchanged", "resolved"]
_RANK: dict[str | None, int] = {None: 0, "warning": 1, "critical": 2}
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class CompletenessThresholds:
    """When a lag (hours) becomes an alert, for messages and media alike; how many missing
    seqs to tolerate before a seq-gap warning (gaps never go critical: WeCom's seqs may
    have gaps of its own, spec §9.1)."""

    lag_warning_h: float = 12.0
    lag_critical_h: float = 24.0
    seq_gap_tolerance: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.lag_warning_h <= self.lag_critical_h:
            raise ValueError("need 0 < lag_warning_h <= lag_critical_h")
        if self.seq_gap_tolerance < 0:
            raise ValueError("seq_gap_tolerance cannot be negative")

    def lag_severity(self, lag_s: float | None) -> Severity | None:
        if lag_s is None or lag_s < self.lag_warning_h * SECONDS_PER_HOUR:
            return None
        return "critical" if lag_s >= self.lag_critical_h * SECONDS_PER_HOUR else "warning"


@dataclass(frozen=True)
class Finding:
    """The current state of one alert kind; ``severity`` None means all is well."""

    kind: AlertKind
    severity: Severity | None
    measured: int
    summary: str


@dataclass(frozen=True)
class AlertSnapshot:
    corp_id: str
    kind: str
    severity: str
    summary: str
    measured: int
    first_raised_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    change: AlertChange


def assess(lag: LagReport, gaps: GapSummary, thresholds: CompletenessThresholds) -> list[Finding]:
    """Findings for every alert kind from the measurements (pure: reads and writes nothing)."""
    exposure = lag.exposure_s or 0.0
    media_lag = lag.media_lag_s or 0.0
    gap_severity: Severity | None = "warning" if gaps.missing > thresholds.seq_gap_tolerance else None
    return [
        Finding(
            "message_lag",
            thresholds.lag_severity(lag.exposure_s),
            round(exposure),
            f"messages up to {_hours(exposure)} old may not be archived yet "
            f"(newest stored message {_hours(lag.message_lag_s)} old, "
            f"last complete pull {_hours(_since(lag, lag.last_drained_at))} ago)",
        ),
        Finding(
            "media_lag",
            thresholds.lag_severity(lag.media_lag_s),
            round(media_lag),
            f"{lag.pending_media} attachments not downloaded, the oldest from {_hours(lag.media_lag_s)} ago",
        ),
        Finding(
            "seq_gap",
            gap_severity,
            gaps.missing,
            f"{gaps.missing} seqs missing in {gaps.gaps} gaps between seq {gaps.first_seq} and {gaps.last_seq}",
        ),
    ]


def evaluate(session: Session, corp_id: str, now: datetime, thresholds: CompletenessThresholds) -> list[AlertSnapshot]:
    """Measure, then raise, escalate, de-escalate or resolve the corp's alerts. Returns the
    alerts open afterwards and those resolved now. Runs in the caller's transaction."""
    findings = assess(service.lag(session, corp_id, now), service.gap_summary(session, corp_id), thresholds)
    open_alerts = {alert.kind: alert for alert in repository.open_alerts(session, corp_id)}
    snapshots: list[AlertSnapshot] = []
    for finding in findings:
        alert = open_alerts.get(finding.kind)
        if finding.severity is None:
            if alert is not None:
                alert.resolved_at = now
                _log("alert_resolved", alert)
                snapshots.append(_snapshot(alert, "resolved"))
            continue
        if alert is None:
            alert = ArchiveAlert(
                corp_id=corp_id,
                kind=finding.kind,
                severity=finding.severity,
                summary=finding.summary,
                measured=finding.measured,
                first_raised_at=now,
                last_seen_at=now,
                resolved_at=None,
            )
            repository.add_alert(session, alert)
            change: AlertChange = "raised"
        else:
            previous = _RANK[alert.severity]
            change = (
                "escalated"
                if _RANK[finding.severity] > previous
                else "deescalated"
                if _RANK[finding.severity] < previous
                else "unchanged"
            )
            alert.severity, alert.summary, alert.measured = finding.severity, finding.summary, finding.measured
            alert.last_seen_at = now
        if change != "unchanged":
            _log(f"alert_{change}", alert)
        snapshots.append(_snapshot(alert, change))
    session.flush()
    return snapshots


def open_alerts(session: Session, corp_id: str) -> list[AlertSnapshot]:
    return [_snapshot(alert, "unchanged") for alert in repository.open_alerts(session, corp_id)]


def _snapshot(alert: ArchiveAlert, change: AlertChange) -> AlertSnapshot:
    return AlertSnapshot(
        corp_id=alert.corp_id,
        kind=alert.kind,
        severity=alert.severity,
        summary=alert.summary,
        measured=alert.measured,
        first_raised_at=alert.first_raised_at,
        last_seen_at=alert.last_seen_at,
        resolved_at=alert.resolved_at,
        change=change,
    )


def _log(event: str, alert: ArchiveAlert) -> None:
    (log.warning if event != "alert_resolved" else log.info)(
        f"archive.completeness.{event}",
        corp_id=alert.corp_id,
        kind=alert.kind,
        severity=alert.severity,
        measured=alert.measured,
    )


def _since(lag: LagReport, moment: datetime | None) -> float | None:
    return None if moment is None else max(0.0, (lag.measured_at - moment).total_seconds())


def _hours(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / SECONDS_PER_HOUR:.1f} h"
