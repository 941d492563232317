"""Supervisory sampling of unflagged conversations: the rate, and a reproducible draw."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archive.models import Conversation, Message
from audit.review import sampling
from audit.review.models import ReviewSample
from tests.audit.alerts.helpers import CORP, T0, alert, conversation
from tests.conftest import Database

START, END = T0.replace(hour=0, minute=0), T0.replace(hour=0, minute=0) + timedelta(days=1)


def _messages(session: Session, conversation_ids: list[int]) -> None:
    from archive.models import ChatEnvelopeRow

    for n, conversation_id in enumerate(conversation_ids):
        envelope = ChatEnvelopeRow(
            corp_id=CORP,
            seq=n,
            msgid=f"m{n}",
            publickey_ver=1,
            encrypt_random_key="",
            encrypt_chat_msg="",
            pulled_at=T0,
        )
        session.add(envelope)
        session.flush()
        session.add(
            Message(
                corp_id=CORP,
                envelope_id=envelope.id,
                seq=n,
                msgid=f"m{n}",
                action="send",
                msgtype="text",
                sender="zhangsan",
                roomid=None,
                conversation_id=conversation_id,
                msgtime=T0,
                recalls_msgid=None,
                parse_status="ok",
                text="你好",
                body={},
                raw="{}",
                media_count=0,
            )
        )


def test_the_rate_of_unflagged_conversations_is_drawn_reproducibly(database: Database) -> None:
    with database.sessions.begin() as session:
        chats = [conversation(session, f"pair:u{n}|wmcust") for n in range(200)]
        _messages(session, chats)
        for flagged in chats[:20]:
            alert(session, flagged)
        drawn = sampling.draw_sample(session, CORP, start=START, end=END, rate=0.1, seed=42, now=T0)
        assert len(drawn) == 18  # 10 % of the 180 unflagged
        assert not {s.conversation_id for s in drawn} & set(chats[:20])
        assert sampling.draw_sample(session, CORP, start=START, end=END, rate=0.5, seed=1, now=T0) == drawn  # kept
        first = [s.conversation_id for s in drawn]

        session.execute(delete(ReviewSample))  # an auditor re-derives the draw from the same data
        again = sampling.draw_sample(session, CORP, start=START, end=END, rate=0.1, seed=42, now=T0)
        assert [s.conversation_id for s in again] == first
        session.execute(delete(ReviewSample))
        reseeded = sampling.draw_sample(session, CORP, start=START, end=END, rate=0.1, seed=43, now=T0)
        assert len(reseeded) == 18 and [s.conversation_id for s in reseeded] != first
        session.execute(delete(ReviewSample))
        again = sampling.draw_sample(session, CORP, start=START, end=END, rate=0.1, seed=42, now=T0)
        other_seed = sampling.draw_sample(
            session, CORP, start=START + timedelta(days=1), end=END + timedelta(days=1), rate=0.1, seed=42, now=T0
        )
        assert other_seed == []  # no messages that day
        sample = again[0]
        sampling.complete_sample(session, sample.id, reviewer="wang", note="ok", now=T0)
        assert len(sampling.samples(session, CORP, status=sampling.PENDING)) == 17
        assert session.scalar(select(Conversation.id).where(Conversation.id == sample.conversation_id))


def test_a_zero_rate_draws_nothing_and_a_tiny_rate_draws_one(database: Database) -> None:
    with database.sessions.begin() as session:
        chats = [conversation(session, f"pair:u{n}|wmcust") for n in range(5)]
        _messages(session, chats)
        assert sampling.draw_sample(session, CORP, start=START, end=END, rate=0.0, seed=1, now=T0) == []
    with database.sessions.begin() as session:
        assert (
            len(sampling.draw_sample(session, CORP, start=END, end=END + timedelta(days=1), rate=0.01, seed=1, now=T0))
            == 0
        )
        assert (
            len(
                sampling.draw_sample(
                    session, CORP, start=START - timedelta(hours=1), end=END, rate=0.01, seed=1, now=T0
                )
            )
            == 1
        )
