"""Alerts and their review (``audit.alerts``, ``audit.review``) and the lexicon rules
(``audit.detect.rules``).

Alerts are filtered by the caller's data scope (``audit.alerts.visibility``:
an alert without a conversation is visible to company-wide scopes only, unless it is about
a protected person). Alerts carry masked excerpts, not messages: the unmasked matches
(``GET /api/v1/alerts/{id}/matches``) and the messages behind an alert are content, read
through the gate with a purpose. Rule changes are written to the access log as admin actions.

Each handler parses, calls the use case the console and ``wecom-audit`` call too
(``audit.review.queue`` and ``audit.review.actions`` for alerts, ``audit.detect.rules.admin``
for the lexicon) and converts; ``api.routes.review`` holds the rest of the review desk."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post, put
from litestar.params import FromQuery, JSONBody, QueryParameter, RawBody

from api.auth.guards import context_of, principal_of, requires
from api.pagination import CorpQuery, PathId, decode_cursor, encode_cursor, page_size
from api.routes.content import through_gate
from api.schemas import NameOut
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.corps import corp_in_question
from audit.alerts.evidence import MATCHES_ACTION, AlertMatch, masked_explanation, read_matches
from audit.alerts.models import Alert
from audit.detect.hits import Severity
from audit.detect.rules import admin as rules_admin
from audit.detect.rules import io as rules_io
from audit.detect.rules.spec import LexiconGroup, RuleError
from audit.errors import InvalidInput
from audit.review import actions, queue
from audit.review.actions import ReviewStep
from audit.review.queue import AlertDetail, AlertFilters, AlertListing
from audit.security.roles import Permission

ReviewAction = Literal["claim", "release", "assign", "escalate", "resolve", "false_positive", "reopen", "note", "tag"]
EXCEL = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
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


Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ReviewRequest(msgspec.Struct, frozen=True):
    action: ReviewAction
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    # For "resolve": one of the review workflow's dispositions.
    disposition: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    # For "claim": someone else to assign (default: yourself); for "assign": who takes it.
    assignee: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    # For "tag": tags to add and to remove.
    add_tags: Annotated[list[Tag], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)
    remove_tags: Annotated[list[Tag], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)


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


def alert_out(alert: Alert, listing: AlertListing | AlertDetail) -> AlertOut:
    """The alert as the API shows it: masked explanation, where it happened and whom it names."""
    if isinstance(listing, AlertListing):
        place, people = listing.place(alert), listing.people(alert)
    else:
        place, people = listing.place, listing.people
    return msgspec.structs.replace(
        msgspec.convert(alert, AlertOut, from_attributes=True),
        explanation=masked_explanation(alert.explanation),
        room_name=place.names[0].label if place and place.kind == "group" and place.names else None,
        participant_names=[NameOut.of(n) for n in place.names] if place and place.kind == "single" else [],
        people=[NameOut.of(person) for person in people],
    )


@get("/api/v1/alerts", guards=[requires(Permission.ALERTS_READ)], sync_to_thread=True)
def list_alerts(
    request: Request[Any, Any, Any],
    db: Db,
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
    filters = AlertFilters(
        statuses=status or (), min_severity=Severity(min_severity) if min_severity else None, category=category
    )
    listing = queue.alerts_for(
        db,
        principal_of(request),
        corp_in_question(db, context_of(request).settings, corp_id),
        filters,
        limit=size,
        before_id=key[0] if key else None,
    )
    page = listing.alerts
    items = [alert_out(alert, listing) for alert in page]
    return AlertPage(items, encode_cursor(page[-1].id) if len(page) == size else None)


@get("/api/v1/alerts/{alert_id:int}", guards=[requires(Permission.ALERTS_READ)], sync_to_thread=True)
def get_alert(request: Request[Any, Any, Any], db: Db, alert_id: PathId) -> AlertDetailOut:
    """One alert in your scope (masked excerpts), its trail and the review steps its state allows."""
    detail = queue.alert_detail(db, principal_of(request), alert_id)
    trail = [msgspec.convert(entry, TrailOut, from_attributes=True) for entry in detail.trail]
    return AlertDetailOut(alert_out(detail.alert, detail), detail.allowed_actions, trail)


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


def review_step(data: ReviewRequest) -> ReviewStep:
    return ReviewStep(
        data.action,
        note=data.note,
        disposition=data.disposition,
        assignee=data.assignee,
        add_tags=data.add_tags,
        remove_tags=data.remove_tags,
    )


@post(
    "/api/v1/alerts/{alert_id:int}/review",
    guards=[requires(Permission.ALERTS_REVIEW)],
    sync_to_thread=True,
    status_code=200,
)
def review_alert(request: Request[Any, Any, Any], db: Db, alert_id: PathId, data: JSONBody[ReviewRequest]) -> AlertOut:
    """One step of the review workflow (claim, release, assign, escalate, resolve,
    false_positive, reopen, note, tag); recorded in the alert's trail."""
    alert = actions.review_alert(db, principal_of(request), alert_id, review_step(data), utcnow())
    return alert_out(alert, queue.describe(db, alert))


def group_out(group: LexiconGroup) -> RuleGroupOut:
    return msgspec.structs.replace(
        msgspec.convert(group, RuleGroupOut, from_attributes=True),
        departments=sorted(group.departments),
        employees=sorted(group.employees),
        rooms=sorted(group.rooms),
    )


@get(
    "/api/v1/rules",
    guards=[requires(Permission.RULES_READ)],
    sync_to_thread=True,
    operation_id="ListRules",
    summary="ListRules",
)
def list_rules(request: Request[Any, Any, Any], db: Db, corp_id: FromQuery[str | None] = None) -> list[RuleGroupOut]:
    """The lexicon word groups (global ones and the corp's own), or the built-in starter
    lexicons detection uses while none is stored."""
    groups, _ = rules_admin.lexicon(db, corp_id, context_of(request).settings.detection.lexicon_data_dir)
    return [group_out(group) for group in groups]


@get("/api/v1/rules/export", guards=[requires(Permission.RULES_READ)], sync_to_thread=True, media_type="text/csv")
def export_rules(request: Request[Any, Any, Any], db: Db, corp_id: CorpQuery = None) -> Response[str]:
    """The word groups as CSV, the file the import (this API's ``PUT``, the console,
    `wecom-audit lexicon import`) reads. ``/api/v1/rules/export.xlsx``: the same as a workbook."""
    groups, _ = rules_admin.lexicon(db, corp_id, context_of(request).settings.detection.lexicon_data_dir)
    return Response(rules_io.csv_text(groups), media_type="text/csv; charset=utf-8")


@get("/api/v1/rules/export.xlsx", guards=[requires(Permission.RULES_READ)], sync_to_thread=True, media_type=EXCEL)
def export_rules_workbook(request: Request[Any, Any, Any], db: Db, corp_id: CorpQuery = None) -> Response[bytes]:
    """The word groups as an Excel workbook (one sheet; the columns of the CSV export)."""
    groups, _ = rules_admin.lexicon(db, corp_id, context_of(request).settings.detection.lexicon_data_dir)
    return Response(
        rules_admin.excel_bytes(groups),
        media_type=EXCEL,
        headers={"Content-Disposition": 'attachment; filename="lexicon.xlsx"'},
    )


@put(
    "/api/v1/rules",
    guards=[requires(Permission.RULES_WRITE)],
    request_max_body_size=4 << 20,
    sync_to_thread=True,
)
def import_rules(request: Request[Any, Any, Any], db: Db, body: RawBody, corp_id: CorpQuery = None) -> RulesImported:
    """Import word groups from CSV (a ``text/csv`` body) or an Excel workbook (the body with
    the ``.xlsx`` media type); groups of the same name are replaced, others kept. With
    ``corp_id`` they become that corp's own groups."""
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    groups = rules_admin.groups_from_upload("upload.xlsx", body) if media_type == EXCEL else _csv_groups(body)
    count = rules_admin.import_groups(
        db,
        principal_of(request),
        groups,
        utcnow(),
        context_of(request).settings.detection.lexicon_data_dir,
        corp_id or "",
    )
    return RulesImported(count)


def _csv_groups(body: bytes) -> list[LexiconGroup]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the rules file is not UTF-8", hint="save the CSV as UTF-8") from None
    try:
        return rules_io.groups_from_rows(csv.DictReader(io.StringIO(text)), "upload")
    except (RuleError, ValueError, KeyError, csv.Error) as exc:  # RuleError names the line and column
        raise InvalidInput(f"the rules file is invalid: {exc}") from None
