"""Shared steps of the monitor tests: store chats through the archive's real storage path,
record detection results the way the detection stage does (rows + outbox completion),
and run the monitor on a controlled clock."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

from sqlalchemy import select

from archive import repository
from archive.messages import parse_message
from archive.models import Message
from archive.outbox import queue as outbox
from archive.repository import DecodedItem
from archive.source import ChatEnvelope
from archive.storage import store_messages
from audit.alerts.models import Alert
from audit.detect.models import MessageHit, MessageSentiment
from audit.monitor.jobs import run_corp
from audit.monitor.service import MonitorPolicy, MonitorReport
from audit.monitor.worktime import WorkingCalendar
from config.database import session_scope
from tests.conftest import Database

CORP = "wwmonitortest"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkingCalendar.of("Asia/Shanghai", "09:00", "18:00", [1, 2, 3, 4, 5])
POLICY = MonitorPolicy(CALENDAR, reply_timeout_minutes=30)
_seq = count(1)


def local(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass(frozen=True)
class Chat:
    sender: str
    at: datetime
    text: str = "你好"
    msgtype: str = "text"


def single(staff: str, customer: str, chats: Iterable[Chat]) -> list[dict[str, object]]:
    return [_plaintext(chat, tolist=[customer if chat.sender == staff else staff], roomid="") for chat in chats]


def group(roomid: str, members: Sequence[str], chats: Iterable[Chat]) -> list[dict[str, object]]:
    return [_plaintext(chat, tolist=[m for m in members if m != chat.sender], roomid=roomid) for chat in chats]


def _plaintext(chat: Chat, *, tolist: list[str], roomid: str) -> dict[str, object]:
    n = next(_seq)
    body: dict[str, object] = {"text": {"content": chat.text}} if chat.msgtype == "text" else {chat.msgtype: {}}
    return {
        "msgid": f"monitor_{n}",
        "action": "send",
        "from": chat.sender,
        "tolist": tolist,
        "roomid": roomid,
        "msgtime": int(chat.at.timestamp() * 1000),
        "msgtype": chat.msgtype,
        **body,
    }


def store(database: Database, plaintexts: Sequence[dict[str, object]]) -> list[int]:
    """Store as the puller does (envelopes, messages, chain, outbox); returns message ids."""
    with session_scope(database.sessions) as session:
        envelopes = [ChatEnvelope(next(_seq) + 10_000, str(p["msgid"]), 1, "key", "ciphertext") for p in plaintexts]
        envelope_ids = repository.insert_envelopes(session, CORP, envelopes, datetime.now(UTC))
        items = []
        for plaintext, envelope in zip(plaintexts, envelopes, strict=True):
            raw = json.dumps(plaintext, ensure_ascii=False)
            items.append(
                DecodedItem(envelope_ids[envelope.msgid], envelope.seq, parse_message(raw.encode()), raw, envelope)
            )
        stored = store_messages(session, CORP, items, datetime.now(UTC))
        return [message.id for message in stored]


@dataclass(frozen=True)
class Verdict:
    label: str = "neutral"
    intent: str | None = None
    hits: tuple[tuple[str, str], ...] = ()  # (category, severity)


def detect(database: Database, verdicts: dict[int, Verdict] | None = None, *, default: Verdict = Verdict()) -> None:
    """Finish the detection outbox: one sentiment row per claimed text message and the
    given hits, in the same transaction that completes the entries (as the stage does)."""
    verdicts = verdicts or {}
    now = datetime.now(UTC)
    with session_scope(database.sessions) as session:
        while (claim := outbox.claim(session, outbox.DETECT, now + timedelta(days=1))) is not None:
            messages = session.scalars(select(Message).where(Message.id.in_(claim.message_ids))).all()
            for message in messages:
                if message.msgtype != "text" or message.action != "send":
                    continue
                verdict = verdicts.get(message.id, default)
                session.merge(
                    MessageSentiment(
                        message_id=message.id,
                        corp_id=message.corp_id,
                        conversation_id=message.conversation_id,
                        msgtime=message.msgtime,
                        label=verdict.label,
                        score=0.9 if verdict.label == "negative" else 0.1,
                        intent=verdict.intent,
                        model_version="test",
                    )
                )
                for category, severity in verdict.hits:
                    session.add(
                        MessageHit(
                            corp_id=message.corp_id,
                            message_id=message.id,
                            conversation_id=message.conversation_id,
                            msgtime=message.msgtime,
                            detector="lexicon",
                            detector_version="test",
                            category=category,
                            rule=category,
                            severity=severity,
                            start=None,
                            end=None,
                            matched=None,
                            normalised=None,
                            detail="",
                            detected_at=now,
                        )
                    )
            outbox.complete(session, claim)


def rescan(database: Database, message_ids: Sequence[int]) -> None:
    """Queue messages for detection again (as a rule change does)."""
    with session_scope(database.sessions) as session:
        outbox.enqueue_for(session, outbox.DETECT, CORP, message_ids, datetime.now(UTC))


def run(database: Database, now: datetime, policy: MonitorPolicy = POLICY) -> MonitorReport:
    return run_corp(database.sessions, CORP, policy, now=now)


def alerts(database: Database, source: str) -> list[Alert]:
    with database.sessions() as session:
        return list(session.scalars(select(Alert).where(Alert.source == source).order_by(Alert.id)))
