"""Group monitoring detail (``audit.monitor.queries``): a group's time series, its top
words of a day, and employees' response metrics — each within the caller's data scope.

Series and response metrics are counts (no text): ``monitor:read`` and scope suffice. Top
words are fragments of the chats themselves (names, amounts, products), so they are chat
content: they need ``content:read`` and a purpose and are logged by the access gate
(docs/adr/0014-api-security.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import FromQuery, QueryParameter

from api.auth.guards import context_of, principal_of, requires
from api.pagination import PathId
from api.routes.content import through_gate
from api.routes.workflow import corp_of, monitor_days
from archive.directory.names import display_names
from audit.access.gate import AccessGate
from audit.monitor import queries as monitor
from audit.security.errors import OutOfScope
from audit.security.roles import Permission
from audit.security.scope import conversation_visible, resolve_scope
from config.database import session_scope

MONITOR = [requires(Permission.MONITOR_READ)]


class GroupPointOut(msgspec.Struct, frozen=True):
    day: date
    # The UTC start of the hour (hourly series only).
    start: datetime | None
    messages: int
    active_members: int
    negative_share: float | None
    negative: int
    complaints: int
    hits: int
    hit_points: int
    hits_by_category: dict[str, int]
    unanswered_customers: int


class WordCountOut(msgspec.Struct, frozen=True):
    word: str
    count: int


class EmployeeResponseOut(msgspec.Struct, frozen=True):
    employee: str
    threads: int
    answered: int
    answered_in_time: int
    overdue: int
    reply_rate: float
    on_time_rate: float
    mean_response_minutes: float | None
    max_response_minutes: float | None
    employee_name: str | None = None  # the display name (additive)
    employee_synced: bool = False


@get("/api/v1/monitor/groups/{conversation_id:int}/series", guards=MONITOR, sync_to_thread=True)
def group_series(
    request: Request[Any, Any, Any],
    conversation_id: PathId,
    first: FromQuery[date | None] = None,
    last: FromQuery[date | None] = None,
    hourly: FromQuery[bool] = False,
) -> list[GroupPointOut]:
    """A group's daily (or hourly) counts over a date range, oldest first; in scope only."""
    first_day, last_day = monitor_days(request, first, last)
    with session_scope(context_of(request).session_factory) as session:
        if not conversation_visible(session, resolve_scope(session, principal_of(request)), conversation_id):
            raise OutOfScope("this group is outside your data scope")
        points = monitor.group_series(session, conversation_id, first_day, last_day, hourly=hourly)
    return [GroupPointOut(**{name: getattr(p, name) for name in GroupPointOut.__struct_fields__}) for p in points]


@get(
    "/api/v1/monitor/groups/{conversation_id:int}/words",
    guards=[*MONITOR, requires(Permission.CONTENT_READ)],
    sync_to_thread=True,
)
def group_top_words(
    request: Request[Any, Any, Any],
    conversation_id: PathId,
    day: FromQuery[date],
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
) -> list[WordCountOut]:
    """A group's most frequent words of one day. Chat content: needs a purpose; logged."""

    def read(gate: AccessGate) -> list[monitor.WordCount]:
        gate.check_conversation(conversation_id)
        words = monitor.top_words(gate.session, conversation_id, day, limit=limit)
        gate.record("content.top_words", {"conversation_id": conversation_id, "day": day.isoformat()}, len(words))
        return words

    words = through_gate(request, "content.top_words", {"conversation_id": conversation_id}, read)
    return [WordCountOut(word.word, word.count) for word in words]


@get("/api/v1/monitor/employees", guards=MONITOR, sync_to_thread=True)
def employee_metrics(
    request: Request[Any, Any, Any],
    corp_id: FromQuery[str | None] = None,
    first: FromQuery[date | None] = None,
    last: FromQuery[date | None] = None,
    employee: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
) -> list[EmployeeResponseOut]:
    """Reply rate and response times per employee, slowest first: only employees who are
    members of your departments (company-wide scopes: everyone; protected people only for
    their named officers)."""
    first_day, last_day = monitor_days(request, first, last)
    with session_scope(context_of(request).session_factory) as session:
        scope = resolve_scope(session, principal_of(request))
        corp = corp_of(session, request, corp_id)
        rows = monitor.employee_metrics(session, corp, first_day, last_day, employee=employee)
        names = display_names(session, corp, {r.employee for r in rows})
    return [
        EmployeeResponseOut(
            r.employee,
            r.threads,
            r.answered,
            r.answered_in_time,
            r.overdue,
            r.reply_rate,
            r.on_time_rate,
            r.mean_response_minutes,
            r.max_response_minutes,
            employee_name=names.label(r.employee),
            employee_synced=names.of(r.employee).synced,
        )
        for r in rows
        if (scope.everything or r.employee in scope.member_ids) and r.employee not in scope.excluded_people
    ]
