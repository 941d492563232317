"""Storage models of the archive.

Every table carries ``corp_id``: one installation archives several corps, each with its
own cursor. Messages are immutable once stored (the integrity chain, ``archive.integrity``,
hashes them); what changes later — a recall, a quarantine resolution — is recorded in
rows of its own or in bookkeeping tables, never by rewriting a message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")
JsonDocument = JSON().with_variant(JSONB(), "postgresql")

CORP_ID_LENGTH = 64
WECOM_ID_LENGTH = 128  # userids, external ids, room ids and msgids are all well below this


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JsonDocument}


class ArchiveCursor(Base):
    """The highest seq durably stored per corp: the next pull asks for seq > this."""

    __tablename__ = "archive_cursors"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    # WeCom's seq is an unsigned 64-bit number; observed values are far below 2**63.
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class ChatEnvelopeRow(Base):
    """A GetChatData record exactly as WeCom delivered it (still encrypted).

    Kept for every record, decrypted or not: the evidence of what was received, and what
    ``quarantine retry`` decrypts again long after WeCom has deleted its copy.
    """

    __tablename__ = "chat_envelopes"
    __table_args__ = (
        UniqueConstraint("corp_id", "msgid"),
        Index(None, "corp_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    seq: Mapped[int] = mapped_column(BigInteger)
    msgid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    publickey_ver: Mapped[int]
    encrypt_random_key: Mapped[str] = mapped_column(Text)
    encrypt_chat_msg: Mapped[str] = mapped_column(Text)
    pulled_at: Mapped[datetime]


class Conversation(Base):
    """A single chat (the pair of participants) or a group (its roomid)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("corp_id", "key"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    # "room:<roomid>" or "pair:<id>|<id>" with the two ids sorted.
    key: Mapped[str] = mapped_column(String(2 * WECOM_ID_LENGTH + 8))
    kind: Mapped[str] = mapped_column(String(16))  # "single" | "group"
    roomid: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    participant_a: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    participant_b: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    has_external: Mapped[bool]
    first_msg_at: Mapped[datetime]
    last_msg_at: Mapped[datetime]
    message_count: Mapped[int] = mapped_column(BigInteger)


class Message(Base):
    """A decrypted, parsed message. Immutable once stored."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("corp_id", "msgid"),
        Index(None, "corp_id", "seq"),
        Index(None, "corp_id", "msgtime"),
        Index(None, "conversation_id", "msgtime"),
        Index(None, "corp_id", "sender", "msgtime"),
        Index(None, "corp_id", "recalls_msgid"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    envelope_id: Mapped[int] = mapped_column(ForeignKey("chat_envelopes.id"), unique=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    msgid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    action: Mapped[str] = mapped_column(String(16))  # send | recall | switch
    msgtype: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    roomid: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    msgtime: Mapped[datetime]
    # For a recall (msgtype revoke): the msgid of the message it retracts.
    recalls_msgid: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    # "ok", "unknown_type" (stored raw, counted) or "malformed_body" (known type, odd body).
    parse_status: Mapped[str] = mapped_column(String(16))
    # The searchable text of the message (text, titles, file names, inner chat records…).
    text: Mapped[str | None] = mapped_column(Text)
    body: Mapped[dict[str, Any]]
    # The decrypted plaintext as the SDK returned it.
    raw: Mapped[str] = mapped_column(Text)
    media_count: Mapped[int]


class MessageRecipient(Base):
    __tablename__ = "message_recipients"
    __table_args__ = (Index(None, "corp_id", "recipient"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))


class QuarantinedRecord(Base):
    """A received record that could not be decrypted, parsed or stored, with why (never what)."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("corp_id", "msgid"), Index(None, "corp_id", "resolved_at"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    envelope_id: Mapped[int] = mapped_column(ForeignKey("chat_envelopes.id"), unique=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    msgid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    publickey_ver: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int]
    first_seen_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class PullRun(Base):
    """One run of the puller for one corp: what it fetched, stored and quarantined."""

    __tablename__ = "pull_runs"
    __table_args__ = (Index(None, "corp_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    from_seq: Mapped[int] = mapped_column(BigInteger)
    to_seq: Mapped[int] = mapped_column(BigInteger)
    batches: Mapped[int]
    fetched: Mapped[int]
    stored: Mapped[int]
    duplicates: Mapped[int]
    quarantined: Mapped[int]
    unknown_types: Mapped[int]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class Lease(Base):
    """A named lease held by one process at a time (e.g. the puller of one corp)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
