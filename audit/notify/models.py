"""Delivery receipts: one row per notification to one target, with its attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, Base, BigIntId

# ``Notification.kind`` of a digest (the others name the alert event: alert, escalation).
DIGEST = "digest"


class Notification(Base):
    """``status``: ``pending`` (due at ``next_attempt_at``), ``held`` (flood: waits for a
    digest), ``digested`` (sent as part of digest ``digest_id``), ``delivered`` or
    ``failed`` (gave up after the maximum attempts). ``body`` holds only masked excerpts."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "target", "created_at"),
        Index(None, "alert_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    target: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))  # "alert" | "escalation" | "digest"
    status: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    digest_id: Mapped[int | None]
