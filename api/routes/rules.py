"""Lexicon word groups one at a time (``audit.detect.rules``) and rule simulation
(``audit.review.simulate``).

Groups are global (no ``corp_id``) or a corp's own (``?corp_id=``; a corp's group overrides
a global one of the same name when detecting). Every change is an admin action in the
access log (``admin.rules.*``), as the CSV import is. A simulation writes nothing; its
counts cover the whole corp (to judge a draft you need its true volume), but its masked
sample excerpts come only from conversations in the caller's data scope."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from anyio import to_thread
from litestar import Request, delete, get, post, put
from litestar.params import JSONBody, PathParameter

from api.auth.guards import context_of, principal_of, requires
from api.pagination import CorpQuery
from api.routes.workflow import RuleGroupOut, group_out
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.corps import corp_in_question
from audit.detect.hits import Severity
from audit.detect.rules import admin as rules_admin
from audit.detect.rules.models import GLOBAL_CORP
from audit.detect.rules.spec import LexiconGroup, RuleError, RuleSet
from audit.errors import InvalidInput
from audit.review.simulate import simulate_for
from audit.security.roles import Permission

READ = [requires(Permission.RULES_READ)]
WRITE = [requires(Permission.RULES_WRITE)]
SIMULATION_MAX_DAYS = 90
# Printable text that is not blank (control characters, NUL above all, never reach the database).
_TEXT = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
GroupName = Annotated[str, PathParameter(min_length=1, max_length=128, pattern=_TEXT)]
Term = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=_TEXT)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_TEXT)]
Terms = Annotated[list[Term], msgspec.Meta(max_length=5000)]


class RuleGroupIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A word group's content (its name is in the path, or ``name`` for a new group)."""

    category: Label
    severity: Literal["low", "medium", "high", "critical"]
    terms: Annotated[list[Term], msgspec.Meta(min_length=1, max_length=5000)]
    direction: Literal["staff", "customer", "any"] = "any"
    chat_kind: Literal["single", "group", "internal", "any"] = "any"
    departments: Annotated[list[Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]], msgspec.Meta(max_length=1000)] = (
        msgspec.field(default_factory=list)
    )
    employees: Annotated[list[Label], msgspec.Meta(max_length=5000)] = msgspec.field(default_factory=list)
    rooms: Annotated[list[Label], msgspec.Meta(max_length=5000)] = msgspec.field(default_factory=list)
    exclusions: Terms = msgspec.field(default_factory=list)
    allowed_contexts: Terms = msgspec.field(default_factory=list)
    enabled: bool = True
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=_TEXT)] | None = None


class SimulationRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Draft groups (each with a ``name``), simulated alone over the last ``days`` days."""

    groups: Annotated[list[RuleGroupIn], msgspec.Meta(min_length=1, max_length=100)]
    days: Annotated[int, msgspec.Meta(ge=1, le=SIMULATION_MAX_DAYS)] = 7
    corp_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class SimulatedHitOut(msgspec.Struct, frozen=True):
    message_id: int
    msgtime: datetime
    conversation_id: int | None
    severity: str
    excerpt: str


class RuleSimulationOut(msgspec.Struct, frozen=True):
    rule: str
    hits: int
    messages: int
    alerts: int
    samples: list[SimulatedHitOut]


class SimulationOut(msgspec.Struct, frozen=True):
    ruleset_version: str
    corp_id: str
    since: datetime
    until: datetime
    messages_scanned: int
    rules: list[RuleSimulationOut]


def _spec(name: str, data: RuleGroupIn) -> LexiconGroup:
    try:
        return LexiconGroup(
            name=name.strip(),
            category=data.category.strip(),
            severity=Severity(data.severity),
            terms=tuple(data.terms),
            direction=data.direction,
            chat_kind=data.chat_kind,
            departments=frozenset(data.departments),
            employees=frozenset(data.employees),
            rooms=frozenset(data.rooms),
            exclusions=tuple(data.exclusions),
            allowed_contexts=tuple(data.allowed_contexts),
            enabled=data.enabled,
        )
    except RuleError as exc:
        raise InvalidInput(str(exc)) from None


def _lexicon_dir(request: Request[Any, Any, Any]) -> Path | None:
    return context_of(request).settings.detection.lexicon_data_dir


@get("/api/v1/rules/groups/{name:str}", guards=READ, operation_id="GetRuleGroup")
async def get_rule_group(
    request: Request[Any, Any, Any], db: Db, name: GroupName, corp_id: CorpQuery = None
) -> RuleGroupOut:
    """One word group (global, or the corp's own with ``corp_id``)."""

    # async with an explicit thread: as a sync_to_thread handler, Litestar 2.25 wrapped this
    # one twice (it shares its path with later handlers) and sent back an un-awaited coroutine.
    def read() -> RuleGroupOut:
        return group_out(rules_admin.shown(db, name, corp_id or GLOBAL_CORP, _lexicon_dir(request)))

    return await to_thread.run_sync(read)


@post("/api/v1/rules/groups", guards=WRITE, sync_to_thread=True)
def create_rule_group(
    request: Request[Any, Any, Any], db: Db, data: JSONBody[RuleGroupIn], corp_id: CorpQuery = None
) -> RuleGroupOut:
    """A new word group (``name`` in the body); 409 if one of that name exists there."""
    if data.name is None:
        raise InvalidInput("a new word group needs a name")
    group, corp, now = _spec(data.name, data), corp_id or GLOBAL_CORP, utcnow()
    rules_admin.create(db, principal_of(request), group, corp, now, _lexicon_dir(request))
    return group_out(rules_admin.existing(db, group.name, corp))


@put(
    "/api/v1/rules/groups/{name:str}",
    guards=WRITE,
    sync_to_thread=True,
    operation_id="UpdateRuleGroup",
    summary="UpdateRuleGroup",
)
def update_rule_group(
    request: Request[Any, Any, Any],
    db: Db,
    name: GroupName,
    data: JSONBody[RuleGroupIn],
    corp_id: CorpQuery = None,
) -> RuleGroupOut:
    """Replace an existing group's content (its terms included)."""
    if data.name is not None and data.name.strip() != name.strip():
        raise InvalidInput("the body's name differs from the path's", hint="delete and create to rename")
    group, corp, now = _spec(name, data), corp_id or GLOBAL_CORP, utcnow()
    rules_admin.update(db, principal_of(request), group, corp, now, _lexicon_dir(request))
    return group_out(rules_admin.existing(db, group.name, corp))


def _set_enabled(
    request: Request[Any, Any, Any], db: Db, name: str, corp_id: str | None, enabled: bool
) -> RuleGroupOut:
    corp = corp_id or GLOBAL_CORP
    rules_admin.set_enabled(db, principal_of(request), name, enabled, corp, utcnow(), _lexicon_dir(request))
    return group_out(rules_admin.existing(db, name, corp))


@post("/api/v1/rules/groups/{name:str}/enable", guards=WRITE, sync_to_thread=True, status_code=200)
def enable_rule_group(
    request: Request[Any, Any, Any], db: Db, name: GroupName, corp_id: CorpQuery = None
) -> RuleGroupOut:
    """Switch a word group on: detection uses it from its next batch."""
    return _set_enabled(request, db, name, corp_id, True)


@post("/api/v1/rules/groups/{name:str}/disable", guards=WRITE, sync_to_thread=True, status_code=200)
def disable_rule_group(
    request: Request[Any, Any, Any], db: Db, name: GroupName, corp_id: CorpQuery = None
) -> RuleGroupOut:
    """Switch a word group off (kept, with its terms, to switch on again)."""
    return _set_enabled(request, db, name, corp_id, False)


@delete(
    "/api/v1/rules/groups/{name:str}",
    guards=WRITE,
    sync_to_thread=True,
    status_code=200,
    operation_id="DeleteRuleGroup",
)
def delete_rule_group(
    request: Request[Any, Any, Any], db: Db, name: GroupName, corp_id: CorpQuery = None
) -> RuleGroupOut:
    """Delete a group and its terms; returns what was deleted."""
    group = rules_admin.delete(db, principal_of(request), name, corp_id or GLOBAL_CORP, utcnow(), _lexicon_dir(request))
    return group_out(group)


@post("/api/v1/rules/simulate", guards=WRITE, sync_to_thread=True, status_code=200)
def simulate(request: Request[Any, Any, Any], db: Db, data: JSONBody[SimulationRequest]) -> SimulationOut:
    """What draft groups would have found (hits, messages, alerts, masked samples) in the
    last ``days`` days of stored messages. Writes nothing but an admin-log row."""
    names = [group.name for group in data.groups]
    if any(name is None for name in names):
        raise InvalidInput("every draft group needs a name")
    try:
        draft = RuleSet(tuple(_spec(group.name or "", group) for group in data.groups))
    except RuleError as exc:
        raise InvalidInput(str(exc)) from None
    context = context_of(request)
    corp = corp_in_question(db, context.settings, data.corp_id)
    result = simulate_for(
        db,
        principal_of(request),
        draft,
        corp_id=corp,
        days=data.days,
        until=utcnow(),
        detection=context.settings.detection,
        alerts=context.settings.alerts,
    )
    return SimulationOut(
        result.ruleset_version,
        corp,
        result.since,
        result.until,
        result.messages_scanned,
        [
            RuleSimulationOut(
                group.name,
                result.hits_by_rule.get(group.name, 0),
                result.messages_by_rule.get(group.name, 0),
                result.alerts_by_rule.get(group.name, 0),
                [
                    msgspec.convert(hit, SimulatedHitOut, from_attributes=True)
                    for hit in result.samples.get(group.name, [])
                ],
            )
            for group in sorted(draft.groups, key=lambda g: g.name)
        ],
    )
