"""The working-time clock: due times and elapsed working minutes across evenings, weekends
and time zones (with daylight saving), and the thread rules on plain events."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from audit.monitor.replies import ChatEvent, build_threads
from audit.monitor.worktime import WorkingCalendar, WorkingTimeError

SHANGHAI = WorkingCalendar.of("Asia/Shanghai", "09:00", "18:00", [1, 2, 3, 4, 5])
BERLIN = WorkingCalendar.of("Europe/Berlin", "09:00", "18:00", [1, 2, 3, 4, 5])


def at(zone: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


def sh(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return at("Asia/Shanghai", year, month, day, hour, minute)


# 2026-11-23 is a Monday.
@pytest.mark.parametrize(
    ("sent", "due"),
    [
        (sh(2026, 11, 23, 10, 0), sh(2026, 11, 23, 10, 30)),  # inside hours
        (sh(2026, 11, 23, 17, 55), sh(2026, 11, 24, 9, 25)),  # 5 min today, 25 tomorrow
        (sh(2026, 11, 23, 17, 30), sh(2026, 11, 23, 18, 0)),  # exactly at closing
        (sh(2026, 11, 23, 19, 0), sh(2026, 11, 24, 9, 30)),  # evening: clock starts at opening
        (sh(2026, 11, 24, 7, 0), sh(2026, 11, 24, 9, 30)),  # early morning
        (sh(2026, 11, 27, 17, 55), sh(2026, 11, 30, 9, 25)),  # Friday evening → Monday
        (sh(2026, 11, 28, 11, 0), sh(2026, 11, 30, 9, 30)),  # Saturday → Monday
        (sh(2026, 11, 29, 23, 59), sh(2026, 11, 30, 9, 30)),  # Sunday night
    ],
)
def test_due_time_counts_only_working_minutes(sent: datetime, due: datetime) -> None:
    assert SHANGHAI.add(sent.astimezone(UTC), 30) == due


def test_a_long_timeout_spans_several_working_days() -> None:
    # 9 working hours a day: 20 h from Thursday 10:00 is Thursday 8 h + Friday 9 h + Monday 3 h.
    assert SHANGHAI.add(sh(2026, 11, 26, 10, 0), 20 * 60) == sh(2026, 11, 30, 12, 0)


def test_elapsed_working_minutes_across_a_weekend() -> None:
    assert SHANGHAI.minutes_between(sh(2026, 11, 27, 17, 55), sh(2026, 11, 30, 9, 25)) == 30
    assert SHANGHAI.minutes_between(sh(2026, 11, 28, 10, 0), sh(2026, 11, 29, 16, 0)) == 0
    assert SHANGHAI.minutes_between(sh(2026, 11, 23, 12, 0), sh(2026, 11, 23, 11, 0)) == 0


def test_other_time_zone_keeps_local_hours_across_daylight_saving() -> None:
    # Europe/Berlin moves to summer time on Sunday 2026-03-29: Monday still opens 09:00 local.
    due = BERLIN.add(at("Europe/Berlin", 2026, 3, 27, 17, 55).astimezone(UTC), 30)
    assert due == at("Europe/Berlin", 2026, 3, 30, 9, 25)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 7, 25, tzinfo=UTC)
    # The same UTC instant is 16:55 in Berlin (inside hours) and 00:55 in Shanghai (outside).
    instant = datetime(2026, 11, 23, 15, 55, tzinfo=UTC)
    assert BERLIN.is_working(instant) and not SHANGHAI.is_working(instant)


def test_local_days_follow_the_zone() -> None:
    instant = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 01:00 on the 24th in Shanghai
    assert SHANGHAI.local_day(instant).day == 24
    start, end = SHANGHAI.day_bounds(SHANGHAI.local_day(instant))
    assert start == datetime(2026, 11, 23, 16, 0, tzinfo=UTC) and end == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def test_weekend_shift_when_saturday_is_a_working_day() -> None:
    six_days = WorkingCalendar.of("Asia/Shanghai", "09:00", "18:00", [1, 2, 3, 4, 5, 6])
    assert six_days.add(sh(2026, 11, 27, 17, 55), 30) == sh(2026, 11, 28, 9, 25)


@pytest.mark.parametrize(
    ("start", "end", "days", "message"),
    [
        ("18:00", "09:00", [1], "start before they end"),
        ("9am", "18:00", [1], "look like 09:00"),
        ("09:00", "18:00", [], "ISO weekdays"),
        ("09:00", "18:00", [0, 8], "ISO weekdays"),
    ],
)
def test_bad_settings_say_what_to_fix(start: str, end: str, days: list[int], message: str) -> None:
    with pytest.raises(WorkingTimeError, match=message):
        WorkingCalendar.of("Asia/Shanghai", start, end, days)
    with pytest.raises(WorkingTimeError, match="IANA"):
        WorkingCalendar.of("Mars/Olympus", "09:00", "18:00", [1])


def _events(*rows: tuple[str, int, str]) -> list[ChatEvent]:
    return [
        ChatEvent(i, sender, datetime(2026, 11, 23, 2, minute, tzinfo=UTC), msgtype)
        for i, (sender, minute, msgtype) in enumerate(rows, start=1)
    ]


def test_customer_messages_before_an_answer_are_one_thread() -> None:
    threads = build_threads(
        _events(("wmcust", 0, "text"), ("wmcust", 1, "image"), ("zhangsan", 5, "text"), ("wmcust", 6, "text")),
        staff_participant="zhangsan",
    )
    assert [(t.opened_message_id, t.customer_messages, t.answered_message_id) for t in threads] == [
        (1, 2, 3),
        (4, 1, None),
    ]
    assert all(t.employee == "zhangsan" for t in threads)


def test_in_a_group_any_staff_answers_every_waiting_customer_and_robots_do_not() -> None:
    threads = build_threads(
        _events(
            ("lisi", 0, "text"),
            ("wmA", 1, "text"),
            ("wbrobot", 2, "markdown"),
            ("woB", 3, "text"),
            ("wangwu", 9, "text"),
            ("wmA", 10, "emotion"),  # a sticker expects no answer
            ("wmA", 11, "agree"),
            ("woB", 12, "text"),
        ),
        staff_participant=None,
    )
    first, second = threads
    assert first.customers == ["wmA", "woB"] and first.answered_by == "wangwu" and first.employee == "wangwu"
    assert second.opened_message_id == 8 and second.answered_at is None
    assert second.employee == "wangwu"  # unanswered: counted against the last staff member who spoke
