"""Read side of group monitoring for the API and console: rollups only, never raw messages.

Every function returns plain frozen dataclasses. Periods are inclusive local days.

Risk score of a group over a period (docs/adr/0013-group-monitoring.md)::

    hit_points + 5·complaints + 10·threats + 2·unanswered_customers
               + 100·negative_share·min(1, scored / 50)

``hit_points`` weighs hits by severity (low 1, medium 3, high 6, critical 10). The share
term is damped for rooms with few scored messages, so one angry message in a quiet room
does not outrank a room full of hits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Conversation
from audit.monitor.models import ConversationDaily, ReplyDaily, RoomHourly, RoomTopWord

COMPLAINT_WEIGHT = 5
THREAT_WEIGHT = 10
UNANSWERED_WEIGHT = 2
NEGATIVE_SHARE_WEIGHT = 100
SHARE_CONFIDENT_AT_SCORED = 50


@dataclass(frozen=True, slots=True)
class GroupRisk:
    conversation_id: int
    roomid: str | None
    messages: int
    active_days: int
    scored: int
    negative: int
    negative_share: float
    complaints: int
    threats: int
    hits: int
    hit_points: int
    hits_by_category: dict[str, int]
    unanswered_customers: int
    risk_score: float


@dataclass(frozen=True, slots=True)
class GroupPoint:
    """One bucket of a group's time series (``start`` is the UTC start of the day or hour)."""

    day: date
    start: datetime | None
    messages: int
    active_members: int
    negative_share: float | None  # None when nothing was scored
    negative: int
    complaints: int
    hits: int
    hit_points: int
    hits_by_category: dict[str, int]
    unanswered_customers: int


@dataclass(frozen=True, slots=True)
class WordCount:
    word: str
    count: int


@dataclass(frozen=True, slots=True)
class EmployeeResponse:
    employee: str
    threads: int
    answered: int
    answered_in_time: int
    overdue: int
    reply_rate: float  # answered / threads
    on_time_rate: float  # answered in time / threads
    mean_response_minutes: float | None  # working minutes, over answered threads
    max_response_minutes: float | None


def risk_score(hit_points: int, complaints: int, threats: int, unanswered: int, negative: int, scored: int) -> float:
    share = negative / scored if scored else 0.0
    confidence = min(1.0, scored / SHARE_CONFIDENT_AT_SCORED)
    return (
        hit_points
        + COMPLAINT_WEIGHT * complaints
        + THREAT_WEIGHT * threats
        + UNANSWERED_WEIGHT * unanswered
        + NEGATIVE_SHARE_WEIGHT * share * confidence
    )


def rank_groups(session: Session, corp_id: str, first: date, last: date, *, limit: int = 20) -> list[GroupRisk]:
    """Groups of ``corp_id`` active in ``first``…``last``, riskiest first."""
    rows = session.execute(
        select(ConversationDaily, Conversation.roomid)
        .join(Conversation, Conversation.id == ConversationDaily.conversation_id)
        .where(
            ConversationDaily.corp_id == corp_id,
            ConversationDaily.kind == "group",
            ConversationDaily.day >= first,
            ConversationDaily.day <= last,
        )
    ).all()
    totals: dict[int, dict[str, Any]] = {}
    for daily, roomid in rows:
        total = totals.setdefault(
            daily.conversation_id,
            {"roomid": roomid, "days": 0, "categories": Counter()}
            | dict.fromkeys(("messages", "scored", "negative", "complaints", "threats", "hits", "points", "unans"), 0),
        )
        total["days"] += 1
        total["messages"] += daily.messages
        total["scored"] += daily.scored
        total["negative"] += daily.negative
        total["complaints"] += daily.complaints
        total["threats"] += daily.threats
        total["hits"] += daily.hits
        total["points"] += daily.hit_points
        total["unans"] += daily.unanswered_customers
        total["categories"].update(daily.hits_by_category)
    ranked = [
        GroupRisk(
            conversation_id=cid,
            roomid=t["roomid"],
            messages=t["messages"],
            active_days=t["days"],
            scored=t["scored"],
            negative=t["negative"],
            negative_share=t["negative"] / t["scored"] if t["scored"] else 0.0,
            complaints=t["complaints"],
            threats=t["threats"],
            hits=t["hits"],
            hit_points=t["points"],
            hits_by_category=dict(sorted(t["categories"].items())),
            unanswered_customers=t["unans"],
            risk_score=round(
                risk_score(t["points"], t["complaints"], t["threats"], t["unans"], t["negative"], t["scored"]), 2
            ),
        )
        for cid, t in totals.items()
    ]
    ranked.sort(key=lambda g: (-g.risk_score, -g.messages, g.conversation_id))
    return ranked[:limit]


def find_group(session: Session, corp_id: str, roomid: str) -> int | None:
    """The conversation id of room ``roomid`` (None if no message of it was archived)."""
    return session.scalar(
        select(Conversation.id).where(
            Conversation.corp_id == corp_id, Conversation.kind == "group", Conversation.roomid == roomid
        )
    )


def group_series(
    session: Session, conversation_id: int, first: date, last: date, *, hourly: bool = False
) -> list[GroupPoint]:
    """The group's buckets in the period, oldest first (days without messages are absent)."""
    rows: Sequence[ConversationDaily | RoomHourly]
    if hourly:
        rows = session.scalars(
            select(RoomHourly)
            .where(RoomHourly.conversation_id == conversation_id, RoomHourly.day >= first, RoomHourly.day <= last)
            .order_by(RoomHourly.hour_start)
        ).all()
    else:
        rows = session.scalars(
            select(ConversationDaily)
            .where(
                ConversationDaily.conversation_id == conversation_id,
                ConversationDaily.day >= first,
                ConversationDaily.day <= last,
            )
            .order_by(ConversationDaily.day)
        ).all()
    return [
        GroupPoint(
            day=row.day,
            start=row.hour_start if isinstance(row, RoomHourly) else None,
            messages=row.messages,
            active_members=row.active_members,
            negative_share=row.negative / row.scored if row.scored else None,
            negative=row.negative,
            complaints=row.complaints,
            hits=row.hits,
            hit_points=row.hit_points,
            hits_by_category=dict(row.hits_by_category),
            unanswered_customers=row.unanswered_customers,
        )
        for row in rows
    ]


def top_words(session: Session, conversation_id: int, day: date, *, limit: int = 50) -> list[WordCount]:
    rows = session.execute(
        select(RoomTopWord.word, RoomTopWord.count)
        .where(RoomTopWord.conversation_id == conversation_id, RoomTopWord.day == day)
        .order_by(RoomTopWord.rank)
        .limit(limit)
    ).all()
    return [WordCount(word, count) for word, count in rows]


def employee_metrics(
    session: Session, corp_id: str, first: date, last: date, *, employee: str | None = None
) -> list[EmployeeResponse]:
    """Response metrics per employee over the period (threads by the day they opened),
    slowest reply rate first."""
    query = select(ReplyDaily).where(ReplyDaily.corp_id == corp_id, ReplyDaily.day >= first, ReplyDaily.day <= last)
    if employee is not None:
        query = query.where(ReplyDaily.employee == employee)
    sums: dict[str, list[float]] = {}
    for row in session.scalars(query):
        total = sums.setdefault(row.employee, [0, 0, 0, 0, 0.0, 0.0])
        total[0] += row.threads
        total[1] += row.answered
        total[2] += row.answered_in_time
        total[3] += row.overdue
        total[4] += row.response_minutes_sum
        total[5] = max(total[5], row.response_minutes_max)
    result = [
        EmployeeResponse(
            employee=name,
            threads=int(threads),
            answered=int(answered),
            answered_in_time=int(in_time),
            overdue=int(overdue),
            reply_rate=answered / threads if threads else 1.0,
            on_time_rate=in_time / threads if threads else 1.0,
            mean_response_minutes=round(minutes / answered, 1) if answered else None,
            max_response_minutes=round(longest, 1) if answered else None,
        )
        for name, (threads, answered, in_time, overdue, minutes, longest) in sums.items()
    ]
    result.sort(key=lambda r: (r.reply_rate, r.on_time_rate, r.employee))
    return result


def group_conversation(session: Session, conversation_id: int) -> Conversation | None:
    """The archived group chat ``conversation_id`` (None if there is none, or not a group)."""
    conversation = session.get(Conversation, conversation_id)
    return conversation if conversation is not None and conversation.kind == "group" else None
