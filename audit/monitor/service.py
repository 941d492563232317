"""The monitor run: reply threads, timeouts, rollups and spikes for one corp, in one transaction.

Contract. A run reads only what changed: messages past the corp's cursor (its integrity-chain
position), the message ids still waiting in the detection outbox, and reply threads that fell
due. From them it marks conversation-days dirty, recomputes each dirty day whole, and keeps a day
dirty while any of its messages is still waiting for detection — so hits and sentiment
that arrive after the messages (detection runs later, or re-scans history) always reach
the rollups. Nothing is half-written: the caller commits the run or rolls it back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from archive.integrity.models import ChainLink
from archive.models import Conversation, Message
from archive.outbox import queue as outbox
from archive.outbox.models import OutboxEntry
from audit.alerts.service import AlertSpec, raise_alerts
from audit.detect.hits import Severity
from audit.monitor import replies, rollups
from audit.monitor.models import DirtyDay, MonitorCursor, ReplyThread, RoomSpike
from audit.monitor.replies import ReplyPolicy, ThreadChanges
from audit.monitor.spikes import SpikeRule, find_spikes
from audit.monitor.words import TopWords
from audit.monitor.worktime import WorkingCalendar

MONITOR_VERSION = "1"
SOURCE_REPLY_TIMEOUT = "reply_timeout"
SOURCE_GROUP_MONITOR = "group_monitor"
CATEGORY_REPLY_TIMEOUT = "reply_timeout"
CATEGORY_GROUP_SPIKE = "group_sentiment_spike"
# New messages read per run, and conversation-days recomputed per run; the rest waits
# for the next run (the cursor and the dirty table remember where it stopped).
MESSAGES_PER_RUN = 50_000
DAYS_PER_RUN = 5_000
_ID_CHUNK = 1_000


@dataclass(frozen=True, slots=True)
class MonitorPolicy:
    calendar: WorkingCalendar
    reply_timeout_minutes: float = 30.0
    spike: SpikeRule = field(default_factory=SpikeRule)
    # Spikes are looked for on days at most this old (a backfill of history raises none).
    spike_lookback_days: int = 2
    top_words: bool = True

    @property
    def replies(self) -> ReplyPolicy:
        return ReplyPolicy(self.calendar, self.reply_timeout_minutes)


@dataclass
class MonitorReport:
    corp_id: str
    new_messages: int = 0
    threads_written: int = 0
    timeout_alerts: int = 0
    days_recomputed: int = 0
    days_pending_detection: int = 0
    days_left: int = 0
    employee_days: int = 0
    spike_alerts: int = 0


class MonitorService:
    """Runs the monitor for one corp inside the caller's transaction."""

    def __init__(self, session: Session, corp_id: str, policy: MonitorPolicy, words: TopWords | None = None) -> None:
        self.session = session
        self.corp_id = corp_id
        self.policy = policy
        self.words = words if words is not None else (TopWords() if policy.top_words else None)
        self._conversations: dict[int, Conversation] = {}

    def run(self, now: datetime) -> MonitorReport:
        report = MonitorReport(self.corp_id)
        changes = ThreadChanges()
        first_new = self._read_new_messages(report, now)
        for conversation_id, since in sorted(first_new.items()):
            replies.refresh_conversation(
                self.session, self.policy.replies, self._conversation(conversation_id), since, changes
            )
        report.threads_written = changes.threads_written
        self._raise_timeouts(now, changes, report)
        pending = self._pending_detection_days()
        self._mark_dirty(changes.conversation_days | pending, now)
        recomputed = self._recompute_dirty(now, pending, report)
        for employee, day in sorted(changes.employee_days):
            replies.recompute_employee_day(self.session, self.policy.calendar, self.corp_id, employee, day, now)
        report.employee_days = len(changes.employee_days)
        self._check_spikes(recomputed, now, report)
        self.session.flush()
        return report

    def rebuild(self, since: date, now: datetime) -> int:
        """Mark every conversation-day from ``since`` on dirty and replay its reply threads
        (after a change of zone, working hours or timeout, or a disposal). The next runs
        recompute the days; returns how many were marked. Reads raw messages: an operator
        action, never a dashboard."""
        start, _ = self.policy.calendar.day_bounds(since)
        first: dict[int, datetime] = {}
        days: set[tuple[int, date]] = set()
        for conversation_id, msgtime in self.session.execute(
            select(Message.conversation_id, Message.msgtime).where(
                Message.corp_id == self.corp_id, Message.msgtime >= start
            )
        ):
            if conversation_id is None:
                continue
            first[conversation_id] = min(msgtime, first.get(conversation_id, msgtime))
            days.add((conversation_id, self.policy.calendar.local_day(msgtime)))
        changes = ThreadChanges()
        for conversation_id, moment in sorted(first.items()):
            replies.refresh_conversation(
                self.session, self.policy.replies, self._conversation(conversation_id), moment, changes
            )
        for employee, day in sorted(changes.employee_days):
            replies.recompute_employee_day(self.session, self.policy.calendar, self.corp_id, employee, day, now)
        self._mark_dirty(days | changes.conversation_days, now)
        return len(days | changes.conversation_days)

    # --- inputs ---------------------------------------------------------------------------

    def _read_new_messages(self, report: MonitorReport, now: datetime) -> dict[int, datetime]:
        """Advance the cursor over new messages; the earliest new message time per conversation.

        The cursor is the corp's integrity-chain position, not the message row id: row ids
        are drawn before commit, so on PostgreSQL a lower id can commit after a higher one,
        while chain positions are handed out by the chain head in commit order (a writer
        whose head moved meanwhile fails), so reading past a position skips nothing."""
        cursor = self.session.get(MonitorCursor, self.corp_id)
        if cursor is None:
            cursor = MonitorCursor(corp_id=self.corp_id, chain_position=0, updated_at=now)
            self.session.add(cursor)
        rows = self.session.execute(
            select(ChainLink.position, Message.conversation_id, Message.msgtime)
            .join(Message, Message.id == ChainLink.message_id)
            .where(ChainLink.corp_id == self.corp_id, ChainLink.position > cursor.chain_position)
            .order_by(ChainLink.position)
            .limit(MESSAGES_PER_RUN)
        ).all()
        if rows:
            cursor.chain_position = rows[-1][0]
            cursor.updated_at = now
        first_new: dict[int, datetime] = {}
        days: set[tuple[int, date]] = set()
        for _, conversation_id, msgtime in rows:
            if conversation_id is None:
                continue
            first_new[conversation_id] = min(msgtime, first_new.get(conversation_id, msgtime))
            days.add((conversation_id, self.policy.calendar.local_day(msgtime)))
        self._mark_dirty(days, now)
        report.new_messages = len(rows)
        return first_new

    def _pending_detection_days(self) -> set[tuple[int, date]]:
        """Conversation-days with a message still queued for detection."""
        ids: set[int] = set()
        for message_ids in self.session.scalars(
            select(OutboxEntry.message_ids).where(
                OutboxEntry.consumer == outbox.DETECT, OutboxEntry.corp_id == self.corp_id
            )
        ):
            ids.update(int(i) for i in message_ids)
        days: set[tuple[int, date]] = set()
        ordered = sorted(ids)
        for offset in range(0, len(ordered), _ID_CHUNK):
            chunk = ordered[offset : offset + _ID_CHUNK]
            for conversation_id, msgtime in self.session.execute(
                select(Message.conversation_id, Message.msgtime).where(Message.id.in_(chunk))
            ):
                if conversation_id is not None:
                    days.add((conversation_id, self.policy.calendar.local_day(msgtime)))
        return days

    # --- reply timeouts -------------------------------------------------------------------

    def _raise_timeouts(self, now: datetime, changes: ThreadChanges, report: MonitorReport) -> None:
        calendar = self.policy.calendar
        specs: list[AlertSpec] = []
        for thread in replies.due_for_alert(self.session, self.corp_id, now):
            waited_until = thread.answered_at or now
            specs.append(
                AlertSpec(
                    corp_id=self.corp_id,
                    conversation_id=thread.conversation_id,
                    rule=f"reply_timeout.{thread.kind}",
                    category=CATEGORY_REPLY_TIMEOUT,
                    severity=Severity.MEDIUM,
                    source=SOURCE_REPLY_TIMEOUT,
                    explanation=_timeout_explanation(thread, calendar, waited_until, self.policy.reply_timeout_minutes),
                    message_ids=[thread.opened_message_id],
                    now=thread.due_at,
                )
            )
            thread.alerted_at = now
            changes.touch(calendar, thread)
            report.timeout_alerts += 1
        raise_alerts(self.session, specs)  # one batch: a few statements, not a few per alert

    # --- rollups --------------------------------------------------------------------------

    def _mark_dirty(self, days: Iterable[tuple[int, date]], now: datetime) -> None:
        wanted = set(days)
        if not wanted:
            return
        by_conversation: dict[int, set[date]] = defaultdict(set)
        for conversation_id, day in wanted:
            by_conversation[conversation_id].add(day)
        existing: set[tuple[int, date]] = set()
        ids = sorted(by_conversation)
        for offset in range(0, len(ids), _ID_CHUNK):
            rows = self.session.execute(
                select(DirtyDay.conversation_id, DirtyDay.day).where(
                    DirtyDay.conversation_id.in_(ids[offset : offset + _ID_CHUNK])
                )
            )
            existing.update((conversation_id, day) for conversation_id, day in rows)
        missing = sorted(wanted - existing)
        if missing:
            self.session.execute(
                insert(DirtyDay),
                [
                    {"conversation_id": cid, "day": day, "corp_id": self.corp_id, "marked_at": now}
                    for cid, day in missing
                ],
            )

    def _recompute_dirty(
        self, now: datetime, pending: set[tuple[int, date]], report: MonitorReport
    ) -> list[rollups.DayRow]:
        dirty = self.session.execute(
            select(DirtyDay.conversation_id, DirtyDay.day)
            .where(DirtyDay.corp_id == self.corp_id)
            .order_by(DirtyDay.day, DirtyDay.conversation_id)
            .limit(DAYS_PER_RUN + 1)
        ).all()
        report.days_left = max(0, len(dirty) - DAYS_PER_RUN)
        recomputed: list[rollups.DayRow] = []
        for conversation_id, day in dirty[:DAYS_PER_RUN]:
            row = rollups.recompute_day(
                self.session, self.policy.calendar, self._conversation(conversation_id), day, now, self.words
            )
            if row is not None:
                recomputed.append(row)
            if (conversation_id, day) in pending:
                report.days_pending_detection += 1
            else:
                self.session.execute(
                    delete(DirtyDay).where(DirtyDay.conversation_id == conversation_id, DirtyDay.day == day),
                    execution_options={"synchronize_session": False},
                )
        report.days_recomputed = min(len(dirty), DAYS_PER_RUN)
        self.session.flush()
        return recomputed

    # --- spikes ---------------------------------------------------------------------------

    def _check_spikes(self, days: list[rollups.DayRow], now: datetime, report: MonitorReport) -> None:
        oldest = self.policy.calendar.local_day(now) - timedelta(days=self.policy.spike_lookback_days)
        spike_alerts: list[AlertSpec] = []
        for row in days:
            if row.kind != "group" or row.day < oldest:
                continue
            if self.session.get(RoomSpike, (row.conversation_id, row.day)) is not None:
                continue  # this room-day has raised its alert already
            spikes = find_spikes(self.session, self.policy.spike, row)
            if not spikes:
                continue
            metrics = {spike.metric: spike.as_dict() for spike in spikes}
            self.session.add(
                RoomSpike(
                    conversation_id=row.conversation_id,
                    day=row.day,
                    corp_id=self.corp_id,
                    metrics=metrics,
                    raised_at=now,
                )
            )
            day_start, _ = self.policy.calendar.day_bounds(row.day)
            conversation = self._conversation(row.conversation_id)
            spike_alerts.append(
                AlertSpec(
                    corp_id=self.corp_id,
                    conversation_id=row.conversation_id,
                    rule="group_spike",
                    category=CATEGORY_GROUP_SPIKE,
                    severity=Severity.HIGH,
                    source=SOURCE_GROUP_MONITOR,
                    explanation={
                        "detector": "group_monitor",
                        "detector_version": MONITOR_VERSION,
                        "roomid": conversation.roomid,
                        "day": row.day.isoformat(),
                        "messages": row.messages,
                        "metrics": metrics,
                        "baseline_days": self.policy.spike.baseline_days,
                        "k": self.policy.spike.k,
                    },
                    message_ids=[],
                    now=day_start,
                    window_minutes=24 * 60,
                )
            )
            report.spike_alerts += 1
        raise_alerts(self.session, spike_alerts)

    def _conversation(self, conversation_id: int) -> Conversation:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            conversation = self.session.get_one(Conversation, conversation_id)
            self._conversations[conversation_id] = conversation
        return conversation


def _timeout_explanation(
    thread: ReplyThread, calendar: WorkingCalendar, waited_until: datetime, timeout_minutes: float
) -> dict[str, object]:
    return {
        "detector": "reply_timeout",
        "detector_version": MONITOR_VERSION,
        "chat_kind": thread.kind,
        "timeout_working_minutes": timeout_minutes,
        "opened_at": thread.opened_at.isoformat(),
        "due_at": thread.due_at.isoformat(),
        "answered_at": thread.answered_at.isoformat() if thread.answered_at else None,
        "working_minutes_waited": round(calendar.minutes_between(thread.opened_at, waited_until), 1),
        "customer_messages": thread.customer_messages,
        "customers": len(thread.customers),
        "employee": thread.employee,
    }
