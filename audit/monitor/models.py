"""Derived tables of group monitoring and reply timeouts (docs/adr/0013-group-monitoring.md).

Everything here is recomputable from the archive and the detection results: a rollup row
is replaced whole when its bucket is recomputed. Days are local dates in the configured
zone (``detection.timezone``); hours are stored by their UTC start.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base, BigIntId, JsonDocument

WORD_LENGTH = 64


class MonitorCursor(Base):
    """How far the monitor has read the corp's messages, as a position in the corp's
    integrity chain (positions become visible in order; row ids do not)."""

    __tablename__ = "monitor_cursors"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    chain_position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class DirtyDay(Base):
    """A conversation-day whose rollup must be recomputed (new messages, detection results
    still pending or just arrived, a reply thread that became overdue)."""

    __tablename__ = "monitor_dirty_days"
    __table_args__ = (Index(None, "corp_id"),)

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    marked_at: Mapped[datetime]


class ReplyThread(Base):
    """Customer messages waiting for staff, from the first unanswered one to the staff reply.

    In a single chat the staff participant answers; in a group any staff member's message
    answers every waiting customer (see the ADR). ``employee`` is who the thread is
    counted against: the single chat's staff participant, else the responder, else the
    last staff member who spoke in the room before the thread opened.
    """

    __tablename__ = "reply_threads"
    __table_args__ = (
        UniqueConstraint("conversation_id", "opened_message_id"),
        Index(None, "corp_id", "due_at"),
        Index(None, "conversation_id", "opened_at"),
        Index(None, "corp_id", "employee", "opened_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "single" | "group"
    customer: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))  # who opened the thread
    customers: Mapped[list[str]] = mapped_column(JsonDocument)  # every customer waiting in it
    employee: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    opened_message_id: Mapped[int] = mapped_column(BigInteger)
    opened_at: Mapped[datetime]
    last_customer_at: Mapped[datetime]
    customer_messages: Mapped[int]
    due_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    answered_message_id: Mapped[int | None] = mapped_column(BigInteger)
    response_minutes: Mapped[float | None] = mapped_column(Float)  # working minutes to the reply
    alerted_at: Mapped[datetime | None]


class ReplyDaily(Base):
    """Per employee and local day (of the thread's first message): response metrics."""

    __tablename__ = "reply_daily"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    employee: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    threads: Mapped[int]
    answered: Mapped[int]
    answered_in_time: Mapped[int]
    overdue: Mapped[int]  # answered late, or still unanswered past the due time
    response_minutes_sum: Mapped[float] = mapped_column(Float)
    response_minutes_max: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime]


class ConversationDaily(Base):
    """Per conversation (group or single chat) and local day."""

    __tablename__ = "conversation_daily"
    __table_args__ = (Index(None, "corp_id", "day"),)

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    messages: Mapped[int]
    customer_messages: Mapped[int]
    active_members: Mapped[int]
    scored: Mapped[int]  # messages with a sentiment verdict
    negative: Mapped[int]
    complaints: Mapped[int]
    threats: Mapped[int]
    hits: Mapped[int]
    hit_points: Mapped[int]  # hits weighted by severity (low 1, medium 3, high 6, critical 10)
    hits_by_category: Mapped[dict[str, Any]]
    unanswered_customers: Mapped[int]
    computed_at: Mapped[datetime]


class RoomHourly(Base):
    """Per group and hour (the same measures as the day rows)."""

    __tablename__ = "room_hourly"
    __table_args__ = (Index(None, "conversation_id", "day"),)

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    hour_start: Mapped[datetime] = mapped_column(primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    day: Mapped[date] = mapped_column(Date)
    messages: Mapped[int]
    customer_messages: Mapped[int]
    active_members: Mapped[int]
    scored: Mapped[int]
    negative: Mapped[int]
    complaints: Mapped[int]
    threats: Mapped[int]
    hits: Mapped[int]
    hit_points: Mapped[int]
    hits_by_category: Mapped[dict[str, Any]]
    unanswered_customers: Mapped[int]


class RoomTopWord(Base):
    """The most frequent words of a group's day (stopwords removed), for a word cloud."""

    __tablename__ = "room_top_words"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rank: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    word: Mapped[str] = mapped_column(String(WORD_LENGTH))
    count: Mapped[int]


class RoomSpike(Base):
    """A spike found in a group's day: recorded once per room and day, so one alert is
    raised for it however often the day is recomputed. ``metrics`` holds each measure that
    crossed its threshold with the value, the baseline mean/stddev and the threshold."""

    __tablename__ = "room_spikes"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    metrics: Mapped[dict[str, Any]]
    raised_at: Mapped[datetime]
