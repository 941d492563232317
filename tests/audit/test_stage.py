"""The detection stage end to end on real ingest from the simulated company: hits,
sentiment and alerts written once, whatever is re-run; rule simulation predicts exactly
what enabling the rule produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.models import Message
from archive.outbox import queue as outbox
from archive.outbox.models import OutboxEntry
from audit.alerts.models import Alert
from audit.detect.hits import Severity
from audit.detect.models import MessageHit, MessageSentiment
from audit.detect.rules import repository as rules
from audit.detect.rules.spec import LexiconGroup
from audit.detect.rules.starter import starter_groups
from audit.review.simulate import simulate_rules
from audit.stage import TRAIN_HINT, DetectionStage, StageReport, TrainedSentiment, rescan
from config.settings import AlertSettings, DetectionSettings
from tests.conftest import Edge, require

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
# The first test to use the sentiment model trains it (once per session, minutes on a busy machine).
MODEL_TRAINING_TIMEOUT_S = 1200


@pytest.fixture
def sentiment_dir(request: pytest.FixtureRequest) -> Path:
    try:
        return Path(request.getfixturevalue("sentiment_model_dir"))
    except pytest.FixtureLookupError:
        require("the trained sentiment model", "tests/audit/conftest.py provides no sentiment_model_dir fixture")


def _ingest(edge: Edge, count: int = 1500) -> str:
    edge.simulator.populate(count, messages_per_day=4000)
    edge.register_keys()
    context = edge.context()
    report = context.puller(edge.simulator.corp_id).run()
    context.close()
    assert report.status == "completed", report.error
    with edge.database.sessions.begin() as session:
        rules.save_groups(session, starter_groups(), datetime.now(UTC))
    return edge.simulator.corp_id


def _snapshot(session: Session) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], int]:
    hits = session.execute(
        select(MessageHit.message_id, MessageHit.rule, MessageHit.start, MessageHit.end).order_by(
            MessageHit.message_id, MessageHit.rule, MessageHit.start
        )
    ).all()
    alerts = session.execute(
        select(Alert.dedupe_key, Alert.severity, Alert.message_ids, Alert.status).order_by(Alert.dedupe_key)
    ).all()
    sentiment = session.scalar(select(func.count()).select_from(MessageSentiment)) or 0
    return [tuple(h) for h in hits], [tuple(a) for a in alerts], sentiment


@pytest.mark.timeout(MODEL_TRAINING_TIMEOUT_S)
def test_stage_writes_hits_sentiment_and_alerts_once(edge: Edge, sentiment_dir: Path) -> None:
    corp_id = _ingest(edge)
    stage = DetectionStage(DetectionSettings(), AlertSettings(), sentiment=TrainedSentiment(sentiment_dir))
    report = stage.run(edge.database.sessions)
    assert report.failed_claims == 0 and report.claims >= 1
    assert report.sentiment_skipped == 0

    with edge.database.sessions() as session:
        [depth] = outbox.depth(session, [outbox.DETECT])
        assert depth.entries == 0  # drained
        texts = session.scalar(select(func.count(Message.id)).where(Message.text.is_not(None), Message.text != "")) or 0
        hits, alerts, sentiment = _snapshot(session)
        categories = set(session.scalars(select(MessageHit.category).distinct()))
        hit_ids = {h[0] for h in hits}
        assert report.hits == len(hits) > 0
        assert {"off_platform_contact"} <= {c.split(".")[0] for c in categories}
        assert 0 < sentiment <= texts and sentiment == report.sentiment
        assert len(alerts) == report.alerts_created > 0
        for alert in session.scalars(select(Alert).where(Alert.source == "detect")):
            if not alert.rule.startswith("sentiment."):
                assert set(alert.message_ids) <= hit_ids
            assert alert.explanation["matches"] and alert.explanation["detector"]
            assert alert.corp_id == corp_id
    assert stage.status(edge.database.sessions()).sentiment_ready

    # Re-scanning everything (a rule change) writes the same results: nothing doubles.
    with edge.database.sessions.begin() as session:
        assert rescan(session, corp_id, SINCE, UNTIL, datetime.now(UTC)) == report.messages
    again = stage.run(edge.database.sessions)
    assert again.alerts_created == 0 and again.alerts_updated == 0
    with edge.database.sessions() as session:
        assert _snapshot(session) == (hits, alerts, sentiment)


@pytest.mark.timeout(MODEL_TRAINING_TIMEOUT_S)
def test_a_crash_after_the_writes_before_complete_duplicates_nothing(edge: Edge, sentiment_dir: Path) -> None:
    _ingest(edge, 800)
    stage = DetectionStage(DetectionSettings(), AlertSettings(), sentiment=TrainedSentiment(sentiment_dir))
    # The writes of the first claim land, but the process "dies" before completing it.
    with edge.database.sessions.begin() as session:
        claim = outbox.claim(session, outbox.DETECT, datetime.now(UTC))
        assert claim is not None
        stage.process(session, claim.message_ids, StageReport())
    with edge.database.sessions() as session:
        before = _snapshot(session)
        assert before[0] and before[1]
    report = stage.run(edge.database.sessions)  # the claim is still there and done again
    assert report.alerts_created == 0 or report.messages > len(claim.message_ids)
    with edge.database.sessions() as session:
        after = _snapshot(session)
        in_claim = set(claim.message_ids)
        assert [h for h in after[0] if h[0] in in_claim] == before[0]
        assert len({a[0] for a in after[1]}) == len(after[1])  # one alert per key
        assert {a[0] for a in before[1]} <= {a[0] for a in after[1]}


def test_without_a_sentiment_model_the_stage_still_detects_and_says_what_to_run(edge: Edge, tmp_path: Path) -> None:
    pytest.importorskip("audit.nlp.sentiment")
    _ingest(edge, 400)
    stage = DetectionStage(DetectionSettings(), AlertSettings(), sentiment=TrainedSentiment(tmp_path / "no-model"))
    report = stage.run(edge.database.sessions)
    assert report.failed_claims == 0 and report.hits > 0
    assert report.sentiment == 0 and report.sentiment_skipped > 0
    with edge.database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MessageSentiment)) == 0
        status = stage.status(session)
        assert not status.sentiment_ready and status.hint == TRAIN_HINT and "nlp train" in TRAIN_HINT
        assert status.pending_entries == 0


def test_every_scanned_message_is_passed_on_to_the_indexer_once(edge: Edge, tmp_path: Path) -> None:
    """store → detect → index: storage queues detection only; the stage queues every message
    of its claims for search — those without text and those gone since included — once."""
    corp_id = _ingest(edge, 300)
    with edge.database.sessions() as session:
        stored = set(session.scalars(select(Message.id)))
        assert _queued(session, outbox.SEARCH) == []
        gone = max(stored) + 1_000  # a message disposed of after it was queued
    with edge.database.sessions.begin() as session:
        outbox.enqueue_for(session, outbox.DETECT, corp_id, [gone], datetime.now(UTC))
    stage = DetectionStage(DetectionSettings(), AlertSettings(), sentiment=TrainedSentiment(tmp_path / "no-model"))
    assert stage.run(edge.database.sessions).failed_claims == 0
    with edge.database.sessions() as session:
        queued = _queued(session, outbox.SEARCH)
        textless = session.scalar(select(func.count()).where(Message.text.is_(None)))
    assert textless and sorted(queued) == sorted(stored | {gone})  # each once: the indexer removes the gone one


def _queued(session: Session, consumer: str) -> list[int]:
    rows = session.scalars(select(OutboxEntry.message_ids).where(OutboxEntry.consumer == consumer))
    return [int(i) for ids in rows for i in ids]


def test_simulated_counts_equal_what_enabling_the_rule_produces(edge: Edge, tmp_path: Path) -> None:
    corp_id = _ingest(edge)
    detection, alert_settings = DetectionSettings(), AlertSettings(alert_intents=[])
    stage = DetectionStage(detection, alert_settings, sentiment=TrainedSentiment(tmp_path / "no-model"))
    stage.run(edge.database.sessions)
    draft_group = LexiconGroup(
        name="draft.thanks",
        category="courtesy",
        severity=Severity.LOW,
        terms=("谢谢", "辛苦了", "好的"),
    )
    since = datetime.now(UTC) - timedelta(days=30)
    with edge.database.sessions() as session:
        draft = rules.load_rule_set(session, corp_id).with_group(draft_group)
        simulation = simulate_rules(
            session, draft, corp_id=corp_id, since=since, until=UNTIL, detection=detection, alerts=alert_settings
        )
        assert not session.new and not session.dirty
        assert (
            session.scalar(select(func.count()).select_from(MessageHit).where(MessageHit.rule == "draft.thanks")) == 0
        )
    assert simulation.hits_by_rule["draft.thanks"] > 0
    assert simulation.samples["draft.thanks"]

    with edge.database.sessions.begin() as session:  # enable the rule, re-scan the same range
        rules.save_group(session, draft_group, datetime.now(UTC), corp_id=corp_id)
        rescan(session, corp_id, since, UNTIL, datetime.now(UTC))
    stage.run(edge.database.sessions)
    with edge.database.sessions() as session:
        hits = session.scalar(select(func.count()).select_from(MessageHit).where(MessageHit.rule == "draft.thanks"))
        alerts = session.scalar(select(func.count()).select_from(Alert).where(Alert.rule == "draft.thanks"))
        messages = session.scalar(
            select(func.count(func.distinct(MessageHit.message_id))).where(MessageHit.rule == "draft.thanks")
        )
    assert hits == simulation.hits_by_rule["draft.thanks"]
    assert messages == simulation.messages_by_rule["draft.thanks"]
    assert alerts == simulation.alerts_by_rule["draft.thanks"]
    # The other rules were already enabled: the simulation predicts them too.
    with edge.database.sessions() as session:
        for rule, count in simulation.hits_by_rule.items():
            stored = session.scalar(select(func.count()).select_from(MessageHit).where(MessageHit.rule == rule))
            assert stored == count, rule
