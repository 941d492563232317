"""Suggested successors: the leaver's department, active members only, people who already
know the customer first, then the lightest book (customers WeCom says they follow)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from archive.models import Conversation
from audit.handover.inventory import open_case, take_inventory
from audit.handover.models import CaseKind, HandoverCustomer, HandoverGroup
from audit.handover.reasons import describe
from config.database import session_scope
from tests.archive.simulator.handover_edge import START_MS
from tests.audit.handover.edge import HandoverWorldEdge

DAY_MS = 86_400_000


def _department_colleagues(edge: HandoverWorldEdge, leaver: str) -> set[str]:
    company = edge.world.company
    department = company.employee(leaver).department_id
    return {
        e.userid
        for e in company.employees
        if e.department_id == department and e.userid != leaver and e.userid not in edge.world.departed
    }


def test_successors_come_from_the_department_and_prefer_people_who_know_the_customer(
    handover_edge: HandoverWorldEdge,
) -> None:
    edge, world = handover_edge, handover_edge.world
    leaver = edge.leavers()[0]
    colleagues = _department_colleagues(edge, leaver)
    assert colleagues, "the simulated leaver has colleagues in the department"
    # One colleague chatted with one of the leaver's customers (delivered like any chat).
    colleague, customer = sorted(colleagues)[0], world.follows[leaver][-1]
    edge.simulator.inject(
        [
            {
                "msgid": "handover-successor-0",
                "action": "send",
                "from": colleague,
                "tolist": [customer],
                "roomid": "",
                "msgtime": START_MS - 4 * DAY_MS,
                "msgtype": "text",
                "text": {"content": "您好，我是理财顾问，之前帮您办过业务"},
            }
        ]
    )
    context = edge.context()
    assert context.puller(edge.corp_id).run().status == "completed"
    context.close()
    inventory = edge.run(
        lambda contacts: take_inventory(edge.database.sessions, contacts, edge.corp_id, leaver, CaseKind.RESIGNED)
    )
    assert set(inventory.loads) == colleagues  # WeCom was asked how many customers each follows

    with session_scope(edge.database.sessions) as session:
        case_id = open_case(session, inventory, actor="manager", source="manager", now=edge.now()).id
    with session_scope(edge.database.sessions) as session:
        chats = {
            (c.participant_a, c.participant_b)
            for c in session.scalars(select(Conversation).where(Conversation.kind == "single"))
        }
        customers = list(session.scalars(select(HandoverCustomer).filter_by(case_id=case_id, assigned=True)))
        groups = list(session.scalars(select(HandoverGroup).filter_by(case_id=case_id)))

    def knows(member: str, ext: str) -> bool:
        return tuple(sorted((member, ext))) in chats or ext in world.follows.get(member, [])

    assert customers and groups
    for row in customers:
        assert row.suggested_successor in colleagues, row.suggestion_reason
        assert row.suggested_successor != leaver and row.suggested_successor not in world.departed
        assert row.suggestion_reason and row.suggestion_reason.startswith("same_department;")  # codes, not words
        assert describe(row.suggestion_reason, "zh").startswith("同部门；")
        acquainted = {m for m in colleagues if knows(m, row.external_userid)}
        if acquainted:  # someone who knows the customer is preferred to anyone else
            assert row.suggested_successor in acquainted, row.suggestion_reason
    chosen = next(row for row in customers if row.external_userid == customer)
    assert chosen.suggested_successor == colleague or knows(chosen.suggested_successor or "", customer)
    assert "previous_chat:last=" in (chosen.suggestion_reason or "") or "follows_customer" in (
        chosen.suggestion_reason or ""
    )
    assert "曾与该客户聊天" in describe(chosen.suggestion_reason, "zh") or "已在企业微信中添加该客户" in describe(
        chosen.suggestion_reason, "zh"
    )

    # Load decides for customers nobody knows: the lightest book is never passed over.
    strangers = [row for row in customers if not any(knows(m, row.external_userid) for m in colleagues)]
    if strangers:
        lightest = min(colleagues, key=lambda m: (len(world.follows.get(m, [])), m))
        assert lightest in Counter(row.suggested_successor for row in customers)
    for group in groups:
        assert group.suggested_successor in colleagues


def test_nobody_departed_is_suggested_even_when_the_directory_still_lists_them(
    handover_edge: HandoverWorldEdge,
) -> None:
    edge, world = handover_edge, handover_edge.world
    leaver, other = edge.leavers()
    inventory = edge.run(
        lambda contacts: take_inventory(edge.database.sessions, contacts, edge.corp_id, leaver, CaseKind.RESIGNED)
    )
    # The directory has not caught up: the other leaver is still listed, in the leaver's department.
    from archive.directory import repository as directory

    with session_scope(edge.database.sessions) as session:
        member = directory.members(session, edge.corp_id)[other]
        member.is_active = True
        department = world.company.employee(leaver).department_id
        directory.replace_memberships(session, edge.corp_id, other, [department])
    with session_scope(edge.database.sessions) as session:
        case_id = open_case(session, inventory, actor="manager", source="manager", now=edge.now()).id
    with session_scope(edge.database.sessions) as session:
        suggested = set(session.scalars(select(HandoverCustomer.suggested_successor).filter_by(case_id=case_id)))
    assert other not in suggested and leaver not in suggested
    assert suggested - {None} <= _department_colleagues(edge, leaver)
