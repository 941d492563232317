"""Which routing rules an alert falls under, and so whom to tell.

Scope is matched against the alert's conversation: its room, and the departments (with
their subtrees) of the staff taking part. Empty scope lists match everything. Targets are
plain strings: ``email:<address>``, ``webhook:<name>``, ``wecom:<name>`` notify through a
channel; anything else (a user name) is recorded on the alert as a recipient of the review
queue only.

Rules are added, listed and removed here for every front end (the JSON API, ``wecom-audit
alerts routes``); a change a person makes is an ``admin.routes.*`` row in the access log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.directory import repository as directory
from archive.directory.service import subtree
from archive.messages import is_external_id
from archive.models import Conversation, Message
from audit.accesslog import log as access_log
from audit.alerts import repository
from audit.alerts.models import Alert, RoutingRule
from audit.detect.hits import Severity
from audit.errors import Conflict, InvalidInput, NotFound
from audit.security.principal import Principal

REVIEWER = "reviewer"
MANAGER = "manager"
ROLES = (REVIEWER, MANAGER)
CHANNEL_PREFIXES = ("email:", "webhook:", "wecom:")


def is_channel_target(target: str) -> bool:
    return target.startswith(CHANNEL_PREFIXES)


@dataclass(frozen=True, slots=True)
class RouteSpec:
    name: str
    role: str
    targets: Sequence[str]
    min_severity: Severity = Severity.LOW
    categories: Sequence[str] = ()
    department_ids: Sequence[int] = ()
    roomids: Sequence[str] = ()
    note: str = ""


def add_route(
    session: Session, corp_id: str, spec: RouteSpec, now: datetime, *, actor: Principal | None = None
) -> RoutingRule:
    """A new routing rule (``Conflict`` if ``corp_id`` has one of that name); ``actor``: the
    person adding it (an ``admin.routes.add`` access-log row), ``None`` for the CLI."""
    if spec.role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {spec.role!r}")
    if not spec.targets:
        raise InvalidInput("a routing rule needs at least one target")
    if repository.routing_rule(session, corp_id, spec.name) is not None:
        raise Conflict(f"a routing rule named {spec.name!r} exists", hint="remove it first, or choose another name")
    rule = RoutingRule(
        corp_id=corp_id,
        name=spec.name,
        role=spec.role,
        min_severity=Severity(spec.min_severity).value,
        categories=list(spec.categories),
        department_ids=[int(d) for d in spec.department_ids],
        roomids=list(spec.roomids),
        targets=list(spec.targets),
        enabled=True,
        created_at=now,
        note=spec.note,
    )
    session.add(rule)
    session.flush()
    if actor is not None:
        access_log.append_admin(session, actor, "admin.routes.add", {"route": spec.name, "corp_id": corp_id}, 1, now)
    return rule


def list_routes(session: Session, corp_id: str) -> list[RoutingRule]:
    return repository.list_routing_rules(session, corp_id)


def remove_route(
    session: Session, corp_id: str, name: str, now: datetime, *, actor: Principal | None = None
) -> RoutingRule:
    """Delete the routing rule named ``name`` (``NotFound`` if there is none); returns it.
    Notifications it already queued are still delivered."""
    rule = repository.routing_rule(session, corp_id, name)
    if rule is None:
        raise NotFound(f"no routing rule named {name!r} in corp {corp_id}", hint="list the routing rules")
    repository.delete_routing_rule(session, rule)
    if actor is not None:
        access_log.append_admin(session, actor, "admin.routes.remove", {"route": name, "corp_id": corp_id}, 1, now)
    return rule


def targets_for(session: Session, alert: Alert, role: str) -> list[str]:
    """Every target of the enabled ``role`` rules whose scope and severity cover ``alert``."""
    return RouteMatcher(session, role).targets(alert)


class RouteMatcher:
    """:func:`targets_for` for many alerts: each corp's rules and department tree are read
    once, and an alert's scope only when some rule could take it."""

    def __init__(self, session: Session, role: str) -> None:
        self._session = session
        self._role = role
        self._rules: dict[str, list[RoutingRule]] = {}
        self._parents: dict[str, dict[int, int | None]] = {}

    def targets(self, alert: Alert) -> list[str]:
        rules = self._rules_of(alert.corp_id)
        if not rules:
            return []
        scope: _AlertScope | None = None
        targets: list[str] = []
        for rule in rules:
            if Severity(alert.severity).rank < Severity(rule.min_severity).rank:
                continue
            if rule.categories and not any(_category_matches(alert.category, c) for c in rule.categories):
                continue
            if scope is None and (rule.roomids or rule.department_ids):
                scope = _AlertScope.of(self._session, alert)
            if rule.roomids and scope is not None and scope.roomid not in rule.roomids:
                continue
            if rule.department_ids and scope is not None:
                parents = self._parents_of(alert.corp_id)
                covered = set().union(*(subtree(parents, dept) for dept in rule.department_ids))
                if not covered & scope.departments:
                    continue
            targets.extend(t for t in rule.targets if t not in targets)
        return targets

    def _rules_of(self, corp_id: str) -> list[RoutingRule]:
        if corp_id not in self._rules:
            rules = self._session.scalars(
                select(RoutingRule).where(
                    RoutingRule.corp_id == corp_id, RoutingRule.role == self._role, RoutingRule.enabled.is_(True)
                )
            ).all()
            self._rules[corp_id] = sorted(rules, key=lambda r: r.name)
        return self._rules[corp_id]

    def _parents_of(self, corp_id: str) -> dict[int, int | None]:
        if corp_id not in self._parents:
            self._parents[corp_id] = directory.department_parents(self._session, corp_id)
        return self._parents[corp_id]


def _category_matches(category: str, pattern: str) -> bool:
    """``pii`` covers ``pii.mobile``; otherwise exact."""
    return category == pattern or category.startswith(pattern + ".")


@dataclass(frozen=True, slots=True)
class _AlertScope:
    roomid: str | None
    departments: set[int]

    @classmethod
    def of(cls, session: Session, alert: Alert) -> _AlertScope:
        roomid: str | None = None
        staff: set[str] = set()
        if alert.conversation_id is not None:
            conversation = session.get(Conversation, alert.conversation_id)
            if conversation is not None:
                roomid = conversation.roomid
                staff.update(_staff([conversation.participant_a, conversation.participant_b]))
        if alert.message_ids:
            senders = session.scalars(select(Message.sender).where(Message.id.in_(alert.message_ids[:500])))
            staff.update(_staff(senders))
        staff.update(_staff([alert.explanation.get("user_id")]))  # behaviour alerts name the member
        memberships = directory.memberships(session, alert.corp_id, staff)
        departments: set[int] = set().union(*memberships.values()) if memberships else set()
        return cls(roomid, departments)


def _staff(ids: Iterable[object]) -> set[str]:
    return {i for i in ids if isinstance(i, str) and i and not is_external_id(i) and not i.startswith("wb")}
