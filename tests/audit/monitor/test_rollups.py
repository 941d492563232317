"""Rollups equal a direct recomputation from the raw rows, also when messages, hits and
sentiment arrive late; top words leave stopwords out."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from archive.models import Conversation, Message
from archive.simulator.conversations import GeneratedMessage
from audit.detect.models import MessageHit, MessageSentiment
from audit.monitor import queries
from audit.monitor.jobs import run_corp
from audit.monitor.models import ConversationDaily, ReplyThread, RoomHourly, RoomTopWord
from audit.monitor.replies import is_overdue
from audit.monitor.service import MonitorPolicy
from audit.monitor.words import stopwords
from audit.stage import DetectionStage
from tests.audit.monitor.helpers import (
    CALENDAR,
    CORP,
    Chat,
    Verdict,
    detect,
    group,
    local,
    rescan,
    run,
    single,
    store,
)
from tests.conftest import Database, Edge

POINTS = {"low": 1, "medium": 3, "high": 6, "critical": 10}
MEMBERS = ["lisi", "wangwu", "wmAlice", "woBob"]
NOW = local(2026, 11, 27, 12, 0)


def _reference(database: Database, now: datetime) -> tuple[dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]]:
    """Day and hour measures straight from messages, sentiment, hits and threads."""
    days: dict[Any, dict[str, Any]] = defaultdict(_empty)
    hours: dict[Any, dict[str, Any]] = defaultdict(_empty)
    with database.sessions() as session:
        kinds = {cid: kind for cid, kind in session.execute(select(Conversation.id, Conversation.kind))}

        def keys(cid: int, moment: datetime) -> list[tuple[dict[Any, dict[str, Any]], Any]]:
            local_moment = moment.astimezone(CALENDAR.zone)
            out: list[tuple[dict[Any, dict[str, Any]], Any]] = [(days, (cid, local_moment.date()))]
            if kinds[cid] == "group":
                hour = local_moment.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
                out.append((hours, (cid, hour)))
            return out

        for message in session.scalars(select(Message).where(Message.action == "send")):
            if message.conversation_id is None:
                continue
            for table, key in keys(message.conversation_id, message.msgtime):
                table[key]["messages"] += 1
                table[key]["members"].add(message.sender)
                table[key]["customer_messages"] += message.sender.startswith(("wm", "wo"))
        for sentiment in session.scalars(select(MessageSentiment)):
            if sentiment.conversation_id is None:
                continue
            for table, key in keys(sentiment.conversation_id, sentiment.msgtime):
                table[key]["scored"] += 1
                table[key]["negative"] += sentiment.label == "negative"
                table[key]["complaints"] += sentiment.intent == "complaint"
                table[key]["threats"] += sentiment.intent == "threat"
        for hit in session.scalars(select(MessageHit)):
            if hit.conversation_id is None:
                continue
            for table, key in keys(hit.conversation_id, hit.msgtime):
                table[key]["hits"] += 1
                table[key]["hit_points"] += POINTS[hit.severity]
                table[key]["hits_by_category"][hit.category] += 1
        for thread in session.scalars(select(ReplyThread)):
            if is_overdue(thread, now):
                for table, key in keys(thread.conversation_id, thread.opened_at):
                    table[key]["unanswered"].update(thread.customers)
    return {k: _final(v) for k, v in days.items()}, {k: _final(v) for k, v in hours.items()}


def _empty() -> dict[str, Any]:
    measures: dict[str, Any] = dict.fromkeys(
        ("messages", "customer_messages", "scored", "negative", "complaints", "threats", "hits", "hit_points"), 0
    )
    return measures | {"members": set(), "unanswered": set(), "hits_by_category": Counter()}


def _final(measures: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in measures.items() if k not in ("members", "unanswered", "hits_by_category")}
    out["active_members"] = len(measures["members"])
    out["unanswered_customers"] = len(measures["unanswered"])
    out["hits_by_category"] = dict(measures["hits_by_category"])
    return out


_MEASURES = (
    "messages",
    "customer_messages",
    "active_members",
    "scored",
    "negative",
    "complaints",
    "threats",
    "hits",
    "hit_points",
    "hits_by_category",
    "unanswered_customers",
)


def _stored(database: Database) -> tuple[dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]]:
    with database.sessions() as session:
        days = {
            (row.conversation_id, row.day): {m: getattr(row, m) for m in _MEASURES}
            for row in session.scalars(select(ConversationDaily))
        }
        hours = {
            (row.conversation_id, row.hour_start): {m: getattr(row, m) for m in _MEASURES}
            for row in session.scalars(select(RoomHourly))
        }
    return days, hours


def _assert_rollups_match(database: Database, now: datetime = NOW) -> None:
    expected_days, expected_hours = _reference(database, now)
    stored_days, stored_hours = _stored(database)
    assert stored_days == expected_days
    assert stored_hours == expected_hours


def _first_batch() -> list[dict[str, object]]:
    room = group(
        "room-1",
        MEMBERS,
        [
            Chat("lisi", local(2026, 11, 23, 9, 0), "今天的理财产品说明会大家记得参加"),
            Chat("wmAlice", local(2026, 11, 23, 9, 30), "理财产品的赎回什么时候到账"),
            Chat("woBob", local(2026, 11, 23, 9, 40), "赎回太慢了，我要投诉"),
            Chat("wangwu", local(2026, 11, 23, 9, 45), "赎回一般T+1到账"),
            Chat("wmAlice", local(2026, 11, 23, 17, 50), "加我微信聊"),
            Chat("woBob", local(2026, 11, 23, 23, 50), "还没到账，再不处理就曝光"),  # 23:50, day one
            Chat("wmAlice", local(2026, 11, 24, 0, 10), "同样没到账"),  # 00:10, day two
            Chat("lisi", local(2026, 11, 24, 9, 25), "已经在处理了"),  # 5 min past due
            Chat("wmAlice", local(2026, 11, 24, 9, 26), "", "emotion"),
        ],
    )
    chat = single(
        "zhangsan",
        "wmCarol",
        [
            Chat("wmCarol", local(2026, 11, 23, 14, 0), "请问保本吗"),
            Chat("zhangsan", local(2026, 11, 23, 14, 3), "保本保息，放心"),
        ],
    )
    return room + chat


def _verdicts(ids: list[int]) -> dict[int, Verdict]:
    return {
        ids[2]: Verdict("negative", "complaint"),
        ids[4]: Verdict("neutral", None, (("off_platform_contact", "high"),)),
        ids[5]: Verdict("negative", "threat", (("abuse", "medium"), ("pii.mobile", "low"))),
        ids[6]: Verdict("negative"),
        ids[10]: Verdict("neutral", None, (("guaranteed_returns", "critical"),)),
    }


def test_rollups_equal_a_direct_recomputation_and_wait_for_detection(database: Database) -> None:
    ids = store(database, _first_batch())
    report = run(database, NOW)
    assert report.days_pending_detection == 3  # two room days and one single-chat day
    with database.sessions() as session:
        assert all(row.scored == 0 for row in session.scalars(select(ConversationDaily)))
    _assert_rollups_match(database)  # no sentiment yet: the rollups say so

    detect(database, _verdicts(ids))
    report = run(database, NOW)
    assert report.days_recomputed == 3 and report.days_pending_detection == 0
    _assert_rollups_match(database)
    with database.sessions() as session:
        room_id = queries.find_group(session, CORP, "room-1")
        assert room_id is not None
        first = session.get_one(ConversationDaily, (room_id, date(2026, 11, 23)))
    assert (first.messages, first.active_members, first.scored, first.negative) == (6, 4, 6, 2)
    assert (first.complaints, first.threats, first.hit_points) == (1, 1, 6 + 3 + 1)
    assert first.hits_by_category == {"abuse": 1, "off_platform_contact": 1, "pii.mobile": 1}
    assert first.unanswered_customers == 2  # Alice (17:50) and Bob (23:50) waited past 09:20 Tuesday

    assert run(database, NOW).days_recomputed == 0  # nothing changed: nothing recomputed


def test_late_messages_and_rescanned_hits_update_their_days(database: Database) -> None:
    ids = store(database, _first_batch())
    detect(database, _verdicts(ids))
    run(database, NOW)

    # A late message for Monday and a new day, stored after the run and detected later.
    late = store(
        database,
        group(
            "room-1",
            MEMBERS,
            [
                Chat("woBob", local(2026, 11, 23, 11, 0), "客服电话打不通"),
                Chat("wmAlice", local(2026, 11, 25, 10, 0), "今天到账了"),
            ],
        ),
    )
    run(database, NOW)
    _assert_rollups_match(database)
    detect(database, {late[0]: Verdict("negative", "complaint")})
    run(database, NOW)
    _assert_rollups_match(database)

    # Rules changed: Monday's first message is re-scanned and now has a hit.
    rescan(database, [ids[0]])
    run(database, NOW)
    detect(database, {ids[0]: Verdict("neutral", None, (("competitor_poaching", "medium"),))})
    report = run(database, NOW)
    assert report.days_recomputed == 1
    _assert_rollups_match(database)
    with database.sessions() as session:
        room_id = queries.find_group(session, CORP, "room-1")
        assert room_id is not None
        series = queries.group_series(session, room_id, date(2026, 11, 23), date(2026, 11, 25))
        hourly = queries.group_series(session, room_id, date(2026, 11, 23), date(2026, 11, 23), hourly=True)
    assert [p.day for p in series] == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]
    assert series[0].hits_by_category["competitor_poaching"] == 1
    assert sum(p.messages for p in hourly) == series[0].messages == 7
    assert all(p.start is not None for p in hourly)


def test_groups_are_ranked_by_risk(database: Database) -> None:
    calm = group(
        "room-calm",
        MEMBERS,
        [Chat("lisi" if i % 2 else "wmAlice", local(2026, 11, 23, 10, i), "好的收到") for i in range(10)],
    )
    ids = store(database, _first_batch() + calm)
    detect(database, _verdicts(ids))
    run(database, NOW)
    with database.sessions() as session:
        ranked = queries.rank_groups(session, CORP, date(2026, 11, 23), date(2026, 11, 27))
    assert [g.roomid for g in ranked] == ["room-1", "room-calm"]
    risky, calm_room = ranked
    share = risky.negative / risky.scored
    expected = risky.hit_points + 5 * 1 + 10 * 1 + 2 * risky.unanswered_customers + 100 * share * risky.scored / 50
    assert risky.risk_score == round(expected, 2)
    assert calm_room.risk_score == 0 and calm_room.messages == 10


def test_top_words_of_a_room_day_leave_out_stopwords(database: Database) -> None:
    texts = ["我们的理财产品赎回到账了吗", "理财产品赎回很快", "好的，谢谢", "理财产品", "請問贖回"]
    store(
        database,
        group("room-words", MEMBERS, [Chat("wmAlice", local(2026, 11, 23, 10, i), t) for i, t in enumerate(texts)]),
    )
    detect(database)
    run(database, NOW)
    with database.sessions() as session:
        room_id = queries.find_group(session, CORP, "room-words")
        assert room_id is not None
        words = queries.top_words(session, room_id, date(2026, 11, 23))
        stored = session.scalars(select(RoomTopWord.word)).all()
    counts = {w.word: w.count for w in words}
    assert counts["理财产品"] == 3 and counts["赎回"] == 3  # 贖回 folded to 赎回
    assert set(counts) == {"理财产品", "赎回", "很快"}
    assert not set(stored) & stopwords()
    assert {"我们", "的", "好的", "谢谢"}.isdisjoint(stored)
    assert [w.count for w in words] == sorted((w.count for w in words), reverse=True)


def test_end_to_end_on_the_simulated_company_with_the_real_detection_stage(edge: Edge) -> None:
    """Simulated chats pulled through the real puller, the monitor run before and after the
    real detection stage: the rollups equal the direct recomputation each time."""
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(1500, messages_per_day=1500, record=sent)
    edge.register_keys()
    context = edge.context()
    assert context.puller(edge.simulator.corp_id).run().status == "completed"
    context.close()
    later = datetime.fromtimestamp(sent[-1].msgtime_ms / 1000, UTC) + timedelta(days=1)
    policy = MonitorPolicy(CALENDAR, reply_timeout_minutes=30, top_words=False)

    first = run_corp(edge.database.sessions, edge.simulator.corp_id, policy, now=later)
    assert first.days_pending_detection == first.days_recomputed > 0
    _assert_rollups_match(edge.database, later)

    stage = DetectionStage(edge.settings.detection, edge.settings.alerts)
    detected = stage.run(edge.database.sessions, max_claims=1000)
    assert detected.failed_claims == 0 and detected.hits > 0
    second = run_corp(edge.database.sessions, edge.simulator.corp_id, policy, now=later)
    assert second.days_pending_detection == 0 and second.days_recomputed == first.days_recomputed
    _assert_rollups_match(edge.database, later)
    with edge.database.sessions() as session:
        assert sum(row.hits for row in session.scalars(select(ConversationDaily))) == detected.hits
