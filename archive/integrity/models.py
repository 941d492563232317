"""Storage models of the integrity chain (every table carries ``corp_id``).

``chain_links`` holds one row per stored message, numbered 1..n per corp. A link keeps
the message's msgid and seq and its hash after the message is gone: retention turns it
into a tombstone (``disposed_at``, ``disposal_policy``, ``message_id`` NULL) instead of
deleting it. ``message_id`` is a plain column, not a foreign key, so that deleting a
message never touches its link: a deletion without a tombstone stays visible to
``verify`` as a link whose message is missing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base, BigIntId

HASH_LENGTH = 64  # SHA-256, lower-case hex
POLICY_LENGTH = 64


class ChainLink(Base):
    """One message's place in its corp's hash chain."""

    __tablename__ = "chain_links"
    __table_args__ = (UniqueConstraint("message_id"),)

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    msgid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    seq: Mapped[int] = mapped_column(BigInteger)
    record_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    linked_at: Mapped[datetime]
    disposed_at: Mapped[datetime | None]
    disposal_policy: Mapped[str | None] = mapped_column(String(POLICY_LENGTH))


class ChainHead(Base):
    """The last link of a corp's chain; advanced only if it is still what the appender read."""

    __tablename__ = "chain_heads"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    updated_at: Mapped[datetime]


class ChainCheckpoint(Base):
    """A statement "at ``created_at`` the chain had ``position`` links ending in ``head_hash``",
    also appended to a file that is copied off-site."""

    __tablename__ = "chain_checkpoints"
    __table_args__ = (Index(None, "corp_id", "position"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    position: Mapped[int] = mapped_column(BigInteger)
    # The seq of the link at ``position`` (the last record the checkpoint covers).
    last_seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    # Messages held (links not disposed of) when written: informative, retention lowers it later.
    count: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
