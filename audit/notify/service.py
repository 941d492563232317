"""Queueing notifications for alerts and delivering them with retries and digests.

Contract: a notification row is written in the same transaction as the alert it is about,
so an alert is never lost to a crash between the two. Delivery is at-least-once: a run
that sends and then dies before committing sends again next time (receivers de-duplicate
by alert id). A flood to one target — more than ``digest_threshold`` within the digest
window — is held and sent as one digest per window instead of one message per alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from audit.notify import repository
from audit.notify.errors import NotifyError
from audit.notify.models import DIGEST, Notification
from audit.notify.notifiers import NotifierRegistry, OutgoingMessage
from config.logs import get_logger
from config.settings import NotifySettings

log = get_logger("audit.notify")

PENDING = "pending"
HELD = "held"
DIGESTED = "digested"
DELIVERED = "delivered"
FAILED = "failed"
EXCERPTS_PER_NOTIFICATION = 3
DIGEST_LINES_MAX = 30


class AlertFacts(Protocol):
    """What a notification says about an alert (``audit.alerts.models.Alert`` is one:
    notify sits below alerts and never imports them)."""

    @property
    def id(self) -> int: ...
    @property
    def corp_id(self) -> str: ...
    @property
    def conversation_id(self) -> int | None: ...
    @property
    def rule(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def message_ids(self) -> list[int]: ...
    @property
    def explanation(self) -> dict[str, Any]: ...


def enqueue_for_alert(
    session: Session, alert: AlertFacts, targets: Sequence[str], *, kind: str, now: datetime, flush: bool = True
) -> None:
    """One pending notification per target about ``alert`` (``kind``: alert | escalation);
    ``flush=False`` leaves the flush to a caller that queues many."""
    subject, body = compose(alert, kind)
    for target in targets:
        session.add(
            Notification(
                corp_id=alert.corp_id,
                alert_id=alert.id,
                target=target,
                kind=kind,
                status=PENDING,
                subject=subject,
                body=body,
                attempts=0,
                last_error=None,
                created_at=now,
                next_attempt_at=now,
                delivered_at=None,
                digest_id=None,
            )
        )
    if flush:
        session.flush()


def compose(alert: AlertFacts, kind: str) -> tuple[str, str]:
    """Subject and markdown body: facts about the alert and masked excerpts, nothing else."""
    prefix = "Escalated: " if kind == "escalation" else ""
    subject = f"{prefix}[{alert.severity.upper()}] {alert.category} · alert #{alert.id}"
    lines = [
        f"> rule: `{alert.rule}`",
        f"> severity: {alert.severity} · source: {alert.source}",
    ]
    if alert.conversation_id is not None:
        lines.append(f"> conversation #{alert.conversation_id} · {len(alert.message_ids)} message(s)")
    detector = alert.explanation.get("detector")
    if detector:
        lines.append(f"> detector: {detector} {alert.explanation.get('detector_version', '')}".rstrip())
    excerpts = [m.get("excerpt") for m in alert.explanation.get("matches", []) if m.get("excerpt")]
    lines.extend(f"- 「{excerpt}」" for excerpt in excerpts[:EXCERPTS_PER_NOTIFICATION])
    return subject, "\n".join(lines)


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    digests: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def deliver_due(
    session: Session, settings: NotifySettings, now: datetime, *, registry: NotifierRegistry | None = None
) -> DeliveryReport:
    """Hold floods, roll held notifications into digests, then send everything due."""
    registry = registry or NotifierRegistry(settings)
    report = DeliveryReport()
    window = timedelta(minutes=settings.digest_window_minutes)
    _hold_floods(session, settings, now, window, report)
    _make_digests(session, now, window, report)
    due = repository.due(session, PENDING, now)
    for notification in due:
        _attempt(notification, registry, settings, now, report)
    session.flush()
    if due or report.held:
        log.info(
            "audit.notify.delivered",
            delivered=report.delivered,
            retried=report.retried,
            failed=report.failed,
            held=report.held,
            digests=report.digests,
        )
    return report


def _hold_floods(
    session: Session, settings: NotifySettings, now: datetime, window: timedelta, report: DeliveryReport
) -> None:
    """First attempts beyond the threshold per target within the window are held."""
    fresh = repository.due_first_attempts(session, PENDING, now)
    by_target: dict[str, list[Notification]] = defaultdict(list)
    for notification in fresh:
        by_target[notification.target].append(notification)
    for target, rows in by_target.items():
        already = repository.count_spent_since(session, target, now - window, (HELD, DIGESTED))
        allowance = max(0, settings.digest_threshold - already)
        for notification in rows[allowance:]:
            notification.status = HELD
            report.held += 1


def _make_digests(session: Session, now: datetime, window: timedelta, report: DeliveryReport) -> None:
    """Held notifications of a target become one digest, at most one digest per window."""
    held = repository.in_status(session, HELD)
    by_target: dict[str, list[Notification]] = defaultdict(list)
    for notification in held:
        by_target[notification.target].append(notification)
    for target, rows in by_target.items():
        if repository.has_digest_after(session, target, now - window):
            continue
        lines = [f"- #{row.alert_id} {row.subject}" for row in rows[:DIGEST_LINES_MAX]]
        if len(rows) > DIGEST_LINES_MAX:
            lines.append(f"- … and {len(rows) - DIGEST_LINES_MAX} more")
        digest = Notification(
            corp_id=rows[0].corp_id,
            alert_id=None,
            target=target,
            kind=DIGEST,
            status=PENDING,
            subject=f"{len(rows)} alerts (digest)",
            body="\n".join(lines),
            attempts=0,
            last_error=None,
            created_at=now,
            next_attempt_at=now,
            delivered_at=None,
            digest_id=None,
        )
        session.add(digest)
        session.flush()
        for row in rows:
            row.status = DIGESTED
            row.digest_id = digest.id
        report.digests += 1


def _attempt(
    notification: Notification,
    registry: NotifierRegistry,
    settings: NotifySettings,
    now: datetime,
    report: DeliveryReport,
) -> None:
    notification.attempts += 1
    try:
        notifier = registry.for_target(notification.target)
        notifier.send(_outgoing(notification, settings))
    except NotifyError as exc:
        # Recorded on the receipt and counted; the error text never holds a URL or secret.
        notification.last_error = str(exc)[:500]
        key = type(exc).__name__
        report.errors[key] = report.errors.get(key, 0) + 1
        if not exc.retryable or notification.attempts >= settings.max_attempts:
            notification.status = FAILED
            report.failed += 1
            log.warning(
                "audit.notify.gave_up", notification_id=notification.id, attempts=notification.attempts, error=key
            )
        else:
            delay = settings.backoff_base_s * 2 ** (notification.attempts - 1)
            notification.next_attempt_at = now + timedelta(seconds=delay)
            report.retried += 1
        return
    notification.status = DELIVERED
    notification.delivered_at = now
    notification.last_error = None
    report.delivered += 1


def _outgoing(notification: Notification, settings: NotifySettings) -> OutgoingMessage:
    body = notification.body
    if settings.console_url and notification.alert_id is not None:
        link = f"{settings.console_url.rstrip('/')}/alerts/{notification.alert_id}"
        body += f"\n[open alert #{notification.alert_id}]({link})"
    alert_ids = (notification.alert_id,) if notification.alert_id is not None else ()
    return OutgoingMessage(notification.kind, notification.subject, body, alert_ids)


def receipts(session: Session, *, alert_id: int | None = None, limit: int = 100) -> list[Notification]:
    """Delivery receipts, the latest first (of one alert, or of all)."""
    return repository.receipts(session, alert_id=alert_id, limit=limit)
