"""One step of the review workflow as a person asks for it: the one dispatch of the JSON
API (``POST /api/v1/alerts/{id}/review`` and the bulk route), the console's review and
bulk forms and ``wecom-audit alerts claim|assign|…``.

:func:`apply_review_action` runs a :class:`ReviewStep` on one alert (``audit.review.service``
does the work and appends the trail row); :func:`review_alert` first checks that the alert
is in the principal's data scope (``audit.alerts.visibility``); :func:`review_alerts` runs a
step on many alerts, each in a savepoint, after checking that every one is in scope. The CLI
is trusted with the whole archive and passes no principal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy.orm import Session

from audit.alerts.models import Alert
from audit.alerts.visibility import alert_for, require_visible_alerts
from audit.errors import InvalidInput
from audit.review import service as review
from audit.security.principal import Principal
from audit.security.scope import resolve_scope

ReviewAction = Literal["claim", "release", "assign", "escalate", "resolve", "false_positive", "reopen", "note", "tag"]
REVIEW_ACTIONS: Final = ("claim", "release", "assign", "escalate", "resolve", "false_positive", "reopen", "note", "tag")
NOTE_MAX_CHARS: Final = 2000
TAG_MAX_CHARS: Final = 64


@dataclass(frozen=True)
class ReviewStep:
    """What to do: the action and what it needs (``disposition`` to resolve, ``note`` for a
    note, ``assignee`` to assign (or to claim for someone else), tags to add or remove)."""

    action: str
    note: str | None = None
    disposition: str | None = None
    assignee: str | None = None
    add_tags: Sequence[str] = ()
    remove_tags: Sequence[str] = ()


def apply_review_action(session: Session, alert_id: int, step: ReviewStep, *, actor: str, now: datetime) -> Alert:
    """Run ``step`` on the alert as ``actor`` (no scope check: see :func:`review_alert`).

    Raises ``InvalidInput`` for an unknown action or one missing what it needs, and the
    workflow's errors (``TransitionRefusedError``, ``AssigneeRefusedError``,
    ``AlertNotFoundError``) when the alert's state or the assignee refuses it."""
    note = step.note or None
    action = step.action
    if action == "claim":
        return review.claim(session, alert_id, actor=actor, now=now, assignee=step.assignee or None)
    if action == "release":
        return review.release(session, alert_id, actor=actor, now=now, note=note)
    if action == "assign":
        if not step.assignee:
            raise InvalidInput("assigning needs an assignee", hint="name the user who should review it")
        return review.assign(session, alert_id, actor=actor, assignee=step.assignee, now=now)
    if action == "escalate":
        return review.escalate(session, alert_id, actor=actor, now=now, note=note)
    if action == "resolve":
        if not step.disposition:
            raise InvalidInput("resolving needs a disposition", hint="choose one in the list, then resolve")
        return review.resolve(session, alert_id, actor=actor, disposition=step.disposition, now=now, note=note)
    if action == "false_positive":
        return review.mark_false_positive(session, alert_id, actor=actor, now=now, note=note)
    if action == "reopen":
        return review.reopen(session, alert_id, actor=actor, now=now, note=note)
    if action == "note":
        if not note or not note.strip():
            raise InvalidInput("a note needs text", hint="write the note, then add it")
        return review.add_note(session, alert_id, actor=actor, note=note, now=now)
    if action == "tag":
        return review.tag(
            session, alert_id, actor=actor, now=now, add=list(step.add_tags), remove=list(step.remove_tags)
        )
    raise InvalidInput(f"unknown review action {action!r}", hint=f"one of {', '.join(REVIEW_ACTIONS)}")


def review_alert(session: Session, principal: Principal, alert_id: int, step: ReviewStep, now: datetime) -> Alert:
    """:func:`apply_review_action` on an alert in ``principal``'s scope, acting as them
    (``AlertNotFoundError`` if there is none, ``OutOfScope`` if their scope misses it)."""
    alert_for(session, principal, alert_id)
    return apply_review_action(session, alert_id, step, actor=principal.username, now=now)


def review_alerts(
    session: Session,
    principal: Principal | None,
    alert_ids: Sequence[int],
    step: ReviewStep,
    *,
    actor: str,
    now: datetime,
) -> review.BulkResult:
    """The step on each alert alone (a refused one is reported with why; the others are done).

    With a principal, every alert must be in their scope first (``OutOfScope`` otherwise,
    and nothing is done); without one (the CLI) the whole archive is reachable."""
    if principal is not None:
        require_visible_alerts(session, resolve_scope(session, principal), alert_ids)
    return review.bulk(
        session, alert_ids, lambda alert_id: apply_review_action(session, alert_id, step, actor=actor, now=now)
    )
