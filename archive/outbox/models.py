"""One outbox row per stored batch and per consumer stage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, Base, BigIntId


class OutboxEntry(Base):
    """Message row ids a consumer stage has still to process. Deleted by the consumer in
    the same transaction as its own effect (or after an idempotent external effect, such as
    a bulk index call keyed by msgid), so delivery is at-least-once and nothing is lost."""

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "consumer", "available_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(32))
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    message_ids: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    available_at: Mapped[datetime]
    attempts: Mapped[int]
    last_error: Mapped[str | None] = mapped_column(Text)
