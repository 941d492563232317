"""Media download tasks: one per attachment (sdkfileid) of a stored message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base, BigIntId

SHA256_HEX_LENGTH = 64


class MediaTask(Base):
    """Download state of one attachment (the partial file's own progress record is what a
    resumed download continues from; ``bytes_done`` here is for status displays).

    status: pending → done | failed (reason in ``failure``); a failed task with a transient
    reason is retried at ``next_attempt_at``.
    """

    __tablename__ = "media_tasks"
    __table_args__ = (
        UniqueConstraint("corp_id", "message_id", "sdkfileid_hash"),
        Index(None, "corp_id", "status", "msgtime"),
        Index(None, "blob_sha256"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    msgid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    # sdkfileids are long opaque strings: unique by their SHA-256.
    sdkfileid: Mapped[str] = mapped_column(Text)
    sdkfileid_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    md5sum: Mapped[str] = mapped_column(String(32))
    expected_size: Mapped[int] = mapped_column(BigInteger)
    extension: Mapped[str] = mapped_column(String(32))
    msgtime: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    bytes_done: Mapped[int] = mapped_column(BigInteger)
    failure: Mapped[str | None] = mapped_column(Text)
    blob_sha256: Mapped[str | None] = mapped_column(String(SHA256_HEX_LENGTH))
    stored_size: Mapped[int | None] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
