"""Behaviour detectors, first on hand-made messages (working hours across time zones),
then on the simulator's labelled conversations pulled through the real ingest path."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from archive.models import Message
from archive.simulator.conversations import GeneratedMessage
from audit.detect.behaviours import BehaviourDetector, WorkingHours
from audit.detect.engine import build_contexts, compile_engine
from audit.detect.rules.starter import starter_rules
from config.settings import DetectionSettings
from tests.audit.detect.conftest import STAFF_TO_CUSTOMER
from tests.clock import weekday_afternoon_before
from tests.conftest import Edge


def _after_hours(hours: WorkingHours, moment: datetime, **fields: Any) -> bool:
    detector = BehaviourDetector(hours, 200.0)
    message = replace(STAFF_TO_CUSTOMER, text="好的", msgtime=moment, **fields)
    return any(hit.rule == "after_hours" for hit in detector.detect(message))


SHANGHAI = WorkingHours.parse("Asia/Shanghai", "09:00", "18:00", [1, 2, 3, 4, 5])


@pytest.mark.parametrize(
    ("local", "after"),
    [
        ("2026-11-23T08:59:59", True),  # Monday before nine
        ("2026-11-23T09:00:00", False),
        ("2026-11-23T17:59:59", False),
        ("2026-11-23T18:00:00", True),
        ("2026-11-28T11:00:00", True),  # Saturday
    ],
)
def test_working_hours_in_shanghai(local: str, after: bool) -> None:
    moment = datetime.fromisoformat(local).replace(tzinfo=timezone(timedelta(hours=8)))
    assert _after_hours(SHANGHAI, moment.astimezone(UTC)) is after


def test_the_same_instant_is_judged_in_the_configured_zone() -> None:
    instant = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # 09:30 Shanghai, 01:30 London, 20:30 New York (Sunday)
    assert not _after_hours(SHANGHAI, instant)
    assert _after_hours(WorkingHours.parse("Europe/London", "09:00", "18:00", [1, 2, 3, 4, 5]), instant)
    assert _after_hours(WorkingHours.parse("America/New_York", "09:00", "18:00", [1, 2, 3, 4, 5]), instant)


def test_daylight_saving_time_moves_working_hours() -> None:
    berlin = WorkingHours.parse("Europe/Berlin", "09:00", "18:00", [1, 2, 3, 4, 5])
    summer = datetime(2026, 7, 6, 7, 30, tzinfo=UTC)  # Monday 09:30 CEST
    winter = datetime(2026, 1, 5, 7, 30, tzinfo=UTC)  # Monday 08:30 CET
    assert not _after_hours(berlin, summer)
    assert _after_hours(berlin, winter)


def test_half_hour_zones_and_minutes() -> None:
    india = WorkingHours.parse("Asia/Kolkata", "09:30", "18:00", [1, 2, 3, 4, 5])
    assert not _after_hours(india, datetime(2026, 11, 23, 4, 0, tzinfo=UTC))  # 09:30 IST
    assert _after_hours(india, datetime(2026, 11, 23, 3, 59, tzinfo=UTC))  # 09:29 IST


def test_internal_chats_after_hours_are_not_flagged() -> None:
    night = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 Shanghai
    assert _after_hours(SHANGHAI, night)
    assert not _after_hours(SHANGHAI, night, has_external=False, chat_kind="internal")


def test_red_packet_threshold_and_staff_cards() -> None:
    detector = BehaviourDetector(SHANGHAI, 200.0)
    packet = replace(STAFF_TO_CUSTOMER, msgtype="redpacket", body={"totalamount": 20_000, "totalcnt": 1})
    small = replace(packet, body={"totalamount": 19_999, "totalcnt": 1})
    assert [hit.rule for hit in detector.detect(packet)] == ["red_packet"]
    assert detector.detect(small) == []
    card = replace(STAFF_TO_CUSTOMER, msgtype="card", body={"corpname": "x", "userid": "lisi"})
    customer_card = replace(card, body={"corpname": "y", "userid": "wmAbc"})
    assert [hit.rule for hit in detector.detect(card)] == ["personal_card"]
    assert detector.detect(customer_card) == []
    assert detector.detect(replace(card, has_external=False, chat_kind="internal")) == []


def test_behaviours_on_simulated_conversations(edge: Edge) -> None:
    sent: list[GeneratedMessage] = []
    # From midnight to a weekday afternoon (Shanghai): chats after hours and in office hours,
    # whatever the hour the suite runs (ending at "now", a night run had no after-hours chats).
    end = weekday_afternoon_before(datetime.now(UTC))
    edge.simulator.populate(2500, end_ms=int(end.timestamp() * 1000), messages_per_day=4_000, record=sent)
    edge.register_keys()
    context = edge.context()
    assert context.puller(edge.simulator.corp_id).run().status == "completed"
    context.close()

    settings = DetectionSettings(red_packet_threshold_yuan=0.01)
    engine = compile_engine(starter_rules(), settings)
    with edge.database.sessions() as session:
        ids = list(session.scalars(select(Message.id).order_by(Message.id)))
        contexts = build_contexts(session, ids)
    assert len(contexts) == len(sent)
    results = engine.scan(contexts)
    rules: dict[str, set[str]] = defaultdict(set)
    recalled: dict[str, str] = {}
    by_msgid = {}
    for message, hits in zip(contexts, results, strict=True):
        by_msgid[message.msgid] = message
        for hit in hits:
            rules[message.msgid].add(hit.rule)
            if hit.rule == "recall":
                recalled[message.msgid] = hit.detail

    labels = {generated.msgid: generated.labels for generated in sent}
    expectations = {
        "redpacket": "red_packet",
        "card-to-customer": "personal_card",
        "recall": "recall",
        "file-to-external": "file_to_external",
    }
    for label, rule in expectations.items():
        labelled = {msgid for msgid, found in labels.items() if label in found}
        flagged = {msgid for msgid, found in rules.items() if rule in found}
        assert labelled, f"the simulation should contain {label!r} messages"
        assert flagged == labelled, rule
    # A recall names the message it recalls, which stays in the archive.
    for msgid, detail in recalled.items():
        recalled_msgid = by_msgid[msgid].recalls_msgid
        assert recalled_msgid and recalled_msgid in detail and recalled_msgid in by_msgid
    # After hours: the simulator's working time is the default (09–18 Mon–Fri, Shanghai).
    customer_facing = {m.msgid for m in contexts if m.has_external and m.action != "switch"}
    after = {msgid for msgid, found in labels.items() if "after-hours" in found} & customer_facing
    assert after
    assert {msgid for msgid, found in rules.items() if "after_hours" in found} == after
