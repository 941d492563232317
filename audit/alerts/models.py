"""Alerts and the routing rules that decide who hears about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, Base, BigIntId, JsonDocument


class Alert(Base):
    """Findings of one rule in one conversation within one time window.

    ``dedupe_key`` is ``<conversation id or "-">|<rule>|<window start>``: a string rather
    than a unique constraint over a nullable conversation id, which SQL would treat as
    always distinct. ``message_ids`` only grows (re-scanning adds nothing twice).
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("corp_id", "dedupe_key"),
        Index(None, "corp_id", "status", "created_at"),
        Index(None, "conversation_id", "window_start"),
        Index(None, "corp_id", "rule", "window_start"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    dedupe_key: Mapped[str] = mapped_column(String(256))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    rule: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))  # "detect" | "group_monitor" | "reply_timeout" | "contact_event"
    status: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str | None] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(128))
    window_start: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    message_ids: Mapped[list[int]] = mapped_column(JsonDocument)
    explanation: Mapped[dict[str, Any]]
    tags: Mapped[list[str]] = mapped_column(JsonDocument)
    routed_to: Mapped[list[str]] = mapped_column(JsonDocument)


class RoutingRule(Base):
    """Alerts in scope (departments with their subtrees, rooms, categories; empty = any)
    at or above ``min_severity`` go to ``targets`` (``email:…``, ``webhook:<name>``,
    ``wecom:<name>`` or a plain user name). Reviewers hear of new alerts, managers of
    escalations."""

    __tablename__ = "alert_routes"
    __table_args__ = (UniqueConstraint("corp_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # "reviewer" | "manager"
    min_severity: Mapped[str] = mapped_column(String(16))
    categories: Mapped[list[str]] = mapped_column(JsonDocument)
    department_ids: Mapped[list[int]] = mapped_column(JsonDocument)
    roomids: Mapped[list[str]] = mapped_column(JsonDocument)
    targets: Mapped[list[str]] = mapped_column(JsonDocument)
    enabled: Mapped[bool]
    created_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
