"""The lexicon rule tables. Terms are immutable rows (an edit is a delete plus an insert) and
every change through the repository bumps its group's ``version`` and ``updated_at``, so the
engine cache notices any change with one aggregate query."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, Base, JsonDocument

GLOBAL_CORP = ""  # a group with this corp_id applies to every corp


class LexiconGroupRow(Base):
    __tablename__ = "lexicon_groups"
    __table_args__ = (UniqueConstraint("corp_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))  # staff | customer | any
    chat_kind: Mapped[str] = mapped_column(String(16))  # single | group | internal | any
    departments: Mapped[list[int]] = mapped_column(JsonDocument)
    employees: Mapped[list[str]] = mapped_column(JsonDocument)
    rooms: Mapped[list[str]] = mapped_column(JsonDocument)
    enabled: Mapped[bool]
    version: Mapped[int]
    updated_at: Mapped[datetime]


class LexiconTermRow(Base):
    __tablename__ = "lexicon_terms"
    __table_args__ = (UniqueConstraint("group_id", "kind", "text"), Index(None, "group_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("lexicon_groups.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # term | exclusion | allow_context
    text: Mapped[str] = mapped_column(String(256))
