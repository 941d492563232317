"""The consent ledger end to end: the simulated company's chats are pulled, the job reads
their agree/disagree messages and asks WeCom's check APIs (real simulator HTTP server, real
database on SQLite and PostgreSQL) — and a customer who disagrees, then agrees, shows both."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from archive.consent import repository, service
from archive.consent.jobs import ConsentCheckLimits, run_corp
from archive.consent.models import ConsentCheck, ConsentEvent
from archive.consent.repository import Subject
from archive.consent.service import Agreement, Observation
from archive.simulator.consent import ConsentWorld
from archive.wecom.errors import WeComConfigurationError
from config.database import session_scope
from tests.conftest import Edge

HOUR_MS = 3_600_000
LIMITS = ConsentCheckLimits(timedelta(hours=24), max_pairs=5000, max_rooms=500)


def wire(edge: Edge) -> ConsentWorld:
    edge.settings.wecom.api_base_url = edge.server.url
    return ConsentWorld(edge.simulator, baseline_ms=1_690_000_000_000).install(edge.server)


def pull(edge: Edge) -> None:
    edge.register_keys()
    context = edge.context()
    assert context.puller(edge.simulator.corp_id).run().status == "completed"
    context.close()


def run_job(
    edge: Edge, now: datetime, limits: ConsentCheckLimits = LIMITS
) -> tuple[service.MessagePassReport, service.CheckReport]:
    return asyncio.run(run_corp(edge.database.sessions, edge.settings.wecom, now, limits))


def events(edge: Edge) -> int:
    with session_scope(edge.database.sessions) as session:
        return session.scalar(select(func.count()).select_from(ConsentEvent)) or 0


def at_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_a_customer_who_disagrees_then_agrees_shows_both_events_with_times(edge: Edge) -> None:
    world = wire(edge)
    now = datetime.now(UTC)
    edge.simulator.populate(300, messages_per_day=20_000, end_ms=int(now.timestamp() * 1000) - 6 * HOUR_MS)
    disagree_ms = int(now.timestamp() * 1000) - 3 * HOUR_MS
    agree_ms = disagree_ms + HOUR_MS
    member, customer = world.play_disagree_then_agree(disagree_ms, agree_ms)
    pull(edge)

    messages, checks = run_job(edge, now)

    assert messages.recorded >= 2 and not messages.unresolved
    assert checks.pairs_checked >= 1 and checks.not_found == 0
    with session_scope(edge.database.sessions) as session:
        records = service.ledger(session, edge.simulator.corp_id, external_userid=customer)
    (record,) = [r for r in records if r.scope == "single" and r.party == member]
    assert (record.state, record.since) == (Agreement.AGREED, at_ms(agree_ms))
    history = [(e.status, e.changed_at, e.source) for e in record.history]
    assert ("Disagree", at_ms(disagree_ms), "message") in history
    assert ("Agree", at_ms(agree_ms), "message") in history
    # WeCom's check API says the same, to the second.
    assert ("Agree", at_ms(agree_ms // 1000 * 1000), "check_api") in history
    assert record.history[0].status == "Disagree"  # oldest first
    assert all(e.msgid for e in record.history if e.source == "message")


def test_runs_are_incremental_and_repeat_observations_are_stored_once(edge: Edge) -> None:
    world = wire(edge)
    now = datetime.now(UTC)
    edge.simulator.populate(300, messages_per_day=20_000, end_ms=int(now.timestamp() * 1000) - HOUR_MS)
    pull(edge)
    _, first = run_job(edge, now)
    assert first.pairs_checked > 0
    stored = events(edge)

    # Nothing new and nothing due: no call about old pairs, no event twice.
    _, second = run_job(edge, now + timedelta(hours=1))
    assert (second.pairs_checked, second.rooms_checked, events(edge)) == (0, 0, stored)

    # A new pair appears in the archive: only it is asked about.
    company = edge.simulator.company
    with session_scope(edge.database.sessions) as session:
        seen = {(s.party, s.external_userid) for s in repository.pairs_seen(session, company.corp_id)}
    member, customer = next(
        (e.userid, c.external_userid)
        for e in company.employees
        if e.archived
        for c in company.customers
        if (e.userid, c.external_userid) not in seen
    )
    world.change(member, customer, "Disagree", int(now.timestamp() * 1000) - 1000)
    pull(edge)
    messages, third = run_job(edge, now + timedelta(hours=2))
    assert (messages.recorded, third.pairs_checked) == (1, 1)
    with session_scope(edge.database.sessions) as session:
        (record,) = service.ledger(session, company.corp_id, external_userid=customer, party=member)
    assert record.state is Agreement.DISAGREED
    assert {e.source for e in record.history} == {"message", "check_api"}

    # After recheck_after, every pair is asked again; WeCom's unchanged answers add nothing.
    before = events(edge)
    _, fourth = run_job(edge, now + timedelta(hours=30))
    assert fourth.pairs_checked == first.pairs_checked + 1
    assert events(edge) == before


def test_unknown_statuses_are_kept_as_sent_and_read_as_unknown(edge: Edge) -> None:
    corp_id = edge.simulator.corp_id
    subject = Subject("single", "zhangsan", "wmCUSTOMER0001")
    when = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    with session_scope(edge.database.sessions) as session:
        service.record(session, Observation(corp_id, subject, "Agree", when, "check_api"), when)
        service.record(
            session, Observation(corp_id, subject, "Pending_Review", when + timedelta(days=1), "check_api"), when
        )
        assert (
            service.record(
                session, Observation(corp_id, subject, "Pending_Review", when + timedelta(days=1), "check_api"), when
            )
            is None
        )
        # An older observation arriving late does not overwrite the current state.
        service.record(session, Observation(corp_id, subject, "Disagree", when - timedelta(days=3), "message"), when)
    with session_scope(edge.database.sessions) as session:
        (record,) = service.ledger(session, corp_id, external_userid="wmCUSTOMER0001")
    assert (record.status, record.state, record.since) == (
        "Pending_Review",
        Agreement.UNKNOWN,
        when + timedelta(days=1),
    )
    assert [e.status for e in record.history] == ["Disagree", "Agree", "Pending_Review"]


def test_a_wecom_failure_midway_writes_none_of_the_checks(edge: Edge) -> None:
    wire(edge)
    now = datetime.now(UTC)
    edge.simulator.populate(300, messages_per_day=20_000, end_ms=int(now.timestamp() * 1000) - HOUR_MS)
    pull(edge)
    # The pairs are answered, then the archive licence "expires" during the group checks.
    route = ("POST", "/cgi-bin/msgaudit/check_room_agree")
    answer_room = edge.server.extra_routes[route]
    calls = {"rooms": 0}

    def failing_after_one(query: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        calls["rooms"] += 1
        if calls["rooms"] > 1:
            edge.server.faults.msgaudit_errcode = 301052
        return answer_room(query, body)

    edge.server.extra_routes[route] = failing_after_one
    with pytest.raises(WeComConfigurationError):
        run_job(edge, now)
    assert calls["rooms"] == 2
    with session_scope(edge.database.sessions) as session:
        sources = set(session.scalars(select(ConsentEvent.source)))
        checks = session.scalar(select(func.count()).select_from(ConsentCheck))
    assert "check_api" not in sources and checks == 0, "no answer of the failed run was written"

    edge.server.faults.msgaudit_errcode = 0
    edge.server.extra_routes[route] = answer_room
    _, report = run_job(edge, now)
    assert report.pairs_checked > 0 and report.rooms_checked > 1


def test_the_message_pass_reads_rooms_seconds_and_counts_what_it_cannot_pair(edge: Edge) -> None:
    wire(edge)
    company = edge.simulator.company
    customers = {c.external_userid for c in company.customers}
    group = next(g for g in company.groups if g.kind == "customer" and customers & set(g.members))
    guest = sorted(customers & set(group.members))[0]
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    agreed_s = now_ms // 1000 - 600
    edge.simulator.inject(
        [
            {  # in a group, with agree_time in seconds (UNCERTAIN unit for old data)
                "msgid": "room-agree-1",
                "action": "send",
                "from": guest,
                "tolist": [m for m in group.members if m != guest],
                "roomid": group.roomid,
                "msgtime": now_ms - 500_000,
                "msgtype": "agree",
                "agree": {"userid": guest, "agree_time": agreed_s},
            },
            {  # nobody to pair the customer with
                "msgid": "lonely-disagree-1",
                "action": "send",
                "from": guest,
                "tolist": [],
                "roomid": "",
                "msgtime": now_ms - 400_000,
                "msgtype": "disagree",
                "disagree": {"userid": guest, "disagree_time": now_ms - 400_000},
            },
        ]
    )
    pull(edge)
    messages, _ = run_job(edge, datetime.now(UTC))
    assert (messages.read, messages.recorded, messages.unresolved) == (2, 1, ["lonely-disagree-1"])
    with session_scope(edge.database.sessions) as session:
        records = service.ledger(session, company.corp_id, party=group.roomid)
    record = next(r for r in records if r.external_userid == guest)
    assert ("Agree", datetime.fromtimestamp(agreed_s, UTC), "message") in [
        (e.status, e.changed_at, e.source) for e in record.history
    ]
    again, _ = run_job(edge, datetime.now(UTC))
    assert again.read == 0  # the cursor moved past both
