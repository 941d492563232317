"""``wecom-audit completeness`` and the completeness lines of ``status``, run in-process
against the simulated WeCom (its archive over the fake SDK, its permit list over HTTP)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
import structlog
import typer
from typer.testing import CliRunner

from api.cli import completeness as completeness_cli
from api.cli.completeness import status_fields, status_lines
from archive.completeness.alerts import CompletenessThresholds, evaluate
from config.database import session_scope
from tests.archive.completeness.conftest import clocked_edge, populate_until, pull
from tests.archive.completeness.test_gaps import gaps_of
from tests.conftest import Edge


def completeness(edge: Edge, *args: str, thresholds: CompletenessThresholds | None = None) -> tuple[int, str, str]:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A host app like api.cli."""

    app.command("completeness")(completeness_cli.completeness)
    with pytest.MonkeyPatch.context() as patch, structlog.testing.capture_logs():  # logs stay out of stdout
        patch.setattr(completeness_cli, "open_context", edge.context)  # on the test's engine
        if thresholds is not None:
            patch.setattr(edge.settings.completeness, "lag_warning_h", thresholds.lag_warning_h)
            patch.setattr(edge.settings.completeness, "lag_critical_h", thresholds.lag_critical_h)
        result = CliRunner().invoke(app, ["completeness", *args], env={"COLUMNS": "250"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def unused_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def pulled(edge: Edge) -> tuple[Edge, list[int]]:
    # Ending 16 hours back: at night the simulated company would date these chats after now
    # (no lag to report), and a day or more back the media lag would turn critical.
    end = datetime.now(UTC) - timedelta(hours=16)
    report = edge.simulator.populate(
        600, end_ms=int(end.timestamp() * 1000), messages_per_day=20_000, seq_gap_every=150
    )
    edge.register_keys()
    context = edge.context()
    try:
        assert context.puller(edge.simulator.corp_id).run().status == "completed"
    finally:
        context.close()
    return edge, list(report.skipped_seqs)


def test_json_report_has_gaps_lag_coverage_and_alerts(pulled: tuple[Edge, list[int]]) -> None:
    edge, skipped = pulled
    code, out, err = completeness(edge, "--json", "--api-base-url", edge.server.url, "--days", "3")
    assert code == 0, err
    report = json.loads(out)
    assert report["corp_id"] == edge.simulator.corp_id
    assert report["gaps"]["missing"] == len(skipped)
    assert [(g["after_seq"], g["before_seq"]) for g in report["gaps"]["first"]] == [
        (gap.after_seq, gap.before_seq) for gap in gaps_of(skipped)
    ]
    assert report["lag"]["exposure_s"] is not None and report["lag"]["pending_media"] > 0
    coverage = report["coverage"]
    assert coverage["permitted"] == sum(1 for e in edge.simulator.company.employees if e.archived)
    assert len(coverage["days"]) == 3 and coverage["zone"] == "Asia/Shanghai"
    assert report["coverage_error"] is None and report["alerts"] == []


def test_tables_for_people(pulled: tuple[Edge, list[int]]) -> None:
    edge, _ = pulled
    code, out, err = completeness(edge, "--api-base-url", edge.server.url)
    assert code == 0, err
    assert "(alerts at 12 h / 24 h)" in out and "critical" not in out
    _code, strict, _err = completeness(
        edge, "--api-base-url", edge.server.url, thresholds=CompletenessThresholds(0.0001, 0.0002)
    )
    assert "(alerts at 0.0001 h / 0.0002 h)" in strict and "critical" in strict
    for title in ("Lag of", "Seq gaps: 3 gaps, 6 seqs missing", "Coverage since", "Messages per day", "No open alerts"):
        assert title in out


def test_without_wecom_the_report_shows_the_rest_and_says_why(pulled: tuple[Edge, list[int]]) -> None:
    edge, skipped = pulled
    code, out, err = completeness(edge, "--json", "--api-base-url", unused_port_url())
    assert code == 1
    report = json.loads(out)
    assert report["coverage"] is None and report["gaps"]["missing"] == len(skipped)
    assert report["coverage_error"]["code"] == "wecom_transient"
    assert "Coverage unavailable" in err and "What to do" in err
    assert edge.simulator.archive_secret not in out + err


def test_a_wrong_secret_is_explained(pulled: tuple[Edge, list[int]]) -> None:
    edge, _ = pulled
    edge.server.secret = "rotated-in-the-admin-console"
    code, _out, err = completeness(edge, "--api-base-url", edge.server.url)
    assert code == 1 and "40001" in err and "WECOM_AUDIT_WECOM__ARCHIVE_SECRET" in err


def test_an_unknown_zone_is_refused(edge: Edge) -> None:
    code, _out, err = completeness(edge, "--zone", "Mars/Olympus")
    assert code == 1 and "Unknown time zone" in err


def test_status_lines_show_exposure_media_and_open_alerts(edge: Edge) -> None:
    clock = clocked_edge(edge)
    populate_until(edge, clock, 300)
    pull(edge, clock)
    clock.advance(hours=26)
    with session_scope(edge.database.sessions) as session:
        evaluate(session, edge.simulator.corp_id, clock.now, CompletenessThresholds())
    with edge.database.sessions() as session:
        lines = status_lines(session, edge.simulator.corp_id, clock.now)
        fields = status_fields(session, edge.simulator.corp_id, clock.now)
    text = "\n".join(lines)
    assert "messages up to 26.0 h old may be unarchived" in text and "(critical)" in text
    assert "critical[/] message_lag since" in text and "critical[/] media_lag since" in text
    assert fields["exposure_s"] == 26 * 3600 and fields["pending_media"] > 0
    assert {alert["kind"] for alert in fields["open_alerts"]} == {"message_lag", "media_lag"}
    assert datetime.fromisoformat(fields["last_drained_at"]) == clock.now - timedelta(hours=26)
    assert json.dumps(fields)  # ready for --json as it is


def test_status_lines_of_an_empty_archive(edge: Edge) -> None:
    with edge.database.sessions() as session:
        lines = status_lines(session, "ww-new", datetime.now(UTC))
    assert lines == [
        "ww-new: messages up to — old may be unarchived (newest message — old, last complete pull — ago)",
        "ww-new: media 0 pending (oldest —), 0 failed",
    ]
