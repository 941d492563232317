"""Storage models of the access log: one chained row per read of chat content or admin
action, its head, and its checkpoints. Rows are only ever inserted (see ``audit.accesslog.log``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import Base, BigIntId

HASH_LENGTH = 64


class AccessLogEntry(Base):
    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    position: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    actor_role: Mapped[str] = mapped_column(String(32))
    via: Mapped[str] = mapped_column(String(16))  # session | token | cli | system
    action: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(Text)
    # What was read or changed: a query, conversation/message ids, a user name … never content.
    target: Mapped[dict[str, Any]]
    result_count: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # allowed | denied
    request_id: Mapped[str | None] = mapped_column(String(64))
    # The API token the request was made with (``security_api_tokens.id``; no foreign key:
    # the log outlives what it names).
    token_id: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    record_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))


class AccessLogHead(Base):
    """The chain's head, one row: appenders update it first, which serialises them (a row
    lock on PostgreSQL, the write lock on SQLite), so the chain never forks."""

    __tablename__ = "access_log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    updated_at: Mapped[datetime]
    # The position of the switch-over row from which rows are HMAC-signed (keyed mode).
    keyed_from: Mapped[int | None] = mapped_column(BigInteger)


class AccessLogCheckpoint(Base):
    """A statement: at ``created_at`` the log had ``position`` rows ending in ``head_hash``.
    Also appended to a file outside the database (``audit.accesslog.checkpoints``)."""

    __tablename__ = "access_log_checkpoints"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    position: Mapped[int] = mapped_column(BigInteger, index=True)
    head_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    keyed_from: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
