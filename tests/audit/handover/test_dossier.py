"""Dossiers against the archive: counts recomputed here from the stored messages, promises
kept and broken in chats the simulated WeCom delivers, unanswered questions and alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Conversation, Message
from audit.alerts.models import Alert
from audit.alerts.service import raise_alert
from audit.detect.hits import Severity
from audit.detect.models import MessageSentiment
from audit.detect.rules import repository as rules
from audit.detect.rules.starter import starter_groups
from audit.handover.inventory import open_case, take_inventory
from audit.handover.models import CaseKind, HandoverCase, HandoverCustomer, HandoverGroup
from audit.handover.promises import EXCERPT_MAX_CHARS, ChatLine, excerpt, matched_phrase, open_promises
from audit.stage import DetectionStage, TrainedSentiment
from config.database import session_scope
from config.settings import AlertSettings, DetectionSettings
from tests.archive.simulator.handover_edge import START_MS
from tests.audit.handover.edge import HandoverWorldEdge
from tests.conftest import require

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
SAID = "这个要看具体的产品条款，我问一下产品经理再回复您"  # e_answer of the simulated chats
KEPT = "主管王芳稍后给您打电话"  # e_escalate
FOLLOW_UP = "刚才主管已经跟您通过电话了，有问题随时找我"
MODEL_TRAINING_TIMEOUT_S = 1200  # the first user of the sentiment model trains it (once per session)


@dataclass
class Chat:
    """Hand-written messages the simulated WeCom delivers like any other."""

    edge: HandoverWorldEdge
    plaintexts: list[dict[str, Any]]

    def say(self, sender: str, to: str, at_ms: int, content: str) -> str:
        msgid = f"handover-test-{len(self.plaintexts)}"
        self.plaintexts.append(
            {
                "msgid": msgid,
                "action": "send",
                "from": sender,
                "tolist": [to],
                "roomid": "",
                "msgtime": at_ms,
                "msgtype": "text",
                "text": {"content": content},
            }
        )
        return msgid

    def recall(self, sender: str, to: str, at_ms: int, msgid: str) -> None:
        self.plaintexts.append(
            {
                "msgid": f"handover-test-{len(self.plaintexts)}",
                "action": "recall",
                "from": sender,
                "tolist": [to],
                "roomid": "",
                "msgtime": at_ms,
                "msgtype": "revoke",
                "revoke": {"pre_msgid": msgid},
            }
        )

    def deliver(self) -> None:
        self.edge.simulator.inject(self.plaintexts)
        context = self.edge.context()
        try:
            assert context.puller(self.edge.corp_id).run().status == "completed"
        finally:
            context.close()


def _open(edge: HandoverWorldEdge, leaver: str) -> int:
    inventory = edge.run(
        lambda contacts: take_inventory(edge.database.sessions, contacts, edge.corp_id, leaver, CaseKind.RESIGNED)
    )
    with session_scope(edge.database.sessions) as session:
        return open_case(session, inventory, actor="manager", source="manager", now=edge.now()).id


def _customers(session: Session, case_id: int) -> dict[str, HandoverCustomer]:
    return {c.external_userid: c for c in session.scalars(select(HandoverCustomer).filter_by(case_id=case_id))}


def _message_id(session: Session, msgid: str) -> int:
    found = session.scalar(select(Message.id).where(Message.msgid == msgid))
    assert found is not None
    return found


def _conversations_between(session: Session, people: set[str]) -> list[int]:
    return [
        c.id
        for c in session.scalars(select(Conversation).where(Conversation.kind == "single"))
        if {c.participant_a, c.participant_b} == people
    ]


def _sent(session: Session, conversation_ids: Sequence[int]) -> list[Message]:
    return list(
        session.scalars(
            select(Message).where(Message.conversation_id.in_(list(conversation_ids)), Message.action == "send")
        )
    )


def test_a_customer_dossier_counts_what_the_archive_holds(handover_edge: HandoverWorldEdge) -> None:
    edge = handover_edge
    leaver = edge.leavers()[0]
    case_id = _open(edge, leaver)

    chatted = 0
    with session_scope(edge.database.sessions) as session:
        for ext, customer in _customers(session, case_id).items():
            conversation_ids = _conversations_between(session, {leaver, ext})
            sent = _sent(session, conversation_ids)
            dossier = customer.dossier
            assert dossier["conversation_ids"] == conversation_ids
            assert dossier["messages"] == {
                "total": len(sent),
                "from_staff": sum(1 for m in sent if m.sender == leaver),
                "from_customer": sum(1 for m in sent if m.sender == ext),
            }
            if sent:
                chatted += 1
                last = max(m.msgtime for m in sent)
                assert datetime.fromisoformat(dossier["last_contact"]) == last
            else:
                assert dossier["last_contact"] is None
            if customer.assigned:  # WeCom's follow time: when the relationship began
                assert dossier["relationship_days"] is not None and dossier["relationship_days"] >= 0
            assert customer.risk == dossier["risk"] in ("high", "medium", "low")
        assert chatted >= 3, "the simulated archive should hold chats with several of the leaver's customers"

        for group in session.scalars(select(HandoverGroup).filter_by(case_id=case_id)):
            room = [c.id for c in session.scalars(select(Conversation).where(Conversation.roomid == group.chat_id))]
            sent = _sent(session, room)
            assert group.dossier["conversation_ids"] == room
            assert group.dossier["messages"] == {
                "total": len(sent),
                "from_staff": sum(1 for m in sent if not m.sender.startswith(("wm", "wo", "wb"))),
                "from_customer": sum(1 for m in sent if m.sender.startswith(("wm", "wo"))),
            }
            assert group.customer_count == group.dossier["customers"]


def test_an_open_promise_is_found_and_a_kept_one_is_not(handover_edge: HandoverWorldEdge) -> None:
    edge, world = handover_edge, handover_edge.world
    leaver = edge.leavers()[0]  # left three days ago: these chats are from the day before
    broken, kept, recalled, waiting = world.follows[leaver][:4]
    t0 = START_MS - 4 * DAY_MS
    chat = Chat(edge, [])
    promised = chat.say(leaver, broken, t0, SAID)
    chat.say(broken, leaver, t0 + MINUTE_MS, "好的")
    chat.say(leaver, broken, t0 + 2 * MINUTE_MS, "好的，有问题随时联系我")  # same exchange: not the follow-up
    kept_promise = chat.say(leaver, kept, t0, KEPT)
    chat.say(kept, leaver, t0 + MINUTE_MS, "好的")
    chat.say(leaver, kept, t0 + 3 * HOUR_MS, FOLLOW_UP)
    taken_back = chat.say(leaver, recalled, t0, "回头给您打电话")
    chat.recall(leaver, recalled, t0 + MINUTE_MS, taken_back)
    chat.say(leaver, waiting, t0, "您好，您的保单下个月需要续期缴费")  # answers anything asked before
    question = chat.say(waiting, leaver, t0 + HOUR_MS, "请问在吗？我那笔赎回到账了吗？")
    chat.deliver()

    with session_scope(edge.database.sessions) as session:
        conversation = _conversations_between(session, {leaver, broken})
        alert = raise_alert(
            session,
            corp_id=edge.corp_id,
            conversation_id=conversation[0],
            rule="test.guaranteed_return",
            category="guaranteed_return",
            severity=Severity.HIGH,
            source="detect",
            explanation={"matches": []},
            message_ids=[_message_id(session, promised)],
            now=datetime.fromtimestamp(t0 / 1000, UTC),
        )
        session.flush()
        alert_id = alert.id
    with structlog.testing.capture_logs() as logs:
        case_id = _open(edge, leaver)
    assert any(entry["event"] == "audit.handover.case_opened" for entry in logs)
    logged = repr(logs)  # ids and counts only: no chat text, no customer names
    assert SAID not in logged and world.company.customer(broken).name not in logged

    with session_scope(edge.database.sessions) as session:
        customers = _customers(session, case_id)
        open_promises = customers[broken].dossier["open_promises"]
        assert _message_id(session, promised) in [p["message_id"] for p in open_promises]
        promise = next(p for p in open_promises if p["message_id"] == _message_id(session, promised))
        assert promise["excerpt"] == SAID and len(promise["excerpt"]) <= EXCERPT_MAX_CHARS
        assert datetime.fromisoformat(promise["at"]) == datetime.fromtimestamp(t0 / 1000, UTC)
        assert "open_promises" in customers[broken].dossier["risk_reasons"]

        kept_ids = [p["message_id"] for p in customers[kept].dossier["open_promises"]]
        assert _message_id(session, kept_promise) not in kept_ids
        recalled_ids = [p["message_id"] for p in customers[recalled].dossier["open_promises"]]
        assert _message_id(session, taken_back) not in recalled_ids

        unanswered = customers[waiting].dossier["unanswered"]
        assert [u["message_id"] for u in unanswered] == [_message_id(session, question)]
        assert unanswered[0]["excerpt"] == "请问在吗？我那笔赎回到账了吗？"
        assert customers[waiting].risk in ("medium", "high")
        assert "unanswered" in customers[waiting].dossier["risk_reasons"]

        alerts = customers[broken].dossier["alerts"]
        assert (alerts["open"], alerts["open_high"]) == (1, 1)
        assert [item["id"] for item in alerts["items"]] == [alert_id]
        assert customers[broken].risk == "high" and "open_high_alert" in customers[broken].dossier["risk_reasons"]


def test_the_phrase_list_knows_the_simulated_staff_promises_and_not_their_immediate_answers() -> None:
    from archive.simulator.phrases import TEMPLATES

    def staff_says(category: str) -> list[str]:
        return [text for text, _labels in TEMPLATES[category]]

    promising = [
        SAID,
        *staff_says("e_escalate"),
        "您先别着急，我已经反馈给主管了，今天一定给您回复",
        "{ccall}，这个情况我已经登记了工单，客服主管会联系您",
        "刚才说的内容我整理一下发您",
        "收到了，办好后通知您",
    ]
    assert all(matched_phrase(text) for text in promising), [t for t in promising if not matched_phrase(t)]
    immediate = [*staff_says("e_wait"), *staff_says("e_close"), *staff_says("e_greet"), "我帮您查一下，稍等"]
    assert not [text for text in immediate if matched_phrase(text)]
    # Folded: traditional characters and full-width forms match too.
    assert matched_phrase("這個要看條款，我問一下產品經理再回覆您") == "再回复您"


def test_an_excerpt_is_short_and_masks_numbers_and_addresses() -> None:
    long_text = "卡号是6212269695536527874，邮箱 li.ming@example.com，" + "请尽快处理" * 20
    short = excerpt(long_text)
    assert len(short) <= EXCERPT_MAX_CHARS and short.endswith("…")
    assert "6212269695536527874" not in short and "*" * 19 in short
    assert "li.ming@example.com" not in short
    assert excerpt("两百元，三天后到账") == "两百元，三天后到账"


def test_a_promise_is_open_until_a_later_exchange() -> None:
    start = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)

    def line(n: int, minutes: int, staff: bool, text: str) -> ChatLine:
        sender = "LiPing" if staff else "wmCustomer"
        return ChatLine(n, f"m{n}", sender, start + timedelta(minutes=minutes), "text", text, staff)

    promise = line(1, 0, True, SAID)
    same_exchange = [promise, line(2, 1, False, "好的"), line(3, 2, True, "好的，有问题随时联系我")]
    assert [p.message_id for p in open_promises(same_exchange)] == [1]
    later = [*same_exchange, line(4, 24 * 60, True, "产品经理回复了：可以提前赎回")]
    assert open_promises(later) == []
    assert open_promises([promise], frozenset({"m1"})) == []  # recalled
    assert open_promises([line(5, 0, False, SAID)]) == []  # customers make no promises here


@pytest.fixture
def sentiment_dir(request: pytest.FixtureRequest) -> Path:
    try:
        return Path(request.getfixturevalue("sentiment_model_dir"))
    except pytest.FixtureLookupError:
        require("the trained sentiment model", "tests/audit/conftest.py provides no sentiment_model_dir fixture")
        raise


@pytest.mark.timeout(MODEL_TRAINING_TIMEOUT_S)
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # the detection stage has its own tests on both
def test_sentiment_and_alerts_come_from_the_detection_stage(
    handover_edge: HandoverWorldEdge, sentiment_dir: Path
) -> None:
    edge = handover_edge
    with edge.database.sessions.begin() as session:
        rules.save_groups(session, starter_groups(), datetime.now(UTC))
    stage = DetectionStage(DetectionSettings(), AlertSettings(), sentiment=TrainedSentiment(sentiment_dir))
    assert stage.run(edge.database.sessions).failed_claims == 0
    leaver = edge.leavers()[1]
    case_id = _open(edge, leaver)

    rated = 0
    with session_scope(edge.database.sessions) as session:
        dismissed = next(iter(session.scalars(select(HandoverCase).filter_by(id=case_id))))
        reference = dismissed.dimission_at
        assert reference is not None
        for ext, customer in _customers(session, case_id).items():
            conversation_ids = _conversations_between(session, {leaver, ext})
            weeks: dict[str, list[int]] = {}
            for msgtime, label in session.execute(
                select(MessageSentiment.msgtime, MessageSentiment.label)
                .join(Message, Message.id == MessageSentiment.message_id)
                .where(Message.conversation_id.in_(conversation_ids), Message.sender == ext)
            ):
                year, week, _ = msgtime.isocalendar()
                counts = weeks.setdefault(f"{year}-W{week:02d}", [0, 0])
                counts[0] += label == "negative"
                counts[1] += 1
            trend = customer.dossier["sentiment"]["trend"]
            assert trend == [
                {"week": week, "negative_share": round(neg / n, 3), "messages": n}
                for week, (neg, n) in sorted(weeks.items())
            ]
            rated += sum(n for _neg, n in weeks.values())
            open_alerts = session.scalars(
                select(Alert).where(Alert.conversation_id.in_(conversation_ids), Alert.status == "new")
            ).all()
            assert customer.dossier["alerts"]["open"] == len(open_alerts)
            if any(a.severity in ("high", "critical") for a in open_alerts):
                assert customer.risk == "high" and "open_high_alert" in customer.dossier["risk_reasons"]
    assert rated > 0, "the detection stage rated some of the customers' messages"
