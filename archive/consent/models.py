"""Storage models of the consent ledger.

``consent_events`` is append-only: one row per observation of a consent status, never
updated or deleted (retention does not touch it: it is the proof). ``consent_states`` is
the current state per (member, customer) pair or (room, customer), derived from the events
and rewritten as newer ones arrive. ``consent_checks`` remembers when WeCom's check API was
last asked about a pair or room (for incremental checks); ``consent_cursors`` how far the
pass over archived agree/disagree messages has read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base, BigIntId

STATUS_LENGTH = 32
SCOPE_LENGTH = 8  # "single" | "room"
SOURCE_LENGTH = 16  # "check_api" | "callback" | "message"


class ConsentEvent(Base):
    """One observation: ``party`` is the member's userid (scope ``single``) or the roomid
    (scope ``room``). ``status`` is WeCom's word as sent (``Agree``, ``Disagree``,
    ``Default_Agree`` or anything newer). The unique key makes a repeated observation (the
    same check answer every few hours, a callback WeCom retried) a no-op."""

    __tablename__ = "consent_events"
    __table_args__ = (
        UniqueConstraint(
            "corp_id",
            "scope",
            "party",
            "external_userid",
            "status",
            "changed_at",
            "source",
            name="uq_consent_events_observation",  # the generated name passes PostgreSQL's 63 characters
        ),
        Index(None, "corp_id", "external_userid", "changed_at"),
        Index(None, "corp_id", "party", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    scope: Mapped[str] = mapped_column(String(SCOPE_LENGTH))
    party: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    external_userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    changed_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH))
    msgid: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    recorded_at: Mapped[datetime]


class ConsentState(Base):
    """The latest event (by ``changed_at``) of a pair or room member."""

    __tablename__ = "consent_states"
    __table_args__ = (Index(None, "corp_id", "external_userid"),)

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    scope: Mapped[str] = mapped_column(String(SCOPE_LENGTH), primary_key=True)
    party: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    external_userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    changed_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH))
    event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class ConsentCheck(Base):
    """When WeCom's check API last answered for a pair (``external_userid`` set) or a room
    (``external_userid`` = ""), and how: ``ok`` or ``not_found`` (301061)."""

    __tablename__ = "consent_checks"
    __table_args__ = (Index(None, "corp_id", "checked_at"),)

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    scope: Mapped[str] = mapped_column(String(SCOPE_LENGTH), primary_key=True)
    party: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    external_userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    checked_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))


class ConsentCursor(Base):
    """The last ``messages.id`` the agree/disagree pass has read, per corp."""

    __tablename__ = "consent_cursors"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    message_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
