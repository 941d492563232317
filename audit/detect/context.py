"""What a detector sees of one message: its text, body and the facts about who and where."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ChatKind = Literal["single", "group", "internal"]


@dataclass(frozen=True)
class MessageContext:
    """One message as the engine scans it.

    ``chat_kind`` is ``internal`` when no external contact takes part, else ``group`` for a
    room and ``single`` for a one-to-one chat. ``sender_department_ids`` holds the sender's
    departments *and all their ancestors*, so a rule scoped to a department covers its
    sub-departments with one set intersection. ``body`` is the stored typed body
    (``Message.body``: ``{"kind": "RedpacketBody", "totalamount": ..., ...}``).
    """

    message_id: int | None
    corp_id: str
    msgid: str
    msgtype: str
    action: str
    text: str | None
    body: Mapping[str, Any]
    sender: str
    sender_is_staff: bool
    recipients: tuple[str, ...]
    roomid: str | None
    chat_kind: ChatKind
    has_external: bool
    msgtime: datetime
    sender_department_ids: frozenset[int] = field(default_factory=frozenset)
    conversation_id: int | None = None
    recalls_msgid: str | None = None
