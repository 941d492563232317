"""Stored detection results: hits and sentiment per message (written by the detection stage)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, Base, BigIntId


class MessageHit(Base):
    """One ``audit.detect.hits.Hit`` of one message. Re-scanning a message with a rule set
    replaces its hits from that ``ruleset_version`` (idempotent)."""

    __tablename__ = "message_hits"
    __table_args__ = (
        Index(None, "message_id"),
        Index(None, "corp_id", "category", "msgtime"),
        Index(None, "corp_id", "rule", "msgtime"),
        Index(None, "conversation_id", "msgtime"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    msgtime: Mapped[datetime]
    detector: Mapped[str] = mapped_column(String(32))
    detector_version: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    start: Mapped[int | None]
    end: Mapped[int | None]
    matched: Mapped[str | None] = mapped_column(Text)
    normalised: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime]


class MessageSentiment(Base):
    """The sentiment model's verdict on one message's text (one row per message)."""

    __tablename__ = "message_sentiment"
    __table_args__ = (Index(None, "conversation_id", "msgtime"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    msgtime: Mapped[datetime]
    label: Mapped[str] = mapped_column(String(16))  # "positive" | "negative" | "neutral"
    score: Mapped[float] = mapped_column(Float)  # probability of "negative"
    intent: Mapped[str | None] = mapped_column(String(16))  # "complaint" | "threat" | None
    model_version: Mapped[str] = mapped_column(String(64))
