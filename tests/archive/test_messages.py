"""The parser on WeCom's own examples (protocol spec §4) and on what real data throws at it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from archive.messages import (
    ChatRecordBody,
    MeetingBody,
    MixedBody,
    ParseError,
    RawBody,
    RevokeBody,
    SwitchBody,
    TextBody,
    VoteBody,
    parse_message,
)


def envelope(msgtype: str, body_key: str, body: object, **extra: object) -> bytes:
    document = {
        "msgid": "CAQQluDa4QUY0On2rYSAgAMgzPrShAE=",
        "action": "send",
        "from": "XuJinSheng",
        "tolist": ["icefog"],
        "roomid": "",
        "msgtime": 1547087894783,
        "msgtype": msgtype,
        body_key: body,
        **extra,
    }
    return json.dumps(document, ensure_ascii=False).encode()


def test_text_example_from_the_spec() -> None:
    message = parse_message(envelope("text", "text", {"content": "test"}))
    assert message.body == TextBody(content="test")
    assert message.sender == "XuJinSheng" and message.tolist == ("icefog",)
    assert message.msgtime.isoformat() == "2019-01-10T02:38:14.783000+00:00"
    assert message.parse_status == "ok" and message.text == "test"


def test_text_content_that_looks_like_json_stays_text() -> None:
    message = parse_message(envelope("text", "text", {"content": '{"a": 1}'}))
    assert message.body == TextBody(content='{"a": 1}')


def test_revoke_links_to_the_recalled_message() -> None:
    plaintext = json.dumps(
        {
            "msgid": "15775510700152506326_1603876439",
            "action": "recall",
            "from": "kenshin",
            "tolist": ["wmUu0zBgAALV7ZymkcMyxHeCnPwGxkxA"],
            "roomid": "",
            "msgtime": 1603876439581,
            "msgtype": "revoke",
            "revoke": {"pre_msgid": "14822339130656386894_1603875464"},
        }
    ).encode()
    message = parse_message(plaintext)
    assert isinstance(message.body, RevokeBody)
    assert message.recalls_msgid == "14822339130656386894_1603875464"


def test_switch_has_its_own_envelope() -> None:
    plaintext = b'{"msgid":"125289002219525886280","action":"switch","time":1554119421840,"user":"XuJinSheng"}'
    message = parse_message(plaintext)
    assert message.msgtype == "switch" and message.sender == "XuJinSheng"
    assert isinstance(message.body, SwitchBody)
    assert message.msgtime.year == 2019


@pytest.mark.parametrize("nested", [False, True])
def test_vote_flat_or_nested(nested: bool) -> None:
    fields: dict[str, Any] = {
        "votetitle": "去哪儿团建",
        "voteitem": ["西湖", "千岛湖"],
        "votetype": 101,
        "voteid": "2027",
    }
    plaintext = envelope("vote", "vote", fields) if nested else envelope("vote", "ignored", None, **fields)
    message = parse_message(plaintext)
    assert message.body == VoteBody(**fields)
    assert "千岛湖" in message.text


def test_mixed_items_are_decoded_and_their_media_found() -> None:
    body = {
        "item": [
            {"type": "text", "content": json.dumps({"content": "你好[微笑]\n"})},
            {
                "type": "image",
                "content": json.dumps(
                    {"md5sum": "368b6c18c82e6441bfd89b343e9d2429", "filesize": 13177, "sdkfileid": "CtYBMzA2OTAy"}
                ),
            },
        ]
    }
    message = parse_message(envelope("mixed", "mixed", body))
    assert isinstance(message.body, MixedBody)
    assert message.text == "你好[微笑]\n"
    assert [ref.sdkfileid for ref in message.media] == ["CtYBMzA2OTAy"]


def test_chatrecord_inner_items_keep_text_and_media() -> None:
    body = {
        "title": "群聊",
        "item": [
            {"type": "ChatRecordText", "msgtime": 1603875610, "content": '{"content":"test"}', "from_chatroom": False},
            {
                "type": "ChatRecordImage",
                "msgtime": 1603875612,
                "content": '{"md5sum":"ab","filesize":1234,"sdkfileid":"F9"}',
                "from_chatroom": False,
            },
            {"type": "ChatRecordMystery", "msgtime": 1603875613, "content": "not json", "from_chatroom": True},
        ],
    }
    message = parse_message(envelope("chatrecord", "chatrecord", body))
    assert isinstance(message.body, ChatRecordBody)
    assert "test" in message.text and "群聊" in message.text
    assert [ref.sdkfileid for ref in message.media] == ["F9"]
    assert message.body.item[2].content == "not json"  # an unknown inner item is kept raw


def test_big_ids_survive_as_strings() -> None:
    plaintext = envelope("meeting", "meeting", {"topic": "周会"}).replace(
        b'"topic"', b'"meetingid":184467440737095516150,"topic"'
    )
    message = parse_message(plaintext)
    assert isinstance(message.body, MeetingBody)
    assert message.body.meetingid == "184467440737095516150"


def test_raw_control_characters_do_not_lose_the_message() -> None:
    plaintext = envelope("text", "text", {"content": "ab"}).replace(b'"ab"', b'"a\x01b"')
    assert parse_message(plaintext).body == TextBody(content="a\x01b")


def test_unknown_type_is_kept_raw_and_marked() -> None:
    message = parse_message(envelope("jielong", "jielong", {"title": "接龙"}))
    assert message.parse_status == "unknown_type"
    assert message.body == RawBody(data={"title": "接龙"})


def test_known_type_with_odd_body_is_kept_raw_and_marked() -> None:
    message = parse_message(envelope("image", "image", {"filesize": "not a number", "sdkfileid": []}))
    assert message.parse_status == "malformed_body"
    assert isinstance(message.body, RawBody)


@pytest.mark.parametrize("plaintext", [b"\xff\xfe garbage", b"[1,2]", b'{"action":"send"}', b""])
def test_not_a_message_raises(plaintext: bytes) -> None:
    with pytest.raises(ParseError):
        parse_message(plaintext)
