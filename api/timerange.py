"""The span of times and days the API accepts as parameters.

Outside it a time is a typing error, and refusing it here keeps it away from arithmetic
that overflows (``datetime.min`` at +14:00 has no UTC equivalent; a week before
``date.min`` does not exist) and from the databases and the search index, which represent
narrower ranges than Python (the embedded index keys documents by milliseconds in 43 bits).
The search language keeps the same days for ``after:``/``before:`` (``search.query``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from audit.errors import InvalidInput

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)


def checked_day(name: str, day: date | None) -> date | None:
    """``day`` if it lies in ``FIRST_DAY``…``LAST_DAY``; otherwise ``InvalidInput`` naming ``name``."""
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"{name} must lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}")
    return day


def utc_instant(name: str, moment: datetime | None) -> datetime | None:
    """``moment`` in UTC (a time without a zone is read as UTC), if its UTC date lies in
    ``FIRST_DAY``…``LAST_DAY``; otherwise ``InvalidInput`` naming ``name``."""
    if moment is None:
        return None
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not FIRST_DAY <= utc.date() <= LAST_DAY:
        raise InvalidInput(f"{name} must lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()} (UTC)")
    return utc
