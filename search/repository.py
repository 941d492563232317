"""Database reads of the search layer: the rows a search document is built from."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, false, func, or_, select, union
from sqlalchemy.orm import Session, aliased

from archive.directory import repository as directory
from archive.directory.models import (
    DirectoryCustomer,
    DirectoryDepartment,
    DirectoryFollow,
    DirectoryGroup,
    DirectoryMember,
    DirectoryMembership,
    DirectoryRobot,
)
from archive.models import Conversation, Message, MessageRecipient
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


# --- the directory by name (search.names) and the scope's conversations (search.scope) -----

# At most this many rows per kind of thing a name is looked up in: enough to list candidates.
NAME_LOOKUP_LIMIT = 50


@dataclass(frozen=True, slots=True)
class NamedRow:
    """One directory entry a filter value may mean. ``how``: ``id`` (the value is its id),
    ``name`` (its name or a follower's remark equals the value) or ``prefix`` (starts with it)."""

    kind: str  # member / customer / robot / group / department
    corp_id: str
    id: str
    name: str
    how: str


def _how(value: str, column_id: str, names: Sequence[str | None]) -> str:
    if column_id == value:
        return "id"
    return "name" if value in names else "prefix"


def _starts(column: Any, value: str) -> ColumnElement[bool]:
    # substr, not LIKE: exact and case-sensitive on both databases, no escaping of % and _.
    return func.substr(column, 1, len(value)) == value


def _id_first(column: Any, value: str) -> Any:
    # The entry whose id is the value first, so the row limit never drops it.
    return case((column == value, 0), else_=1)


def named(session: Session, kinds: Sequence[str], corp_ids: Sequence[str], value: str) -> list[NamedRow]:
    """Directory entries of ``kinds`` in ``corp_ids`` whose id is ``value`` or whose name
    (for customers: also a follower's remark) equals or starts with it."""
    found: list[NamedRow] = []
    corps = list(corp_ids)
    if "member" in kinds:
        member_rows = session.execute(
            select(DirectoryMember.corp_id, DirectoryMember.userid, DirectoryMember.name)
            .where(
                DirectoryMember.corp_id.in_(corps),
                or_(DirectoryMember.userid == value, _starts(DirectoryMember.name, value)),
            )
            .order_by(_id_first(DirectoryMember.userid, value), DirectoryMember.name, DirectoryMember.userid)
            .limit(NAME_LOOKUP_LIMIT)
        )
        found += [NamedRow("member", c, i, n, _how(value, i, [n])) for c, i, n in member_rows]
    if "customer" in kinds:
        remarks = select(DirectoryFollow.external_userid).where(
            DirectoryFollow.corp_id.in_(corps), _starts(DirectoryFollow.remark, value)
        )
        customer_rows = session.execute(
            select(DirectoryCustomer.corp_id, DirectoryCustomer.external_userid, DirectoryCustomer.name)
            .where(
                DirectoryCustomer.corp_id.in_(corps),
                or_(
                    DirectoryCustomer.external_userid == value,
                    _starts(DirectoryCustomer.name, value),
                    DirectoryCustomer.external_userid.in_(remarks),
                ),
            )
            .order_by(
                _id_first(DirectoryCustomer.external_userid, value),
                DirectoryCustomer.name,
                DirectoryCustomer.external_userid,
            )
            .limit(NAME_LOOKUP_LIMIT)
        ).all()
        remark_of = _remarks(session, corps, [row[1] for row in customer_rows])
        found += [
            NamedRow("customer", c, i, n, _how(value, i, [n, *remark_of.get((c, i), ())])) for c, i, n in customer_rows
        ]
    if "robot" in kinds:
        robot_rows = session.execute(
            select(DirectoryRobot.corp_id, DirectoryRobot.robot_id, DirectoryRobot.name)
            .where(
                DirectoryRobot.corp_id.in_(corps),
                or_(DirectoryRobot.robot_id == value, _starts(DirectoryRobot.name, value)),
            )
            .order_by(_id_first(DirectoryRobot.robot_id, value), DirectoryRobot.name, DirectoryRobot.robot_id)
            .limit(NAME_LOOKUP_LIMIT)
        )
        found += [NamedRow("robot", c, i, n, _how(value, i, [n])) for c, i, n in robot_rows]
    if "group" in kinds:
        group_rows = session.execute(
            select(DirectoryGroup.corp_id, DirectoryGroup.roomid, DirectoryGroup.name)
            .where(
                DirectoryGroup.corp_id.in_(corps),
                or_(DirectoryGroup.roomid == value, _starts(DirectoryGroup.name, value)),
            )
            .order_by(_id_first(DirectoryGroup.roomid, value), DirectoryGroup.name, DirectoryGroup.roomid)
            .limit(NAME_LOOKUP_LIMIT)
        )
        found += [NamedRow("group", c, i, n, _how(value, i, [n])) for c, i, n in group_rows]
    if "department" in kinds:
        by_id = DirectoryDepartment.dept_id == int(value) if value.isascii() and value.isdigit() else false()
        dept_rows = session.execute(
            select(DirectoryDepartment.corp_id, DirectoryDepartment.dept_id, DirectoryDepartment.name)
            .where(DirectoryDepartment.corp_id.in_(corps), or_(by_id, _starts(DirectoryDepartment.name, value)))
            .order_by(case((by_id, 0), else_=1), DirectoryDepartment.name, DirectoryDepartment.dept_id)
            .limit(NAME_LOOKUP_LIMIT)
        )
        found += [NamedRow("department", c, str(i), n, _how(value, str(i), [n])) for c, i, n in dept_rows]
    return found


def _remarks(session: Session, corps: list[str], external_userids: list[str]) -> dict[tuple[str, str], list[str]]:
    if not external_userids:
        return {}
    rows = session.execute(
        select(DirectoryFollow.corp_id, DirectoryFollow.external_userid, DirectoryFollow.remark).where(
            DirectoryFollow.corp_id.in_(corps),
            DirectoryFollow.external_userid.in_(external_userids),
            DirectoryFollow.remark.is_not(None),
        )
    )
    found: dict[tuple[str, str], list[str]] = {}
    for corp_id, external_userid, remark in rows:
        if remark is not None:
            found.setdefault((corp_id, external_userid), []).append(remark)
    return found


def member_departments(session: Session, corp_id: str, userids: Sequence[str]) -> dict[str, list[str]]:
    """userid → the names of its departments (for telling candidates apart)."""
    rows = session.execute(
        select(DirectoryMembership.userid, DirectoryDepartment.name)
        .join(
            DirectoryDepartment,
            (DirectoryDepartment.corp_id == DirectoryMembership.corp_id)
            & (DirectoryDepartment.dept_id == DirectoryMembership.dept_id),
        )
        .where(DirectoryMembership.corp_id == corp_id, DirectoryMembership.userid.in_(list(userids)))
        .order_by(DirectoryDepartment.name)
    )
    found: dict[str, list[str]] = {}
    for userid, name in rows:
        found.setdefault(userid, []).append(name)
    return found


def customer_corps(session: Session, corp_id: str, external_userids: Sequence[str]) -> dict[str, str | None]:
    rows = session.execute(
        select(DirectoryCustomer.external_userid, DirectoryCustomer.corp_name).where(
            DirectoryCustomer.corp_id == corp_id, DirectoryCustomer.external_userid.in_(list(external_userids))
        )
    )
    return {key: value for key, value in rows}


def department_parent_names(session: Session, corp_id: str, dept_ids: Sequence[int]) -> dict[int, str]:
    """dept id → its parent's name (departments at the root are absent)."""
    parent = aliased(DirectoryDepartment)
    rows = session.execute(
        select(DirectoryDepartment.dept_id, parent.name)
        .join(
            parent, (parent.corp_id == DirectoryDepartment.corp_id) & (parent.dept_id == DirectoryDepartment.parent_id)
        )
        .where(DirectoryDepartment.corp_id == corp_id, DirectoryDepartment.dept_id.in_(list(dept_ids)))
    )
    return {key: value for key, value in rows}


def conversations_touched(session: Session, corp_ids: Sequence[str], people: Collection[str]) -> frozenset[int]:
    """Conversations of ``corp_ids`` in which any of ``people`` sent or received a message
    (the access gate's ``_touching`` for every conversation that has messages, read through
    the (corp, sender) and (corp, recipient) indexes)."""
    if not people or not corp_ids:
        return frozenset()
    corps, wanted = list(corp_ids), sorted(people)
    sent = select(Message.conversation_id).where(Message.corp_id.in_(corps), Message.sender.in_(wanted))
    received = (
        select(Message.conversation_id)
        .join(MessageRecipient, MessageRecipient.message_id == Message.id)
        .where(MessageRecipient.corp_id.in_(corps), MessageRecipient.recipient.in_(wanted))
    )
    rows: Iterable[int | None] = session.execute(union(sent, received)).scalars()
    return frozenset(row for row in rows if row is not None)


def in_archive(session: Session, corp_ids: Sequence[str], field: str, value: str) -> bool:
    """Whether an id the directory does not know takes part in any archived message of the
    corps: as a sender or recipient (``from:``/``to:``/``customer:``), or as the group of a
    conversation (``room:``; conversations are keyed ``room:<roomid>``). Indexed lookups."""
    if field == "room":
        keys = select(Conversation.id).where(Conversation.corp_id.in_(corp_ids), Conversation.key == f"room:{value}")
        return session.execute(keys.limit(1)).first() is not None
    sent = select(Message.id).where(Message.corp_id.in_(corp_ids), Message.sender == value).limit(1)
    if session.execute(sent).first() is not None:
        return True
    received = select(MessageRecipient.message_id).where(
        MessageRecipient.corp_id.in_(corp_ids), MessageRecipient.recipient == value
    )
    return session.execute(received.limit(1)).first() is not None
