"""A busy moment in the simulated company's past, for tests whose chats must be dated before
now whatever the time of day the suite runs."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def weekday_afternoon_before(moment: datetime) -> datetime:
    """15:00 Asia/Shanghai, Monday to Thursday, at least a day before ``moment``: the
    simulated company is busy then and the next afternoon, so short windows of history
    are full of messages. It lies within WeCom's five days of retention."""
    day = moment.astimezone(SHANGHAI).date() - timedelta(days=1)
    while day.weekday() >= 4:
        day -= timedelta(days=1)
    return datetime.combine(day, time(15), tzinfo=SHANGHAI).astimezone(UTC)
