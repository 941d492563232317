"""Queries of the consent ledger (the only module that reads or writes its tables)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive.consent.models import ConsentCheck, ConsentCursor, ConsentEvent, ConsentState
from archive.messages import is_external_id
from archive.models import Conversation, Message, MessageRecipient

CONSENT_MSGTYPES = ("agree", "disagree")


@dataclass(frozen=True)
class Subject:
    """A pair (``scope`` single, ``party`` = member userid) or a room member (``scope`` room,
    ``party`` = roomid); for room checks ``external_userid`` is ""."""

    scope: str
    party: str
    external_userid: str


def insert_event(
    session: Session,
    *,
    corp_id: str,
    subject: Subject,
    status: str,
    changed_at: datetime,
    source: str,
    msgid: str | None,
    now: datetime,
) -> ConsentEvent | None:
    """The new event, or None when the same observation is already stored. A concurrent
    writer of the same observation (callback and job at once) hits the unique key: the
    savepoint rolls back only that insert."""
    key = (
        ConsentEvent.corp_id == corp_id,
        ConsentEvent.scope == subject.scope,
        ConsentEvent.party == subject.party,
        ConsentEvent.external_userid == subject.external_userid,
        ConsentEvent.status == status,
        ConsentEvent.changed_at == changed_at,
        ConsentEvent.source == source,
    )
    if session.scalar(select(ConsentEvent.id).where(*key)) is not None:
        return None
    event = ConsentEvent(
        corp_id=corp_id,
        scope=subject.scope,
        party=subject.party,
        external_userid=subject.external_userid,
        status=status,
        changed_at=changed_at,
        source=source,
        msgid=msgid,
        recorded_at=now,
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        return None
    return event


def apply_to_state(session: Session, event: ConsentEvent, now: datetime) -> bool:
    """Make ``event`` the current state if it is at least as recent; True when it did."""
    state = session.get(ConsentState, (event.corp_id, event.scope, event.party, event.external_userid))
    if state is None:
        session.add(
            ConsentState(
                corp_id=event.corp_id,
                scope=event.scope,
                party=event.party,
                external_userid=event.external_userid,
                status=event.status,
                changed_at=event.changed_at,
                source=event.source,
                event_id=event.id,
                updated_at=now,
            )
        )
        session.flush()
        return True
    if event.changed_at < state.changed_at:
        return False
    state.status, state.changed_at, state.source = event.status, event.changed_at, event.source
    state.event_id, state.updated_at = event.id, now
    return True


def mark_checked(session: Session, corp_id: str, subject: Subject, outcome: str, now: datetime) -> None:
    check = session.get(ConsentCheck, (corp_id, subject.scope, subject.party, subject.external_userid))
    if check is None:
        session.add(
            ConsentCheck(
                corp_id=corp_id,
                scope=subject.scope,
                party=subject.party,
                external_userid=subject.external_userid,
                checked_at=now,
                outcome=outcome,
            )
        )
    else:
        check.checked_at, check.outcome = now, outcome
    session.flush()


def last_checks(session: Session, corp_id: str) -> dict[Subject, datetime]:
    rows = session.execute(
        select(ConsentCheck.scope, ConsentCheck.party, ConsentCheck.external_userid, ConsentCheck.checked_at).where(
            ConsentCheck.corp_id == corp_id
        )
    )
    return {Subject(scope, party, ext): at for scope, party, ext, at in rows}


def pairs_seen(session: Session, corp_id: str) -> list[Subject]:
    """(member, customer) of every archived single chat with an external participant."""
    rows = session.execute(
        select(Conversation.participant_a, Conversation.participant_b).where(
            Conversation.corp_id == corp_id, Conversation.kind == "single", Conversation.has_external
        )
    )
    pairs: set[Subject] = set()
    for a, b in rows:
        if not a or not b:
            continue
        # Two customers never share a single chat; a customer with a robot is not a pair WeCom checks.
        if is_external_id(a) and not is_external_id(b) and not b.startswith("wb"):
            pairs.add(Subject("single", b, a))
        elif is_external_id(b) and not is_external_id(a) and not a.startswith("wb"):
            pairs.add(Subject("single", a, b))
    return sorted(pairs, key=lambda s: (s.party, s.external_userid))


def rooms_seen(session: Session, corp_id: str) -> list[str]:
    """Every archived group with an external member."""
    rows = session.scalars(
        select(Conversation.roomid).where(
            Conversation.corp_id == corp_id,
            Conversation.kind == "group",
            Conversation.has_external,
            Conversation.roomid.is_not(None),
        )
    )
    return sorted({roomid for roomid in rows if roomid})


def cursor(session: Session, corp_id: str) -> int:
    row = session.get(ConsentCursor, corp_id)
    return row.message_id if row else 0


def advance_cursor(session: Session, corp_id: str, message_id: int, now: datetime) -> None:
    row = session.get(ConsentCursor, corp_id)
    if row is None:
        session.add(ConsentCursor(corp_id=corp_id, message_id=message_id, updated_at=now))
    else:
        row.message_id, row.updated_at = message_id, now
    session.flush()


def consent_messages_after(
    session: Session, corp_id: str, after_id: int, limit: int, *, up_to: int
) -> Sequence[Message]:
    return session.scalars(
        select(Message)
        .where(
            Message.corp_id == corp_id,
            Message.id > after_id,
            Message.id <= up_to,
            Message.msgtype.in_(CONSENT_MSGTYPES),
        )
        .order_by(Message.id)
        .limit(limit)
    ).all()


def last_message_id(session: Session, corp_id: str) -> int:
    return session.scalar(select(func.max(Message.id)).where(Message.corp_id == corp_id)) or 0


def recipients_of(session: Session, message: Message) -> list[str]:
    return list(session.scalars(select(MessageRecipient.recipient).where(MessageRecipient.message_id == message.id)))


def conversation_participants(session: Session, conversation_id: int | None) -> tuple[str | None, str | None]:
    if conversation_id is None:
        return None, None
    row = session.execute(
        select(Conversation.participant_a, Conversation.participant_b).where(Conversation.id == conversation_id)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def states(
    session: Session, corp_id: str, *, external_userid: str | None = None, party: str | None = None
) -> Sequence[ConsentState]:
    query = select(ConsentState).where(ConsentState.corp_id == corp_id)
    if external_userid is not None:
        query = query.where(ConsentState.external_userid == external_userid)
    if party is not None:
        query = query.where(ConsentState.party == party)
    return session.scalars(query.order_by(ConsentState.scope, ConsentState.party, ConsentState.external_userid)).all()


def events_of(session: Session, corp_id: str, subjects: Collection[Subject]) -> Sequence[ConsentEvent]:
    if not subjects:
        return []
    matches = [
        and_(
            ConsentEvent.scope == s.scope,
            ConsentEvent.party == s.party,
            ConsentEvent.external_userid == s.external_userid,
        )
        for s in subjects
    ]
    return session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.corp_id == corp_id, or_(*matches))
        .order_by(ConsentEvent.changed_at, ConsentEvent.id)
    ).all()


def visible_subjects(
    session: Session, corp_id: str, subjects: Iterable[Subject], visible: ColumnElement[bool]
) -> set[Subject]:
    """Those of ``subjects`` whose archived conversation satisfies ``visible`` (a WHERE over
    ``Conversation``, e.g. the access gate's scope). A subject with no archived
    conversation matches nothing here."""
    wanted = list(subjects)
    if not wanted:
        return set()
    parties = {s.party for s in wanted} | {s.external_userid for s in wanted}
    rooms = [s.party for s in wanted if s.scope == "room"]
    rows = session.execute(
        select(Conversation.kind, Conversation.roomid, Conversation.participant_a, Conversation.participant_b).where(
            Conversation.corp_id == corp_id,
            visible,
            or_(
                and_(Conversation.kind == "group", Conversation.roomid.in_(rooms or [""])),
                and_(
                    Conversation.kind == "single",
                    Conversation.participant_a.in_(parties),
                    Conversation.participant_b.in_(parties),
                ),
            ),
        )
    )
    seen_rooms: set[str] = set()
    seen_pairs: set[frozenset[str]] = set()
    for kind, roomid, a, b in rows:
        if kind == "group" and roomid:
            seen_rooms.add(roomid)
        elif a and b:
            seen_pairs.add(frozenset((a, b)))
    return {
        s
        for s in wanted
        if (s.scope == "room" and s.party in seen_rooms)
        or (s.scope == "single" and frozenset((s.party, s.external_userid)) in seen_pairs)
    }


def count_states(session: Session, corp_id: str) -> dict[str, int]:
    rows = session.execute(
        select(ConsentState.status, func.count()).where(ConsentState.corp_id == corp_id).group_by(ConsentState.status)
    )
    return {status: count for status, count in rows}
