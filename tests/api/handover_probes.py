"""Handover cases in the API security tests' world (``tests/api/world.py``): one case inside
the manager's department scope, one outside it, as the inventory leaves them (stored rows
of our own tables: the security tests run without WeCom's customer-contact API).

``prepare(world)`` is idempotent; it gives the world's manager the reviewer's department
(the in-scope case's) and sets ``world.handover_in_case`` / ``handover_out_case`` and the
members ``handover_in_member`` / ``handover_out_member``."""

from __future__ import annotations

from typing import Any

from archive.clock import utcnow
from audit.handover.models import CaseKind, CaseStatus, HandoverCase, HandoverCustomer, HandoverGroup, ItemState
from audit.security import service as security
from config.database import session_scope
from tests.api.world import World

CUSTOMER = "wmProbeCustomer"
GROUP = "wrProbeGroup"


def _subtree(parents: dict[int, int | None], root: int) -> set[int]:
    found, changed = {root}, True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in found and child not in found:
                found.add(child)
                changed = True
    return found


def _case(session: Any, corp_id: str, userid: str, department: int) -> int:
    now = utcnow()
    case = HandoverCase(
        corp_id=corp_id,
        kind=CaseKind.RESIGNED,
        handover_userid=userid,
        handover_name=userid,
        department_ids=[department],
        dimission_at=now,
        status=CaseStatus.OPEN,
        source="manager",
        opened_by="manager",
        opened_at=now,
        inventoried_at=now,
    )
    session.add(case)
    session.flush()
    session.add(
        HandoverCustomer(
            case_id=case.id,
            external_userid=CUSTOMER,
            name="探针客户",
            assigned=True,
            deleted_before_leaving=False,
            risk="medium",
            dossier={"messages": {"total": 1}, "open_promises": [{"excerpt": "明天回复您"}], "risk": "medium"},
            suggested_successor=None,
            state=ItemState.PENDING,
        )
    )
    session.add(
        HandoverGroup(
            case_id=case.id,
            chat_id=GROUP,
            name="探针客户群",
            member_count=3,
            customer_count=1,
            dossier={},
            state=ItemState.PENDING,
        )
    )
    session.flush()
    return case.id


def prepare(world: World) -> World:
    if world.handover_in_case:
        return world
    company = world.edge.simulator.company
    corp_id = world.edge.simulator.corp_id
    parents = {d.id: d.parent_id for d in company.departments}
    inside = _subtree(parents, world.department_id)
    member_in = next(e for e in company.employees if e.department_id in inside)
    member_out = next(e for e in company.employees if e.department_id not in inside)
    with session_scope(world.context.session_factory) as session:
        security.update_user(
            session,
            security.cli_principal("cli:test"),
            "manager",
            departments=[(corp_id, world.department_id)],
            now=utcnow(),
        )
        world.handover_in_case = _case(session, corp_id, member_in.userid, member_in.department_id)
        world.handover_out_case = _case(session, corp_id, member_out.userid, member_out.department_id)
    world.handover_in_member = member_in.userid
    world.handover_out_member = member_out.userid
    return world
