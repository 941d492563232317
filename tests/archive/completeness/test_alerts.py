"""Lag and alerts: a warning when WeCom's clock runs 13 h ahead of the archive, critical at
25 h, resolved by a pull; a quiet company is not an alert; media lag from pending
downloads; seq gaps above the tolerance; one open alert per corp and kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import structlog
from sqlalchemy.exc import IntegrityError

from archive.completeness import service
from archive.completeness.alerts import AlertSnapshot, CompletenessThresholds, evaluate, open_alerts
from archive.completeness.jobs import check_all
from archive.completeness.models import ArchiveAlert
from config.database import session_scope
from tests.archive.completeness.conftest import MovableClock, clocked_edge, populate_until, pull
from tests.conftest import Edge

HOUR_S = 3600


def check(
    edge: Edge, clock: MovableClock, thresholds: CompletenessThresholds | None = None
) -> dict[str, AlertSnapshot]:
    """Evaluate in one transaction, as the scheduled job does; the alerts by kind."""
    with session_scope(edge.database.sessions) as session:
        snapshots = evaluate(session, edge.simulator.corp_id, clock.now, thresholds or CompletenessThresholds())
    return {snapshot.kind: snapshot for snapshot in snapshots}


def test_lag_alert_fires_when_wecom_runs_ahead_then_escalates_and_resolves(edge: Edge) -> None:
    clock = clocked_edge(edge)
    sent = populate_until(edge, clock, 400)
    assert sent
    pull(edge, clock)
    assert "message_lag" not in check(edge, clock)

    raised_at = clock.advance(hours=13)
    populate_until(edge, clock, 200)  # WeCom keeps producing; nobody pulls
    with structlog.testing.capture_logs() as logs:
        warning = check(edge, clock)["message_lag"]
    assert (warning.change, warning.severity, warning.measured) == ("raised", "warning", 13 * HOUR_S)
    assert warning.first_raised_at == raised_at and warning.resolved_at is None
    assert {
        "event": "archive.completeness.alert_raised",
        "corp_id": edge.simulator.corp_id,
        "kind": "message_lag",
        "severity": "warning",
        "measured": 13 * HOUR_S,
        "log_level": "warning",
    } in logs

    clock.advance(hours=12)  # 25 h behind
    critical = check(edge, clock)["message_lag"]
    assert (critical.change, critical.severity, critical.measured) == ("escalated", "critical", 25 * HOUR_S)
    assert critical.first_raised_at == raised_at and critical.last_seen_at == clock.now
    assert "25.0 h" in critical.summary

    fresh = populate_until(edge, clock, 200)
    pull(edge, clock)
    resolved = check(edge, clock)["message_lag"]
    assert (resolved.change, resolved.resolved_at, resolved.severity) == ("resolved", clock.now, "critical")
    with edge.database.sessions() as session:
        assert "message_lag" not in {alert.kind for alert in open_alerts(session, edge.simulator.corp_id)}
        lag = service.lag(session, edge.simulator.corp_id, clock.now)
        kept = session.query(ArchiveAlert).filter_by(kind="message_lag").one()
    assert kept.resolved_at == clock.now, "a resolved alert stays as the record"
    newest = max(message.msgtime_ms for message in sent + fresh)
    assert lag.newest_msgtime == datetime.fromtimestamp(newest / 1000, UTC)
    assert lag.exposure_s == 0 and lag.last_drained_at == clock.now
    assert "message_lag" not in check(edge, clock), "nothing raised again"


def test_a_quiet_company_is_no_alert_while_pulls_complete(edge: Edge) -> None:
    clock = clocked_edge(edge)
    sent = populate_until(edge, clock, 300)
    pull(edge, clock)
    clock.advance(hours=13)  # night: nobody chats, the puller keeps draining nothing
    assert pull(edge, clock).fetched == 0
    with edge.database.sessions() as session:
        lag = service.lag(session, edge.simulator.corp_id, clock.now)
    assert lag.message_lag_s == (clock.now - datetime.fromtimestamp(sent[-1].msgtime_ms / 1000, UTC)).total_seconds()
    assert lag.message_lag_s >= 13 * HOUR_S and lag.exposure_s == 0
    assert "message_lag" not in check(edge, clock)


def test_thresholds_are_configurable(edge: Edge) -> None:
    clock = clocked_edge(edge)
    populate_until(edge, clock, 200)
    pull(edge, clock)
    clock.advance(hours=2)
    assert "message_lag" not in check(edge, clock)
    early = CompletenessThresholds(lag_warning_h=1, lag_critical_h=1.5)
    assert check(edge, clock, early)["message_lag"].severity == "critical"
    clock.advance(hours=-0.75)  # a partial catch-up: back under critical
    assert check(edge, clock, early)["message_lag"].change == "deescalated"
    with pytest.raises(ValueError, match="lag_warning_h"):
        CompletenessThresholds(lag_warning_h=24, lag_critical_h=12)


def test_media_lag_is_the_age_of_the_oldest_pending_download(edge: Edge) -> None:
    clock = clocked_edge(edge)
    sent = populate_until(edge, clock, 400)
    pull(edge, clock)
    with_media = [message for message in sent if message.media]
    assert with_media
    expected_tasks = sum(len({blob.sdkfileid for blob in message.media}) for message in with_media)
    oldest = datetime.fromtimestamp(min(message.msgtime_ms for message in with_media) / 1000, UTC)
    with edge.database.sessions() as session:
        lag = service.lag(session, edge.simulator.corp_id, clock.now)
    assert (lag.pending_media, lag.oldest_unfetched_media_msgtime, lag.failed_media) == (expected_tasks, oldest, 0)
    assert lag.media_lag_s == (clock.now - oldest).total_seconds()

    clock.advance(hours=13)
    media = check(edge, clock)["media_lag"]
    assert (media.change, media.severity) == ("raised", "warning")
    assert f"{expected_tasks} attachments" in media.summary

    context = edge.context()
    try:
        assert context.media_downloader(edge.simulator.corp_id).run().failed == 0
    finally:
        context.close()
    assert check(edge, clock)["media_lag"].change == "resolved"
    with edge.database.sessions() as session:
        after = service.lag(session, edge.simulator.corp_id, clock.now)
    assert (after.pending_media, after.media_lag_s, after.oldest_unfetched_media_msgtime) == (0, None, None)


def test_seq_gaps_are_a_warning_above_the_tolerance(edge: Edge) -> None:
    clock = clocked_edge(edge)
    report = edge.simulator.populate(
        300, end_ms=clock.ms(), messages_per_day=20_000, stop_at_end=True, seq_gap_every=40
    )
    missing = len(report.skipped_seqs)
    assert missing > 0
    pull(edge, clock)
    gap = check(edge, clock)["seq_gap"]
    assert (gap.change, gap.severity, gap.measured) == ("raised", "warning", missing)
    assert f"{missing} seqs missing" in gap.summary
    tolerant = CompletenessThresholds(seq_gap_tolerance=missing)
    assert check(edge, clock, tolerant)["seq_gap"].change == "resolved"


def test_one_open_alert_per_corp_and_kind(edge: Edge) -> None:
    now = datetime.now(UTC)

    def alert(resolved_at: datetime | None) -> ArchiveAlert:
        return ArchiveAlert(
            corp_id="ww1",
            kind="message_lag",
            severity="warning",
            summary="",
            measured=0,
            first_raised_at=now,
            last_seen_at=now,
            resolved_at=resolved_at,
        )

    with session_scope(edge.database.sessions) as session:
        session.add_all([alert(now - timedelta(hours=1)), alert(now - timedelta(hours=2)), alert(None)])
    with session_scope(edge.database.sessions) as session:
        session.add(alert(None))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_the_scheduled_check_evaluates_every_corp(edge: Edge) -> None:
    clock = clocked_edge(edge)
    populate_until(edge, clock, 200)
    pull(edge, clock)
    clock.advance(hours=30)
    with structlog.testing.capture_logs() as logs:
        results = check_all(
            edge.database.sessions, [edge.simulator.corp_id, "ww-never-pulled"], CompletenessThresholds(), clock=clock
        )
    assert results["ww-never-pulled"] == []
    assert {s.kind: s.severity for s in results[edge.simulator.corp_id]}["message_lag"] == "critical"
    checked = [entry for entry in logs if entry["event"] == "archive.completeness.checked"]
    assert [entry["corp_id"] for entry in checked] == [edge.simulator.corp_id, "ww-never-pulled"]
    assert checked[0]["critical"] >= 1
