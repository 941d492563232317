"""Coverage: the members WeCom's permit list names (fetched over HTTP from the simulated
WeCom) against the members seen in stored messages, and per-day volumes — each compared
with an independent computation from what the simulator sent."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from archive.completeness import service
from archive.simulator.conversations import GeneratedMessage
from archive.simulator.server import PERMIT_USER_LIST_META_KEY
from archive.wecom.client import BlockingWeComClient, WeComClient
from tests.archive.completeness.conftest import clocked_edge, populate_until, pull
from tests.clock import SHANGHAI
from tests.conftest import Edge


def participants(message: GeneratedMessage) -> tuple[str, set[str]]:
    plaintext = message.plaintext
    if plaintext["action"] == "switch":
        return str(plaintext["user"]), set()
    tolist = plaintext.get("tolist") or []
    assert isinstance(tolist, list)
    return str(plaintext["from"]), {str(userid) for userid in tolist}


def is_member(userid: str) -> bool:
    return bool(userid) and not userid.startswith(("wm", "wo", "wb"))


def permit_list(edge: Edge) -> list[str]:
    client = WeComClient(edge.server.url, edge.simulator.corp_id, edge.simulator.archive_secret, timeout_s=5)
    with BlockingWeComClient(client) as wecom:
        return wecom.permit_users()


def test_coverage_per_employee_against_the_permit_list(edge: Edge) -> None:
    clock = clocked_edge(edge)
    sent = populate_until(edge, clock, 800)
    pull(edge, clock)
    # A member licensed today, before their first chat: on WeCom's permit list, in no message.
    licensed = [e.userid for e in edge.simulator.company.employees if e.archived]
    edge.simulator.store.set_meta(PERMIT_USER_LIST_META_KEY, json.dumps([*licensed, "NewHire"]))
    permitted = permit_list(edge)
    since, until = clock.now - timedelta(days=1), clock.now + timedelta(seconds=1)
    with edge.database.sessions() as session:
        report = service.coverage(session, edge.simulator.corp_id, permitted, since=since, until=until)

    messages: Counter[str] = Counter()
    sent_by: Counter[str] = Counter()
    without_permitted: Counter[str] = Counter()
    for message in sent:
        sender, recipients = participants(message)
        everyone = {sender} | recipients
        sent_by[sender] += 1
        for userid in everyone:
            messages[userid] += 1
            if not everyone & set(permitted):
                without_permitted[userid] += 1
    seen = {userid for userid in messages if is_member(userid)}
    by_status = defaultdict(set)
    for employee in report.employees:
        by_status[employee.status].add(employee.userid)

    assert permitted == [*licensed, "NewHire"]
    assert by_status["covered"] == seen & set(permitted)
    assert by_status["silent"] == set(permitted) - seen
    assert by_status["unpermitted"] == seen - set(permitted)
    assert by_status["silent"], "some licensed members never chatted in the period"
    assert by_status["unpermitted"], "members without a licence appear in their colleagues' chats"
    assert (report.permitted, report.covered, report.silent, report.unpermitted) == (
        len(permitted),
        len(by_status["covered"]),
        len(by_status["silent"]),
        len(by_status["unpermitted"]),
    )
    for employee in report.employees:
        assert employee.messages == messages[employee.userid]
        assert employee.sent == sent_by[employee.userid]
        expected_unexplained = without_permitted[employee.userid] if employee.status == "unpermitted" else 0
        assert employee.without_permitted_party == expected_unexplained
        if employee.status == "silent":
            assert employee.first_seen is None and employee.last_seen is None
        else:
            times = [m.msgtime_ms for m in sent if employee.userid in {participants(m)[0], *participants(m)[1]}]
            assert employee.last_seen == datetime.fromtimestamp(max(times) / 1000, UTC)
    statuses = [employee.status for employee in report.employees]
    assert statuses == sorted(statuses, key=["unpermitted", "silent", "covered"].index)


def test_messages_per_day_equal_an_independent_count(edge: Edge) -> None:
    clock = clocked_edge(edge)
    sent = populate_until(edge, clock, 400)
    clock.advance(days=1)
    sent += populate_until(edge, clock, 400)
    pull(edge, clock)
    today = clock.now.astimezone(SHANGHAI).date()
    since = datetime.combine(today - timedelta(days=3), time(), tzinfo=SHANGHAI)
    until = datetime.combine(today + timedelta(days=1), time(), tzinfo=SHANGHAI)
    with edge.database.sessions() as session:
        report = service.coverage(session, edge.simulator.corp_id, [], since=since, until=until)

    counts: Counter[date] = Counter()
    active: dict[date, set[str]] = defaultdict(set)
    for message in sent:
        day = datetime.fromtimestamp(message.msgtime_ms / 1000, SHANGHAI).date()
        counts[day] += 1
        sender = participants(message)[0]
        if is_member(sender):
            active[day].add(sender)
    days = [today - timedelta(days=n) for n in range(3, -1, -1)]
    expected = [service.DayCoverage(day, counts[day], len(active[day])) for day in days]
    assert list(report.days) == expected
    assert sum(day.messages for day in report.days) == len(sent)
    assert [day.messages > 0 for day in report.days] == [False, False, True, True]


def test_days_follow_the_zone_across_daylight_saving_changes(edge: Edge) -> None:
    zone = ZoneInfo("America/New_York")  # 1 November 2026 lasts 25 hours there
    edge.server.clock_ms = lambda: int(datetime(2026, 11, 3, tzinfo=UTC).timestamp() * 1000)
    edge.register_keys()
    local_times = [
        datetime(2026, 10, 31, 23, 30, tzinfo=zone),
        datetime(2026, 11, 1, 0, 30, tzinfo=zone),
        datetime(2026, 11, 1, 23, 30, tzinfo=zone),  # after the clocks went back: 04:30 UTC on the 2nd
        datetime(2026, 11, 2, 0, 30, tzinfo=zone),
        datetime(2026, 11, 2, 23, 59, 59, 900_000, tzinfo=zone),
    ]
    employees = [e.userid for e in edge.simulator.company.employees]
    edge.simulator.inject(
        [
            {
                "msgid": f"dst_{n}",
                "action": "send",
                "from": employees[n],
                "tolist": [employees[-1]],
                "roomid": "",
                "msgtime": int(moment.timestamp() * 1000),
                "msgtype": "text",
                "text": {"content": "ok"},
            }
            for n, moment in enumerate(local_times)
        ]
    )
    context = edge.context()
    try:
        assert context.puller(edge.simulator.corp_id).run().stored == len(local_times)
    finally:
        context.close()
    with edge.database.sessions() as session:
        report = service.coverage(
            session,
            edge.simulator.corp_id,
            [],
            since=datetime(2026, 10, 31, tzinfo=zone),
            until=datetime(2026, 11, 3, tzinfo=zone),
            zone="America/New_York",
        )
    assert [(day.day.day, day.messages, day.active_employees) for day in report.days] == [
        (31, 1, 1),
        (1, 2, 2),
        (2, 2, 2),
    ]


def test_an_empty_period_is_refused(edge: Edge) -> None:
    now = datetime.now(UTC)
    with edge.database.sessions() as session, pytest.raises(ValueError, match="since"):
        service.coverage(session, edge.simulator.corp_id, [], since=now, until=now)
