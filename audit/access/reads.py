"""Reads of chat content, each through the gate (scope check first, one log row after).

Nothing here returns ORM objects: callers get frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from archive.media.models import MediaTask
from archive.models import Conversation, Message, MessageRecipient
from audit.access.gate import AccessGate
from audit.errors import NotFound

CONTEXT_MAX_MESSAGES = 100


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    corp_id: str
    kind: str
    roomid: str | None
    participants: list[str]
    has_external: bool
    first_msg_at: datetime
    last_msg_at: datetime
    message_count: int


@dataclass(frozen=True)
class MessageView:
    id: int
    msgid: str
    corp_id: str
    conversation_id: int | None
    seq: int
    msgtime: datetime
    action: str
    msgtype: str
    sender: str
    recipients: list[str]
    text: str | None


@dataclass(frozen=True)
class MediaItem:
    task_id: int
    status: str
    extension: str
    expected_size: int
    content_type: str | None


@dataclass(frozen=True)
class MessageDetail:
    message: MessageView
    body: dict[str, Any]
    media: list[MediaItem]


@dataclass(frozen=True)
class ConversationContext:
    conversation: ConversationSummary
    anchor_message_id: int
    messages: list[MessageView]


@dataclass(frozen=True)
class MediaBlob:
    sha256: str
    content_type: str
    extension: str
    size: int


def _summary(row: Conversation) -> ConversationSummary:
    participants = [p for p in (row.participant_a, row.participant_b) if p]
    return ConversationSummary(
        row.id,
        row.corp_id,
        row.kind,
        row.roomid,
        participants,
        row.has_external,
        row.first_msg_at,
        row.last_msg_at,
        row.message_count,
    )


def message_views(session: Session, rows: list[Message]) -> list[MessageView]:
    recipients: dict[int, list[str]] = {}
    if rows:
        for message_id, recipient in session.execute(
            select(MessageRecipient.message_id, MessageRecipient.recipient)
            .where(MessageRecipient.message_id.in_([row.id for row in rows]))
            .order_by(MessageRecipient.recipient)
        ):
            recipients.setdefault(message_id, []).append(recipient)
    return [
        MessageView(
            row.id,
            row.msgid,
            row.corp_id,
            row.conversation_id,
            row.seq,
            row.msgtime,
            row.action,
            row.msgtype,
            row.sender,
            recipients.get(row.id, []),
            row.text,
        )
        for row in rows
    ]


def list_conversations(gate: AccessGate, *, before_id: int | None, limit: int) -> list[ConversationSummary]:
    """Newest conversations first (by id), only those in scope."""
    statement = select(Conversation).where(gate.visible()).order_by(Conversation.id.desc()).limit(limit)
    if before_id is not None:
        statement = statement.where(Conversation.id < before_id)
    rows = gate.session.execute(statement).scalars().all()
    gate.record("content.conversations", {"before_id": before_id, "ids": [row.id for row in rows]}, len(rows))
    return [_summary(row) for row in rows]


def conversation_summary(gate: AccessGate, conversation_id: int) -> ConversationSummary:
    """A conversation's metadata (no content, so no log row: the message reads log theirs)."""
    gate.check_conversation(conversation_id)
    row = gate.session.get(Conversation, conversation_id)
    assert row is not None  # checked by the gate
    return _summary(row)


def _message(gate: AccessGate, message_id: int) -> Message:
    message = gate.session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    gate.check_conversation(message.conversation_id)
    return message


def conversation_context(gate: AccessGate, message_id: int, *, before: int, after: int) -> ConversationContext:
    """The messages around one message of a conversation, in time order."""
    anchor = _message(gate, message_id)
    before, after = min(before, CONTEXT_MAX_MESSAGES), min(after, CONTEXT_MAX_MESSAGES)
    same = Message.conversation_id == anchor.conversation_id
    earlier = or_(Message.msgtime < anchor.msgtime, and_(Message.msgtime == anchor.msgtime, Message.id < anchor.id))
    later = or_(Message.msgtime > anchor.msgtime, and_(Message.msgtime == anchor.msgtime, Message.id > anchor.id))
    session = gate.session
    newest_first = (Message.msgtime.desc(), Message.id.desc())
    head = session.execute(select(Message).where(same, earlier).order_by(*newest_first).limit(before)).scalars().all()
    tail = (
        session.execute(select(Message).where(same, later).order_by(Message.msgtime, Message.id).limit(after))
        .scalars()
        .all()
    )
    rows = [*reversed(head), anchor, *tail]
    conversation = session.get(Conversation, anchor.conversation_id)
    assert conversation is not None  # checked by the gate
    gate.record(
        "content.conversation",
        {"conversation_id": conversation.id, "anchor_message_id": anchor.id, "message_ids": [row.id for row in rows]},
        len(rows),
    )
    return ConversationContext(_summary(conversation), anchor.id, message_views(session, rows))


def conversation_messages(
    gate: AccessGate, conversation_id: int, *, after: tuple[datetime, int] | None, limit: int
) -> list[MessageView]:
    """One page of a conversation in time order; ``after`` is the last (msgtime, id) seen."""
    gate.check_conversation(conversation_id)
    statement = (
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.msgtime, Message.id)
        .limit(limit)
    )
    if after is not None:
        moment, last_id = after
        statement = statement.where(
            or_(Message.msgtime > moment, and_(Message.msgtime == moment, Message.id > last_id))
        )
    rows = list(gate.session.execute(statement).scalars().all())
    gate.record(
        "content.conversation",
        {"conversation_id": conversation_id, "message_ids": [row.id for row in rows]},
        len(rows),
    )
    return message_views(gate.session, rows)


def message_detail(gate: AccessGate, message_id: int) -> MessageDetail:
    message = _message(gate, message_id)
    tasks = gate.session.execute(select(MediaTask).where(MediaTask.message_id == message.id).order_by(MediaTask.id))
    media = [
        MediaItem(task.id, task.status, task.extension, task.expected_size, task.content_type)
        for task in tasks.scalars()
    ]
    gate.record("content.message", {"message_id": message.id, "conversation_id": message.conversation_id}, 1)
    (view,) = message_views(gate.session, [message])
    return MessageDetail(view, dict(message.body), media)


def media_blob(gate: AccessGate, message_id: int, task_id: int) -> MediaBlob:
    """Where a downloaded attachment lives in the blob store (the caller streams it)."""
    message = _message(gate, message_id)
    task = gate.session.get(MediaTask, task_id)
    if task is None or task.message_id != message.id:
        raise NotFound(f"message {message_id} has no attachment {task_id}")
    if task.status != "done" or task.blob_sha256 is None:
        raise NotFound(f"attachment {task_id} is not downloaded yet ({task.status})")
    gate.record(
        "content.media",
        {"message_id": message.id, "conversation_id": message.conversation_id, "task_id": task.id},
        1,
    )
    return MediaBlob(
        task.blob_sha256,
        task.content_type or "application/octet-stream",
        task.extension,
        task.stored_size or 0,
    )
