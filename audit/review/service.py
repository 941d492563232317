"""The review workflow of an alert.

States: ``new`` → ``claimed`` → ``escalated`` → ``resolved`` (with a disposition) or
``false_positive``. Every step, assignment, note and tag change appends one row to the
alert trail in the same transaction as the change; a refused step changes nothing and
raises :class:`TransitionRefusedError`. Marking a false positive records suppressions so
the same match in the same conversation raises no alert again; reopening lifts them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from audit.alerts.errors import AlertError, AlertNotFoundError, ReviewInputError, TransitionRefusedError
from audit.alerts.from_hits import SUPPRESSION_KEY_CHARS
from audit.alerts.models import Alert
from audit.alerts.routing import MANAGER, is_channel_target, targets_for
from audit.notify import service as notify
from audit.review.errors import AssigneeRefusedError
from audit.review.models import AlertTrail, Suppression
from audit.security import service as security

NEW = "new"
CLAIMED = "claimed"
ESCALATED = "escalated"
RESOLVED = "resolved"
FALSE_POSITIVE = "false_positive"
STATUSES = (NEW, CLAIMED, ESCALATED, RESOLVED, FALSE_POSITIVE)
OPEN_STATUSES = (NEW, CLAIMED, ESCALATED)

# action → (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "claim": (frozenset({NEW}), CLAIMED),
    "release": (frozenset({CLAIMED}), NEW),
    "escalate": (frozenset({NEW, CLAIMED}), ESCALATED),
    "resolve": (frozenset({CLAIMED, ESCALATED}), RESOLVED),
    "false_positive": (frozenset({CLAIMED, ESCALATED}), FALSE_POSITIVE),
    "reopen": (frozenset({RESOLVED, FALSE_POSITIVE}), NEW),
}
DISPOSITIONS = ("no_action", "coached", "warned", "disciplined", "reported", "customer_contacted")


def allowed_actions(status: str) -> list[str]:
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


def _load(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFoundError(alert_id)
    return alert


def _trail(
    session: Session,
    alert: Alert,
    actor: str,
    action: str,
    from_status: str,
    now: datetime,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AlertTrail(
            alert_id=alert.id,
            corp_id=alert.corp_id,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=alert.status,
            note=note,
            detail=detail or {},
            at=now,
        )
    )


def _transition(
    session: Session, alert_id: int, action: str, actor: str, now: datetime, note: str | None = None
) -> tuple[Alert, str]:
    alert = _load(session, alert_id)
    sources, target = TRANSITIONS[action]
    if alert.status not in sources:
        raise TransitionRefusedError(alert_id, action, alert.status)
    previous = alert.status
    alert.status = target
    alert.updated_at = now
    return alert, previous


def _check_assignee(session: Session, assignee: str, actor: str) -> None:
    if assignee != actor and not security.may_review_alerts(session, assignee):
        raise AssigneeRefusedError(assignee)


def claim(session: Session, alert_id: int, *, actor: str, now: datetime, assignee: str | None = None) -> Alert:
    """Take a new alert (for yourself, or assign it to ``assignee``: an active user whose
    role reviews alerts)."""
    if assignee:
        _check_assignee(session, assignee, actor)
    alert, previous = _transition(session, alert_id, "claim", actor, now)
    alert.assignee = assignee or actor
    _trail(session, alert, actor, "claim", previous, now, detail={"assignee": alert.assignee})
    return alert


def release(session: Session, alert_id: int, *, actor: str, now: datetime, note: str | None = None) -> Alert:
    alert, previous = _transition(session, alert_id, "release", actor, now)
    alert.assignee = None
    _trail(session, alert, actor, "release", previous, now, note)
    return alert


def assign(session: Session, alert_id: int, *, actor: str, assignee: str, now: datetime) -> Alert:
    """Hand an open alert to someone else (a new alert becomes claimed by them): an active
    user whose role reviews alerts."""
    _check_assignee(session, assignee, actor)
    alert = _load(session, alert_id)
    if alert.status == NEW:
        return claim(session, alert_id, actor=actor, now=now, assignee=assignee)
    if alert.status not in OPEN_STATUSES:
        raise TransitionRefusedError(alert_id, "assign", alert.status, "reopen it first")
    previous_assignee = alert.assignee
    alert.assignee = assignee
    alert.updated_at = now
    _trail(session, alert, actor, "assign", alert.status, now, detail={"from": previous_assignee, "to": assignee})
    return alert


def escalate(session: Session, alert_id: int, *, actor: str, now: datetime, note: str | None = None) -> Alert:
    """Hand the alert up: the managers routed for its scope are notified."""
    alert, previous = _transition(session, alert_id, "escalate", actor, now, note)
    managers = targets_for(session, alert, MANAGER)
    alert.routed_to = sorted(set(alert.routed_to) | set(managers))
    _trail(session, alert, actor, "escalate", previous, now, note, {"notified": len(managers)})
    notify.enqueue_for_alert(session, alert, [t for t in managers if is_channel_target(t)], kind="escalation", now=now)
    return alert


def resolve(
    session: Session, alert_id: int, *, actor: str, disposition: str, now: datetime, note: str | None = None
) -> Alert:
    if disposition not in DISPOSITIONS:
        raise TransitionRefusedError(
            alert_id,
            "resolve",
            _load(session, alert_id).status,
            f"disposition must be one of {', '.join(DISPOSITIONS)}",
        )
    alert, previous = _transition(session, alert_id, "resolve", actor, now, note)
    alert.disposition = disposition
    _trail(session, alert, actor, "resolve", previous, now, note, {"disposition": disposition})
    return alert


def mark_false_positive(
    session: Session, alert_id: int, *, actor: str, now: datetime, note: str | None = None
) -> Alert:
    """Close as a false positive and suppress the same (rule, normalised match) in the
    same conversation for future scans."""
    alert, previous = _transition(session, alert_id, "false_positive", actor, now, note)
    alert.disposition = None
    created = 0
    if alert.conversation_id is not None:
        for normalised in suppression_forms(alert.explanation):
            exists = session.scalar(
                select(Suppression.id).where(
                    Suppression.corp_id == alert.corp_id,
                    Suppression.conversation_id == alert.conversation_id,
                    Suppression.rule == alert.rule,
                    Suppression.normalised == normalised,
                )
            )
            if exists is None:
                session.add(
                    Suppression(
                        corp_id=alert.corp_id,
                        conversation_id=alert.conversation_id,
                        rule=alert.rule,
                        normalised=normalised,
                        alert_id=alert.id,
                        created_by=actor,
                        created_at=now,
                    )
                )
                created += 1
    _trail(session, alert, actor, "false_positive", previous, now, note, {"suppressions": created})
    return alert


def suppression_forms(explanation: dict[str, Any]) -> list[str]:
    """The normalised forms a false-positive verdict on this explanation suppresses."""
    forms = {
        str(m["normalised"])[:SUPPRESSION_KEY_CHARS] for m in explanation.get("matches", []) if m.get("normalised")
    }
    return sorted(forms)


def reopen(session: Session, alert_id: int, *, actor: str, now: datetime, note: str | None = None) -> Alert:
    """Back to ``new``; suppressions this alert created are lifted."""
    alert, previous = _transition(session, alert_id, "reopen", actor, now, note)
    mine = Suppression.alert_id == alert.id
    lifted = session.scalar(select(func.count(Suppression.id)).where(mine)) or 0
    session.execute(delete(Suppression).where(mine))
    alert.disposition = None
    alert.assignee = None
    _trail(session, alert, actor, "reopen", previous, now, note, {"suppressions_lifted": int(lifted or 0)})
    return alert


def add_note(session: Session, alert_id: int, *, actor: str, note: str, now: datetime) -> Alert:
    if not note.strip():
        raise ReviewInputError("a note cannot be empty", hint="write what you checked or decided")
    alert = _load(session, alert_id)
    alert.updated_at = now
    _trail(session, alert, actor, "note", alert.status, now, note)
    return alert


def tag(
    session: Session,
    alert_id: int,
    *,
    actor: str,
    now: datetime,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> Alert:
    alert = _load(session, alert_id)
    tags = sorted((set(alert.tags) | {t.strip() for t in add if t.strip()}) - set(remove))
    if tags != alert.tags:
        alert.tags = tags
        alert.updated_at = now
        _trail(session, alert, actor, "tag", alert.status, now, detail={"added": list(add), "removed": list(remove)})
    return alert


def trail(session: Session, alert_id: int) -> list[AlertTrail]:
    return list(session.scalars(select(AlertTrail).where(AlertTrail.alert_id == alert_id).order_by(AlertTrail.id)))


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def bulk(session: Session, alert_ids: Sequence[int], action: Callable[[int], object]) -> BulkResult:
    """Apply ``action`` to each alert; a refused one is reported (with why), the rest proceed.

    Each alert runs in a savepoint, so a refusal leaves no half-applied change behind.
    Example: ``bulk(session, ids, lambda i: claim(session, i, actor="li", now=now))``.
    """
    result = BulkResult()
    for alert_id in dict.fromkeys(alert_ids):
        try:
            with session.begin_nested():
                action(alert_id)
        except AlertError as exc:
            result.refused[alert_id] = str(exc)
        else:
            result.done.append(alert_id)
    return result


def suppressions(session: Session, corp_id: str) -> set[tuple[int, str, str]]:
    """Every (conversation, rule, normalised) suppressed in the corp (loaded once per batch)."""
    rows = session.execute(
        select(Suppression.conversation_id, Suppression.rule, Suppression.normalised).where(
            Suppression.corp_id == corp_id
        )
    )
    return {(int(c), r, n) for c, r, n in rows}
