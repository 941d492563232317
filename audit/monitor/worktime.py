"""Working time: the clock that reply timeouts and response times run on.

The clock runs only inside working hours on working days, judged in the configured zone
(local dates and times, so a zone with daylight saving keeps 09:00–18:00 local). Public
holidays are not modelled: a holiday counts as a working day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from audit.errors import AuditError

_MAX_SEARCH_DAYS = 14  # a calendar with no working day in two weeks is rejected up front


class WorkingTimeError(AuditError, ValueError):
    """The working-hours settings cannot describe a usable calendar."""

    code = "working_time"


@dataclass(frozen=True)
class WorkingCalendar:
    zone: ZoneInfo
    start: time
    end: time
    # ISO weekdays: 1 = Monday … 7 = Sunday.
    days: frozenset[int]

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise WorkingTimeError(
                f"working hours must start before they end (got {self.start:%H:%M}–{self.end:%H:%M}); "
                "set detection.working_hours_start/end"
            )
        if not self.days or not self.days <= set(range(1, 8)):
            raise WorkingTimeError("detection.working_days must list ISO weekdays 1 (Monday) … 7 (Sunday)")

    @classmethod
    def of(cls, timezone: str, start: str, end: str, days: list[int] | tuple[int, ...]) -> WorkingCalendar:
        try:
            zone = ZoneInfo(timezone)
        except (KeyError, ValueError) as exc:
            raise WorkingTimeError(f"unknown time zone {timezone!r}; use an IANA name such as Asia/Shanghai") from exc
        return cls(zone, _parse_time(start), _parse_time(end), frozenset(days))

    @classmethod
    def from_settings(cls, detection: Any) -> WorkingCalendar:
        """From ``config.settings.DetectionSettings`` (read by attribute, defaults as documented)."""
        return cls.of(
            getattr(detection, "timezone", "Asia/Shanghai"),
            getattr(detection, "working_hours_start", "09:00"),
            getattr(detection, "working_hours_end", "18:00"),
            list(getattr(detection, "working_days", [1, 2, 3, 4, 5])),
        )

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """The UTC instants at which the local ``day`` begins and ends."""
        start = datetime.combine(day, time(0), self.zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), self.zone).astimezone(UTC)
        return start, end

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if day.isoweekday() not in self.days:
            return None
        opens = datetime.combine(day, self.start, self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.end, self.zone).astimezone(UTC)
        return opens, closes

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows (UTC) that end after ``moment``, in order, clipped to start at it."""
        day = self.local_day(moment) - timedelta(days=1)  # a window may straddle UTC midnight
        empty_days = 0
        while True:
            window = self._window(day)
            day += timedelta(days=1)
            if window is None:
                empty_days += 1
                if empty_days > _MAX_SEARCH_DAYS:
                    raise WorkingTimeError("no working day in two weeks; check detection.working_days")
                continue
            empty_days = 0
            opens, closes = window
            if closes <= moment:
                continue
            yield max(opens, moment), closes

    def add(self, moment: datetime, minutes: float) -> datetime:
        """The instant at which ``minutes`` of working time have passed since ``moment``."""
        left = timedelta(minutes=minutes)
        for opens, closes in self._windows_from(moment):
            if opens + left <= closes:
                return opens + left
            left -= closes - opens
        raise AssertionError("unreachable: the window iterator is endless")

    def minutes_between(self, earlier: datetime, later: datetime) -> float:
        """Working minutes elapsed from ``earlier`` to ``later`` (0 if ``later`` is not after)."""
        if later <= earlier:
            return 0.0
        total = timedelta()
        for opens, closes in self._windows_from(earlier):
            if opens >= later:
                break
            total += min(closes, later) - opens
        return total.total_seconds() / 60

    def is_working(self, moment: datetime) -> bool:
        window = self._window(self.local_day(moment))
        return window is not None and window[0] <= moment < window[1]


def _parse_time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise WorkingTimeError(f"working hours must look like 09:00 (got {value!r})") from exc
