"""Dossiers: what the archive says about one of a leaver's customers or groups.

A customer's dossier covers the leaver's single chat with them; a group's, the group
chat. Both are plain JSON (stored on the case, shown in the report): counts and times,
the leaver's tags, open promises (``promises.py``), customer messages still waiting for
an answer (the reply threads of ``audit.monitor.replies``), alerts, the customer side's
sentiment by week, and a risk level with the reasons that set it. Excerpts are at most
60 characters: a dossier is chat content, read through the access gate.

Risk (codes in ``risk_reasons``, words in ``RISK_REASON_TEXT``):
- high: deleted by the member before leaving; an open high/critical alert; a threat in
  the customer's messages; half or more of the customer's recent messages negative.
- medium: open promises; unanswered messages; any open alert; a past high/critical
  alert; a complaint; a quarter or more of recent messages negative.
- low: none of these.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Conversation, Message
from audit.alerts.models import Alert
from audit.detect.hits import Severity
from audit.detect.models import MessageSentiment
from audit.handover.promises import ChatLine, excerpt, open_promises
from audit.monitor.replies import ChatEvent, build_threads, is_customer, is_staff
from audit.review.service import OPEN_STATUSES

if TYPE_CHECKING:
    from audit.handover.inventory import InventoryCustomer, InventoryGroup

SENTIMENT_WEEKS: Final = 12
RECENT_SENTIMENT_DAYS: Final = 28
MIN_RATED_MESSAGES: Final = 3  # fewer rated messages say nothing about a mood
HIGH_NEGATIVE_SHARE: Final = 0.5
MEDIUM_NEGATIVE_SHARE: Final = 0.25
THREAT_LOOKBACK_DAYS: Final = 90
ALERT_ITEMS_MAX: Final = 20
LIST_ITEMS_MAX: Final = 20

HIGH, MEDIUM, LOW = "high", "medium", "low"
RISK_REASON_TEXT: Final[dict[str, tuple[str, str]]] = {  # code → (zh, en)
    "deleted_before_leaving": ("离职前被员工删除", "deleted by the member before leaving"),
    "open_high_alert": ("有未处理的高风险告警", "an open high-severity alert"),
    "threat": ("客户有投诉升级或威胁言论", "the customer threatened to escalate"),
    "negative_sentiment_high": ("近期客户消息多为负面", "most recent customer messages are negative"),
    "open_promises": ("员工承诺跟进但未兑现", "promised follow-ups not kept"),
    "unanswered": ("客户消息未获回复", "customer messages left unanswered"),
    "open_alerts": ("有未处理的告警", "open alerts"),
    "past_high_alert": ("曾有高风险告警", "a past high-severity alert"),
    "complaint": ("客户曾投诉", "the customer complained"),
    "negative_sentiment": ("近期负面情绪偏多", "many recent customer messages are negative"),
}


def pair_key(a: str, b: str) -> str:
    """The archive's conversation key of a single chat (``archive.repository``)."""
    first, second = sorted((a, b))
    return f"pair:{first}|{second}"


def customer_dossier(
    session: Session,
    corp_id: str,
    leaver: str,
    customer: InventoryCustomer,
    *,
    reference: datetime,
    deleted_at: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """The dossier of one customer of ``leaver``; ``reference`` is when they left (or now)."""
    ext = customer.external_userid
    conversation_ids = list(
        session.scalars(
            select(Conversation.id).where(Conversation.corp_id == corp_id, Conversation.key == pair_key(leaver, ext))
        )
    )
    lines, recalled = _lines(session, conversation_ids)
    start = customer.follow_since or (lines[0].msgtime if lines else None)
    dossier = _common(session, conversation_ids, lines, recalled, reference, now, staff_side=leaver)
    dossier.update(
        {
            "relationship_days": (reference - start).days if start is not None else None,
            "first_contact": _iso(start),
            "tags": list(customer.tags),
            "deleted_at": _iso(deleted_at),
        }
    )
    return _with_risk(dossier)


def group_dossier(
    session: Session, corp_id: str, group: InventoryGroup, *, reference: datetime, now: datetime
) -> dict[str, Any]:
    conversation_ids = list(
        session.scalars(
            select(Conversation.id).where(Conversation.corp_id == corp_id, Conversation.roomid == group.chat_id)
        )
    )
    lines, recalled = _lines(session, conversation_ids)
    start = group.created_at or (lines[0].msgtime if lines else None)
    dossier = _common(session, conversation_ids, lines, recalled, reference, now, staff_side=None)
    dossier.update(
        {
            "relationship_days": (reference - start).days if start is not None else None,
            "first_contact": _iso(start),
            "tags": [],
            "deleted_at": None,
            "customers": len(group.customers),
            "staff": list(group.staff),
        }
    )
    return _with_risk(dossier)


def _lines(session: Session, conversation_ids: Sequence[int]) -> tuple[list[ChatLine], frozenset[str]]:
    """The conversations' sent messages by time, and the msgids later recalled."""
    if not conversation_ids:
        return [], frozenset()
    rows = session.execute(
        select(
            Message.id,
            Message.msgid,
            Message.sender,
            Message.msgtime,
            Message.msgtype,
            Message.text,
            Message.action,
            Message.recalls_msgid,
        )
        .where(Message.conversation_id.in_(list(conversation_ids)))
        .order_by(Message.msgtime, Message.id)
    ).all()
    lines = [
        ChatLine(row.id, row.msgid, row.sender, row.msgtime, row.msgtype, row.text, is_staff(row.sender))
        for row in rows
        if row.action == "send"
    ]
    recalled = frozenset(row.recalls_msgid for row in rows if row.action == "recall" and row.recalls_msgid)
    return lines, recalled


def _common(
    session: Session,
    conversation_ids: Sequence[int],
    lines: Sequence[ChatLine],
    recalled: frozenset[str],
    reference: datetime,
    now: datetime,
    *,
    staff_side: str | None,
) -> dict[str, Any]:
    texts = {line.message_id: line.text for line in lines}
    threads = build_threads(
        (ChatEvent(line.message_id, line.sender, line.msgtime, line.msgtype) for line in lines),
        staff_participant=staff_side,
    )
    unanswered = [t for t in threads if t.answered_at is None]
    promises = open_promises(lines, recalled)
    return {
        "last_contact": _iso(lines[-1].msgtime if lines else None),
        "messages": {
            "total": len(lines),
            "from_staff": sum(1 for line in lines if line.staff),
            "from_customer": sum(1 for line in lines if is_customer(line.sender)),
        },
        "open_promises": [
            {"message_id": p.message_id, "at": _iso(p.at), "excerpt": p.excerpt} for p in promises[-LIST_ITEMS_MAX:]
        ],
        "unanswered": [
            {
                "message_id": t.opened_message_id,
                "at": _iso(t.opened_at),
                "excerpt": excerpt(texts.get(t.opened_message_id) or ""),
                "messages": t.customer_messages,
            }
            for t in unanswered[-LIST_ITEMS_MAX:]
        ],
        "alerts": _alerts(session, conversation_ids),
        "sentiment": _sentiment(session, conversation_ids, reference),
        "conversation_ids": list(conversation_ids),
        "computed_at": _iso(now),
    }


def _alerts(session: Session, conversation_ids: Sequence[int]) -> dict[str, Any]:
    if not conversation_ids:
        return {"open": 0, "past": 0, "open_high": 0, "past_high": 0, "items": []}
    alerts = session.scalars(
        select(Alert).where(Alert.conversation_id.in_(list(conversation_ids))).order_by(Alert.id.desc())
    ).all()
    high = {Severity.HIGH.value, Severity.CRITICAL.value}
    open_ = [a for a in alerts if a.status in OPEN_STATUSES]
    past = [a for a in alerts if a.status not in OPEN_STATUSES]
    return {
        "open": len(open_),
        "past": len(past),
        "open_high": sum(1 for a in open_ if a.severity in high),
        "past_high": sum(1 for a in past if a.severity in high),
        "items": [
            {"id": a.id, "rule": a.rule, "severity": a.severity, "status": a.status, "category": a.category}
            for a in alerts[:ALERT_ITEMS_MAX]
        ],
    }


def _sentiment(session: Session, conversation_ids: Sequence[int], reference: datetime) -> dict[str, Any]:
    """The customer side's sentiment per ISO week (the last ``SENTIMENT_WEEKS`` weeks that had any)."""
    empty: dict[str, Any] = {"trend": [], "recent_negative_share": None, "complaints": 0, "threats": 0}
    if not conversation_ids:
        return empty
    rows = session.execute(
        select(MessageSentiment.msgtime, MessageSentiment.label, MessageSentiment.intent)
        .join(Message, Message.id == MessageSentiment.message_id)
        .where(MessageSentiment.conversation_id.in_(list(conversation_ids)), Message.msgtime <= reference)
        .where(Message.sender.like("wm%") | Message.sender.like("wo%"))
    ).all()
    if not rows:
        return empty
    weeks: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # week → [negative, rated]
    recent = [0, 0]
    recent_since = reference - timedelta(days=RECENT_SENTIMENT_DAYS)
    threat_since = reference - timedelta(days=THREAT_LOOKBACK_DAYS)
    complaints = threats = 0
    for msgtime, label, intent in rows:
        year, week, _day = msgtime.isocalendar()
        negative = int(label == "negative")
        bucket = weeks[f"{year}-W{week:02d}"]
        bucket[0] += negative
        bucket[1] += 1
        if msgtime >= recent_since:
            recent[0] += negative
            recent[1] += 1
        if msgtime >= threat_since:
            complaints += intent == "complaint"
            threats += intent == "threat"
    trend = [
        {"week": week, "negative_share": round(negative / rated, 3), "messages": rated}
        for week, (negative, rated) in sorted(weeks.items())[-SENTIMENT_WEEKS:]
    ]
    share = round(recent[0] / recent[1], 3) if recent[1] >= MIN_RATED_MESSAGES else None
    return {"trend": trend, "recent_negative_share": share, "complaints": complaints, "threats": threats}


def _with_risk(dossier: dict[str, Any]) -> dict[str, Any]:
    alerts, sentiment = dossier["alerts"], dossier["sentiment"]
    share = sentiment["recent_negative_share"]
    high = {
        "deleted_before_leaving": dossier.get("deleted_at") is not None,
        "open_high_alert": alerts["open_high"] > 0,
        "threat": sentiment["threats"] > 0,
        "negative_sentiment_high": share is not None and share >= HIGH_NEGATIVE_SHARE,
    }
    medium = {
        "open_promises": bool(dossier["open_promises"]),
        "unanswered": bool(dossier["unanswered"]),
        "open_alerts": alerts["open"] > 0 and not high["open_high_alert"],
        "past_high_alert": alerts["past_high"] > 0,
        "complaint": sentiment["complaints"] > 0 and not high["threat"],
        "negative_sentiment": share is not None and MEDIUM_NEGATIVE_SHARE <= share < HIGH_NEGATIVE_SHARE,
    }
    reasons = [code for code, hit in (*high.items(), *medium.items()) if hit]
    dossier["risk"] = HIGH if any(high.values()) else MEDIUM if any(medium.values()) else LOW
    dossier["risk_reasons"] = reasons
    return dossier


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
