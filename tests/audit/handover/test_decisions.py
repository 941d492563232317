"""Deciding a handover case: per customer and in bulk, with the checks a manager meets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from archive.directory.repository import set_members_inactive
from audit.accesslog import log as access_log
from audit.errors import Conflict, InvalidInput, NotFound
from audit.handover.decisions import accept_suggestions, decide
from audit.handover.models import CaseStatus, Decision, HandoverCase, HandoverCustomer, HandoverGroup, ItemState
from audit.security.errors import PermissionDenied
from audit.security.principal import Principal
from audit.security.roles import ROLE_PERMISSIONS, Role
from config.database import session_scope
from tests.audit.handover.edge import HandoverWorldEdge
from tests.audit.handover.execution_world import HandoverArchive, from_edge, manager


@pytest.fixture
def archive(handover_edge: HandoverWorldEdge) -> HandoverArchive:
    return from_edge(handover_edge)


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


def test_per_customer_then_bulk_decisions_are_recorded_and_logged(archive: HandoverArchive) -> None:
    leaver = archive.leavers()[0]
    successor, other = archive.colleagues(leaver)[:2]
    case_id = archive.open_case(leaver)
    customers = _customers(archive, case_id)
    assigned = sorted(ext for ext, row in customers.items() if row.assigned)
    held, kept = assigned[0], assigned[1]
    with session_scope(archive.sessions) as session:
        assert (
            decide(
                session,
                manager(),
                case_id,
                customers=[held],
                groups=[],
                decision=Decision.HOLD,
                successor=None,
                note="ask sales first",
                now=archive.now(),
            )
            == 1
        )
        decide(
            session,
            manager(),
            case_id,
            customers=[kept],
            groups=[],
            decision=Decision.KEEP,
            successor=None,
            note=None,
            now=archive.now(),
        )
        # Bulk: every customer and group still undecided goes to the successor.
        bulk = decide(
            session,
            manager(),
            case_id,
            customers=None,
            groups=None,
            decision=Decision.TRANSFER,
            successor=successor,
            note=None,
            now=archive.now(),
        )
        # A named item can be decided again while nothing was sent.
        decide(
            session,
            manager(),
            case_id,
            customers=[assigned[2]],
            groups=[],
            decision=Decision.TRANSFER,
            successor=other,
            note=None,
            now=archive.now(),
        )
    after = _customers(archive, case_id)
    groups = _groups(archive, case_id)
    assert bulk == len(assigned) - 2 + len(groups)
    assert (after[held].decision, after[held].successor_userid, after[held].decision_note) == (
        "hold",
        None,
        "ask sales first",
    )
    assert (after[kept].decision, after[kept].successor_userid) == ("keep", None)
    assert (after[assigned[2]].decision, after[assigned[2]].successor_userid) == ("transfer", other)
    assert all(after[ext].successor_userid == successor for ext in assigned[3:])
    assert all(g.decision == "transfer" and g.successor_userid == successor for g in groups.values())
    # Customers deleted before leaving have nothing to transfer: a bulk transfer leaves them out.
    assert any(not row.assigned for row in after.values())
    assert all(row.decision is None for row in after.values() if not row.assigned)
    assert {row.decided_by for row in after.values() if row.decision} == {"manager"}
    assert all(row.state == ItemState.PENDING for row in after.values())
    with session_scope(archive.sessions) as session:
        logged = access_log.search(
            session, access_log.AccessLogQuery(action="handover.decide"), before_position=None, limit=10
        )
    assert len(logged) == 4
    assert all(entry.target["case_id"] == case_id and entry.actor == "manager" for entry in logged)
    assert logged[-1].target["decision"] == "hold"
    assert logged[-1].target["customers"]["ids"] == [held]


def test_accept_suggestions_decides_only_undecided_items(archive: HandoverArchive) -> None:
    leaver = archive.leavers()[0]
    case_id = archive.open_case(leaver)
    first = sorted(ext for ext, row in _customers(archive, case_id).items() if row.assigned)[0]
    with session_scope(archive.sessions) as session:
        decide(
            session,
            manager(),
            case_id,
            customers=[first],
            groups=[],
            decision=Decision.KEEP,
            successor=None,
            note=None,
            now=archive.now(),
        )
        decided = accept_suggestions(session, manager(), case_id, archive.now())
    customers = _customers(archive, case_id)
    suggested = [
        row for row in customers.values() if row.assigned and row.suggested_successor and row.external_userid != first
    ]
    groups = _groups(archive, case_id)
    assert decided == len(suggested) + sum(1 for g in groups.values() if g.suggested_successor)
    assert customers[first].decision == "keep"
    assert all(row.decision == "transfer" and row.successor_userid == row.suggested_successor for row in suggested)
    with session_scope(archive.sessions) as session:
        logged = access_log.search(
            session, access_log.AccessLogQuery(action="handover.accept_suggestions"), before_position=None, limit=5
        )
    assert [entry.target["decided"] for entry in logged] == [decided]


def test_invalid_decisions_say_what_to_do(archive: HandoverArchive) -> None:
    leaver = archive.leavers()[0]
    successor = archive.colleagues(leaver)[0]
    case_id = archive.open_case(leaver)
    customers = _customers(archive, case_id)
    some = sorted(ext for ext, row in customers.items() if row.assigned)[0]
    deleted = sorted(ext for ext, row in customers.items() if not row.assigned)

    def attempt(actor: Principal | None = None, **overrides: Any) -> None:
        arguments: dict[str, Any] = {
            "customers": [some],
            "groups": [],
            "decision": Decision.TRANSFER,
            "successor": successor,
            "note": None,
        }
        arguments.update(overrides)
        with session_scope(archive.sessions) as session:
            decide(session, actor or manager(), case_id, now=archive.now(), **arguments)

    with pytest.raises(InvalidInput, match="member handing over") as leaving:
        attempt(successor=leaver)
    assert "different successor" in leaving.value.hint
    with pytest.raises(InvalidInput, match="not a member"):
        attempt(successor="NoSuchPerson")
    other_leaver = archive.leavers()[1]
    # The directory still lists the other leaver as active; WeCom does not: mark them gone.
    with session_scope(archive.sessions) as session:
        set_members_inactive(session, archive.corp_id, [other_leaver], archive.now())
    with pytest.raises(InvalidInput, match="has left"):
        attempt(successor=other_leaver)
    with pytest.raises(InvalidInput, match="needs a successor"):
        attempt(successor=None)
    with pytest.raises(InvalidInput, match="takes no successor"):
        attempt(decision=Decision.HOLD)
    with pytest.raises(NotFound, match="not in this case") as unknown:
        attempt(customers=[some, "wmUnknownCustomer"])
    assert "handover show" in unknown.value.hint
    assert deleted, "the world's leavers deleted customers before leaving"
    with pytest.raises(InvalidInput, match="deleted before the member left"):
        attempt(customers=[deleted[0]])
    with pytest.raises(InvalidInput, match="longer than"):
        attempt(note="x" * 2001)
    reviewer = Principal(2, "reviewer", Role.REVIEWER, ROLE_PERMISSIONS[Role.REVIEWER], "session")
    with pytest.raises(PermissionDenied, match="handover:manage"):
        attempt(actor=reviewer)
    with pytest.raises(NotFound, match="no handover case"), session_scope(archive.sessions) as session:
        decide(
            session,
            manager(),
            case_id + 1000,
            customers=None,
            groups=None,
            decision=Decision.KEEP,
            successor=None,
            note=None,
            now=archive.now(),
        )
    # Nothing above changed the case; a signed-off case takes no decision at all.
    assert all(row.decision is None for row in _customers(archive, case_id).values())
    with session_scope(archive.sessions) as session:
        case = session.get(HandoverCase, case_id)
        assert case is not None
        case.status = CaseStatus.SIGNED_OFF.value
    with pytest.raises(Conflict, match="signed off"):
        attempt()
