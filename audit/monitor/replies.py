"""Reply threads: which customer messages waited for staff, how long, and who answered.

Definitions (docs/adr/0013-group-monitoring.md):

- A *customer* is an external contact (``wm…``/``wo…``); *staff* is any other sender
  except robots (``wb…``). Robots neither ask nor answer.
- A *thread* opens with a customer message while no thread is open in the conversation
  and closes at the next staff message. Later customer messages join the open thread, so
  a customer who writes five times before an answer is one thread (and one alert).
- In a group any staff member's message answers every waiting customer.
- Customer messages that expect no answer (a sticker, agree/disagree to archiving) open
  no thread; recalls and switch events are not messages here.
- The thread is *due* ``timeout`` working minutes after its first message; it is
  *overdue* when it was still unanswered then (answered later, or not at all).

Threads are recomputed per conversation from the first new message on (replay), so a
message that arrives late or out of order still lands in the right thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, delete, desc, func, insert, or_, select
from sqlalchemy.orm import Session

from archive.messages import is_external_id
from archive.models import Conversation, Message
from audit.monitor.models import ReplyDaily, ReplyThread
from audit.monitor.worktime import WorkingCalendar

ROBOT_PREFIX = "wb"
NO_REPLY_EXPECTED = frozenset({"emotion", "agree", "disagree"})


def is_customer(sender: str) -> bool:
    return is_external_id(sender)


def is_staff(sender: str) -> bool:
    return bool(sender) and not is_external_id(sender) and not sender.startswith(ROBOT_PREFIX)


@dataclass(frozen=True, slots=True)
class ChatEvent:
    message_id: int
    sender: str
    msgtime: datetime
    msgtype: str


@dataclass(slots=True)
class ThreadDraft:
    opened_message_id: int
    opened_at: datetime
    customer: str
    customers: list[str]
    last_customer_at: datetime
    customer_messages: int
    employee: str | None
    answered_at: datetime | None = None
    answered_by: str | None = None
    answered_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReplyPolicy:
    calendar: WorkingCalendar
    timeout_minutes: float


def build_threads(events: Iterable[ChatEvent], *, staff_participant: str | None) -> list[ThreadDraft]:
    """Threads in ``events`` (ordered by time, then id). ``staff_participant`` is the staff
    side of a single chat (None for a group). A group thread's ``employee`` is its responder,
    else the last staff member seen before it opened (None if none was seen in ``events``)."""
    threads: list[ThreadDraft] = []
    current: ThreadDraft | None = None
    last_staff: str | None = None
    for event in events:
        if is_customer(event.sender):
            if event.msgtype in NO_REPLY_EXPECTED:
                continue
            if current is None:
                current = ThreadDraft(
                    event.message_id,
                    event.msgtime,
                    event.sender,
                    [event.sender],
                    event.msgtime,
                    1,
                    staff_participant or last_staff,
                )
            else:
                current.customer_messages += 1
                current.last_customer_at = event.msgtime
                if event.sender not in current.customers:
                    current.customers.append(event.sender)
        elif is_staff(event.sender):
            last_staff = event.sender
            if current is not None:
                current.answered_at = event.msgtime
                current.answered_by = event.sender
                current.answered_message_id = event.message_id
                if staff_participant is None:
                    current.employee = event.sender
                threads.append(current)
                current = None
    if current is not None:
        threads.append(current)
    return threads


@dataclass
class ThreadChanges:
    """What a refresh touched: conversation-days and employee-days to recompute."""

    conversation_days: set[tuple[int, date]] = field(default_factory=set)
    employee_days: set[tuple[str, date]] = field(default_factory=set)
    threads_written: int = 0

    def touch(self, calendar: WorkingCalendar, thread: ReplyThread) -> None:
        day = calendar.local_day(thread.opened_at)
        self.conversation_days.add((thread.conversation_id, day))
        if thread.employee:
            self.employee_days.add((thread.employee, day))


def refresh_conversation(
    session: Session, policy: ReplyPolicy, conversation: Conversation, since: datetime, changes: ThreadChanges
) -> None:
    """Recompute the conversation's threads from the one open at ``since`` onwards."""
    if not conversation.has_external:
        return
    calendar = policy.calendar
    covering = session.scalars(
        select(ReplyThread)
        .where(ReplyThread.conversation_id == conversation.id, ReplyThread.opened_at <= since)
        .order_by(desc(ReplyThread.opened_at), desc(ReplyThread.opened_message_id))
        .limit(1)
    ).first()
    replay_from = since
    if covering is not None and (covering.answered_at is None or covering.answered_at >= since):
        replay_from = covering.opened_at
    rows = session.execute(
        select(Message.id, Message.sender, Message.msgtime, Message.msgtype)
        .where(Message.conversation_id == conversation.id, Message.msgtime >= replay_from, Message.action == "send")
        .order_by(Message.msgtime, Message.id)
    ).all()
    staff_participant = _staff_participant(conversation)
    drafts = build_threads((ChatEvent(*row) for row in rows), staff_participant=staff_participant)
    if conversation.kind == "group":
        for draft in drafts:
            if draft.employee is None:
                draft.employee = _last_staff_before(session, conversation.id, draft.opened_at)
    existing = {
        thread.opened_message_id: thread
        for thread in session.scalars(
            select(ReplyThread).where(
                ReplyThread.conversation_id == conversation.id, ReplyThread.opened_at >= replay_from
            )
        )
    }
    for draft in drafts:
        thread = existing.pop(draft.opened_message_id, None)
        if thread is None:
            thread = ReplyThread(
                corp_id=conversation.corp_id,
                conversation_id=conversation.id,
                kind=conversation.kind,
                opened_message_id=draft.opened_message_id,
                alerted_at=None,
            )
            session.add(thread)
        elif _same(thread, draft) and thread.due_at == policy.calendar.add(draft.opened_at, policy.timeout_minutes):
            continue
        else:
            changes.touch(calendar, thread)  # its old day and employee change too
        _apply(thread, draft, policy)
        changes.touch(calendar, thread)
        changes.threads_written += 1
    for stale in existing.values():
        # A late message split or merged this thread; an alert already raised stays.
        changes.touch(calendar, stale)
        session.delete(stale)
    session.flush()


def _staff_participant(conversation: Conversation) -> str | None:
    if conversation.kind != "single":
        return None
    for participant in (conversation.participant_a, conversation.participant_b):
        if participant and is_staff(participant):
            return participant
    return None


def _last_staff_before(session: Session, conversation_id: int, moment: datetime) -> str | None:
    not_staff = or_(Message.sender.like("wm%"), Message.sender.like("wo%"), Message.sender.like(f"{ROBOT_PREFIX}%"))
    return session.scalar(
        select(Message.sender)
        .where(Message.conversation_id == conversation_id, Message.msgtime < moment, Message.action == "send")
        .where(~not_staff)
        .order_by(desc(Message.msgtime))
        .limit(1)
    )


def _same(thread: ReplyThread, draft: ThreadDraft) -> bool:
    return (
        thread.opened_at == draft.opened_at
        and thread.customers == draft.customers
        and thread.customer_messages == draft.customer_messages
        and thread.answered_message_id == draft.answered_message_id
        and thread.employee == draft.employee
    )


def _apply(thread: ReplyThread, draft: ThreadDraft, policy: ReplyPolicy) -> None:
    thread.opened_at = draft.opened_at
    thread.customer = draft.customer
    thread.customers = list(draft.customers)
    thread.employee = draft.employee
    thread.last_customer_at = draft.last_customer_at
    thread.customer_messages = draft.customer_messages
    thread.due_at = policy.calendar.add(draft.opened_at, policy.timeout_minutes)
    thread.answered_at = draft.answered_at
    thread.answered_by = draft.answered_by
    thread.answered_message_id = draft.answered_message_id
    thread.response_minutes = (
        None if draft.answered_at is None else policy.calendar.minutes_between(draft.opened_at, draft.answered_at)
    )


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """SQL: the thread was still unanswered at its due time (as of ``now``)."""
    return or_(
        and_(ReplyThread.answered_at.is_(None), ReplyThread.due_at <= now),
        ReplyThread.answered_at > ReplyThread.due_at,
    )


def is_overdue(thread: ReplyThread, now: datetime) -> bool:
    if thread.answered_at is None:
        return thread.due_at <= now
    return thread.answered_at > thread.due_at


def due_for_alert(session: Session, corp_id: str, now: datetime) -> Sequence[ReplyThread]:
    """Overdue threads that have not raised their alert yet (oldest first)."""
    return session.scalars(
        select(ReplyThread)
        .where(ReplyThread.corp_id == corp_id, ReplyThread.alerted_at.is_(None), overdue_condition(now))
        .order_by(ReplyThread.due_at)
    ).all()


def recompute_employee_day(
    session: Session, calendar: WorkingCalendar, corp_id: str, employee: str, day: date, now: datetime
) -> None:
    """Replace the employee's metrics row of ``day`` from the threads opened that day."""
    start, end = calendar.day_bounds(day)
    threads = session.scalars(
        select(ReplyThread).where(
            ReplyThread.corp_id == corp_id,
            ReplyThread.employee == employee,
            ReplyThread.opened_at >= start,
            ReplyThread.opened_at < end,
        )
    ).all()
    session.execute(
        delete(ReplyDaily).where(ReplyDaily.corp_id == corp_id, ReplyDaily.employee == employee, ReplyDaily.day == day),
        execution_options={"synchronize_session": False},
    )
    if not threads:
        return
    answered = [t for t in threads if t.answered_at is not None]
    minutes = [t.response_minutes or 0.0 for t in answered]
    session.execute(
        insert(ReplyDaily),
        [
            {
                "corp_id": corp_id,
                "employee": employee,
                "day": day,
                "threads": len(threads),
                "answered": len(answered),
                "answered_in_time": sum(1 for t in answered if not is_overdue(t, now)),
                "overdue": sum(1 for t in threads if is_overdue(t, now)),
                "response_minutes_sum": sum(minutes),
                "response_minutes_max": max(minutes, default=0.0),
                "computed_at": now,
            }
        ],
    )


def count_open_threads(session: Session, corp_id: str) -> int:
    return int(
        session.scalar(
            select(func.count(ReplyThread.id)).where(ReplyThread.corp_id == corp_id, ReplyThread.answered_at.is_(None))
        )
        or 0
    )
