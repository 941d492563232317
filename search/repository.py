"""Database reads of the search layer: the rows a search document is built from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.directory import repository as directory
from archive.models import Message, MessageRecipient
from audit.detect.models import MessageHit, MessageSentiment


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    corp_id: str
    msgid: str
    conversation_id: int | None
    seq: int
    msgtime: datetime
    msgtype: str
    sender: str
    roomid: str | None
    text: str | None
    media_count: int


def messages(session: Session, message_ids: Sequence[int]) -> list[MessageRow]:
    rows = session.execute(
        select(
            Message.id,
            Message.corp_id,
            Message.msgid,
            Message.conversation_id,
            Message.seq,
            Message.msgtime,
            Message.msgtype,
            Message.sender,
            Message.roomid,
            Message.text,
            Message.media_count,
        ).where(Message.id.in_(list(message_ids)))
    )
    return [MessageRow(*row) for row in rows]


def recipients(session: Session, message_ids: Sequence[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {}
    rows = session.execute(
        select(MessageRecipient.message_id, MessageRecipient.recipient)
        .where(MessageRecipient.message_id.in_(list(message_ids)))
        .order_by(MessageRecipient.message_id, MessageRecipient.recipient)
    )
    for message_id, recipient in rows:
        result.setdefault(message_id, []).append(recipient)
    return result


def hits(session: Session, message_ids: Sequence[int]) -> dict[int, list[tuple[str, str, str]]]:
    """message id → [(rule, category, severity)]."""
    result: dict[int, list[tuple[str, str, str]]] = {}
    rows = session.execute(
        select(MessageHit.message_id, MessageHit.rule, MessageHit.category, MessageHit.severity).where(
            MessageHit.message_id.in_(list(message_ids))
        )
    )
    for message_id, rule, category, severity in rows:
        result.setdefault(message_id, []).append((rule, category, severity))
    return result


def sentiments(session: Session, message_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(
        select(MessageSentiment.message_id, MessageSentiment.label).where(
            MessageSentiment.message_id.in_(list(message_ids))
        )
    )
    return {message_id: label for message_id, label in rows}


def memberships(session: Session, corp_id: str, userids: Sequence[str]) -> dict[str, set[int]]:
    return directory.memberships(session, corp_id, userids)


def message_id_pages(session: Session, page_size: int, *, up_to: int | None = None) -> Iterator[list[int]]:
    """Every message id in ascending pages (keyset, so the table can grow meanwhile)."""
    last = 0
    while True:
        query = select(Message.id).where(Message.id > last).order_by(Message.id).limit(page_size)
        if up_to is not None:
            query = query.where(Message.id <= up_to)
        ids = list(session.scalars(query))
        if not ids:
            return
        yield ids
        last = ids[-1]


def max_message_id(session: Session) -> int:
    return int(session.scalar(select(func.max(Message.id))) or 0)


def message_count(session: Session) -> int:
    return int(session.scalar(select(func.count(Message.id))) or 0)


def message_ids_after(session: Session, after_id: int) -> dict[str, list[int]]:
    """corp id → ids of the messages stored after ``after_id``."""
    result: dict[str, list[int]] = {}
    rows = session.execute(select(Message.id, Message.corp_id).where(Message.id > after_id).order_by(Message.id))
    for message_id, corp_id in rows:
        result.setdefault(corp_id, []).append(message_id)
    return result
