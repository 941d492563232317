"""Retention policies and legal holds (administrators), as on the console's settings page and
with ``wecom-audit retention``: the same service, the same rules — shortening a policy needs
a reason, a locked policy never shortens, releasing a hold needs a reason — and every change
is written to the corp's retention history (``GET /api/v1/retention/history``).

The corp is ``corp_id`` in the query, else the first configured (or archived) corp."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post, put
from litestar.params import JSONBody, QueryParameter

from api.auth.guards import principal_of, requires
from api.pagination import CorpQuery, PathId
from api.unit_of_work import Context, Db
from archive.corps import corp_in_question
from archive.retention.service import Actor, RetentionService, retain_days_of
from archive.retention.views import PolicyScope
from audit.security.roles import Permission

ADMIN = [requires(Permission.USERS_ADMIN)]
HoldSubjectKind = Literal["employee", "customer", "room"]


# --- edge structs -------------------------------------------------------------------------


class ScopeOut(msgspec.Struct):
    kind: str  # corp | department | chat_type
    value: str
    label: str  # corp, department:ID or chat:TYPE


class PolicyOut(msgspec.Struct):
    id: int
    name: str
    scope: ScopeOut
    retain_days: int
    locked: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class PolicyCreate(msgspec.Struct, forbid_unknown_fields=True):
    scope: Annotated[str, msgspec.Meta(description="corp, department:ID or chat:TYPE", max_length=80)]
    days: Annotated[int, msgspec.Meta(ge=1)] | None = None
    years: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class PolicyDays(msgspec.Struct, forbid_unknown_fields=True):
    days: Annotated[int, msgspec.Meta(ge=1)]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class PolicyLock(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class HoldOut(msgspec.Struct):
    id: int
    name: str
    kind: str  # employee | customer | room | date_range | case
    subjects: list[tuple[str, str]]  # [kind, id] pairs
    starts_at: datetime | None
    ends_at: datetime | None
    created_at: datetime
    created_by: str
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None
    active: bool


class HoldCreate(msgspec.Struct, forbid_unknown_fields=True):
    subjects: Annotated[list[tuple[HoldSubjectKind, str]], msgspec.Meta(max_length=500)] = []
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    case: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class HoldRelease(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class HistoryOut(msgspec.Struct):
    id: int
    at: datetime
    actor: str
    actor_is_admin: bool
    action: str
    policy_id: int | None
    hold_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


class RunOut(msgspec.Struct):
    id: int
    trigger: str
    dry_run: bool
    status: str
    started_at: datetime
    finished_at: datetime | None
    examined: int
    disposed: int
    held: int
    media_deleted: int
    blobs_deleted: int
    by_policy: dict[str, int]
    error: str | None


def _service(db: Db, context: Context, corp_id: str | None) -> RetentionService:
    return RetentionService(db, corp_in_question(db, context.settings, corp_id))


def _actor(request: Request[Any, Any, Any]) -> Actor:
    return Actor(principal_of(request).username, is_admin=True)  # the guard requires users:admin


# --- policies -----------------------------------------------------------------------------


@get(
    "/api/v1/retention/policies",
    guards=ADMIN,
    sync_to_thread=True,
    summary="List retention policies",
)
def list_policies(db: Db, context: Context, corp_id: CorpQuery = None) -> list[PolicyOut]:
    """Every retention policy of the corp with its scope, period and lock (the longest
    applicable policy wins). No policy: nothing is ever disposed."""
    views = _service(db, context, corp_id).policies()
    return msgspec.convert(views, list[PolicyOut], from_attributes=True)


@post(
    "/api/v1/retention/policies",
    guards=ADMIN,
    sync_to_thread=True,
    summary="Add a retention policy",
)
def add_policy(
    request: Request[Any, Any, Any],
    db: Db,
    context: Context,
    data: JSONBody[PolicyCreate],
    corp_id: CorpQuery = None,
) -> PolicyOut:
    """A new policy for a scope (``corp``, ``department:ID`` or ``chat:TYPE``, TYPE one of
    single_external, single_internal, group), keeping messages ``days`` days or ``years``
    years (exactly one). Recorded in the retention history with its reason."""
    days = retain_days_of(data.days, data.years)
    view = _service(db, context, corp_id).create_policy(
        _actor(request), PolicyScope.parse(data.scope), days, name=data.name, reason=data.reason
    )
    return msgspec.convert(view, PolicyOut, from_attributes=True)


@put(
    "/api/v1/retention/policies/{policy_id:int}/days",
    guards=ADMIN,
    sync_to_thread=True,
    summary="Change a retention policy's period",
)
def set_policy_days(
    request: Request[Any, Any, Any],
    db: Db,
    context: Context,
    policy_id: PathId,
    data: JSONBody[PolicyDays],
    corp_id: CorpQuery = None,
) -> PolicyOut:
    """Lengthen or shorten a policy. Shortening needs a ``reason``; a locked policy never
    shortens (409)."""
    view = _service(db, context, corp_id).set_policy_days(_actor(request), policy_id, data.days, reason=data.reason)
    return msgspec.convert(view, PolicyOut, from_attributes=True)


@post(
    "/api/v1/retention/policies/{policy_id:int}/lock",
    guards=ADMIN,
    sync_to_thread=True,
    status_code=200,
    summary="Lock a retention policy (irreversible)",
)
def lock_policy(
    request: Request[Any, Any, Any],
    db: Db,
    context: Context,
    policy_id: PathId,
    data: JSONBody[PolicyLock | None] = None,
    corp_id: CorpQuery = None,
) -> PolicyOut:
    """Lock a policy for good: nobody, administrators included, can shorten it afterwards.
    Locking a locked policy changes nothing."""
    reason = data.reason if data is not None else None
    view = _service(db, context, corp_id).lock_policy(_actor(request), policy_id, reason=reason)
    return msgspec.convert(view, PolicyOut, from_attributes=True)


# --- holds --------------------------------------------------------------------------------


@get(
    "/api/v1/retention/holds",
    guards=ADMIN,
    sync_to_thread=True,
    summary="List legal holds",
)
def list_holds(
    db: Db,
    context: Context,
    corp_id: CorpQuery = None,
    include_released: Annotated[bool, QueryParameter(description="Released holds too.")] = False,
) -> list[HoldOut]:
    """Legal holds with what they cover (held messages are never disposed); active ones
    only unless ``include_released``."""
    views = _service(db, context, corp_id).holds(include_released=include_released)
    return msgspec.convert(views, list[HoldOut], from_attributes=True)


@post(
    "/api/v1/retention/holds",
    guards=ADMIN,
    sync_to_thread=True,
    summary="Place a legal hold",
)
def place_hold(
    request: Request[Any, Any, Any],
    db: Db,
    context: Context,
    data: JSONBody[HoldCreate],
    corp_id: CorpQuery = None,
) -> HoldOut:
    """Hold one subject (``[["employee", "userid"]]``, a customer's external userid or a
    room), a window (``starts_at``/``ends_at``, with a zone; ``ends_at`` excluded), or —
    named by ``case`` — several subjects at once."""
    view = _service(db, context, corp_id).create_hold(
        _actor(request),
        data.subjects,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        case=data.case,
        reason=data.reason,
    )
    return msgspec.convert(view, HoldOut, from_attributes=True)


@post(
    "/api/v1/retention/holds/{hold_id:int}/release",
    guards=ADMIN,
    sync_to_thread=True,
    status_code=200,
    summary="Release a legal hold",
)
def release_hold(
    request: Request[Any, Any, Any],
    db: Db,
    context: Context,
    hold_id: PathId,
    data: JSONBody[HoldRelease],
    corp_id: CorpQuery = None,
) -> HoldOut:
    """End a hold (a reason is required and recorded); its messages are disposed at the next
    run if their retention has run out."""
    view = _service(db, context, corp_id).release_hold(_actor(request), hold_id, reason=data.reason)
    return msgspec.convert(view, HoldOut, from_attributes=True)


# --- history and runs ---------------------------------------------------------------------


@get(
    "/api/v1/retention/history",
    guards=ADMIN,
    sync_to_thread=True,
    summary="Retention admin history",
)
def retention_history(
    db: Db,
    context: Context,
    corp_id: CorpQuery = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
) -> list[HistoryOut]:
    """Who changed which policy or hold, from what to what, and why (newest first)."""
    views = _service(db, context, corp_id).history(limit=limit)
    return msgspec.convert(views, list[HistoryOut], from_attributes=True)


@get(
    "/api/v1/retention/runs",
    guards=ADMIN,
    sync_to_thread=True,
    summary="Disposition runs",
)
def disposition_runs(
    db: Db,
    context: Context,
    corp_id: CorpQuery = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 20,
) -> list[RunOut]:
    """The last disposition runs with what each disposed, and under which policy."""
    views = _service(db, context, corp_id).runs(limit=limit)
    return msgspec.convert(views, list[RunOut], from_attributes=True)


HANDLERS = [
    list_policies,
    add_policy,
    set_policy_days,
    lock_policy,
    list_holds,
    place_hold,
    release_hold,
    retention_history,
    disposition_runs,
]
