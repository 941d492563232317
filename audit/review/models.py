"""The review trail (append-only), false-positive suppressions and the sampling queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from archive.models import CORP_ID_LENGTH, Base, BigIntId


class AlertTrail(Base):
    """One workflow event of one alert: a transition, an assignment, a note or a tag.

    Append-only: the ORM refuses updates and deletes (see the listeners below); the
    trail is the evidence of who decided what and when.
    """

    __tablename__ = "alert_trail"
    __table_args__ = (Index(None, "alert_id", "id"), Index(None, "corp_id", "at"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    at: Mapped[datetime]


def _refuse_change(_mapper: Mapper[Any], _connection: object, target: AlertTrail) -> None:
    raise ValueError(f"the alert trail is append-only (entry {target.id})")


event.listen(AlertTrail, "before_update", _refuse_change)
event.listen(AlertTrail, "before_delete", _refuse_change)


class Suppression(Base):
    """A false-positive verdict: the same rule matching the same normalised form in the
    same conversation raises no alert again (the hit itself is still stored)."""

    __tablename__ = "alert_suppressions"
    __table_args__ = (UniqueConstraint("corp_id", "conversation_id", "rule", "normalised"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    rule: Mapped[str] = mapped_column(String(128))
    normalised: Mapped[str] = mapped_column(String(256))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class ReviewSample(Base):
    """An unflagged conversation drawn for supervisory review in one period."""

    __tablename__ = "review_samples"
    __table_args__ = (
        UniqueConstraint("corp_id", "period", "conversation_id"),
        Index(None, "corp_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    period: Mapped[str] = mapped_column(String(32))  # "20261123T0000/20261124T0000" (UTC)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    status: Mapped[str] = mapped_column(String(16))  # "pending" | "reviewed"
    drawn_at: Mapped[datetime]
    reviewer: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None]
