"""Group monitoring (``audit.monitor.views``): groups ranked by risk, a group's time
series, its top words of a day, and employees' response metrics — each within the
caller's data scope.

Series and response metrics are counts (no text): ``monitor:read`` and scope suffice. Top
words are fragments of the chats themselves (names, amounts, products), so they are chat
content: they need ``content:read`` and a purpose and are logged by the access gate
(docs/adr/0014-api-security.md). Admins can run the monitor now and mark days for a
rebuild, as ``wecom-audit monitor run``/``rebuild`` do."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, get, post
from litestar.params import FromQuery, JSONBody, QueryParameter

from api.auth.guards import context_of, principal_of, requires
from api.pagination import PathId
from api.routes.content import reader_of
from api.timerange import checked_day
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.corps import corp_in_question
from archive.directory.names import display_names
from audit.errors import InvalidInput
from audit.monitor import jobs, views
from audit.monitor.service import MonitorReport
from audit.security.roles import Permission

MONITOR = [requires(Permission.MONITOR_READ)]
ADMIN = [requires(Permission.USERS_ADMIN)]
CorpId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]

MONITOR_DAYS_DEFAULT = 7
MONITOR_RANGE_DAYS_MAX = 366


class GroupRiskOut(msgspec.Struct, frozen=True):
    conversation_id: int
    roomid: str | None
    messages: int
    active_days: int
    negative_share: float
    complaints: int
    threats: int
    hits: int
    unanswered_customers: int
    risk_score: float
    room_name: str | None = None  # the group's display name (additive)
    room_synced: bool = False


def monitor_days(request: Request[Any, Any, Any], first: date | None, last: date | None) -> tuple[date, date]:
    """``first``…``last`` (default: the last week up to today), forwards and at most a year.
    "Today" is in the detection zone, where rollup days are dated, not in UTC."""
    first, last = checked_day("first", first), checked_day("last", last)  # before any date arithmetic
    zone = ZoneInfo(context_of(request).settings.detection.timezone)
    last_day = last or utcnow().astimezone(zone).date()
    first_day = first or last_day - timedelta(days=MONITOR_DAYS_DEFAULT - 1)
    if first_day > last_day or (last_day - first_day).days > MONITOR_RANGE_DAYS_MAX:
        raise InvalidInput("the date range must run forwards and cover at most a year")
    return first_day, last_day


@get("/api/v1/monitor/groups", guards=[requires(Permission.MONITOR_READ)], sync_to_thread=True)
def monitor_groups(
    request: Request[Any, Any, Any],
    db: Db,
    corp_id: FromQuery[str | None] = None,
    first: FromQuery[date | None] = None,
    last: FromQuery[date | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 20,
) -> list[GroupRiskOut]:
    """Customer groups ranked by risk over a date range (default: the last 7 days), in scope."""
    first_day, last_day = monitor_days(request, first, last)
    corp = corp_in_question(db, context_of(request).settings, corp_id)
    ranked = views.groups_in_scope(db, principal_of(request), [corp], first_day, last_day)[:limit]
    rooms = display_names(db, corp, {g.roomid for g in ranked if g.roomid})
    return [
        msgspec.structs.replace(
            msgspec.convert(g, GroupRiskOut, from_attributes=True),
            room_name=rooms.label(g.roomid) if g.roomid else None,
            room_synced=rooms.of(g.roomid).synced if g.roomid else False,
        )
        for g in ranked
    ]


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
    db: Db,
    conversation_id: PathId,
    first: FromQuery[date | None] = None,
    last: FromQuery[date | None] = None,
    hourly: FromQuery[bool] = False,
) -> list[GroupPointOut]:
    """A group's daily (or hourly) counts over a date range, oldest first; in scope only."""
    first_day, last_day = monitor_days(request, first, last)
    points = views.group_series(db, principal_of(request), conversation_id, first_day, last_day, hourly=hourly)
    return msgspec.convert(points, list[GroupPointOut], from_attributes=True)


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
    words = reader_of(request).through(
        views.TOP_WORDS_ACTION,
        {"conversation_id": conversation_id},
        lambda gate: views.top_words(gate, conversation_id, day, limit=limit),
    )
    return msgspec.convert(words, list[WordCountOut], from_attributes=True)


@get("/api/v1/monitor/employees", guards=MONITOR, sync_to_thread=True)
def employee_metrics(
    request: Request[Any, Any, Any],
    db: Db,
    corp_id: FromQuery[str | None] = None,
    first: FromQuery[date | None] = None,
    last: FromQuery[date | None] = None,
    employee: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
) -> list[EmployeeResponseOut]:
    """Reply rate and response times per employee, slowest first: only employees who are
    members of your departments (company-wide scopes: everyone; protected people only for
    their named officers)."""
    first_day, last_day = monitor_days(request, first, last)
    corp = corp_in_question(db, context_of(request).settings, corp_id)
    metrics = views.employee_metrics(db, principal_of(request), corp, first_day, last_day, employee=employee)
    return [
        msgspec.structs.replace(
            msgspec.convert(row, EmployeeResponseOut, from_attributes=True),
            employee_name=metrics.names.label(row.employee),
            employee_synced=metrics.names.of(row.employee).synced,
        )
        for row in metrics.rows
    ]


# --- running the monitor (admins; the scheduler does it every minute) ---------------------------


class MonitorRunRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    corp_id: CorpId | None = None  # the configured corp by default


class MonitorRebuildRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    since: date  # the first local day to recompute
    corp_id: CorpId | None = None


class MonitorRebuildOut(msgspec.Struct, frozen=True):
    corp_id: str
    since: date
    marked: int  # conversation-days marked; the next runs recompute them (``days_left``)


def _configured_corp(request: Request[Any, Any, Any], corp_id: str | None) -> str:
    settings = context_of(request).settings
    if corp_id is not None and corp_id not in {c.corp_id for c in settings.corps()}:
        raise InvalidInput("unknown corp", hint="leave corp_id out for the configured corp")
    return settings.corp(corp_id).corp_id


@post("/api/v1/monitor/run", guards=ADMIN, sync_to_thread=True, status_code=200)
def run_monitor(request: Request[Any, Any, Any], data: JSONBody[MonitorRunRequest | None] = None) -> MonitorReport:
    """Update the rollups, reply threads and spikes of a corp now (as ``wecom-audit monitor
    run``); counts only. ``days_left`` > 0: call again (or let the scheduler finish)."""
    context = context_of(request)
    corp_id = _configured_corp(request, data.corp_id if data else None)
    return jobs.run_corp(context.session_factory, corp_id, jobs.policy_from_settings(context.settings))


@post("/api/v1/monitor/rebuild", guards=ADMIN, sync_to_thread=True, status_code=202)
def rebuild_monitor(
    request: Request[Any, Any, Any], db: Db, data: JSONBody[MonitorRebuildRequest]
) -> MonitorRebuildOut:
    """Recompute rollups and reply threads from a day on (after changing the time zone,
    working hours or reply timeout, or after a disposal): the days are marked now and
    recomputed by the next monitor runs (as ``wecom-audit monitor rebuild``)."""
    since = checked_day("since", data.since)
    assert since is not None
    context = context_of(request)
    corp_id = _configured_corp(request, data.corp_id)
    marked = jobs.mark_rebuild(db, corp_id, context.settings, since, utcnow())
    return MonitorRebuildOut(corp_id, since, marked)
