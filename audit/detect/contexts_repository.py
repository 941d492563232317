"""Message contexts for the engine, read from the archive tables and the org directory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.directory import repository as directory
from archive.messages import is_external_id
from archive.models import Conversation, Message, MessageRecipient
from audit.detect.context import ChatKind, MessageContext

_ROBOT_PREFIX = "wb"  # group robots: neither staff nor customers
_QUERY_CHUNK = 500


def contexts_for(session: Session, message_ids: Sequence[int]) -> list[MessageContext]:
    rows: dict[int, Message] = {}
    ids = list(dict.fromkeys(message_ids))
    for offset in range(0, len(ids), _QUERY_CHUNK):
        chunk = ids[offset : offset + _QUERY_CHUNK]
        rows.update((row.id, row) for row in session.scalars(select(Message).where(Message.id.in_(chunk))))
    if not rows:
        return []
    recipients: dict[int, list[str]] = defaultdict(list)
    conversations: dict[int, Conversation] = {}
    conversation_ids = {row.conversation_id for row in rows.values() if row.conversation_id is not None}
    row_ids = list(rows)
    for offset in range(0, len(row_ids), _QUERY_CHUNK):
        chunk = row_ids[offset : offset + _QUERY_CHUNK]
        for message_id, recipient in session.execute(
            select(MessageRecipient.message_id, MessageRecipient.recipient).where(
                MessageRecipient.message_id.in_(chunk)
            )
        ):
            recipients[message_id].append(recipient)
    conversation_list = list(conversation_ids)
    for offset in range(0, len(conversation_list), _QUERY_CHUNK):
        chunk = conversation_list[offset : offset + _QUERY_CHUNK]
        conversations.update((c.id, c) for c in session.scalars(select(Conversation).where(Conversation.id.in_(chunk))))
    departments = _sender_departments(session, rows.values())
    contexts: list[MessageContext] = []
    for message_id in ids:
        row = rows.get(message_id)
        if row is None:
            continue
        to = tuple(sorted(recipients[row.id]))
        conversation = conversations.get(row.conversation_id) if row.conversation_id is not None else None
        has_external = (
            conversation.has_external
            if conversation is not None
            else any(is_external_id(party) for party in (row.sender, *to))
        )
        kind: ChatKind = "internal" if not has_external else ("group" if row.roomid else "single")
        contexts.append(
            MessageContext(
                message_id=row.id,
                corp_id=row.corp_id,
                msgid=row.msgid,
                msgtype=row.msgtype,
                action=row.action,
                text=row.text,
                body=row.body,
                sender=row.sender,
                sender_is_staff=is_staff(row.sender),
                recipients=to,
                roomid=row.roomid or None,
                chat_kind=kind,
                has_external=has_external,
                msgtime=row.msgtime,
                sender_department_ids=departments.get((row.corp_id, row.sender), frozenset()),
                conversation_id=row.conversation_id,
                recalls_msgid=row.recalls_msgid,
            )
        )
    return contexts


def is_staff(wecom_id: str) -> bool:
    return bool(wecom_id) and not is_external_id(wecom_id) and not wecom_id.startswith(_ROBOT_PREFIX)


def _sender_departments(session: Session, rows: Iterable[Message]) -> dict[tuple[str, str], frozenset[int]]:
    """(corp, userid) → the sender's departments with all their ancestors."""
    senders: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if is_staff(row.sender):
            senders[row.corp_id].add(row.sender)
    result: dict[tuple[str, str], frozenset[int]] = {}
    for corp_id, userids in senders.items():
        parents = directory.department_parents(session, corp_id)
        for userid, dept_ids in directory.memberships(session, corp_id, userids).items():
            closure: set[int] = set()
            for dept_id in dept_ids:
                current: int | None = dept_id
                while current is not None and current not in closure:
                    closure.add(current)
                    current = parents.get(current)
            result[(corp_id, userid)] = frozenset(closure)
    return result
