"""Reply timeouts and response metrics on messages stored through the archive's storage path,
and end to end on the simulated company's chats pulled through the real puller."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from archive.messages import is_external_id
from archive.models import Conversation, Message
from archive.simulator.conversations import GeneratedMessage
from audit.monitor import queries
from audit.monitor.jobs import run_corp
from audit.monitor.models import ConversationDaily, ReplyDaily, ReplyThread
from audit.monitor.service import MonitorPolicy, MonitorService
from config.database import session_scope
from tests.audit.monitor.helpers import CALENDAR, CORP, Chat, alerts, group, local, run, single, store
from tests.conftest import Database, Edge

STAFF, CUSTOMER = "zhangsan", "wmCustomer01"


def _threads(database: Database) -> list[ReplyThread]:
    with database.sessions() as session:
        return list(session.scalars(select(ReplyThread).order_by(ReplyThread.opened_at)))


def test_clock_stops_at_closing_time_and_one_alert_per_thread(database: Database) -> None:
    # Monday 17:55: three customer messages, no answer. Due Tuesday 09:25 (N = 30).
    store(
        database,
        single(
            STAFF,
            CUSTOMER,
            [
                Chat(CUSTOMER, local(2026, 11, 23, 17, 55)),
                Chat(CUSTOMER, local(2026, 11, 23, 17, 58), "在吗"),
                Chat(CUSTOMER, local(2026, 11, 23, 21, 0), "？？？"),
            ],
        ),
    )
    run(database, local(2026, 11, 24, 9, 20))
    (thread,) = _threads(database)
    assert thread.due_at == local(2026, 11, 24, 9, 25)
    assert thread.customer_messages == 3 and thread.employee == STAFF
    assert alerts(database, "reply_timeout") == []

    report = run(database, local(2026, 11, 24, 9, 26))
    assert report.timeout_alerts == 1
    (alert,) = alerts(database, "reply_timeout")
    assert alert.category == "reply_timeout" and alert.rule == "reply_timeout.single"
    assert alert.explanation["customer_messages"] == 3
    assert alert.explanation["working_minutes_waited"] == 31

    # Later runs and a later answer raise nothing more.
    store(database, single(STAFF, CUSTOMER, [Chat(STAFF, local(2026, 11, 24, 10, 0), "抱歉久等")]))
    run(database, local(2026, 11, 24, 10, 5))
    run(database, local(2026, 11, 25, 10, 5))
    assert len(alerts(database, "reply_timeout")) == 1
    (thread,) = _threads(database)
    assert thread.answered_by == STAFF and thread.response_minutes == 65  # 5 on Monday + 60 on Tuesday

    with database.sessions() as session:
        (metrics,) = queries.employee_metrics(
            session, CORP, CALENDAR.local_day(thread.opened_at), thread.opened_at.date()
        )
    assert (metrics.employee, metrics.threads, metrics.answered, metrics.answered_in_time, metrics.overdue) == (
        STAFF,
        1,
        1,
        0,
        1,
    )
    assert metrics.reply_rate == 1.0 and metrics.on_time_rate == 0.0 and metrics.mean_response_minutes == 65


def test_prompt_answers_raise_nothing_and_count_as_in_time(database: Database) -> None:
    monday = [local(2026, 11, 23, 10, m) for m in range(0, 60, 10)]
    store(
        database,
        single(
            STAFF,
            CUSTOMER,
            [Chat(CUSTOMER if i % 2 == 0 else STAFF, moment) for i, moment in enumerate(monday)],
        ),
    )
    run(database, local(2026, 11, 30, 12, 0))
    assert alerts(database, "reply_timeout") == []
    with database.sessions() as session:
        row = session.scalars(select(ReplyDaily)).one()
    assert (row.threads, row.answered, row.answered_in_time, row.overdue) == (3, 3, 3, 0)
    assert row.response_minutes_sum == 30 and row.response_minutes_max == 10


def test_group_threads_are_answered_by_any_staff_member(database: Database) -> None:
    members = ["lisi", "wangwu", "wmAlice", "woBob"]
    store(
        database,
        group(
            "room-1",
            members,
            [
                Chat("lisi", local(2026, 11, 23, 9, 0), "欢迎大家"),
                Chat("wmAlice", local(2026, 11, 23, 10, 0), "请问赎回多久到账"),
                Chat("woBob", local(2026, 11, 23, 10, 5), "同问"),
                Chat("wangwu", local(2026, 11, 23, 10, 20), "一般T+1"),
                Chat("woBob", local(2026, 11, 23, 16, 0), "还有人吗"),
            ],
        ),
    )
    run(database, local(2026, 11, 24, 12, 0))
    answered, waiting = _threads(database)
    assert answered.customers == ["wmAlice", "woBob"] and answered.answered_by == "wangwu"
    assert answered.response_minutes == 20 and answered.alerted_at is None
    assert waiting.customers == ["woBob"] and waiting.answered_at is None and waiting.employee == "wangwu"
    (alert,) = alerts(database, "reply_timeout")
    assert alert.rule == "reply_timeout.group"
    with database.sessions() as session:
        day = session.scalars(select(ReplyDaily).where(ReplyDaily.employee == "wangwu")).one()
    assert (day.threads, day.answered, day.overdue) == (2, 1, 1)


def test_a_late_arriving_answer_closes_the_thread_before_it_falls_due(database: Database) -> None:
    store(database, single(STAFF, CUSTOMER, [Chat(CUSTOMER, local(2026, 11, 23, 10, 0))]))
    run(database, local(2026, 11, 23, 10, 10))
    assert _threads(database)[0].answered_at is None
    # The staff reply (10:05) is stored after the monitor ran, and after a later customer message.
    store(database, single(STAFF, CUSTOMER, [Chat(CUSTOMER, local(2026, 11, 23, 10, 20), "谢谢")]))
    store(database, single(STAFF, CUSTOMER, [Chat(STAFF, local(2026, 11, 23, 10, 5), "您好")]))
    run(database, local(2026, 11, 23, 12, 0))
    first, second = _threads(database)
    assert first.answered_at == local(2026, 11, 23, 10, 5) and first.customer_messages == 1
    assert second.opened_at == local(2026, 11, 23, 10, 20) and second.answered_at is None
    (alert,) = alerts(database, "reply_timeout")  # only the second thread fell due
    assert alert.message_ids == [second.opened_message_id]


def test_simulated_unanswered_customers_are_found(edge: Edge) -> None:
    """The simulator leaves some customer chats unanswered for at least two working hours
    (label "unanswered"); each of those messages must sit in an overdue, alerted thread."""
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(2500, messages_per_day=2500, record=sent)
    edge.register_keys()
    context = edge.context()
    report = context.puller(edge.simulator.corp_id).run()
    context.close()
    assert report.status == "completed", report.error
    unanswered = {m.msgid for m in sent if "unanswered" in m.labels}
    assert unanswered, "the simulated history should contain unanswered customer messages"

    policy = MonitorPolicy(CALENDAR, reply_timeout_minutes=120, top_words=False)
    later = datetime.fromtimestamp(sent[-1].msgtime_ms / 1000, UTC) + timedelta(days=7)
    run_corp(edge.database.sessions, edge.simulator.corp_id, policy, now=later)

    with edge.database.sessions() as session:
        rows = session.execute(
            select(Message.msgid, Message.conversation_id, Message.msgtime).where(Message.msgid.in_(unanswered))
        ).all()
        threads = session.scalars(select(ReplyThread)).all()
        kinds = {cid: kind for cid, kind in session.execute(select(Conversation.id, Conversation.kind))}
    assert len(rows) == len(unanswered)
    by_conversation: dict[int, list[ReplyThread]] = {}
    for thread in threads:
        by_conversation.setdefault(thread.conversation_id, []).append(thread)
    for msgid, conversation_id, msgtime in rows:
        assert conversation_id is not None
        covering = [
            t
            for t in by_conversation.get(conversation_id, [])
            if t.opened_at <= msgtime and (t.answered_at is None or t.answered_at > msgtime)
        ]
        assert len(covering) == 1, msgid
        assert covering[0].alerted_at is not None and covering[0].due_at < (covering[0].answered_at or later)
    # Prompt answers dominate the simulated customer chats: most threads are answered in time.
    singles = [t for t in threads if kinds[t.conversation_id] == "single"]
    assert all(is_external_id(t.customer) for t in threads)
    assert sum(t.alerted_at is None for t in singles) > len(singles) / 2
    raised = alerts(edge.database, "reply_timeout")
    assert raised and len(raised) <= sum(t.alerted_at is not None for t in threads)


def test_rebuild_applies_a_new_timeout_to_past_threads(database: Database) -> None:
    store(
        database,
        single(
            STAFF,
            CUSTOMER,
            [Chat(CUSTOMER, local(2026, 11, 23, 10, 0)), Chat(STAFF, local(2026, 11, 23, 11, 0), "您好")],
        ),
    )
    run(database, local(2026, 11, 23, 12, 0))
    with database.sessions() as session:
        assert session.scalars(select(ReplyDaily.overdue)).one() == 1

    patient = MonitorPolicy(CALENDAR, reply_timeout_minutes=120, top_words=False)
    with session_scope(database.sessions) as session:
        marked = MonitorService(session, CORP, patient).rebuild(date(2026, 11, 23), local(2026, 11, 23, 12, 0))
    assert marked == 1
    run_corp(database.sessions, CORP, patient, now=local(2026, 11, 23, 12, 0))
    (thread,) = _threads(database)
    assert thread.due_at == local(2026, 11, 23, 12, 0)
    with database.sessions() as session:
        row = session.scalars(select(ReplyDaily)).one()
        daily = session.scalars(select(ConversationDaily)).one()
    assert (row.overdue, row.answered_in_time) == (0, 1)
    assert daily.unanswered_customers == 0
