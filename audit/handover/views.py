"""Read side of handover cases for the API and the console: which cases a caller may see,
case summaries, and a customer's dossier through the access gate.

A case is visible when the member is in the caller's data scope *now* (a member of one of
its departments: a member who moves takes their cases along, as the access gate takes their
conversations; a member who left keeps their last memberships; one the directory lists in
no department goes by the departments recorded at opening), or the scope is company-wide.
``HandoverCase.department_ids`` records where the member was when the case was opened (the
report shows it); it no longer decides who sees the case (ADR 0021).
Everything but the dossier is case metadata (names, risks, decisions,
outcomes, counts); the dossier holds short chat excerpts, so it is read through
:class:`audit.access.gate.AccessGate` (``content:read``, a purpose, an access-log row).

Seeing a case does not widen what its reader may read: the gate decides excerpt by
excerpt, exactly as for a direct read of the message it came from. An excerpt from a
conversation outside the reader's data scope (a protected person's chat, to anyone but
their named officers; another department's) is withheld, and so are the conversations and
alerts of that kind the dossier lists; the dossier says how many excerpts were withheld.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.directory.models import DirectoryMembership
from audit.access.gate import AccessGate
from audit.alerts.visibility import visible_alert_ids
from audit.errors import NotFound
from audit.handover.models import HandoverCase, HandoverCustomer, HandoverGroup, ItemState
from audit.handover.report import DOSSIER_ACTION
from audit.security.errors import OutOfScope
from audit.security.principal import Principal
from audit.security.scope import DataScope, resolve_scope

# Cases are few (one per leaver); a page is filtered by scope after reading this many rows.
SCAN_BATCH_CASES: Final = 200
FOLLOW_UP_STATES: Final = (ItemState.REFUSED, ItemState.LIMITED, ItemState.FAILED)
# The dossier's lists of chat excerpts (``audit.handover.dossier``), each item naming its message.
EXCERPT_LISTS: Final = ("open_promises", "unanswered")


@dataclass(frozen=True)
class CaseSummary:
    id: int
    corp_id: str
    kind: str
    status: str
    handover_userid: str
    handover_name: str
    department_ids: list[int]
    dimission_at: datetime | None
    opened_at: datetime
    opened_by: str
    source: str
    customers: int
    high_risk: int
    deleted_before_leaving: int
    groups: int
    undecided: int
    follow_up: int
    signed_off_at: datetime | None


def case_visible(session: Session, scope: DataScope, case: HandoverCase) -> bool:
    if scope.everything or case.handover_userid in scope.member_ids:
        return True
    if not scope.department_ids & set(case.department_ids or ()):
        return False
    # The directory lists no department for the member (not synced, or never listed): the
    # departments recorded when the case was opened are all there is to go by.
    return not _has_departments(session, case.corp_id, case.handover_userid)


def _has_departments(session: Session, corp_id: str, userid: str) -> bool:
    found = session.execute(
        select(DirectoryMembership.dept_id)
        .where(DirectoryMembership.corp_id == corp_id, DirectoryMembership.userid == userid)
        .limit(1)
    ).first()
    return found is not None


def visible_case(session: Session, principal: Principal, case_id: int) -> HandoverCase:
    """The case, if the caller's scope covers it (NotFound / OutOfScope otherwise)."""
    case = session.get(HandoverCase, case_id)
    if case is None:
        raise NotFound(f"there is no handover case {case_id}", hint="list the cases: GET /api/v1/handover/cases")
    if not case_visible(session, resolve_scope(session, principal), case):
        raise OutOfScope("this case's member is outside your department scope")
    return case


def member_visible(session: Session, principal: Principal, corp_id: str, userid: str) -> bool:
    """Whether a case for this member would be visible to the caller (before opening it)."""
    scope = resolve_scope(session, principal)
    if scope.everything:
        return True
    departments = session.execute(
        select(DirectoryMembership.dept_id).where(
            DirectoryMembership.corp_id == corp_id, DirectoryMembership.userid == userid
        )
    ).scalars()
    return bool(scope.department_ids & set(departments))


def _counts(session: Session, case_ids: Collection[int]) -> dict[int, Counter[str]]:
    counts: dict[int, Counter[str]] = {case_id: Counter() for case_id in case_ids}
    if not case_ids:
        return counts
    rows = session.execute(
        select(
            HandoverCustomer.case_id,
            HandoverCustomer.assigned,
            HandoverCustomer.risk,
            HandoverCustomer.decision,
            HandoverCustomer.state,
            func.count(),
        )
        .where(HandoverCustomer.case_id.in_(case_ids))
        .group_by(
            HandoverCustomer.case_id,
            HandoverCustomer.assigned,
            HandoverCustomer.risk,
            HandoverCustomer.decision,
            HandoverCustomer.state,
        )
    )
    for case_id, assigned, risk, decision, state, n in rows:
        counter = counts[case_id]
        counter["customers" if assigned else "deleted_before_leaving"] += n
        counter["high_risk"] += n if risk == "high" else 0
        counter["undecided"] += n if assigned and decision is None else 0
        counter["follow_up"] += n if state in FOLLOW_UP_STATES else 0
    for case_id, decision, state, n in session.execute(
        select(HandoverGroup.case_id, HandoverGroup.decision, HandoverGroup.state, func.count())
        .where(HandoverGroup.case_id.in_(case_ids))
        .group_by(HandoverGroup.case_id, HandoverGroup.decision, HandoverGroup.state)
    ):
        counts[case_id]["groups"] += n
        counts[case_id]["undecided"] += n if decision is None else 0
        counts[case_id]["follow_up"] += n if state in FOLLOW_UP_STATES else 0
    return counts


def list_cases(
    session: Session,
    principal: Principal,
    *,
    corp_id: str | None = None,
    statuses: Collection[str] = (),
    before_id: int | None = None,
    limit: int,
) -> list[CaseSummary]:
    """Cases in the caller's scope, newest first (keyset by id)."""
    scope = resolve_scope(session, principal)
    found: list[HandoverCase] = []
    cursor = before_id
    while len(found) < limit:
        query = select(HandoverCase).order_by(HandoverCase.id.desc()).limit(SCAN_BATCH_CASES)
        if corp_id:
            query = query.where(HandoverCase.corp_id == corp_id)
        if statuses:
            query = query.where(HandoverCase.status.in_(list(statuses)))
        if cursor is not None:
            query = query.where(HandoverCase.id < cursor)
        batch = list(session.execute(query).scalars())
        found.extend(case for case in batch if case_visible(session, scope, case))
        if len(batch) < SCAN_BATCH_CASES:
            break
        cursor = batch[-1].id
    found = found[:limit]
    counts = _counts(session, [case.id for case in found])
    return [
        CaseSummary(
            id=case.id,
            corp_id=case.corp_id,
            kind=case.kind,
            status=case.status,
            handover_userid=case.handover_userid,
            handover_name=case.handover_name,
            department_ids=list(case.department_ids or ()),
            dimission_at=case.dimission_at,
            opened_at=case.opened_at,
            opened_by=case.opened_by,
            source=case.source,
            customers=counts[case.id]["customers"],
            high_risk=counts[case.id]["high_risk"],
            deleted_before_leaving=counts[case.id]["deleted_before_leaving"],
            groups=counts[case.id]["groups"],
            undecided=counts[case.id]["undecided"],
            follow_up=counts[case.id]["follow_up"],
            signed_off_at=case.signed_off_at,
        )
        for case in found
    ]


def read_dossier(gate: AccessGate, case_id: int, external_userid: str) -> dict[str, Any]:
    """One customer's full dossier (with excerpts): a content read, logged by the gate as
    ``content.handover_dossier`` with the case id, so it is part of the case's trail."""
    case = visible_case(gate.session, gate.principal, case_id)
    customer = gate.session.execute(
        select(HandoverCustomer).where(
            HandoverCustomer.case_id == case.id, HandoverCustomer.external_userid == external_userid
        )
    ).scalar_one_or_none()
    if customer is None:
        raise NotFound(
            f"customer {external_userid!r} is not part of case {case_id}",
            hint="GET /api/v1/handover/cases/{case_id} lists the case's customers",
        )
    dossier, withheld = _readable_part(gate, dict(customer.dossier or {}))
    target: dict[str, Any] = {
        "case_id": case.id,
        "external_userid": external_userid,
        "conversation_ids": list(dossier["conversation_ids"]),
    }
    if withheld:
        target["withheld_excerpts"] = withheld
    gate.record(DOSSIER_ACTION, target, 1)
    return dossier


def _readable_part(gate: AccessGate, stored: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The dossier as this reader may see it, and how many excerpts were withheld.

    An excerpt is shown when the gate lets the reader open the message it quotes; one that
    names no message (an older shape) only when every conversation of the dossier is
    readable. Conversations and alerts the reader may not open are left out of the lists."""
    conversation_ids = [int(i) for i in stored.get("conversation_ids") or ()]
    readable_conversations = gate.visible_conversations(conversation_ids)
    all_readable = readable_conversations == set(conversation_ids)
    items = {name: [i for i in stored.get(name) or () if isinstance(i, dict)] for name in EXCERPT_LISTS}
    quoted = {int(i["message_id"]) for found in items.values() for i in found if i.get("message_id") is not None}
    readable_messages = gate.visible_messages(quoted)
    dossier = dict(stored)
    withheld = 0
    for name, found in items.items():
        shown = [
            item
            for item in found
            if (int(item["message_id"]) in readable_messages if item.get("message_id") is not None else all_readable)
        ]
        withheld += len(found) - len(shown)
        if name in stored:
            dossier[name] = shown
    dossier["conversation_ids"] = [i for i in conversation_ids if i in readable_conversations]
    alerts = stored.get("alerts")
    if isinstance(alerts, dict) and alerts.get("items"):
        listed = [a for a in alerts["items"] if isinstance(a, dict)]
        readable_alerts = visible_alert_ids(gate.session, gate.scope, [int(a["id"]) for a in listed if "id" in a])
        dossier["alerts"] = {**alerts, "items": [a for a in listed if a.get("id") in readable_alerts]}
    dossier["withheld_excerpts"] = withheld
    return dossier, withheld
