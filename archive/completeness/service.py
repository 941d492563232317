"""Completeness reports: seq gaps, lag behind WeCom, and coverage per member and per day.

Every report is a frozen dataclass of plain values (no ORM objects), for the CLI, the API
and the scheduler alike. None of them reads message content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from archive.completeness import repository

DEFAULT_ZONE = "Asia/Shanghai"


# --- seq gaps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SeqGap:
    """Seqs WeCom never delivered between two stored ones. WeCom's seqs are not promised to
    be contiguous (spec §9.1), so a gap is a lead to check, not proof of loss."""

    after_seq: int
    before_seq: int
    missing: int


@dataclass(frozen=True)
class GapSummary:
    corp_id: str
    gaps: int
    missing: int
    first_seq: int | None
    last_seq: int | None
    envelopes: int


def gaps(session: Session, corp_id: str, *, limit: int, from_seq: int = 0) -> list[SeqGap]:
    """The first ``limit`` gaps among stored seqs ≥ ``from_seq``. To page through all of
    them, pass the last gap's ``before_seq`` as the next ``from_seq``."""
    return [
        SeqGap(after, before, before - after - 1)
        for after, before in repository.seq_gaps(session, corp_id, from_seq=from_seq, limit=limit)
    ]


def gap_summary(session: Session, corp_id: str) -> GapSummary:
    count, missing = repository.seq_gap_totals(session, corp_id)
    first, last, envelopes = repository.seq_range(session, corp_id)
    return GapSummary(corp_id, count, missing, first, last, envelopes)


# --- lag ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LagReport:
    """How far behind WeCom the archive is, measured against WeCom's retention window.

    ``message_lag_s`` is now − the newest stored message's time. It also grows while the
    company is simply quiet (nights, weekends), so alerts use ``exposure_s``: now − the
    later of that message time and the start of the newest completed pull (which drained
    everything WeCom had then). It is the age of the oldest message that may still be
    missing from the archive — the one WeCom deletes first.
    """

    corp_id: str
    measured_at: datetime
    newest_msgtime: datetime | None
    message_lag_s: float | None
    last_drained_at: datetime | None
    exposure_s: float | None
    pending_media: int
    oldest_unfetched_media_msgtime: datetime | None
    media_lag_s: float | None
    failed_media: int


def lag(session: Session, corp_id: str, now: datetime) -> LagReport:
    newest = repository.newest_msgtime(session, corp_id)
    drained = repository.last_drained_at(session, corp_id)
    media = repository.media_backlog(session, corp_id)
    complete_until = max((moment for moment in (newest, drained) if moment is not None), default=None)
    return LagReport(
        corp_id=corp_id,
        measured_at=now,
        newest_msgtime=newest,
        message_lag_s=_age_s(now, newest),
        last_drained_at=drained,
        exposure_s=_age_s(now, complete_until),
        pending_media=media.pending,
        oldest_unfetched_media_msgtime=media.oldest_pending_msgtime,
        media_lag_s=_age_s(now, media.oldest_pending_msgtime),
        failed_media=media.failed,
    )


def _age_s(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


# --- coverage -----------------------------------------------------------------------------

CoverageStatus = Literal["covered", "silent", "unpermitted"]


@dataclass(frozen=True)
class EmployeeCoverage:
    """One member: on the permit list or not, and seen in the archive's period or not.

    ``covered``: permitted and seen. ``silent``: permitted but in no stored message of the
    period (on leave — or their chats are not reaching the archive). ``unpermitted``: seen
    but not on the permit list. That is normal when they chat with a permitted member
    (WeCom archives the conversation for the permitted side); ``without_permitted_party``
    counts their messages where no permitted member takes part, which WeCom should not
    have archived: a licence revoked during the period, or a permit list out of date.
    """

    userid: str
    status: CoverageStatus
    messages: int
    sent: int
    first_seen: datetime | None
    last_seen: datetime | None
    without_permitted_party: int


@dataclass(frozen=True)
class DayCoverage:
    """One local day: messages stored and distinct members who sent at least one. A day
    far below its neighbours is where to look for missing data."""

    day: date
    messages: int
    active_employees: int


@dataclass(frozen=True)
class CoverageReport:
    corp_id: str
    since: datetime
    until: datetime
    zone: str
    permitted: int
    covered: int
    silent: int
    unpermitted: int
    employees: tuple[EmployeeCoverage, ...]  # unpermitted first, then silent, then covered
    days: tuple[DayCoverage, ...]  # every local day of the period, empty ones included


_STATUS_ORDER: dict[CoverageStatus, int] = {"unpermitted": 0, "silent": 1, "covered": 2}


def coverage(
    session: Session,
    corp_id: str,
    permitted: Sequence[str],
    *,
    since: datetime,
    until: datetime,
    zone: str = DEFAULT_ZONE,
) -> CoverageReport:
    """Coverage of [since, until) against ``permitted`` (msgaudit/get_permit_user_list).

    "Seen" means a member id (not a customer's wm/wo… or a robot's wb…) is the sender or
    a recipient of a stored message. Days are local days in ``zone``; pass local
    midnights as ``since`` and ``until`` for whole days.
    """
    if since >= until:
        raise ValueError("since must be before until")
    permitted_ids = set(permitted)
    seen = {p.userid: p for p in repository.member_participation(session, corp_id, since, until)}
    unpermitted = sorted(set(seen) - permitted_ids)
    unexplained: dict[str, int] = dict.fromkeys(unpermitted, 0)
    for participants in repository.participants_of_messages_with(session, corp_id, unpermitted, since, until).values():
        if participants.isdisjoint(permitted_ids):
            for userid in participants & unexplained.keys():
                unexplained[userid] += 1
    employees: list[EmployeeCoverage] = []
    for userid in sorted(permitted_ids | set(seen)):
        participation = seen.get(userid)
        status: CoverageStatus = (
            "unpermitted" if userid not in permitted_ids else "covered" if participation else "silent"
        )
        employees.append(
            EmployeeCoverage(
                userid=userid,
                status=status,
                messages=participation.messages if participation else 0,
                sent=participation.sent if participation else 0,
                first_seen=participation.first_seen if participation else None,
                last_seen=participation.last_seen if participation else None,
                without_permitted_party=unexplained.get(userid, 0),
            )
        )
    employees.sort(key=lambda employee: (_STATUS_ORDER[employee.status], employee.userid))
    zone_info = ZoneInfo(zone)
    volumes = repository.daily_volumes(session, corp_id, since, until, zone_info)
    days = tuple(DayCoverage(day, *volumes.get(day, (0, 0))) for day in repository.local_days(since, until, zone_info))
    counts = {status: sum(1 for e in employees if e.status == status) for status in _STATUS_ORDER}
    return CoverageReport(
        corp_id=corp_id,
        since=since,
        until=until,
        zone=zone,
        permitted=len(permitted_ids),
        covered=counts["covered"],
        silent=counts["silent"],
        unpermitted=counts["unpermitted"],
        employees=tuple(employees),
        days=days,
    )
