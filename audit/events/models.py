"""Contact-change events (``change_external_contact`` callbacks, spec §8.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base, BigIntId


class ContactEvent(Base):
    """One contact change. WeCom re-sends a callback it thinks was not received, so the
    natural key (type, member, customer, time) is unique and a repeat is ignored."""

    __tablename__ = "contact_events"
    __table_args__ = (
        UniqueConstraint("corp_id", "change_type", "user_id", "external_user_id", "occurred_at"),
        Index(None, "corp_id", "occurred_at"),
        Index(None, "corp_id", "external_user_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    change_type: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    external_user_id: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    source: Mapped[str | None] = mapped_column(String(64))
    fail_reason: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    raw: Mapped[dict[str, Any]]
