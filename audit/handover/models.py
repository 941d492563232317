"""Handover cases: a departed (or reassigned) member's customers and groups, reviewed,
decided, transferred through WeCom and signed off (ADR 0016).

A case is a small state machine (``CaseStatus``); its customers and groups carry their own
decision and transfer outcome. Dossiers are computed once at inventory time and stored as
JSON so the report shows what the manager saw when deciding, not what the archive says
later. Successors inherit read access to exactly the conversations of the customers and
groups that reached them (``HandoverInheritance``), granted through the security scopes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base, BigIntId, JsonDocument


class CaseKind(StrEnum):
    RESIGNED = "resigned"  # 离职继承: the member has left (get_unassigned_list)
    ONJOB = "onjob"  # 在职继承: the member stays, their customers move


class CaseStatus(StrEnum):
    OPEN = "open"  # inventoried, decisions being made
    EXECUTING = "executing"  # transfers sent, results being polled
    COMPLETED = "completed"  # every transfer is final (or nothing was to transfer)
    SIGNED_OFF = "signed_off"  # the manager signed the report; the case is closed
    CANCELLED = "cancelled"


class Decision(StrEnum):
    TRANSFER = "transfer"  # to ``successor_userid``
    HOLD = "hold"  # decide later; blocks sign-off
    KEEP = "keep"  # do not transfer (e.g. the customer is being let go)


class ItemState(StrEnum):
    """Where one customer's or group's transfer stands."""

    PENDING = "pending"  # no transfer sent (no decision, hold or keep)
    SENT = "sent"  # WeCom accepted the request; waiting for the customer / takeover
    COMPLETED = "completed"  # the successor has them
    REFUSED = "refused"  # the customer refused (status 3)
    LIMITED = "limited"  # the successor's customer limit was hit (status 4)
    FAILED = "failed"  # the call or the item was rejected (errcode kept)


FINAL_STATES = frozenset({ItemState.COMPLETED, ItemState.REFUSED, ItemState.LIMITED, ItemState.FAILED})


class HandoverCase(Base):
    __tablename__ = "handover_cases"
    __table_args__ = (Index(None, "corp_id", "handover_userid"), Index(None, "status"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    handover_userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    handover_name: Mapped[str] = mapped_column(String(128))
    # The member's departments when the case was opened (scopes: who may see the case).
    department_ids: Mapped[list[int]] = mapped_column(JsonDocument)
    dimission_at: Mapped[datetime | None]  # resigned cases: when they left (WeCom's dimission_time)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # "unassigned" (discovered) | "manager"
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    inventoried_at: Mapped[datetime | None]
    # On-job transfers: the message WeCom shows the customer (transfer_success_msg).
    transfer_message: Mapped[str | None] = mapped_column(Text)
    executed_by: Mapped[str | None] = mapped_column(String(64))
    executed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    signed_off_by: Mapped[str | None] = mapped_column(String(64))
    signed_off_at: Mapped[datetime | None]
    sign_off_note: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the PDF report as signed (the report is re-rendered from stored facts).
    report_sha256: Mapped[str | None] = mapped_column(String(64))


class HandoverCustomer(Base):
    __tablename__ = "handover_customers"
    __table_args__ = (UniqueConstraint("case_id", "external_userid"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("handover_cases.id", ondelete="CASCADE"), index=True)
    external_userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    name: Mapped[str] = mapped_column(String(128))
    # Still the member's customer in WeCom (False: deleted before leaving, archive only).
    assigned: Mapped[bool]
    deleted_before_leaving: Mapped[bool]
    risk: Mapped[str] = mapped_column(String(16))  # "high" | "medium" | "low" (from the dossier)
    dossier: Mapped[dict[str, Any]]
    suggested_successor: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    suggestion_reason: Mapped[str | None] = mapped_column(String(256))
    decision: Mapped[str | None] = mapped_column(String(16))
    successor_userid: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    errcode: Mapped[int | None]
    # The successor the transfer was sent to (a later re-decision must not rewrite history).
    sent_to: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    sent_at: Mapped[datetime | None]
    takeover_at: Mapped[datetime | None]  # WeCom's takeover_time
    final_at: Mapped[datetime | None]


class HandoverGroup(Base):
    __tablename__ = "handover_groups"
    __table_args__ = (UniqueConstraint("case_id", "chat_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("handover_cases.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    name: Mapped[str] = mapped_column(String(256))
    member_count: Mapped[int]
    customer_count: Mapped[int]
    dossier: Mapped[dict[str, Any]]
    suggested_successor: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    decision: Mapped[str | None] = mapped_column(String(16))
    successor_userid: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16))
    errcode: Mapped[int | None]
    sent_to: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    final_at: Mapped[datetime | None]


class HandoverInheritance(Base):
    """A conversation a successor inherited through a case. ``granted_user_id`` is the
    console account the grant went to; NULL while the successor has no linked account
    (applied when one is linked)."""

    __tablename__ = "handover_inheritances"
    __table_args__ = (
        UniqueConstraint("case_id", "successor_userid", "conversation_id"),
        Index(None, "corp_id", "successor_userid"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("handover_cases.id", ondelete="CASCADE"), index=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    successor_userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    granted_user_id: Mapped[int | None] = mapped_column(ForeignKey("security_users.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime | None]
