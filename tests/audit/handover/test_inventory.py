"""Inventory and case opening over real HTTP against the simulated WeCom: the departed
member's customers and groups as the world has them, the customers they deleted before
leaving flagged, one open case per member, discovery from get_unassigned_list."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from audit.accesslog.models import AccessLogEntry
from audit.errors import InvalidInput
from audit.handover.discovery import discover_cases
from audit.handover.inventory import CaseAlreadyOpen, Inventory, open_case, take_inventory
from audit.handover.models import CaseKind, CaseStatus, HandoverCase, HandoverCustomer, HandoverGroup
from config.database import session_scope
from tests.audit.handover.edge import HandoverWorldEdge


def _inventory(edge: HandoverWorldEdge, userid: str, kind: CaseKind = CaseKind.RESIGNED) -> Inventory:
    return edge.run(lambda contacts: take_inventory(edge.database.sessions, contacts, edge.corp_id, userid, kind))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_the_inventory_of_a_departed_member_is_what_wecom_has(handover_edge: HandoverWorldEdge) -> None:
    edge, world = handover_edge, handover_edge.world
    leaver = edge.leavers()[0]

    inventory = _inventory(edge, leaver)

    assert inventory.listed_departed and inventory.kind == CaseKind.RESIGNED
    assert [c.external_userid for c in inventory.customers] == world.follows[leaver]
    assert {c.external_userid: c.name for c in inventory.customers} == {
        ext: world.company.customer(ext).name for ext in world.follows[leaver]
    }
    assert {g.chat_id for g in inventory.groups} == {
        chat for chat, owner in world.group_owner.items() if owner == leaver
    }
    assert inventory.dimission_at is not None and _ms(inventory.dimission_at) == world.departed[leaver]
    assert inventory.departed == set(world.departed)
    assert all(c.follow_since is not None and c.follow_since < edge.now() for c in inventory.customers)
    # Every group member WeCom lists, staff and customers.
    for group in inventory.groups:
        company_group = next(g for g in world.company.groups if g.roomid == group.chat_id)
        assert group.member_count == len(set(company_group.members) | {leaver})


def test_a_case_holds_the_customers_the_groups_and_those_deleted_before_leaving(
    handover_edge: HandoverWorldEdge,
) -> None:
    edge, world = handover_edge, handover_edge.world
    leaver = edge.leavers()[0]
    inventory = _inventory(edge, leaver)

    with session_scope(edge.database.sessions) as session:
        case_id = open_case(session, inventory, actor="manager", source="manager", now=edge.now()).id

    with session_scope(edge.database.sessions) as session:
        case = session.get(HandoverCase, case_id)
        assert case is not None
        assert (case.status, case.kind, case.handover_userid) == ("open", "resigned", leaver)
        assert case.handover_name == world.company.employee(leaver).name
        assert case.department_ids == [world.company.employee(leaver).department_id]
        customers = {c.external_userid: c for c in session.scalars(select(HandoverCustomer).filter_by(case_id=case_id))}
        groups = {g.chat_id for g in session.scalars(select(HandoverGroup).filter_by(case_id=case_id))}
        deleted_by_leaver = {d.external_userid: d.deleted_ms for d in world.deletions if d.userid == leaver}
        assert {e for e, c in customers.items() if c.assigned} == set(world.follows[leaver])
        assert {e for e, c in customers.items() if c.deleted_before_leaving} == set(deleted_by_leaver)
        for ext, deleted_ms in deleted_by_leaver.items():
            flagged = customers[ext]
            assert not flagged.assigned and flagged.suggested_successor is None
            assert flagged.name == world.company.customer(ext).name
            assert flagged.risk == "high" and "deleted_before_leaving" in flagged.dossier["risk_reasons"]
            assert _ms(datetime.fromisoformat(flagged.dossier["deleted_at"])) == deleted_ms
        assert groups == {chat for chat, owner in world.group_owner.items() if owner == leaver}
        assert all(c.state == "pending" and c.decision is None for c in customers.values())

        opened = session.scalars(select(AccessLogEntry).where(AccessLogEntry.action == "handover.open")).all()
        assert [(row.actor, row.target["case_id"], row.target["handover_userid"]) for row in opened] == [
            ("manager", case_id, leaver)
        ]
        assert opened[0].target["deleted_before_leaving"] == len(deleted_by_leaver)


def test_a_second_case_for_the_same_member_is_refused(handover_edge: HandoverWorldEdge) -> None:
    edge = handover_edge
    leaver = edge.leavers()[1]
    inventory = _inventory(edge, leaver)
    with session_scope(edge.database.sessions) as session:
        first = open_case(session, inventory, actor="manager", source="manager", now=edge.now()).id

    with session_scope(edge.database.sessions) as session, pytest.raises(CaseAlreadyOpen) as refused:
        open_case(session, inventory, actor="manager", source="manager", now=edge.now())
    assert refused.value.case_id == first and str(first) in refused.value.hint

    with session_scope(edge.database.sessions) as session:  # a cancelled case frees the member
        case = session.get(HandoverCase, first)
        assert case is not None
        case.status = CaseStatus.CANCELLED.value
    with session_scope(edge.database.sessions) as session:
        assert open_case(session, inventory, actor="manager", source="manager", now=edge.now()).id != first


def test_an_active_member_gets_an_on_job_inventory_and_no_resigned_case(handover_edge: HandoverWorldEdge) -> None:
    edge, world = handover_edge, handover_edge.world
    active = next(u for u, book in sorted(world.follows.items()) if book and world.active(u))

    onjob = _inventory(edge, active, CaseKind.ONJOB)
    assert [c.external_userid for c in onjob.customers] == world.follows[active]

    resigned = _inventory(edge, active)
    assert not resigned.listed_departed and not resigned.customers
    with session_scope(edge.database.sessions) as session, pytest.raises(InvalidInput, match="no unassigned"):
        open_case(session, resigned, actor="manager", source="manager", now=edge.now())
    with session_scope(edge.database.sessions) as session, pytest.raises(InvalidInput, match="at most 200"):
        open_case(
            session, onjob, actor="manager", source="manager", now=edge.now(), transfer_message="x" * 201
        )  # too long for WeCom
    with session_scope(edge.database.sessions) as session:
        case = open_case(
            session,
            onjob,
            actor="manager",
            source="manager",
            now=edge.now(),
            transfer_message="您好，后续由同事为您服务",
        )
        assert (case.kind, case.transfer_message, case.dimission_at) == ("onjob", "您好，后续由同事为您服务", None)


def test_discovery_opens_one_case_per_departed_member_and_is_idempotent(handover_edge: HandoverWorldEdge) -> None:
    edge = handover_edge

    def discover() -> list[int]:
        return edge.run(lambda contacts: discover_cases(edge.database.sessions, contacts, edge.corp_id, edge.now()))

    first = discover()
    again = discover()

    assert len(first) == len(edge.world.departed) and again == []
    with session_scope(edge.database.sessions) as session:
        cases = session.scalars(select(HandoverCase).order_by(HandoverCase.id)).all()
        assert sorted(c.handover_userid for c in cases) == sorted(edge.world.departed)
        assert {(c.source, c.opened_by, c.status) for c in cases} == {("unassigned", "system", "open")}
        assert [c.id for c in cases] == sorted(first)
        logged = session.scalars(select(AccessLogEntry).where(AccessLogEntry.action == "handover.open")).all()
        assert sorted(row.target["case_id"] for row in logged) == sorted(first)
        assert {row.actor for row in logged} == {"system"}
        for case in cases:
            assert case.dimission_at is not None
            assert _ms(case.dimission_at) == edge.world.departed[case.handover_userid]
            assert case.dimission_at < datetime.fromtimestamp(edge.clock.now_ms() / 1000, UTC)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)  # SQLite has one writer anyway
def test_two_managers_opening_at_once_get_one_case(handover_edge: HandoverWorldEdge) -> None:
    edge = handover_edge
    leaver = edge.leavers()[0]
    inventory = _inventory(edge, leaver)
    outcome: list[object] = []

    def second_manager() -> None:
        try:
            with session_scope(edge.database.sessions) as session:
                outcome.append(open_case(session, inventory, actor="other", source="manager", now=edge.now()).id)
        except CaseAlreadyOpen as refused:
            outcome.append(refused)

    with session_scope(edge.database.sessions) as session:
        first = open_case(session, inventory, actor="manager", source="manager", now=edge.now()).id
        racer = threading.Thread(target=second_manager)
        racer.start()
        racer.join(0.5)  # it waits for this transaction rather than reading around it
        assert racer.is_alive() and not outcome
    racer.join(30)

    assert len(outcome) == 1 and isinstance(outcome[0], CaseAlreadyOpen) and outcome[0].case_id == first
    with session_scope(edge.database.sessions) as session:
        assert session.scalars(select(HandoverCase.id)).all() == [first]
