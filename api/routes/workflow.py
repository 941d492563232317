"""Alerts and their review (``audit.alerts``, ``audit.review``), the lexicon rules
(``audit.detect.rules``) and group monitoring (``audit.monitor``).

Alerts and monitored groups are filtered by the caller's data scope (``audit.alerts.visibility``:
an alert without a conversation is visible to company-wide scopes only, unless it is about
a protected person). Alerts carry masked excerpts, not messages: the unmasked matches
(``GET /api/v1/alerts/{id}/matches``) and the messages behind an alert are content, read
through the gate with a purpose. Rule changes are written to the access log as admin actions."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from anyio import to_thread
from litestar import Request, Response, get, post, put
from litestar.params import FromQuery, JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth.guards import context_of, principal_of, requires
from api.pagination import PathId, decode_cursor, encode_cursor, page_size
from api.routes.content import through_gate
from api.schemas import NameOut
from api.timerange import checked_day
from archive import repository
from archive.clock import utcnow
from archive.directory.names import Names, Place, display_names, places_of
from archive.models import Conversation
from audit.alerts import service as alerts
from audit.alerts.errors import AlertNotFoundError
from audit.alerts.evidence import MATCHES_ACTION, AlertMatch, masked_explanation, read_matches
from audit.alerts.models import Alert
from audit.alerts.visibility import PERSON_KEYS, visible_alert, visible_alerts
from audit.detect.hits import Severity
from audit.detect.rules import admin as rules_admin
from audit.detect.rules import io as rules_io
from audit.detect.rules import repository as rules
from audit.errors import InvalidInput
from audit.monitor import queries as monitor
from audit.review import service as review
from audit.security.principal import Principal
from audit.security.roles import Permission
from audit.security.scope import DataScope, resolve_scope, visible_clause
from config.database import session_scope

ReviewAction = Literal["claim", "release", "escalate", "resolve", "false_positive", "reopen", "note"]
MONITOR_DAYS_DEFAULT = 7
MONITOR_RANGE_DAYS_MAX = 366
# Ranking is over per-day rollups (one row per active group and day), cheap even for all groups.
RANK_ALL_GROUPS = 1_000_000


class AlertOut(msgspec.Struct, frozen=True):
    id: int
    corp_id: str
    conversation_id: int | None
    rule: str
    category: str
    severity: str
    source: str
    status: str
    disposition: str | None
    assignee: str | None
    window_start: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    message_ids: list[int]
    explanation: dict[str, Any]
    tags: list[str]
    # Display names (additive): where it happened (the room, or a one-to-one chat's two
    # people) and the people a conversation-less alert names in its explanation.
    room_name: str | None = None
    participant_names: list[NameOut] = msgspec.field(default_factory=list)
    people: list[NameOut] = msgspec.field(default_factory=list)


class AlertPage(msgspec.Struct, frozen=True):
    items: list[AlertOut]
    next_cursor: str | None


class TrailOut(msgspec.Struct, frozen=True):
    actor: str
    action: str
    at: datetime
    note: str | None


class AlertDetailOut(msgspec.Struct, frozen=True):
    alert: AlertOut
    allowed_actions: list[str]
    trail: list[TrailOut]


class ReviewRequest(msgspec.Struct, frozen=True):
    action: ReviewAction
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    # For "resolve": one of the review workflow's dispositions.
    disposition: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    # For "claim": someone else to assign (default: yourself).
    assignee: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class RuleGroupOut(msgspec.Struct, frozen=True):
    name: str
    category: str
    severity: str
    terms: list[str]
    direction: str
    chat_kind: str
    departments: list[int]
    employees: list[str]
    rooms: list[str]
    exclusions: list[str]
    allowed_contexts: list[str]
    enabled: bool


class RulesImported(msgspec.Struct, frozen=True):
    groups: int


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


def _alert_names(session: Session, page: Sequence[Alert]) -> tuple[dict[int, Place], Names]:
    """The places and named people of a page of alerts (one resolver call each)."""
    places = places_of(session, {a.conversation_id for a in page if a.conversation_id})
    named = {str(a.explanation[key]) for a in page for key in PERSON_KEYS if a.explanation.get(key)}
    return places, display_names(session, {a.corp_id for a in page}, named)


def _alert_out(alert: Alert, places: dict[int, Place], names: Names) -> AlertOut:
    place = places.get(alert.conversation_id) if alert.conversation_id else None
    room = place.names[0].label if place and place.kind == "group" and place.names else None
    people = [str(alert.explanation[key]) for key in PERSON_KEYS if alert.explanation.get(key)]
    return AlertOut(
        alert.id,
        alert.corp_id,
        alert.conversation_id,
        alert.rule,
        alert.category,
        alert.severity,
        alert.source,
        alert.status,
        alert.disposition,
        alert.assignee,
        alert.window_start,
        alert.first_seen_at,
        alert.last_seen_at,
        list(alert.message_ids),
        masked_explanation(alert.explanation),
        list(alert.tags),
        room_name=room,
        participant_names=[NameOut.of(n) for n in place.names] if place and place.kind == "single" else [],
        people=[NameOut.of(names.of(p)) for p in people],
    )


def _visible_conversations(session: Session, scope: DataScope, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    rows = session.execute(select(Conversation.id).where(Conversation.id.in_(ids), visible_clause(scope)))
    return set(rows.scalars())


def corp_of(session: Session, request: Request[Any, Any, Any], corp_id: str | None) -> str:
    if corp_id:
        return corp_id
    corps = [c.corp_id for c in context_of(request).settings.corps()] or repository.known_corp_ids(session)
    if not corps:
        raise InvalidInput("no corp is archived yet", hint="pass corp_id")
    return corps[0]


def _load_visible(session: Session, principal: Principal, alert_id: int) -> Alert:
    alert = visible_alert(session, resolve_scope(session, principal), alert_id)
    if alert is None:
        raise AlertNotFoundError(alert_id)
    return alert


@get("/api/v1/alerts", guards=[requires(Permission.ALERTS_READ)], sync_to_thread=True)
def list_alerts(
    request: Request[Any, Any, Any],
    corp_id: FromQuery[str | None] = None,
    status: FromQuery[list[str] | None] = None,
    min_severity: FromQuery[Literal["low", "medium", "high", "critical"] | None] = None,
    category: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
) -> AlertPage:
    """Alerts in your scope, newest first."""
    size = page_size(limit)
    key = decode_cursor(cursor, int)
    with session_scope(context_of(request).session_factory) as session:
        severity = Severity(min_severity) if min_severity else None
        scope = resolve_scope(session, principal_of(request))
        page = alerts.list_alerts(
            session,
            corp_of(session, request, corp_id),
            statuses=status or (),
            min_severity=severity,
            category=category,
            limit=size,
            before_id=key[0] if key else None,
            visible=visible_alerts(scope),  # in the query: pages are full
        )
        places, names = _alert_names(session, page)
        items = [_alert_out(a, places, names) for a in page]
    return AlertPage(items, encode_cursor(page[-1].id) if len(page) == size else None)


@get("/api/v1/alerts/{alert_id:int}", guards=[requires(Permission.ALERTS_READ)], sync_to_thread=True)
def get_alert(request: Request[Any, Any, Any], alert_id: PathId) -> AlertDetailOut:
    with session_scope(context_of(request).session_factory) as session:
        alert = _load_visible(session, principal_of(request), alert_id)
        trail = [TrailOut(t.actor, t.action, t.at, t.note) for t in review.trail(session, alert_id)]
        places, names = _alert_names(session, [alert])
        return AlertDetailOut(_alert_out(alert, places, names), review.allowed_actions(alert.status), trail)


@get(
    "/api/v1/alerts/{alert_id:int}/matches",
    guards=[requires(Permission.ALERTS_READ), requires(Permission.CONTENT_READ)],
    sync_to_thread=True,
)
def alert_matches(request: Request[Any, Any, Any], alert_id: PathId) -> list[AlertMatch]:
    """What the alert's rules matched, unmasked: chat content, so it needs a purpose
    (X-Access-Purpose), the alert's conversation in your scope, and it is logged."""
    matches: list[AlertMatch] = through_gate(
        request, MATCHES_ACTION, {"alert_id": alert_id}, lambda gate: read_matches(gate, alert_id)
    )
    return matches  # the domain value itself: what matched, unmasked (chat content)


@post(
    "/api/v1/alerts/{alert_id:int}/review",
    guards=[requires(Permission.ALERTS_REVIEW)],
    sync_to_thread=True,
    status_code=200,
)
def review_alert(request: Request[Any, Any, Any], alert_id: PathId, data: JSONBody[ReviewRequest]) -> AlertOut:
    """One step of the review workflow (claim, release, escalate, resolve, false_positive,
    reopen, note); recorded in the alert's trail."""
    principal, now = principal_of(request), utcnow()
    actor = principal.username
    with session_scope(context_of(request).session_factory) as session:
        _load_visible(session, principal, alert_id)
        if data.action == "claim":
            alert = review.claim(session, alert_id, actor=actor, now=now, assignee=data.assignee)
        elif data.action == "release":
            alert = review.release(session, alert_id, actor=actor, now=now, note=data.note)
        elif data.action == "escalate":
            alert = review.escalate(session, alert_id, actor=actor, now=now, note=data.note)
        elif data.action == "resolve":
            if not data.disposition:
                raise InvalidInput("resolving needs a disposition")
            alert = review.resolve(
                session, alert_id, actor=actor, disposition=data.disposition, now=now, note=data.note
            )
        elif data.action == "false_positive":
            alert = review.mark_false_positive(session, alert_id, actor=actor, now=now, note=data.note)
        elif data.action == "reopen":
            alert = review.reopen(session, alert_id, actor=actor, now=now, note=data.note)
        else:
            if not data.note:
                raise InvalidInput("a note needs text")
            alert = review.add_note(session, alert_id, actor=actor, note=data.note, now=now)
        places, names = _alert_names(session, [alert])
        return _alert_out(alert, places, names)


def group_out(group: Any) -> RuleGroupOut:
    return RuleGroupOut(
        group.name,
        group.category,
        group.severity.value,
        list(group.terms),
        group.direction,
        group.chat_kind,
        sorted(group.departments),
        sorted(group.employees),
        sorted(group.rooms),
        list(group.exclusions),
        list(group.allowed_contexts),
        group.enabled,
    )


@get("/api/v1/rules", guards=[requires(Permission.RULES_READ)], sync_to_thread=True)
def list_rules(request: Request[Any, Any, Any], corp_id: FromQuery[str | None] = None) -> list[RuleGroupOut]:
    """The lexicon word groups (global ones and the corp's own)."""
    with session_scope(context_of(request).session_factory) as session:
        return [group_out(group) for group in rules.list_groups(session, corp_id)]


@get("/api/v1/rules/export", guards=[requires(Permission.RULES_READ)], sync_to_thread=True, media_type="text/csv")
def export_rules(request: Request[Any, Any, Any], corp_id: FromQuery[str | None] = None) -> Response[str]:
    """The word groups as CSV (the same file `wecom-audit` imports)."""
    with session_scope(context_of(request).session_factory) as session:
        text = rules_io.csv_text(rules.list_groups(session, corp_id))
    return Response(text, media_type="text/csv; charset=utf-8")


@put("/api/v1/rules", guards=[requires(Permission.RULES_WRITE)], request_max_body_size=4 << 20)
async def import_rules(request: Request[Any, Any, Any]) -> RulesImported:
    """Import word groups from CSV (text/csv body); groups of the same name are replaced."""
    try:
        body = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the rules file is not UTF-8", hint="save the CSV as UTF-8") from None
    principal = principal_of(request)

    def work() -> int:
        try:
            groups = rules_io.groups_from_rows(csv.DictReader(io.StringIO(body)), "upload")
        except (ValueError, KeyError, csv.Error) as exc:  # RuleError names the line and column
            raise InvalidInput(f"the rules file is invalid: {exc}") from None
        now = utcnow()
        with session_scope(context_of(request).session_factory) as session:
            count = rules_admin.import_groups(
                session, principal, groups, now, context_of(request).settings.detection.lexicon_data_dir
            )
        return count

    return RulesImported(await to_thread.run_sync(work))


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
    corp_id: FromQuery[str | None] = None,
    first: FromQuery[date | None] = None,
    last: FromQuery[date | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 20,
) -> list[GroupRiskOut]:
    """Customer groups ranked by risk over a date range (default: the last 7 days), in scope."""
    first_day, last_day = monitor_days(request, first, last)
    with session_scope(context_of(request).session_factory) as session:
        # Rank every active group, then keep the visible ones: a limit before the scope filter
        # would hand a scoped reviewer a short (often empty) list.
        corp = corp_of(session, request, corp_id)
        ranked = monitor.rank_groups(session, corp, first_day, last_day, limit=RANK_ALL_GROUPS)
        visible = _visible_conversations(
            session, resolve_scope(session, principal_of(request)), {g.conversation_id for g in ranked}
        )
        ranked = [g for g in ranked if g.conversation_id in visible][:limit]
        rooms = display_names(session, corp, {g.roomid for g in ranked if g.roomid})
        return [
            GroupRiskOut(
                g.conversation_id,
                g.roomid,
                g.messages,
                g.active_days,
                g.negative_share,
                g.complaints,
                g.threats,
                g.hits,
                g.unanswered_customers,
                g.risk_score,
                room_name=rooms.label(g.roomid) if g.roomid else None,
                room_synced=rooms.of(g.roomid).synced if g.roomid else False,
            )
            for g in ranked
        ]
