"""Group monitoring as its readers see it: the use cases behind the JSON API's monitor
routes, the console's groups and overview pages and ``wecom-audit groups``/``replies``.

Everything is counted from the rollups (``audit.monitor.queries``), within the caller's
data scope: a group is shown when its conversation is (``audit.security.scope``), an
employee's reply metrics when the employee is a member of the caller's departments
(company-wide scopes: everyone; protected people only for their named officers). Top
words are the chats' own words, so they are chat content: :func:`top_words` is a read
behind the access gate, logged as ``content.top_words``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final

from sqlalchemy.orm import Session

from archive import repository as archive_repository
from archive.directory.names import Names, display_names
from archive.models import Conversation
from audit.access.gate import AccessGate
from audit.alerts.visibility import visible_conversation_ids
from audit.errors import NotFound
from audit.monitor import queries
from audit.monitor.queries import EmployeeResponse, GroupPoint, GroupRisk, WordCount
from audit.security.errors import OutOfScope
from audit.security.principal import Principal
from audit.security.scope import conversation_visible, resolve_scope

# Rollups are one row per group and day: ranking them all before the scope filter is cheap,
# and a limit before it would hand a scoped reviewer a short (often empty) list.
RANK_ALL_GROUPS: Final = 1_000_000
TOP_WORDS_ACTION: Final = "content.top_words"


def groups_in_scope(
    session: Session, principal: Principal, corp_ids: Iterable[str], first: date, last: date
) -> list[GroupRisk]:
    """Every group of ``corp_ids`` active in ``first``…``last`` that the caller may see,
    riskiest first (ties: busier first, then by conversation)."""
    ranked: list[GroupRisk] = []
    for corp_id in corp_ids:
        ranked += queries.rank_groups(session, corp_id, first, last, limit=RANK_ALL_GROUPS)
    visible = visible_conversation_ids(session, resolve_scope(session, principal), {g.conversation_id for g in ranked})
    return sorted(
        (g for g in ranked if g.conversation_id in visible),
        key=lambda g: (-g.risk_score, -g.messages, g.conversation_id),
    )


def riskiest_groups(
    session: Session,
    principal: Principal,
    first: date,
    last: date,
    *,
    ranked_per_corp: int,
    shown: int,
) -> list[GroupRisk]:
    """The overview's chart: the ``ranked_per_corp`` riskiest groups of each archived corp
    (ranked before the scope filter, so a scoped reviewer still gets a full list), riskiest
    first, those with some risk that the caller may see, at most ``shown``."""
    ranked: list[GroupRisk] = []
    for corp_id in archive_repository.known_corp_ids(session):
        ranked += queries.rank_groups(session, corp_id, first, last, limit=ranked_per_corp)
    ranked.sort(key=lambda group: group.risk_score, reverse=True)
    visible = visible_conversation_ids(
        session, resolve_scope(session, principal), {g.conversation_id for g in ranked if g.risk_score > 0}
    )
    return [g for g in ranked if g.risk_score > 0 and g.conversation_id in visible][:shown]


def _check_visible(session: Session, principal: Principal, conversation_id: int) -> None:
    if not conversation_visible(session, resolve_scope(session, principal), conversation_id):
        raise OutOfScope("this group is outside your data scope")


def group_series(
    session: Session, principal: Principal, conversation_id: int, first: date, last: date, *, hourly: bool = False
) -> list[GroupPoint]:
    """A group's daily (or hourly) counts, oldest first; OutOfScope unless the caller may see it."""
    _check_visible(session, principal, conversation_id)
    return queries.group_series(session, conversation_id, first, last, hourly=hourly)


@dataclass(frozen=True)
class GroupDetail:
    """One group over a period (the console's group page)."""

    conversation_id: int
    corp_id: str
    roomid: str | None
    names: Names  # the room's name
    points: list[GroupPoint]
    totals: GroupRisk | None  # the period's totals and risk (None: no activity)


def group_detail(session: Session, principal: Principal, conversation_id: int, first: date, last: date) -> GroupDetail:
    """A group's series and totals over ``first``…``last`` (NotFound / OutOfScope otherwise)."""
    conversation: Conversation | None = queries.group_conversation(session, conversation_id)
    if conversation is None:
        raise NotFound(f"no group chat {conversation_id}")
    _check_visible(session, principal, conversation_id)
    ranked = queries.rank_groups(session, conversation.corp_id, first, last, limit=RANK_ALL_GROUPS)
    return GroupDetail(
        conversation_id=conversation_id,
        corp_id=conversation.corp_id,
        roomid=conversation.roomid,
        names=display_names(session, None, [conversation.roomid] if conversation.roomid else []),
        points=queries.group_series(session, conversation_id, first, last),
        totals=next((g for g in ranked if g.conversation_id == conversation_id), None),
    )


def top_words(gate: AccessGate, conversation_id: int, day: date, *, limit: int) -> list[WordCount]:
    """A group's most frequent words of one day: chat content, read through the gate and
    logged as ``content.top_words``."""
    gate.check_conversation(conversation_id)
    words = queries.top_words(gate.session, conversation_id, day, limit=limit)
    gate.record(TOP_WORDS_ACTION, {"conversation_id": conversation_id, "day": day.isoformat()}, len(words))
    return words


@dataclass(frozen=True)
class EmployeeMetrics:
    rows: list[EmployeeResponse]
    names: Names


def employee_metrics(
    session: Session,
    principal: Principal,
    corp_id: str,
    first: date,
    last: date,
    *,
    employee: str | None = None,
) -> EmployeeMetrics:
    """Reply metrics per employee the caller may see (lowest reply rate first), named."""
    scope = resolve_scope(session, principal)
    rows = [
        row
        for row in queries.employee_metrics(session, corp_id, first, last, employee=employee)
        if (scope.everything or row.employee in scope.member_ids) and row.employee not in scope.excluded_people
    ]
    return EmployeeMetrics(rows, display_names(session, corp_id, {row.employee for row in rows}))


# --- company-wide (the command line) ------------------------------------------------------


@dataclass(frozen=True)
class RankedGroups:
    groups: list[GroupRisk]
    names: Names


def top_groups(session: Session, corp_id: str, first: date, last: date, *, limit: int) -> RankedGroups:
    """``wecom-audit groups top``: the riskiest groups of a corp, named."""
    ranked = queries.rank_groups(session, corp_id, first, last, limit=limit)
    return RankedGroups(ranked, display_names(session, corp_id, {g.roomid for g in ranked if g.roomid}))


@dataclass(frozen=True)
class GroupReport:
    conversation_id: int
    series: list[GroupPoint]
    words: list[WordCount]
    names: Names


def group_report(session: Session, corp_id: str, roomid: str, first: date, last: date, words_day: date) -> GroupReport:
    """``wecom-audit groups show``: a group's series and top words of a day, company-wide
    (NotFound when no message of the room was archived)."""
    conversation_id = queries.find_group(session, corp_id, roomid)
    if conversation_id is None:
        raise NotFound(f"No group {roomid!r} in the archive of {corp_id}.", hint="`wecom-audit groups top` lists them")
    return GroupReport(
        conversation_id,
        queries.group_series(session, conversation_id, first, last),
        queries.top_words(session, conversation_id, words_day),
        display_names(session, corp_id, [roomid]),
    )


def all_employee_metrics(
    session: Session, corp_id: str, first: date, last: date, *, employee: str | None = None
) -> EmployeeMetrics:
    """``wecom-audit replies metrics``: every employee's reply metrics, company-wide, named."""
    rows = queries.employee_metrics(session, corp_id, first, last, employee=employee)
    return EmployeeMetrics(rows, display_names(session, corp_id, {row.employee for row in rows}))
