"""Recomputing one conversation-day: its day row, and for a group its hour rows and top words.

A bucket is always rebuilt whole from the rows of that one conversation and day (indexed
by ``conversation_id, msgtime`` in every source table), which keeps incremental updates
exactly equal to a full recomputation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.orm import Session

from archive.models import Conversation, Message
from audit.detect.hits import Severity
from audit.detect.models import MessageHit, MessageSentiment
from audit.monitor.models import ConversationDaily, ReplyThread, RoomHourly, RoomTopWord
from audit.monitor.replies import is_customer, overdue_condition
from audit.monitor.words import TopWords
from audit.monitor.worktime import WorkingCalendar

# Severity weights of the risk measures (documented in the ADR).
SEVERITY_POINTS: dict[str, int] = {
    Severity.LOW.value: 1,
    Severity.MEDIUM.value: 3,
    Severity.HIGH.value: 6,
    Severity.CRITICAL.value: 10,
}
TOP_WORDS_PER_DAY = 50
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class DayRow:
    """What the spike check needs of a just recomputed day."""

    conversation_id: int
    day: date
    kind: str
    messages: int
    scored: int
    negative: int
    hit_points: int


@dataclass
class Measures:
    """The measures of one bucket (a day or an hour)."""

    messages: int = 0
    customer_messages: int = 0
    members: set[str] = field(default_factory=set)
    scored: int = 0
    negative: int = 0
    complaints: int = 0
    threats: int = 0
    hits: int = 0
    hit_points: int = 0
    hits_by_category: Counter[str] = field(default_factory=Counter)
    unanswered: set[str] = field(default_factory=set)

    def is_empty(self) -> bool:
        return not (self.messages or self.scored or self.hits or self.unanswered)

    def columns(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "customer_messages": self.customer_messages,
            "active_members": len(self.members),
            "scored": self.scored,
            "negative": self.negative,
            "complaints": self.complaints,
            "threats": self.threats,
            "hits": self.hits,
            "hit_points": self.hit_points,
            "hits_by_category": dict(sorted(self.hits_by_category.items())),
            "unanswered_customers": len(self.unanswered),
        }


def recompute_day(
    session: Session,
    calendar: WorkingCalendar,
    conversation: Conversation,
    day: date,
    now: datetime,
    words: TopWords | None,
) -> DayRow | None:
    """Rebuild the rollups of ``conversation`` on local ``day`` (None when the day is empty)."""
    start, end = calendar.day_bounds(day)
    group = conversation.kind == "group"
    day_measures = Measures()
    hours: dict[datetime, Measures] = {}

    def bucket(moment: datetime) -> Iterable[Measures]:
        yield day_measures
        if group:
            local = moment.astimezone(calendar.zone).replace(minute=0, second=0, microsecond=0)
            yield hours.setdefault(local.astimezone(UTC), Measures())

    cid = conversation.id
    for sender, msgtime in session.execute(
        select(Message.sender, Message.msgtime).where(
            Message.conversation_id == cid, Message.msgtime >= start, Message.msgtime < end, Message.action == "send"
        )
    ):
        for measures in bucket(msgtime):
            measures.messages += 1
            measures.members.add(sender)
            if is_customer(sender):
                measures.customer_messages += 1
    for msgtime, label, intent in session.execute(
        select(MessageSentiment.msgtime, MessageSentiment.label, MessageSentiment.intent).where(
            MessageSentiment.conversation_id == cid, MessageSentiment.msgtime >= start, MessageSentiment.msgtime < end
        )
    ):
        for measures in bucket(msgtime):
            measures.scored += 1
            measures.negative += label == "negative"
            measures.complaints += intent == "complaint"
            measures.threats += intent == "threat"
    for msgtime, category, severity in session.execute(
        select(MessageHit.msgtime, MessageHit.category, MessageHit.severity).where(
            MessageHit.conversation_id == cid, MessageHit.msgtime >= start, MessageHit.msgtime < end
        )
    ):
        for measures in bucket(msgtime):
            measures.hits += 1
            measures.hit_points += SEVERITY_POINTS.get(severity, 1)
            measures.hits_by_category[category] += 1
    for opened_at, customers in session.execute(
        select(ReplyThread.opened_at, ReplyThread.customers).where(
            and_(ReplyThread.conversation_id == cid, ReplyThread.opened_at >= start, ReplyThread.opened_at < end),
            overdue_condition(now),
        )
    ):
        for measures in bucket(opened_at):
            measures.unanswered.update(customers)

    # Rows are written with bulk statements (no ORM identity map): a run rewrites thousands.
    session.execute(
        delete(ConversationDaily).where(ConversationDaily.conversation_id == cid, ConversationDaily.day == day),
        execution_options=_NO_SYNC,
    )
    session.execute(
        delete(RoomHourly).where(RoomHourly.conversation_id == cid, RoomHourly.day == day), execution_options=_NO_SYNC
    )
    if group:
        session.execute(
            delete(RoomTopWord).where(RoomTopWord.conversation_id == cid, RoomTopWord.day == day),
            execution_options=_NO_SYNC,
        )
    if day_measures.is_empty():
        return None
    columns = day_measures.columns()
    session.execute(
        insert(ConversationDaily),
        [
            {
                "conversation_id": cid,
                "day": day,
                "corp_id": conversation.corp_id,
                "kind": conversation.kind,
                "computed_at": now,
                **columns,
            }
        ],
    )
    if group:
        hour_rows = [
            {"conversation_id": cid, "hour_start": hour, "corp_id": conversation.corp_id, "day": day, **m.columns()}
            for hour, m in sorted(hours.items())
            if not m.is_empty()
        ]
        if hour_rows:
            session.execute(insert(RoomHourly), hour_rows)
        if words is not None:
            _store_top_words(session, conversation, day, start, end, words)
    return DayRow(
        cid, day, conversation.kind, columns["messages"], columns["scored"], columns["negative"], columns["hit_points"]
    )


def _store_top_words(
    session: Session, conversation: Conversation, day: date, start: datetime, end: datetime, words: TopWords
) -> None:
    texts = session.scalars(
        select(Message.text).where(
            Message.conversation_id == conversation.id,
            Message.msgtime >= start,
            Message.msgtime < end,
            Message.action == "send",
            Message.msgtype == "text",
            Message.text.is_not(None),
        )
    )
    ranked = words.top(texts, TOP_WORDS_PER_DAY)
    if ranked:
        session.execute(
            insert(RoomTopWord),
            [
                {"conversation_id": conversation.id, "day": day, "rank": rank, "corp_id": conversation.corp_id}
                | {"word": word, "count": count}
                for rank, (word, count) in enumerate(ranked, start=1)
            ],
        )
