"""The rest of the review desk in the JSON API, beside ``api.routes.workflow``: one step on
many alerts, the sampling queue of unflagged conversations (``audit.review.sampling``), the
routing rules that decide who hears of which alerts (``audit.alerts.routing``) and the
notifications sent about them (``audit.notify``).

The console's forms and ``wecom-audit alerts …`` call the same use cases. Reads and steps
are limited to the caller's data scope; routing rules and delivery are administration
(``rules:write``), and routing changes are ``admin.routes.*`` rows in the access log.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, delete, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth.guards import context_of, principal_of, requires
from api.pagination import CorpQuery, PathId
from api.routes.workflow import ReviewAction, ReviewRequest, review_step
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.corps import corp_in_question
from audit.alerts import routing
from audit.detect.hits import Severity
from audit.notify import service as notify
from audit.review import actions, queue, sampling
from audit.security.roles import Permission

READ = [requires(Permission.ALERTS_READ)]
REVIEW = [requires(Permission.ALERTS_REVIEW)]
RULES_READ = [requires(Permission.RULES_READ)]
RULES_WRITE = [requires(Permission.RULES_WRITE)]
BULK_MAX = 500
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class BulkReviewRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One review step (as ``POST /api/v1/alerts/{id}/review``) on each of ``ids``."""

    ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=BULK_MAX)]
    action: ReviewAction
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    disposition: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    assignee: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    add_tags: list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]] = msgspec.field(default_factory=list)
    remove_tags: list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]] = msgspec.field(default_factory=list)


class BulkReviewOut(msgspec.Struct, frozen=True):
    done: list[int]
    # alert id → why the alert's state refused the step (the others were done).
    refused: dict[int, str]


class SampleOut(msgspec.Struct, frozen=True):
    id: int
    corp_id: str
    period: str
    conversation_id: int
    status: str
    drawn_at: datetime
    reviewer: str | None
    note: str | None
    reviewed_at: datetime | None


class SampleDrawRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Draw a day (in the detection time zone; default: yesterday) of unflagged conversations."""

    day: date | None = None
    rate: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    seed: int | None = None
    corp_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class SampleReviewRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class RouteIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Alerts in scope (empty lists: any) at or above ``min_severity`` go to ``targets``."""

    name: Label
    targets: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=320)]], msgspec.Meta(min_length=1)]
    role: Literal["reviewer", "manager"] = "reviewer"
    min_severity: Literal["low", "medium", "high", "critical"] = "low"
    categories: list[Label] = msgspec.field(default_factory=list)
    department_ids: list[Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]] = msgspec.field(default_factory=list)
    roomids: list[Label] = msgspec.field(default_factory=list)
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RouteOut(msgspec.Struct, frozen=True):
    name: str
    role: str
    min_severity: str
    categories: list[str]
    department_ids: list[int]
    roomids: list[str]
    targets: list[str]
    enabled: bool
    created_at: datetime
    note: str


class ReceiptOut(msgspec.Struct, frozen=True):
    id: int
    target: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryOut(msgspec.Struct, frozen=True):
    delivered: int
    retried: int
    failed: int
    held: int
    digests: int


@post("/api/v1/alerts/review", guards=REVIEW, sync_to_thread=True, status_code=200)
def review_alerts(request: Request[Any, Any, Any], db: Db, data: JSONBody[BulkReviewRequest]) -> BulkReviewOut:
    """One review step on many alerts, each alone: one its state refuses is listed with why,
    the others are done. Every alert must be in your scope (403 otherwise, nothing done)."""
    principal = principal_of(request)
    step = review_step(msgspec.convert(data, ReviewRequest, from_attributes=True))
    result = actions.review_alerts(db, principal, data.ids, step, actor=principal.username, now=utcnow())
    return BulkReviewOut(result.done, result.refused)


@get("/api/v1/alerts/{alert_id:int}/notifications", guards=READ, sync_to_thread=True)
def alert_notifications(request: Request[Any, Any, Any], db: Db, alert_id: PathId) -> list[ReceiptOut]:
    """The notifications sent (or due) about an alert in your scope, the latest first."""
    receipts = queue.receipts(db, principal_of(request), alert_id)
    return [msgspec.convert(receipt, ReceiptOut, from_attributes=True) for receipt in receipts]


@get("/api/v1/alerts/samples", guards=READ, sync_to_thread=True, operation_id="ListSamples", summary="ListSamples")
def list_samples(
    request: Request[Any, Any, Any],
    db: Db,
    corp_id: CorpQuery = None,
    status: Annotated[Literal["pending", "reviewed"] | None, QueryParameter()] = None,
) -> list[SampleOut]:
    """The sampling queue in your scope: pending samples first (at most 200)."""
    corp = corp_in_question(db, context_of(request).settings, corp_id)
    found = sampling.samples_for(db, principal_of(request), corp, status=status)
    return [msgspec.convert(sample, SampleOut, from_attributes=True) for sample in found]


@post("/api/v1/alerts/samples", guards=REVIEW, sync_to_thread=True, status_code=200)
def draw_samples(request: Request[Any, Any, Any], db: Db, data: JSONBody[SampleDrawRequest]) -> list[SampleOut]:
    """Draw a day's share of unflagged conversations into the sampling queue (the settings'
    rate and seed unless given); the same day and seed give the same draw, and drawing a day
    again returns its sample. Returns the day's whole sample."""
    settings = context_of(request).settings
    zone = ZoneInfo(settings.detection.timezone)
    now = utcnow()
    day = data.day or (now.astimezone(zone) - timedelta(days=1)).date()
    drawn = sampling.draw_day(
        db,
        corp_in_question(db, settings, data.corp_id),
        day,
        zone=zone,
        rate=settings.alerts.sampling_rate if data.rate is None else data.rate,
        seed=settings.alerts.sampling_seed if data.seed is None else data.seed,
        now=now,
    )
    return [msgspec.convert(sample, SampleOut, from_attributes=True) for sample in drawn]


@post("/api/v1/alerts/samples/{sample_id:int}/complete", guards=REVIEW, sync_to_thread=True, status_code=200)
def complete_sample(
    request: Request[Any, Any, Any], db: Db, sample_id: PathId, data: JSONBody[SampleReviewRequest]
) -> SampleOut:
    """Record your review of a sample whose conversation is in your scope."""
    sample = sampling.complete_for(db, principal_of(request), sample_id, note=data.note or None, now=utcnow())
    return msgspec.convert(sample, SampleOut, from_attributes=True)


@get("/api/v1/alerts/routes", guards=RULES_READ, sync_to_thread=True, operation_id="ListRoutes", summary="ListRoutes")
def list_routes(request: Request[Any, Any, Any], db: Db, corp_id: CorpQuery = None) -> list[RouteOut]:
    """The routing rules: reviewers hear of new alerts, managers of escalations."""
    corp = corp_in_question(db, context_of(request).settings, corp_id)
    return [msgspec.convert(rule, RouteOut, from_attributes=True) for rule in routing.list_routes(db, corp)]


@post("/api/v1/alerts/routes", guards=RULES_WRITE, sync_to_thread=True)
def add_route(request: Request[Any, Any, Any], db: Db, data: JSONBody[RouteIn], corp_id: CorpQuery = None) -> RouteOut:
    """A new routing rule (409 if one of that name exists). Targets: ``email:<address>``,
    ``webhook:<name>``, ``wecom:<name>`` (channels in the settings) or a user name."""
    spec = routing.RouteSpec(
        data.name.strip(),
        data.role,
        data.targets,
        Severity(data.min_severity),
        data.categories,
        data.department_ids,
        data.roomids,
        data.note,
    )
    corp = corp_in_question(db, context_of(request).settings, corp_id)
    rule = routing.add_route(db, corp, spec, utcnow(), actor=principal_of(request))
    return msgspec.convert(rule, RouteOut, from_attributes=True)


@delete("/api/v1/alerts/routes/{name:str}", guards=RULES_WRITE, sync_to_thread=True, status_code=200)
def remove_route(
    request: Request[Any, Any, Any],
    db: Db,
    name: Annotated[str, PathParameter(min_length=1, max_length=128)],
    corp_id: CorpQuery = None,
) -> RouteOut:
    """Delete a routing rule; returns what was deleted (queued notifications still go)."""
    corp = corp_in_question(db, context_of(request).settings, corp_id)
    rule = routing.remove_route(db, corp, name, utcnow(), actor=principal_of(request))
    return msgspec.convert(rule, RouteOut, from_attributes=True)


@post("/api/v1/notifications/deliver", guards=RULES_WRITE, sync_to_thread=True, status_code=200)
def deliver_notifications(request: Request[Any, Any, Any], db: Db) -> DeliveryOut:
    """Send due notifications now (retries and digests included), as the scheduler does
    every few seconds and `wecom-audit alerts deliver` does."""
    report = notify.deliver_due(db, context_of(request).settings.notify, utcnow())
    return msgspec.convert(report, DeliveryOut, from_attributes=True)


HANDLERS = [
    review_alerts,
    alert_notifications,
    list_samples,
    draw_samples,
    complete_sample,
    list_routes,
    add_route,
    remove_route,
    deliver_notifications,
]
