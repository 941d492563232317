"""Queries on alerts and routing rules for the review queue and its administration.
Services call these; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from archive.models import Conversation
from audit.alerts.models import Alert, RoutingRule
from audit.detect.hits import Severity


def get_alert(session: Session, alert_id: int) -> Alert | None:
    return session.get(Alert, alert_id)


def list_alerts(
    session: Session,
    corp_id: str,
    *,
    statuses: Sequence[str] = (),
    min_severity: Severity | None = None,
    category: str | None = None,
    rule: str | None = None,
    assignee: str | None = None,
    unassigned: bool = False,
    conversation_id: int | None = None,
    limit: int = 100,
    before_id: int | None = None,
    visible: ColumnElement[bool] | None = None,
) -> list[Alert]:
    """Newest first; ``before_id`` pages on. ``visible`` (a clause over ``Alert``, e.g. the
    caller's data scope) filters in the query, so a page is never short for hidden alerts."""
    query = select(Alert).where(Alert.corp_id == corp_id)
    if visible is not None:
        query = query.where(visible)
    if statuses:
        query = query.where(Alert.status.in_(list(statuses)))
    if min_severity is not None:
        allowed = [s.value for s in Severity if s.rank >= Severity(min_severity).rank]
        query = query.where(Alert.severity.in_(allowed))
    if category:
        query = query.where((Alert.category == category) | Alert.category.startswith(category + "."))
    if rule:
        query = query.where(Alert.rule == rule)
    if assignee:
        query = query.where(Alert.assignee == assignee)
    if unassigned:
        query = query.where(Alert.assignee.is_(None))
    if conversation_id is not None:
        query = query.where(Alert.conversation_id == conversation_id)
    if before_id is not None:
        query = query.where(Alert.id < before_id)
    return list(session.scalars(query.order_by(Alert.id.desc()).limit(limit)))


def filter_values(
    session: Session, corp_id: str, visible: ColumnElement[bool]
) -> tuple[list[str], list[str | None], list[tuple[int, str | None]]]:
    """The distinct rules and assignees of ``corp_id``'s visible alerts, and the group chats
    they are in (conversation id, room id)."""
    rules = list(
        session.scalars(select(Alert.rule).where(Alert.corp_id == corp_id, visible).distinct().order_by(Alert.rule))
    )
    assignees = list(
        session.scalars(
            select(Alert.assignee)
            .where(Alert.corp_id == corp_id, visible, Alert.assignee.is_not(None))
            .distinct()
            .order_by(Alert.assignee)
        )
    )
    groups = session.execute(
        select(Conversation.id, Conversation.roomid)
        .where(
            Conversation.kind == "group",
            Conversation.id.in_(select(Alert.conversation_id).where(Alert.corp_id == corp_id, visible)),
        )
        .order_by(Conversation.roomid)
    ).all()
    return rules, assignees, [(int(row.id), row.roomid) for row in groups]


def routing_rule(session: Session, corp_id: str, name: str) -> RoutingRule | None:
    return session.scalars(
        select(RoutingRule).where(RoutingRule.corp_id == corp_id, RoutingRule.name == name)
    ).one_or_none()


def list_routing_rules(session: Session, corp_id: str) -> list[RoutingRule]:
    return list(session.scalars(select(RoutingRule).where(RoutingRule.corp_id == corp_id).order_by(RoutingRule.name)))


def delete_routing_rule(session: Session, rule: RoutingRule) -> None:
    session.delete(rule)
    session.flush()
