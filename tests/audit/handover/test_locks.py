"""The handover's own lock (``audit.handover.locks``): two executions of one case started
at the same moment wait for each other, and only one of them sends anything to WeCom."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from audit.accesslog.models import AccessLogEntry
from audit.errors import Conflict
from audit.handover.decisions import decide
from audit.handover.execution import ExecutionSummary, execute
from audit.handover.locks import lock_case
from audit.handover.models import Decision, HandoverCustomer
from config.database import session_scope
from tests.audit.handover.edge import HandoverWorldEdge
from tests.audit.handover.execution_world import HandoverArchive, from_edge, manager


@pytest.fixture
def archive(handover_edge: HandoverWorldEdge) -> HandoverArchive:
    return from_edge(handover_edge)


def test_two_executions_of_one_case_at_once_send_each_transfer_once(archive: HandoverArchive) -> None:
    leaver = archive.leavers()[0]
    successor = archive.colleagues(leaver)[0]
    case_id = archive.open_case(leaver)
    with session_scope(archive.sessions) as session:
        decide(
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
    outcomes: list[ExecutionSummary | Conflict] = []

    def executor() -> None:
        try:
            outcomes.append(
                archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))
            )
        except Conflict as refused:
            outcomes.append(refused)

    racers = [threading.Thread(target=executor) for _ in range(2)]
    with session_scope(archive.sessions) as session:
        assert lock_case(session, case_id)  # hold the case: both executions start and wait
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(0.5)
        assert all(racer.is_alive() for racer in racers) and not outcomes  # waiting, not reading around it
    for racer in racers:
        racer.join(60)

    summaries = [o for o in outcomes if isinstance(o, ExecutionSummary)]
    refusals = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(summaries) == 1 and len(refusals) == 1, outcomes
    assert "waiting for WeCom" in str(refusals[0])
    with session_scope(archive.sessions) as session:
        customers = session.scalars(select(HandoverCustomer).where(HandoverCustomer.case_id == case_id)).all()
        sent = [c for c in customers if c.assigned and c.sent_to == successor]
        executions = session.scalars(select(AccessLogEntry).where(AccessLogEntry.action == "handover.execute")).all()
    assert len(executions) == 1
    assert summaries[0].customers_sent + summaries[0].customers_failed == len(sent)
    assert archive.calls("resigned/transfer_customer") == sum(1 for _ in range((len(sent) + 99) // 100))
