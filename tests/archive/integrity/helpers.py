"""Shared steps of the integrity tests: pull simulated messages, verify, read the chain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from archive import repository
from archive.clock import utcnow
from archive.integrity.checkpoints import checkpoint_path
from archive.integrity.models import ChainLink
from archive.integrity.verify import VerifyReport, verify
from archive.messages import parse_message
from archive.repository import DecodedItem, StoredMessage
from archive.source import ChatEnvelope
from config.database import session_scope
from tests.conftest import Edge


@dataclass(frozen=True)
class LinkInfo:
    position: int
    message_id: int
    msgid: str
    seq: int


def pull(edge: Edge, messages: int, **populate: Any) -> None:
    edge.simulator.populate(messages, messages_per_day=20_000, **populate)
    edge.register_keys()
    context = edge.context()
    report = context.puller(edge.simulator.corp_id).run()
    context.close()
    assert report.status == "completed", report.error


def checkpoint_file(edge: Edge) -> Path:
    return checkpoint_path(edge.settings, edge.simulator.corp_id)


def run_verify(edge: Edge) -> VerifyReport:
    return verify(edge.database.sessions, edge.simulator.corp_id, checkpoint_file=checkpoint_file(edge))


def link_at(edge: Edge, position: int) -> LinkInfo:
    with edge.database.sessions() as session:
        link = session.execute(
            select(ChainLink).where(ChainLink.corp_id == edge.simulator.corp_id, ChainLink.position == position)
        ).scalar_one()
        assert link.message_id is not None
        return LinkInfo(link.position, link.message_id, link.msgid, link.seq)


def store_unchained(edge: Edge, msgid: str) -> list[StoredMessage]:
    """A message stored with the archive's own repository but not chained (as a transaction
    that has inserted its rows and not yet appended them)."""
    corp_id = edge.simulator.corp_id
    plaintext = {
        "msgid": msgid,
        "action": "send",
        "from": "zhangsan",
        "tolist": ["lisi"],
        "roomid": "",
        "msgtime": 1_790_000_000_000,
        "msgtype": "text",
        "text": {"content": "hello"},
    }
    raw = json.dumps(plaintext, ensure_ascii=False)
    with session_scope(edge.database.sessions) as session:
        seq = repository.get_cursor(session, corp_id) + 1_000 + len(msgid)
        envelope = ChatEnvelope(seq, msgid, 1, "key", "ciphertext")
        envelope_ids = repository.insert_envelopes(session, corp_id, [envelope], utcnow())
        item = DecodedItem(envelope_ids[msgid], seq, parse_message(raw.encode()), raw, envelope)
        return repository.insert_messages(session, corp_id, [item])
