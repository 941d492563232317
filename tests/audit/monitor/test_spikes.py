"""Spike detection against the room's own trailing baseline: one alert on a synthetic spike,
none on flat (but noisy) data."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from audit.monitor.models import RoomSpike
from tests.audit.monitor.helpers import Chat, Verdict, alerts, detect, group, local, run, store
from tests.conftest import Database

MEMBERS = ["lisi", "wangwu", "wmAlice", "woBob", "wmCarol"]
FIRST_DAY = date(2026, 11, 2)
BASELINE_DAYS = 15
MESSAGES_PER_DAY = 30
NEGATIVE_PER_DAY = (2, 3, 4, 3, 2, 4, 3, 3, 2, 4, 3, 2, 3, 4, 3)  # about 10 % negative, never flat


def _store_day(database: Database, day: date, negative: int) -> None:
    chats = [
        Chat(MEMBERS[i % len(MEMBERS)], local(day.year, day.month, day.day, 10, i), f"第{i}条消息")
        for i in range(MESSAGES_PER_DAY)
    ]
    ids = store(database, group("room-spike", MEMBERS, chats))
    detect(database, {message_id: Verdict("negative") for message_id in ids[:negative]})


def _baseline(database: Database) -> date:
    for offset, negative in enumerate(NEGATIVE_PER_DAY):
        _store_day(database, FIRST_DAY + timedelta(days=offset), negative)
    return FIRST_DAY + timedelta(days=BASELINE_DAYS)


def _evening(day: date) -> datetime:
    return local(day.year, day.month, day.day, 20, 0)


def test_a_negative_spike_raises_exactly_one_group_alert(database: Database) -> None:
    spike_day = _baseline(database)
    run(database, _evening(spike_day - timedelta(days=1)))
    assert alerts(database, "group_monitor") == []

    _store_day(database, spike_day, negative=15)  # half the day's messages are negative
    report = run(database, _evening(spike_day))
    assert report.spike_alerts == 1
    # More messages that day recompute it; the spike is not raised a second time.
    _store_day(database, spike_day, negative=10)
    run(database, _evening(spike_day))
    run(database, _evening(spike_day) + timedelta(hours=1))

    (alert,) = alerts(database, "group_monitor")
    assert alert.category == "group_sentiment_spike" and alert.severity == "high"
    metrics = alert.explanation["metrics"]
    assert set(metrics) == {"negative_share"}
    assert metrics["negative_share"]["value"] == 0.5
    assert metrics["negative_share"]["threshold"] < 0.5
    trailing = NEGATIVE_PER_DAY[-14:]  # the 14 days before the spike
    assert abs(metrics["negative_share"]["baseline_mean"] - sum(trailing) / MESSAGES_PER_DAY / 14) < 1e-4
    with database.sessions() as session:
        (spike,) = session.scalars(select(RoomSpike)).all()
    assert spike.day == spike_day


def test_flat_data_raises_no_group_alert(database: Database) -> None:
    next_day = _baseline(database)
    _store_day(database, next_day, negative=4)  # the high end of normal
    for offset in range(-3, 1):
        run(database, _evening(next_day + timedelta(days=offset)))
    assert alerts(database, "group_monitor") == []
    with database.sessions() as session:
        assert session.scalars(select(RoomSpike)).all() == []


def test_a_spike_in_a_room_without_history_is_not_reported(database: Database) -> None:
    day = FIRST_DAY
    _store_day(database, day, negative=25)
    run(database, _evening(day))
    assert alerts(database, "group_monitor") == []
