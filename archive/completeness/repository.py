"""Every query of the completeness checks. Callers own the transaction; nothing here commits.

The checks read the archive's own tables (envelopes, messages, recipients, pull runs, media
tasks) with aggregate queries that run the same on SQLite (≥ 3.25, for window functions)
and PostgreSQL; only this package's alerts are written.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Integer, and_, case, cast, extract, func, literal, select, union_all
from sqlalchemy.orm import Session

from archive.completeness.models import ArchiveAlert
from archive.media.models import MediaTask
from archive.models import ChatEnvelopeRow, Message, MessageRecipient, PullRun

SECONDS_PER_DAY = 86_400
# Prefixes of ids that are not the corp's members: customers (wm, wo) and robots (wb).
NON_MEMBER_PREFIXES = ("wm", "wo", "wb")


# --- seq gaps -----------------------------------------------------------------------------


def _seq_steps(corp_id: str, from_seq: int) -> Any:
    """Each stored seq from ``from_seq`` on with the stored seq before it (LAG over the
    (corp_id, seq) index): a gap is a step of more than one."""
    previous = func.lag(ChatEnvelopeRow.seq).over(order_by=ChatEnvelopeRow.seq)
    return (
        select(ChatEnvelopeRow.seq.label("seq"), previous.label("previous"))
        .where(ChatEnvelopeRow.corp_id == corp_id, ChatEnvelopeRow.seq >= from_seq)
        .subquery()
    )


def seq_gaps(session: Session, corp_id: str, *, from_seq: int, limit: int) -> list[tuple[int, int]]:
    """(seq before, seq after) of the first ``limit`` gaps at or after ``from_seq``, by seq."""
    steps = _seq_steps(corp_id, from_seq)
    rows = session.execute(
        select(steps.c.previous, steps.c.seq)
        .where(steps.c.previous.is_not(None), steps.c.seq - steps.c.previous > 1)
        .order_by(steps.c.seq)
        .limit(limit)
    )
    return [(int(previous), int(seq)) for previous, seq in rows]


def seq_gap_totals(session: Session, corp_id: str) -> tuple[int, int]:
    """(number of gaps, seqs missing in them) over all stored envelopes of the corp."""
    steps = _seq_steps(corp_id, 0)
    gaps, missing = session.execute(
        select(func.count(), func.sum(steps.c.seq - steps.c.previous - 1)).where(
            steps.c.previous.is_not(None), steps.c.seq - steps.c.previous > 1
        )
    ).one()
    return int(gaps), int(missing or 0)


def seq_range(session: Session, corp_id: str) -> tuple[int | None, int | None, int]:
    """(first seq, last seq, envelopes) stored for the corp."""
    first, last, envelopes = session.execute(
        select(func.min(ChatEnvelopeRow.seq), func.max(ChatEnvelopeRow.seq), func.count()).where(
            ChatEnvelopeRow.corp_id == corp_id
        )
    ).one()
    return first, last, int(envelopes)


# --- lag ----------------------------------------------------------------------------------


def newest_msgtime(session: Session, corp_id: str) -> datetime | None:
    return _aware(session.scalar(select(func.max(Message.msgtime)).where(Message.corp_id == corp_id)))


def last_drained_at(session: Session, corp_id: str) -> datetime | None:
    """When the newest completed pull started: it drained everything WeCom had by then."""
    return _aware(
        session.scalar(
            select(func.max(PullRun.started_at)).where(PullRun.corp_id == corp_id, PullRun.status == "completed")
        )
    )


@dataclass(frozen=True)
class MediaBacklog:
    pending: int
    oldest_pending_msgtime: datetime | None
    failed: int


def media_backlog(session: Session, corp_id: str) -> MediaBacklog:
    """Attachments not downloaded yet (``pending``, transient failures included: they stay
    pending until their retry) and those given up on (``failed``)."""
    rows = session.execute(
        select(MediaTask.status, func.count(), func.min(MediaTask.msgtime))
        .where(MediaTask.corp_id == corp_id, MediaTask.status.in_(("pending", "failed")))
        .group_by(MediaTask.status)
    )
    by_status = {status: (int(count), _aware(oldest)) for status, count, oldest in rows}
    pending, oldest = by_status.get("pending", (0, None))
    return MediaBacklog(pending, oldest, by_status.get("failed", (0, None))[0])


# --- coverage -----------------------------------------------------------------------------


def _is_member_id(column: Any) -> ColumnElement[bool]:
    # substr, not LIKE: SQLite's LIKE ignores case, WeCom's prefixes do not.
    return and_(column != "", func.substr(column, 1, 2).not_in(NON_MEMBER_PREFIXES))


def _participations(corp_id: str, since: datetime, until: datetime, *, members_only: bool) -> Any:
    """(message id, userid, 1 if sender else 0, msgtime) for every participant of every
    message of the period: its sender and each recipient."""
    in_period = and_(Message.corp_id == corp_id, Message.msgtime >= since, Message.msgtime < until)
    senders = select(
        Message.id.label("message_id"),
        Message.sender.label("userid"),
        literal(1, Integer).label("sent"),
        Message.msgtime.label("msgtime"),
    ).where(in_period)
    recipients = (
        select(MessageRecipient.message_id, MessageRecipient.recipient, literal(0, Integer), Message.msgtime)
        .join(Message, Message.id == MessageRecipient.message_id)
        .where(in_period, MessageRecipient.corp_id == corp_id)
    )
    if members_only:
        senders = senders.where(_is_member_id(Message.sender))
        recipients = recipients.where(_is_member_id(MessageRecipient.recipient))
    return union_all(senders, recipients).subquery()


@dataclass(frozen=True)
class Participation:
    userid: str
    messages: int
    sent: int
    first_seen: datetime
    last_seen: datetime


def member_participation(session: Session, corp_id: str, since: datetime, until: datetime) -> list[Participation]:
    """Every member id (not a customer or robot) seen as sender or recipient in the period."""
    p = _participations(corp_id, since, until, members_only=True)
    rows = session.execute(
        select(
            p.c.userid,
            func.count(func.distinct(p.c.message_id)),
            func.sum(p.c.sent),
            func.min(p.c.msgtime),
            func.max(p.c.msgtime),
        )
        .group_by(p.c.userid)
        .order_by(p.c.userid)
    )
    return [
        Participation(userid, int(messages), int(sent or 0), _required(first), _required(last))
        for userid, messages, sent, first, last in rows
    ]


def participants_of_messages_with(
    session: Session, corp_id: str, userids: Collection[str], since: datetime, until: datetime
) -> dict[int, set[str]]:
    """message id → all its participants, for the period's messages in which any of
    ``userids`` takes part. Compared in Python with the permit list, which can be longer
    than a statement's parameter limit."""
    if not userids:
        return {}
    p = _participations(corp_id, since, until, members_only=False)
    involved = select(p.c.message_id).where(p.c.userid.in_(list(userids))).scalar_subquery()
    everyone = _participations(corp_id, since, until, members_only=False)
    participants: dict[int, set[str]] = {}
    for message_id, userid in session.execute(
        select(everyone.c.message_id, everyone.c.userid).where(everyone.c.message_id.in_(involved))
    ):
        participants.setdefault(int(message_id), set()).add(userid)
    return participants


# --- days ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DaySegment:
    """Consecutive local days that all last 24 h, or one day that does not (DST change)."""

    start_epoch: int
    end_epoch: int
    first_index: int
    regular: bool


def local_days(since: datetime, until: datetime, zone: ZoneInfo) -> list[date]:
    """The local dates the period [since, until) touches, in order."""
    first, last = since.astimezone(zone).date(), (until - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _midnight_epoch(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(), tzinfo=zone).timestamp())


def _day_segments(days: Sequence[date], zone: ZoneInfo) -> list[_DaySegment]:
    starts = [_midnight_epoch(day, zone) for day in days]
    starts.append(_midnight_epoch(days[-1] + timedelta(days=1), zone))
    segments: list[_DaySegment] = []
    for index in range(len(days)):
        regular = starts[index + 1] - starts[index] == SECONDS_PER_DAY
        if segments and regular and segments[-1].regular:
            last = segments[-1]
            segments[-1] = _DaySegment(last.start_epoch, starts[index + 1], last.first_index, True)
        else:
            segments.append(_DaySegment(starts[index], starts[index + 1], index, regular))
    return segments


def _epoch_seconds(session: Session, column: Any) -> ColumnElement[int]:
    if session.get_bind().dialect.name == "sqlite":  # the column holds "YYYY-MM-DD HH:MM:SS.ffffff" (UTC)
        return cast(func.strftime("%s", column), BigInteger)
    return cast(func.floor(extract("epoch", column)), BigInteger)


def _day_index(session: Session, column: Any, days: Sequence[date], zone: ZoneInfo) -> ColumnElement[int]:
    """Which of ``days`` (by position) a UTC timestamp falls on, in ``zone``. Days are
    24 h apart except around DST changes, so the arithmetic runs per run of regular days."""
    epoch = _epoch_seconds(session, column)
    branches = [
        (
            epoch < literal(segment.end_epoch, BigInteger),
            literal(segment.first_index, BigInteger)
            + (epoch - literal(segment.start_epoch, BigInteger)) // literal(SECONDS_PER_DAY, BigInteger)
            if segment.regular
            else literal(segment.first_index, BigInteger),
        )
        for segment in _day_segments(days, zone)
    ]
    return case(*branches, else_=literal(len(days) - 1, BigInteger))


def daily_volumes(
    session: Session, corp_id: str, since: datetime, until: datetime, zone: ZoneInfo
) -> dict[date, tuple[int, int]]:
    """Local date → (messages, distinct members who sent one), for days with messages."""
    days = local_days(since, until, zone)
    per_message = (
        select(
            _day_index(session, Message.msgtime, days, zone).label("day"),
            case((_is_member_id(Message.sender), Message.sender)).label("member"),
        )
        .where(Message.corp_id == corp_id, Message.msgtime >= since, Message.msgtime < until)
        .subquery()
    )
    rows = session.execute(
        select(per_message.c.day, func.count(), func.count(func.distinct(per_message.c.member))).group_by(
            per_message.c.day
        )
    )
    return {days[int(index)]: (int(messages), int(members)) for index, messages, members in rows}


# --- alerts -------------------------------------------------------------------------------


def open_alerts(session: Session, corp_id: str) -> list[ArchiveAlert]:
    return list(
        session.scalars(
            select(ArchiveAlert)
            .where(ArchiveAlert.corp_id == corp_id, ArchiveAlert.resolved_at.is_(None))
            .order_by(ArchiveAlert.kind)
        )
    )


def add_alert(session: Session, alert: ArchiveAlert) -> None:
    session.add(alert)
    session.flush()


# --- values -------------------------------------------------------------------------------


def _aware(value: datetime | str | None) -> datetime | None:
    """Aggregates of a datetime column come back as text or naive values on SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _required(value: datetime | str | None) -> datetime:
    aware = _aware(value)
    assert aware is not None  # min/max over a group's non-null column
    return aware
