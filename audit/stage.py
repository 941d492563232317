"""The detection stage: stored messages → hits, sentiment and alerts (item 10).

Contract: it drains the outbox consumer ``detect`` one claim at a time, and each claim is
one transaction: contexts are built, the corp's compiled rules scan them, sentiment is
predicted for the batch's texts in one call, the messages' previous hits and sentiment
are replaced, alerts are raised and the claim completed and passed on to the search
indexer (``outbox.complete_and_forward``: store → detect → index, ADR 0007; the search
documents carry the hits and sentiment, so a message is indexed once, after detection) —
all or nothing. A crash anywhere before the commit leaves the claim to be done again, and
doing it again writes the same hits and adds nothing to the alerts (they merge by message
id), so there are no duplicates. The puller only writes outbox rows; it never waits for
this stage.

Sentiment model missing (``wecom-audit nlp train`` not run yet): hits and alerts are still
produced, no sentiment is stored for those messages, the batch is counted in
``StageReport.sentiment_skipped`` and :meth:`DetectionStage.status` says what to run. After
training, ``wecom-audit alerts rescan --since …`` fills the gap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.models import Message
from archive.outbox import queue as outbox
from audit.alerts.from_hits import SUPPRESSION_KEY_CHARS, AlertRequest, ScannedMessage, alert_requests
from audit.alerts.service import AlertSpec, raise_alerts
from audit.detect.context import MessageContext
from audit.detect.engine import EngineCache, build_contexts
from audit.detect.hits import Hit, Severity
from audit.detect.models import MessageHit, MessageSentiment
from audit.notify.service import DeliveryReport, deliver_due
from audit.review.service import suppressions
from config.database import session_scope
from config.logs import get_logger
from config.settings import AlertSettings, DetectionSettings, NotifySettings, Settings

log = get_logger("audit.stage")

# Claims per run: a tick does bounded work so the scheduler stays responsive.
MAX_CLAIMS_PER_RUN = 50
INTENT_SEVERITY = {"threat": Severity.HIGH, "complaint": Severity.MEDIUM}
TRAIN_HINT = "run `wecom-audit nlp train` to create the sentiment model, then `wecom-audit alerts rescan --since …`"


class SentimentVerdict(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def intent(self) -> str | None: ...
    @property
    def model_version(self) -> str: ...


class SentimentPredictor(Protocol):
    def predict(self, texts: Sequence[str]) -> Sequence[SentimentVerdict]: ...


class SentimentSource(Protocol):
    """Hands out the sentiment model, or ``None`` (with ``missing_reason``) when absent."""

    missing_reason: str | None

    def model(self) -> SentimentPredictor | None: ...


class TrainedSentiment:
    """The model ``wecom-audit nlp train`` wrote, loaded once per process."""

    def __init__(self, path: Path | None = None, *, negative_threshold: float | None = None) -> None:
        self._path = path
        self._negative_threshold = negative_threshold
        self._model: SentimentPredictor | None = None
        self.missing_reason: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TrainedSentiment:
        return cls(settings.sentiment_model_dir, negative_threshold=settings.nlp.negative_threshold)

    def model(self) -> SentimentPredictor | None:
        if self._model is None:
            try:
                from audit.nlp.sentiment import ModelMissingError, load_model
            except ImportError as exc:  # spaCy or the nlp package not installed
                self.missing_reason = f"sentiment analysis is not installed ({exc.name})"
                return None
            try:
                self._model = load_model(self._path, negative_threshold=self._negative_threshold)
                self.missing_reason = None
            except ModelMissingError as exc:
                self.missing_reason = str(exc)
                return None
        return self._model


@dataclass
class StageReport:
    claims: int = 0
    messages: int = 0
    hits: int = 0
    sentiment: int = 0
    sentiment_skipped: int = 0
    alerts_created: int = 0
    alerts_updated: int = 0
    suppressed: int = 0
    failed_claims: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, batch: StageReport) -> None:
        """Count a committed claim's work (a rolled-back claim counts only as failed)."""
        self.merge(batch)
        self.claims += 1

    def merge(self, other: StageReport) -> None:
        """Add up two reports (a command that runs the stage until the queue is empty)."""
        for item in fields(self):
            if item.name != "errors":
                setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))
        for error, count in other.errors.items():
            self.errors[error] = self.errors.get(error, 0) + count


@dataclass(frozen=True, slots=True)
class StageStatus:
    pending_entries: int
    failing_entries: int
    sentiment_ready: bool
    hint: str | None


class DetectionStage:
    """Runs the stage; one instance per process keeps the compiled engines and the model."""

    def __init__(
        self,
        detection: DetectionSettings,
        alerts: AlertSettings,
        *,
        sentiment: SentimentSource | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._detection = detection
        self._alerts = alerts
        self._engines: dict[str, EngineCache] = {}
        self.sentiment = sentiment or TrainedSentiment()
        self._clock = clock

    def run(self, session_factory: sessionmaker[Session], *, max_claims: int = MAX_CLAIMS_PER_RUN) -> StageReport:
        """Process claims until the outbox is drained (or ``max_claims``); a failing claim
        is recorded on its outbox rows (retried with backoff) and stops this run."""
        report = StageReport()
        for _ in range(max_claims):
            claim: outbox.Claim | None = None
            try:
                with session_scope(session_factory) as session:
                    claim = outbox.claim(
                        session, outbox.DETECT, self._clock(), max_messages=self._alerts.detect_batch_messages
                    )
                    if claim is None:
                        break
                    batch = StageReport()
                    self.process(session, claim.message_ids, batch)
                    # store → detect → index: every message of the claim (those without text
                    # or gone since included) goes on to the indexer in this transaction, so
                    # it is indexed once, with the hits and sentiment written above.
                    outbox.complete_and_forward(session, claim, outbox.SEARCH, self._clock())
                report.add(batch)
            except Exception as exc:
                if claim is None:
                    raise  # the database itself is unreachable: the scheduler logs and retries
                # Recorded on the claim's outbox rows (retried with backoff) and counted;
                # the error text names the failure, never message content.
                error = type(exc).__name__
                report.failed_claims += 1
                report.errors[error] = report.errors.get(error, 0) + 1
                log.error("audit.detect.claim_failed", error=error, entries=len(claim.entry_ids))
                with session_scope(session_factory) as session:
                    outbox.fail(session, claim, error, self._clock())
                break
        if report.claims or report.failed_claims:
            log.info(
                "audit.detect.completed",
                claims=report.claims,
                messages=report.messages,
                hits=report.hits,
                sentiment=report.sentiment,
                sentiment_skipped=report.sentiment_skipped,
                alerts_created=report.alerts_created,
                alerts_updated=report.alerts_updated,
                failed_claims=report.failed_claims,
            )
        return report

    def process(self, session: Session, message_ids: Sequence[int], report: StageReport) -> None:
        """Scan ``message_ids`` and write their results (inside the caller's transaction)."""
        now = self._clock()
        contexts = build_contexts(session, list(dict.fromkeys(message_ids)))
        report.messages += len(contexts)
        for corp_id, corp_contexts in _by_corp(contexts):
            engine = self._engine(corp_id).get(session)
            hits = engine.scan(corp_contexts)
            self._write_hits(session, corp_contexts, hits, now, report)
            self._write_sentiment(session, corp_contexts, now, report)
            scanned = [_scanned(c) for c in corp_contexts]
            suppressed = suppressions(session, corp_id)
            requests = alert_requests(
                scanned,
                hits,
                window_minutes=self._alerts.dedupe_window_minutes,
                min_severity=Severity(self._alerts.min_severity),
                suppressed=suppressed,
            )
            report.suppressed += _count_suppressed(scanned, hits, suppressed)
            requests += self._intent_requests(session, scanned)
            specs = [
                AlertSpec(
                    corp_id=request.corp_id,
                    conversation_id=request.conversation_id,
                    rule=request.rule,
                    category=request.category,
                    severity=request.severity,
                    source="detect",
                    explanation=request.explanation(),
                    message_ids=request.message_ids,
                    now=request.at,
                    window_minutes=self._alerts.dedupe_window_minutes,
                    recorded_at=now,
                )
                for request in requests
            ]
            for outcome in raise_alerts(session, specs):
                report.alerts_created += outcome.created
                report.alerts_updated += outcome.changed and not outcome.created

    def _engine(self, corp_id: str) -> EngineCache:
        if corp_id not in self._engines:
            self._engines[corp_id] = EngineCache(self._detection, corp_id)
        return self._engines[corp_id]

    def _write_hits(
        self,
        session: Session,
        contexts: Sequence[MessageContext],
        hits: Sequence[Sequence[Hit]],
        now: datetime,
        report: StageReport,
    ) -> None:
        ids = [c.message_id for c in contexts if c.message_id is not None]
        session.execute(delete(MessageHit).where(MessageHit.message_id.in_(ids)))
        rows = [
            {
                "corp_id": context.corp_id,
                "message_id": context.message_id,
                "conversation_id": context.conversation_id,
                "msgtime": context.msgtime,
                "detector": hit.detector,
                "detector_version": hit.detector_version,
                "category": hit.category,
                "rule": hit.rule,
                "severity": Severity(hit.severity).value,
                "start": hit.start,
                "end": hit.end,
                "matched": hit.matched,
                "normalised": hit.normalised,
                "detail": hit.detail,
                "detected_at": now,
            }
            for context, message_hits in zip(contexts, hits, strict=True)
            for hit in message_hits
        ]
        if rows:
            session.execute(insert(MessageHit), rows)
        report.hits += len(rows)

    def _write_sentiment(
        self, session: Session, contexts: Sequence[MessageContext], now: datetime, report: StageReport
    ) -> None:
        texts = [c for c in contexts if c.text and c.text.strip() and c.message_id is not None]
        if not texts:
            return
        model = self.sentiment.model()
        if model is None:
            report.sentiment_skipped += len(texts)
            return
        verdicts = model.predict([c.text or "" for c in texts])  # one batched call per claim
        session.execute(delete(MessageSentiment).where(MessageSentiment.message_id.in_([c.message_id for c in texts])))
        session.execute(
            insert(MessageSentiment),
            [
                {
                    "message_id": context.message_id,
                    "corp_id": context.corp_id,
                    "conversation_id": context.conversation_id,
                    "msgtime": context.msgtime,
                    "label": verdict.label,
                    "score": float(verdict.score),
                    "intent": verdict.intent,
                    "model_version": verdict.model_version,
                }
                for context, verdict in zip(texts, verdicts, strict=True)
            ],
        )
        report.sentiment += len(texts)

    def _intent_requests(self, session: Session, scanned: Sequence[ScannedMessage]) -> list[AlertRequest]:
        """Complaint / threat intent raises an alert of its own (from the stored sentiment)."""
        intents = set(self._alerts.alert_intents)
        if not intents or not scanned:
            return []
        rows = session.execute(
            select(MessageSentiment.message_id, MessageSentiment.intent, MessageSentiment.model_version).where(
                MessageSentiment.message_id.in_([m.message_id for m in scanned]),
                MessageSentiment.intent.in_(sorted(intents)),
            )
        ).all()
        if not rows:
            return []
        by_id = {m.message_id: m for m in scanned}
        messages = [by_id[row.message_id] for row in rows]
        hits = [
            [
                Hit(
                    detector="sentiment",
                    detector_version=row.model_version,
                    category=f"sentiment.{row.intent}",
                    rule=f"sentiment.{row.intent}",
                    severity=INTENT_SEVERITY.get(str(row.intent), Severity.MEDIUM),
                    detail=f"{row.intent} intent",
                )
            ]
            for row in rows
        ]
        return alert_requests(
            messages, hits, window_minutes=self._alerts.dedupe_window_minutes, min_severity=Severity.LOW
        )

    def status(self, session: Session) -> StageStatus:
        [depth] = outbox.depth(session, [outbox.DETECT])
        ready = self.sentiment.model() is not None
        return StageStatus(depth.entries, depth.failing, ready, None if ready else TRAIN_HINT)


def detect_and_notify(
    stage: DetectionStage, session_factory: sessionmaker[Session], notify: NotifySettings
) -> tuple[StageReport, DeliveryReport]:
    """The scheduled detection job, one tick: drain (part of) the detection queue, then send
    what is due. Delivery runs in its own transaction, after the stage's are committed, so
    a slow receiver never holds a detection batch open."""
    report = stage.run(session_factory)
    with session_scope(session_factory) as session:
        delivery = deliver_due(session, notify, utcnow())
    return report, delivery


def _by_corp(contexts: Sequence[MessageContext]) -> Iterator[tuple[str, list[MessageContext]]]:
    groups: dict[str, list[MessageContext]] = defaultdict(list)
    for context in contexts:
        groups[context.corp_id].append(context)
    yield from groups.items()


def _scanned(context: MessageContext) -> ScannedMessage:
    assert context.message_id is not None  # contexts built from stored messages have ids
    return ScannedMessage(
        context.message_id, context.corp_id, context.conversation_id, context.msgtime, context.text or ""
    )


def _count_suppressed(
    scanned: Sequence[ScannedMessage], hits: Sequence[Sequence[Hit]], suppressed: set[tuple[int, str, str]]
) -> int:
    if not suppressed:
        return 0
    return sum(
        1
        for message, message_hits in zip(scanned, hits, strict=True)
        for hit in message_hits
        if message.conversation_id is not None
        and (message.conversation_id, hit.rule, (hit.normalised or "")[:SUPPRESSION_KEY_CHARS]) in suppressed
    )


def rescan(
    session: Session, corp_id: str, since: datetime, until: datetime, now: datetime, *, chunk: int = 1000
) -> int:
    """Queue every stored message of ``corp_id`` in [since, until) for the detection stage
    again (after a rule change); returns how many were queued."""
    ids = list(
        session.scalars(
            select(Message.id)
            .where(Message.corp_id == corp_id, Message.msgtime >= since, Message.msgtime < until)
            .order_by(Message.id)
        )
    )
    for offset in range(0, len(ids), chunk):
        outbox.enqueue_for(session, outbox.DETECT, corp_id, ids[offset : offset + chunk], now)
    return len(ids)
