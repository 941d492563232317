"""Executing handover cases over real HTTP against the simulated WeCom: batched transfers,
results polled until final, refusals and failures kept for follow-up, group transfers,
and the successor inheriting exactly the predecessor's conversations with what moved."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from archive.wecom.errors import WeComTransientError
from audit.accesslog import log as access_log
from audit.errors import Conflict
from audit.handover.decisions import decide
from audit.handover.execution import CLAIM_STALE, execute
from audit.handover.inheritance import apply_pending_inheritances
from audit.handover.models import (
    CaseKind,
    CaseStatus,
    Decision,
    HandoverCase,
    HandoverCustomer,
    HandoverGroup,
    HandoverInheritance,
    ItemState,
)
from audit.handover.polling import poll
from audit.handover.service import sign_off
from audit.security.scope import conversation_visible, resolve_scope
from config.database import session_scope
from tests.audit.handover.edge import HandoverWorldEdge
from tests.audit.handover.execution_world import HandoverArchive, from_edge, manager, principal_of


@pytest.fixture
def archive(handover_edge: HandoverWorldEdge) -> HandoverArchive:
    return from_edge(handover_edge)


def _case(archive: HandoverArchive, case_id: int) -> HandoverCase:
    with session_scope(archive.sessions) as session:
        case = session.get(HandoverCase, case_id)
        assert case is not None
        session.expunge(case)
    return case


def _customers(archive: HandoverArchive, case_id: int) -> dict[str, HandoverCustomer]:
    with session_scope(archive.sessions) as session:
        rows = session.execute(select(HandoverCustomer).where(HandoverCustomer.case_id == case_id)).scalars().all()
        session.expunge_all()
    return {row.external_userid: row for row in rows}


def _groups(archive: HandoverArchive, case_id: int) -> dict[str, HandoverGroup]:
    with session_scope(archive.sessions) as session:
        rows = session.execute(select(HandoverGroup).where(HandoverGroup.case_id == case_id)).scalars().all()
        session.expunge_all()
    return {row.chat_id: row for row in rows}


def _decide(
    archive: HandoverArchive,
    case_id: int,
    successor: str,
    *,
    customers: list[str] | None = None,
    groups: list[str] | None = None,
) -> int:
    with session_scope(archive.sessions) as session:
        return decide(
            session,
            manager(),
            case_id,
            customers=customers,
            groups=groups,
            decision=Decision.TRANSFER,
            successor=successor,
            note=None,
            now=archive.now(),
        )


def _case_actions(archive: HandoverArchive, case_id: int) -> list[str]:
    with session_scope(archive.sessions) as session:
        rows = access_log.search(
            session, access_log.AccessLogQuery(action="handover."), before_position=None, limit=1000
        )
    return [row.action for row in reversed(rows) if row.target.get("case_id") == case_id]


def test_departed_members_case_runs_to_completion_and_the_successor_inherits_exactly_what_moved(
    archive: HandoverArchive,
) -> None:
    world = archive.world
    leaver = archive.leavers()[0]
    successor, full = archive.colleagues(leaver)[:2]
    account = archive.add_account("successor", wecom_userid=successor)
    case_id = archive.open_case(leaver)
    book = list(world.follows[leaver])  # the world's order: quick, refusing, too often, then the rest
    quick, refusing, too_often, limited = book[0], book[1], book[2], book[3]
    assert (quick in world.quick, refusing in world.refusing, too_often in world.too_often) == (True, True, True)
    world.customer_limits[full] = len(world.follows.get(full, []))  # `full` cannot take one more
    _decide(archive, case_id, successor)
    _decide(archive, case_id, full, customers=[limited], groups=[])
    groups = _groups(archive, case_id)
    assert groups, "the leaver owns customer groups"

    world.faults.rate_limited = 2  # WeCom answers 45009 twice: the client backs off and retries
    summary = archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))
    assert archive.sleeps, "the rate limit was retried with backoff"
    assert (summary.customers_sent, summary.customers_failed) == (len(book) - 1, 1)
    assert (summary.groups_completed, summary.groups_failed) == (len(groups), 0)
    assert summary.case_status == CaseStatus.EXECUTING
    customers = _customers(archive, case_id)
    assert (customers[too_often].state, customers[too_often].errcode) == (ItemState.FAILED, 40128)
    assert {customers[ext].state for ext in book if ext != too_often} == {ItemState.SENT}
    assert customers[limited].sent_to == full
    assert all(g.state == ItemState.COMPLETED and g.sent_to == successor for g in _groups(archive, case_id).values())
    with pytest.raises(Conflict, match="waiting for WeCom"):
        archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))

    def poll_now() -> None:
        archive.run(lambda contacts: poll(archive.sessions, contacts, case_id, archive.now()))

    archive.advance_hours(1)
    poll_now()
    customers = _customers(archive, case_id)
    assert customers[quick].state == ItemState.COMPLETED
    assert customers[quick].takeover_at is not None
    assert customers[refusing].state == ItemState.SENT
    with pytest.raises(Conflict, match="not completed"), session_scope(archive.sessions) as session:
        sign_off(session, manager(), case_id, None, "0" * 64, archive.now())

    archive.advance_hours(1)
    poll_now()
    assert _customers(archive, case_id)[refusing].state == ItemState.REFUSED
    assert _case(archive, case_id).status == CaseStatus.EXECUTING  # the others still wait

    archive.advance_hours(23)  # WeCom's 24 h: the rest are taken over by themselves
    poll_now()
    customers = _customers(archive, case_id)
    assert customers[limited].state == ItemState.LIMITED
    completed = {ext for ext in book if ext not in (refusing, too_often, limited)}
    assert {ext for ext, row in customers.items() if row.state == ItemState.COMPLETED} == completed
    assert all(customers[ext].final_at is not None for ext in book)
    case = _case(archive, case_id)
    assert case.status == CaseStatus.COMPLETED
    assert case.completed_at is not None
    poll_now()  # polling a completed case changes nothing
    assert _case(archive, case_id).status == CaseStatus.COMPLETED

    # The successor's account reads exactly the leaver's chats with what moved to them.
    with session_scope(archive.sessions) as session:
        pairs = archive.pair_conversations(session, leaver)
        rooms = archive.room_conversations(session)
        expected = {pairs[ext] for ext in completed if ext in pairs} | {rooms[c] for c in groups if c in rooms}
        others = set(pairs.values()) - expected
        assert expected, "the archive holds chats between the leaver and the transferred customers"
        assert others, "the leaver has other conversations (refused, deleted, colleagues)"
        scope = resolve_scope(session, principal_of(session, account))
        assert scope.conversation_ids == expected
        assert all(conversation_visible(session, scope, conversation_id) for conversation_id in expected)
        assert not any(conversation_visible(session, scope, conversation_id) for conversation_id in others)
        inherited = session.execute(
            select(HandoverInheritance.conversation_id, HandoverInheritance.granted_user_id).where(
                HandoverInheritance.case_id == case_id
            )
        ).all()
        assert {row.conversation_id for row in inherited} == expected
        assert {row.granted_user_id for row in inherited} == {account}

    # Follow-up: the limited customer goes to the first successor instead; the case is open
    # again until that transfer is final too.
    _decide(archive, case_id, successor, customers=[limited], groups=[])
    assert _case(archive, case_id).status == CaseStatus.OPEN
    assert _customers(archive, case_id)[limited].state == ItemState.PENDING
    summary = archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))
    assert (summary.customers_sent, summary.calls) == (1, 1)
    archive.advance_hours(24)
    poll_now()
    assert _customers(archive, case_id)[limited].state == ItemState.COMPLETED
    with session_scope(archive.sessions) as session:
        scope = resolve_scope(session, principal_of(session, account))
        assert scope.conversation_ids == expected | ({pairs[limited]} if limited in pairs else set())
        signed = sign_off(
            session, manager(), case_id, "reviewed with sales", hashlib.sha256(b"report").hexdigest(), archive.now()
        )
        assert signed.status == CaseStatus.SIGNED_OFF
    with pytest.raises(Conflict, match="signed off"), session_scope(archive.sessions) as session:
        decide(
            session,
            manager(),
            case_id,
            customers=[refusing],
            groups=[],
            decision=Decision.KEEP,
            successor=None,
            note=None,
            now=archive.now(),
        )

    actions = _case_actions(archive, case_id)
    for action in (
        "handover.open",
        "handover.decide",
        "handover.execute",
        "handover.transfer",
        "handover.poll",
        "handover.grant",
        "handover.complete",
        "handover.sign_off",
    ):
        assert action in actions, action
    assert actions.index("handover.execute") < actions.index("handover.complete") < actions.index("handover.sign_off")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_large_book_is_sent_in_batches_and_an_interrupted_execution_loses_nothing(
    archive: HandoverArchive,
) -> None:
    world = archive.world
    leaver = archive.leavers()[1]
    heir = archive.colleagues(leaver)[0]  # has no console account yet
    special = world.quick | world.refusing | world.too_often
    extra = [
        c.external_userid
        for c in archive.edge.simulator.company.customers
        if c.external_userid not in world.follows[leaver] and c.external_userid not in special
    ][:110]
    world.assign_customers(leaver, extra)  # more than one transfer call can carry
    case_id = archive.open_case(leaver)
    _decide(archive, case_id, heir)
    book = [ext for ext, row in _customers(archive, case_id).items() if row.assigned]
    assert len(book) > 100

    def break_after_first_call(done: int, total: int) -> None:
        if done == 100:
            world.faults.rate_limited = 50  # WeCom keeps answering 45009: the retries run out

    with pytest.raises(WeComTransientError):
        archive.run(
            lambda contacts: execute(
                archive.sessions, contacts, case_id, manager(), archive.now(), progress=break_after_first_call
            )
        )
    world.faults.rate_limited = 0
    customers = _customers(archive, case_id)
    answered = [ext for ext in book if customers[ext].state != ItemState.PENDING]
    in_doubt = [ext for ext in book if customers[ext].state == ItemState.PENDING]
    assert len(answered) == 100  # the first call's answers were stored
    assert all(customers[ext].sent_to == heir for ext in in_doubt)  # the interrupted call stays claimed
    assert all(g.sent_to is None for g in _groups(archive, case_id).values())  # never sent: released
    assert "handover.execute.interrupted" in _case_actions(archive, case_id)
    with pytest.raises(Conflict, match="being transferred"), session_scope(archive.sessions) as session:
        decide(
            session,
            manager(),
            case_id,
            customers=in_doubt[:1],
            groups=[],
            decision=Decision.KEEP,
            successor=None,
            note=None,
            now=archive.now(),
        )

    # Next run: the groups go; the claimed customers wait until the claim is stale.
    summary = archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))
    assert summary.groups_completed == len(_groups(archive, case_id))
    assert summary.customers_sent == 0
    archive.clock.advance(CLAIM_STALE.total_seconds() + 60)
    released = archive.run(lambda contacts: poll(archive.sessions, contacts, case_id, archive.now()))
    assert released.released == len(in_doubt)
    summary = archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))
    assert summary.customers_sent + summary.customers_failed == len(in_doubt)

    bodies = archive.transfer_requests["resigned/transfer_customer"]
    assert all(len(body["external_userid"]) <= 100 for body in bodies)
    assert {ext for body in bodies for ext in body["external_userid"]} == set(book)
    assert all(body["takeover_userid"] == heir for body in bodies)

    archive.advance_hours(25)
    archive.run(lambda contacts: poll(archive.sessions, contacts, case_id, archive.now()))
    assert _case(archive, case_id).status == CaseStatus.COMPLETED
    customers = _customers(archive, case_id)
    assert all(customers[ext].state in (ItemState.COMPLETED, ItemState.REFUSED, ItemState.FAILED) for ext in book)

    # The heir had no account: the inheritance waits, then is granted when one is linked.
    with session_scope(archive.sessions) as session:
        rows = session.execute(select(HandoverInheritance).where(HandoverInheritance.case_id == case_id)).scalars()
        waiting = {row.conversation_id: row.granted_user_id for row in rows}
    assert waiting
    assert set(waiting.values()) == {None}
    account = archive.add_account("heir", wecom_userid=heir)
    with session_scope(archive.sessions) as session:
        assert apply_pending_inheritances(session, account, archive.now()) == len(waiting)
    with session_scope(archive.sessions) as session:
        scope = resolve_scope(session, principal_of(session, account))
        assert scope.conversation_ids == set(waiting)
        granted = session.execute(
            select(HandoverInheritance.granted_user_id).where(HandoverInheritance.case_id == case_id)
        ).scalars()
        assert set(granted) == {account}


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_on_job_transfer_shows_the_customer_the_handover_message(archive: HandoverArchive) -> None:
    world = archive.world
    member = max(
        (u for u in world.follows if world.active(u) and archive.colleagues(u)),
        key=lambda u: (len(world.follows[u]), u),
    )
    successor = archive.colleagues(member)[0]
    account = archive.add_account("onjob-successor", wecom_userid=successor)
    message = "您好，我已调岗，今后由同事为您服务。"
    case_id = archive.open_case(member, CaseKind.ONJOB, message=message)
    book = [ext for ext, row in _customers(archive, case_id).items() if row.assigned]
    assert book
    _decide(archive, case_id, successor)
    archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))
    bodies = archive.transfer_requests["transfer_customer"]
    assert bodies
    assert all(body["transfer_success_msg"] == message and body["handover_userid"] == member for body in bodies)
    assert not archive.transfer_requests["resigned/transfer_customer"]
    archive.advance_hours(25)
    summary = archive.run(lambda contacts: poll(archive.sessions, contacts, case_id, archive.now()))
    assert summary.case_status == CaseStatus.COMPLETED
    customers = _customers(archive, case_id)
    moved = {ext for ext in book if customers[ext].state == ItemState.COMPLETED}
    assert moved
    assert all(customers[ext].state in (ItemState.COMPLETED, ItemState.FAILED) for ext in book)
    assert all(ext in world.follows[successor] for ext in moved)
    with session_scope(archive.sessions) as session:
        pairs = archive.pair_conversations(session, member)
        scope = resolve_scope(session, principal_of(session, account))
        assert {pairs[ext] for ext in moved if ext in pairs} <= scope.conversation_ids
        assert not (scope.conversation_ids & {pairs[ext] for ext in pairs if ext not in moved})


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_case_with_nothing_to_move_completes_without_a_transfer_call(archive: HandoverArchive) -> None:
    case_id = archive.open_case(archive.leavers()[1])
    with session_scope(archive.sessions) as session:
        decide(
            session,
            manager(),
            case_id,
            customers=None,
            groups=None,
            decision=Decision.KEEP,
            successor=None,
            note="the customers stay with the company account",
            now=archive.now(),
        )
    summary = archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))
    assert (summary.calls, summary.case_status) == (0, CaseStatus.COMPLETED)
    assert archive.calls("resigned/transfer_customer") == archive.calls("groupchat/transfer") == 0
    with pytest.raises(Conflict, match="already completed"):
        archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))
    assert _case_actions(archive, case_id)[-2:] == ["handover.execute", "handover.complete"]
