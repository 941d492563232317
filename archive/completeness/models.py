"""Storage model of completeness alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, Base, BigIntId

_OPEN = text("resolved_at IS NULL")


class ArchiveAlert(Base):
    """A completeness problem of one corp, from first raised to resolved.

    kind: ``message_lag`` | ``media_lag`` | ``seq_gap``; severity: ``warning`` | ``critical``
    (it follows the measurement, both ways). At most one open alert per (corp, kind): a
    partial unique index enforces it, so two checks racing cannot open two. ``summary``
    holds numbers only, never content. Resolved alerts are kept as the record.
    """

    __tablename__ = "archive_alerts"
    __table_args__ = (
        Index(None, "corp_id", "kind", unique=True, sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index(None, "corp_id", "first_raised_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    # The measurement behind the severity: seconds of lag, or missing seqs.
    measured: Mapped[int] = mapped_column(BigInteger)
    first_raised_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
