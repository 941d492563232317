"""The review queue as every front end reads it: a page of alerts with where they happened
and whom they name, one alert with its trail and next steps, the filter menus, and an
alert's notification receipts.

A principal's reads are limited to their data scope (``audit.alerts.visibility``, in the
query, so a page is never short for hidden alerts); the CLI is trusted with the whole
archive and passes no scope. Alerts carry masked excerpts only (``audit.alerts.evidence``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from archive.directory.names import Name, Names, Place, display_names, places_of
from audit.alerts import repository
from audit.alerts.errors import AlertNotFoundError
from audit.alerts.models import Alert
from audit.alerts.visibility import PERSON_KEYS, alert_for, visible_alerts
from audit.detect.hits import Severity
from audit.notify import service as notify
from audit.notify.models import Notification
from audit.review import service as review
from audit.review.models import AlertTrail
from audit.security.principal import Principal
from audit.security.scope import DataScope, resolve_scope


@dataclass(frozen=True)
class AlertFilters:
    """Which alerts (every field optional). ``category`` covers its sub-categories
    (``pii`` covers ``pii.mobile``); ``unassigned`` keeps alerts nobody holds."""

    statuses: Sequence[str] = ()
    min_severity: Severity | None = None
    category: str | None = None
    rule: str | None = None
    assignee: str | None = None
    unassigned: bool = False
    conversation_id: int | None = None


@dataclass(frozen=True)
class AlertListing:
    """A page of alerts, newest first, with the places of their conversations and the
    names of the people conversation-less alerts are about."""

    alerts: list[Alert]
    places: dict[int, Place]
    names: Names

    def place(self, alert: Alert) -> Place | None:
        return self.places.get(alert.conversation_id) if alert.conversation_id else None

    def people(self, alert: Alert) -> list[Name]:
        return [self.names.of(person) for person in named_people(alert)]


@dataclass(frozen=True)
class AlertDetail:
    alert: Alert
    trail: list[AlertTrail]
    allowed_actions: list[str]
    place: Place | None
    people: list[Name] = field(default_factory=list)


@dataclass(frozen=True)
class FilterChoices:
    """What the filter menus offer: the rules, assignees and group chats of alerts in scope."""

    rules: list[str]
    assignees: list[str]
    groups: list[tuple[int, Name]]


def named_people(alert: Alert) -> list[str]:
    """The people a conversation-less alert names in its explanation (an employee's
    response time, a deleted customer), in ``PERSON_KEYS`` order."""
    return [str(alert.explanation[key]) for key in PERSON_KEYS if alert.explanation.get(key)]


def list_alerts(
    session: Session,
    corp_id: str,
    filters: AlertFilters,
    *,
    scope: DataScope | None,
    limit: int,
    before_id: int | None = None,
) -> AlertListing:
    """A page of ``corp_id``'s alerts within ``scope`` (``None``: all), newest first;
    ``before_id`` pages on."""
    page = repository.list_alerts(
        session,
        corp_id,
        statuses=filters.statuses,
        min_severity=filters.min_severity,
        category=filters.category,
        rule=filters.rule,
        assignee=filters.assignee,
        unassigned=filters.unassigned,
        conversation_id=filters.conversation_id,
        limit=limit,
        before_id=before_id,
        visible=visible_alerts(scope) if scope is not None else None,
    )
    places = places_of(session, {a.conversation_id for a in page if a.conversation_id})
    named = {person for alert in page for person in named_people(alert)}
    return AlertListing(page, places, display_names(session, {a.corp_id for a in page}, named))


def alerts_for(
    session: Session,
    principal: Principal,
    corp_id: str,
    filters: AlertFilters,
    *,
    limit: int,
    before_id: int | None = None,
) -> AlertListing:
    """:func:`list_alerts` within ``principal``'s data scope."""
    scope = resolve_scope(session, principal)
    return list_alerts(session, corp_id, filters, scope=scope, limit=limit, before_id=before_id)


def alert_detail(session: Session, principal: Principal | None, alert_id: int) -> AlertDetail:
    """One alert with its trail, the workflow steps its state allows, where it happened and
    whom it names (``principal``'s scope checked; ``None``: the CLI, unchecked)."""
    if principal is not None:
        alert = alert_for(session, principal, alert_id)
    else:
        found = repository.get_alert(session, alert_id)
        if found is None:
            raise AlertNotFoundError(alert_id)
        alert = found
    return describe(session, alert)


def describe(session: Session, alert: Alert) -> AlertDetail:
    """An alert the caller may see, with its trail, next steps, place and named people."""
    places = places_of(session, {alert.conversation_id} if alert.conversation_id else set())
    people = named_people(alert)
    names = display_names(session, alert.corp_id, people)
    return AlertDetail(
        alert,
        review.trail(session, alert.id),
        review.allowed_actions(alert.status),
        places.get(alert.conversation_id) if alert.conversation_id else None,
        [names.of(person) for person in people],
    )


def filter_choices(session: Session, principal: Principal, corp_id: str) -> FilterChoices:
    """The rules, assignees and group chats that alerts in ``principal``'s scope have; the
    groups by name (synced names first), the id beside each telling same-named ones apart."""
    visible = visible_alerts(resolve_scope(session, principal))
    rules, assignees, groups = repository.filter_values(session, corp_id, visible)
    names = display_names(session, None, {roomid for _, roomid in groups if roomid})
    options = [(conversation_id, names.of(roomid or f"#{conversation_id}")) for conversation_id, roomid in groups]
    return FilterChoices(
        rules, [a for a in assignees if a], sorted(options, key=lambda option: (not option[1].synced, option[1].label))
    )


def receipts(session: Session, principal: Principal | None, alert_id: int) -> list[Notification]:
    """The notifications sent (or due) about the alert, the latest first."""
    if principal is not None:
        alert_for(session, principal, alert_id)
    elif repository.get_alert(session, alert_id) is None:
        raise AlertNotFoundError(alert_id)
    return notify.receipts(session, alert_id=alert_id)
