"""Every message type round-trips: simulated WeCom encrypts → fake SDK → our binding
(worker process) → RSA unwrap + DecryptData → parse → store, on SQLite and PostgreSQL —
with the fake's DecryptData and with Tencent's (ADR 0018)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.models import ArchiveCursor, ChatEnvelopeRow, Conversation, Message, MessageRecipient, QuarantinedRecord
from archive.simulator.conversations import GeneratedMessage
from tests.conftest import Edge

ALL_TYPES = {
    "text",
    "image",
    "voice",
    "video",
    "file",
    "link",
    "card",
    "location",
    "emotion",
    "weapp",
    "chatrecord",
    "mixed",
    "redpacket",
    "external_redpacket",
    "revoke",
    "agree",
    "disagree",
    "docmsg",
    "meeting",
    "todo",
    "vote",
    "collect",
    "calendar",
    "markdown",
    "news",
    "meeting_voice_call",
    "voip_doc_share",
    "sphfeed",
    "voiptext",
    "switch",
}


def libraries_mapped_by_children() -> set[str]:
    """The files mapped by this process's children (the SDK worker), from /proc."""
    mapped: set[str] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == os.getpid():
                mapped |= {line.split()[-1] for line in (stat.parent / "maps").read_text().splitlines()}
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
    return mapped


@pytest.fixture(params=["fake", "tencent"], ids=["fake DecryptData", "Tencent's DecryptData"])
def decrypt_data_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Whose DecryptData the SDK worker uses. For Tencent's, the fake forwards DecryptData to
    Tencent's library (GetChatData and GetMediaData still come from the simulator)."""
    if request.param == "tencent":
        library = request.getfixturevalue("tencent_sdk_library")
        monkeypatch.setenv("WECOM_FAKE_SDK_DECRYPT_LIBRARY", str(library))
    return str(request.param)


def test_every_message_type_round_trips(edge: Edge, decrypt_data_by: str) -> None:
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(3500, messages_per_day=20_000, rotate_after=2000, record=sent)
    edge.simulator.inject(
        [
            {
                "msgid": "future_1",
                "action": "send",
                "from": "zhangsan",
                "tolist": ["lisi"],
                "roomid": "",
                "msgtime": sent[-1].msgtime_ms + 1,
                "msgtype": "jielong",
                "jielong": {"title": "周五接龙"},
            }
        ]
    )
    edge.register_keys()
    context = edge.context()
    report = context.puller(edge.simulator.corp_id).run()
    worker_libraries = libraries_mapped_by_children()
    context.close()

    if decrypt_data_by == "tencent":  # the records really went through Tencent's code
        assert str(edge.settings.sdk.library_path) in worker_libraries
        assert os.environ["WECOM_FAKE_SDK_DECRYPT_LIBRARY"] in worker_libraries
    assert report.status == "completed", report.error
    assert report.fetched == len(sent) + 1
    assert report.stored == len(sent) + 1
    assert report.quarantined == 0 and report.duplicates == 0
    assert report.unknown_types == 1
    assert report.batches >= 4  # drained in batches until the source was empty

    with edge.database.sessions() as session:
        stored = {m.msgid: m for m in session.scalars(select(Message))}
        recipients: dict[int, set[str]] = {}
        for message_id, recipient in session.execute(select(MessageRecipient.message_id, MessageRecipient.recipient)):
            recipients.setdefault(message_id, set()).add(recipient)
        cursor = session.get(ArchiveCursor, edge.simulator.corp_id)
        versions = Counter(session.scalars(select(ChatEnvelopeRow.publickey_ver)))

    assert {m.msgtype for m in stored.values()} >= ALL_TYPES
    assert cursor is not None and cursor.seq == edge.simulator.store.max_seq()
    assert set(versions) == {1, 2}, "key rotation: both publickey_ver must have been used and decrypted"

    for generated in sent:
        message = stored[generated.msgid]
        plaintext = generated.plaintext
        assert json.loads(message.raw) == plaintext
        if plaintext["action"] == "switch":
            assert message.msgtype == "switch" and message.sender == plaintext["user"]
            assert message.conversation_id is None
            continue
        assert message.msgtype == plaintext["msgtype"]
        assert message.sender == plaintext["from"]
        assert (message.roomid or "") == plaintext.get("roomid", "")
        assert int(message.msgtime.timestamp() * 1000) == plaintext["msgtime"]
        assert message.parse_status == "ok", (message.msgtype, message.body)
        tolist = plaintext.get("tolist") or []
        assert isinstance(tolist, list)
        assert recipients.get(message.id, set()) == set(tolist)
        assert message.conversation_id is not None
        body = plaintext.get(str(plaintext["msgtype"]))
        if plaintext["msgtype"] == "text":
            assert isinstance(body, dict) and message.text == body["content"]
        if plaintext["msgtype"] == "revoke":
            assert isinstance(body, dict) and message.recalls_msgid == body["pre_msgid"]
            assert message.recalls_msgid in stored
        media_ids = {blob.sdkfileid for blob in generated.media}
        assert message.media_count == len(media_ids), message.msgtype

    unknown = stored["future_1"]
    assert unknown.parse_status == "unknown_type" and unknown.body["data"] == {"title": "周五接龙"}


def test_conversations_group_single_chats_and_rooms(edge: Edge) -> None:
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(800, messages_per_day=20_000, record=sent)
    edge.register_keys()
    context = edge.context()
    assert context.puller(edge.simulator.corp_id).run().status == "completed"
    context.close()

    rooms = {m.plaintext["roomid"] for m in sent if m.plaintext.get("roomid")}
    with edge.database.sessions() as session:
        conversations = list(session.scalars(select(Conversation)))
        by_room = {c.roomid: c for c in conversations if c.kind == "group"}
        total = session.scalar(select(func.sum(Conversation.message_count)))
        messages_in_conversations = session.scalar(select(func.count()).where(Message.conversation_id.is_not(None)))
    assert set(by_room) == rooms
    assert total == messages_in_conversations
    for conversation in conversations:
        assert conversation.first_msg_at <= conversation.last_msg_at
        if conversation.kind == "single":
            assert conversation.participant_a and conversation.participant_b
            assert conversation.participant_a < conversation.participant_b


def test_pulling_again_stores_nothing_twice(edge: Edge) -> None:
    edge.simulator.populate(1200, messages_per_day=20_000)
    edge.register_keys()
    context = edge.context()
    first = context.puller(edge.simulator.corp_id).run()
    second = context.puller(edge.simulator.corp_id).run()
    edge.simulator.populate(300, messages_per_day=20_000)
    third = context.puller(edge.simulator.corp_id).run()
    context.close()
    assert (first.stored, second.fetched, third.stored) == (1200, 0, 300)
    assert third.from_seq == first.to_seq
    with edge.database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1500
        assert session.scalar(select(func.count(func.distinct(Message.msgid)))) == 1500
        assert session.scalar(select(func.count()).select_from(QuarantinedRecord)) == 0
