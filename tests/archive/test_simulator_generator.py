"""The simulated company and its conversation generator: determinism, JSON shapes per the
protocol spec §4, media bytes, and the ground-truth labels (checked independently here)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import islice, pairwise
from typing import Any

import msgspec
import pytest
from PIL import Image

from archive.simulator.company import Company, build_company
from archive.simulator.conversations import (
    MSG_TYPES,
    ContactEvent,
    ConversationGenerator,
    GeneratedMessage,
    SimEvent,
)

START_MS = 1_700_000_000_000  # Tuesday 2023-11-14 22:13 UTC, Wednesday morning in Shanghai
SHANGHAI = timezone(timedelta(hours=8))
N_EVENTS = 20_000
MIB = 1 << 20

ENVELOPE = {"msgid", "action", "from", "tolist", "roomid", "msgtime", "msgtype"}
STR, INT = str, int
BODIES: dict[str, tuple[str | None, dict[str, type]]] = {
    "text": ("text", {"content": STR}),
    "image": ("image", {"md5sum": STR, "filesize": INT, "sdkfileid": STR}),
    "revoke": ("revoke", {"pre_msgid": STR}),
    "agree": ("agree", {"userid": STR, "agree_time": INT}),
    "disagree": ("disagree", {"userid": STR, "disagree_time": INT}),
    "voice": ("voice", {"md5sum": STR, "voice_size": INT, "play_length": INT, "sdkfileid": STR}),
    "video": ("video", {"md5sum": STR, "filesize": INT, "play_length": INT, "sdkfileid": STR}),
    "card": ("card", {"corpname": STR, "userid": STR}),
    "location": ("location", {"longitude": float, "latitude": float, "address": STR, "title": STR, "zoom": INT}),
    "emotion": (
        "emotion",
        {"type": INT, "width": INT, "height": INT, "imagesize": INT, "md5sum": STR, "sdkfileid": STR},
    ),
    "file": ("file", {"md5sum": STR, "filename": STR, "fileext": STR, "filesize": INT, "sdkfileid": STR}),
    "link": ("link", {"title": STR, "description": STR, "link_url": STR, "image_url": STR}),
    "weapp": ("weapp", {"title": STR, "description": STR, "username": STR, "displayname": STR}),
    "chatrecord": ("chatrecord", {"title": STR, "item": list}),
    "todo": ("todo", {"title": STR, "content": STR}),
    "vote": (None, {"votetitle": STR, "voteitem": list, "votetype": INT, "voteid": STR}),
    "collect": ("collect", {"room_name": STR, "creator": STR, "create_time": STR, "title": STR, "details": list}),
    "redpacket": ("redpacket", {"type": INT, "wish": STR, "totalcnt": INT, "totalamount": INT}),
    "external_redpacket": ("redpacket", {"type": INT, "wish": STR, "totalcnt": INT, "totalamount": INT}),
    "meeting": (
        "meeting",
        {
            "topic": STR,
            "starttime": INT,
            "endtime": INT,
            "address": STR,
            "remarks": STR,
            "meetingtype": INT,
            "meetingid": INT,
        },
    ),
    "docmsg": ("doc", {"title": STR, "doc_creator": STR, "link_url": STR}),
    "markdown": ("info", {"content": STR}),
    "news": ("info", {"item": list}),
    "calendar": (
        "calendar",
        {
            "title": STR,
            "creatorname": STR,
            "attendeename": list,
            "starttime": INT,
            "endtime": INT,
            "place": STR,
            "remarks": STR,
        },
    ),
    "mixed": ("mixed", {"item": list}),
    "meeting_voice_call": (
        "meeting_voice_call",
        {"endtime": INT, "sdkfileid": STR, "demofiledata": list, "sharescreendata": list},
    ),
    "voip_doc_share": ("voip_doc_share", {"filename": STR, "md5sum": STR, "filesize": INT, "sdkfileid": STR}),
    "sphfeed": ("sphfeed", {"feed_type": INT, "sph_name": STR, "feed_desc": STR}),
    "voiptext": ("info", {"callduration": INT, "invitetype": INT}),
}
CHATRECORD_TYPES = {
    "ChatRecordText",
    "ChatRecordImage",
    "ChatRecordVoice",
    "ChatRecordVideo",
    "ChatRecordCard",
    "ChatRecordLocation",
    "ChatRecordEmotion",
    "ChatRecordFile",
    "ChatRecordLink",
    "ChatRecordWeapp",
    "ChatRecordMixed",
}
LABEL_VOCABULARY = {
    *(
        f"sensitive:{c}"
        for c in ("private_dealing", "kickback", "guaranteed_return", "off_platform", "abuse", "poaching")
    ),
    *(f"evasion:{e}" for e in ("spaced", "fullwidth", "homophone", "zerowidth", "punct", "traditional")),
    "pii:mobile",
    "pii:idcard-valid",
    "pii:idcard-invalid",
    "pii:bankcard-valid",
    "pii:bankcard-invalid",
    "pii:email",
    "redpacket",
    "card-to-customer",
    "recall",
    "recalled",
    "file-to-external",
    "angry",
    "complaint",
    "threat",
    "unanswered",
    "after-hours",
    *(f"type:{t}" for t in MSG_TYPES),
}


# --- independent reference checks ---------------------------------------------------------


def idcard_valid(number: str) -> bool:
    """ISO 7064 MOD 11-2, as GB 11643 uses it."""
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number]
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return (sum(odd) + sum(even)) % 10 == 0


def working(t_ms: int) -> bool:
    local = datetime.fromtimestamp(t_ms / 1000, tz=SHANGHAI)
    return local.weekday() < 5 and 9 <= local.hour < 18


def after_working_minutes(t_ms: int, minutes: int) -> int:
    """Step minute by minute until ``minutes`` of office time have passed."""
    t = t_ms
    while minutes > 0:
        t += 60_000
        if working(t):
            minutes -= 1
    return t


ID_RE = re.compile(r"(?<![0-9])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9X](?![0-9])")
BANK_RE = re.compile(r"(?<![0-9])62\d{2}(?: ?\d){12,15}(?![0-9])")


def texts_of(plaintext: dict[str, Any]) -> list[str]:
    out = []
    mtype = plaintext.get("msgtype")
    if mtype == "text":
        out.append(plaintext["text"]["content"])
    elif mtype == "mixed":
        for item in plaintext["mixed"]["item"]:
            if item["type"] == "text":
                out.append(json.loads(item["content"])["content"])
    elif mtype == "chatrecord":
        for item in plaintext["chatrecord"]["item"]:
            if item["type"] == "ChatRecordText":
                out.append(json.loads(item["content"])["content"])
    return out


def sdkfileids(obj: object) -> Iterator[str]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "sdkfileid":
                yield value
            elif key == "content" and isinstance(value, str) and value.startswith("{"):
                yield from sdkfileids(json.loads(value))
            else:
                yield from sdkfileids(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from sdkfileids(value)


def pt(message: GeneratedMessage) -> dict[str, Any]:
    return message.plaintext


def event_time(event: SimEvent) -> int:
    return event.msgtime_ms if isinstance(event, GeneratedMessage) else event.time_ms


def msgtype(message: GeneratedMessage) -> str:
    return str(pt(message).get("msgtype", "switch"))


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def company() -> Company:
    return build_company(11)


@pytest.fixture(scope="module")
def events(company: Company) -> list[SimEvent]:
    return list(islice(ConversationGenerator(company, seed=42, start_ms=START_MS).events(), N_EVENTS))


@pytest.fixture(scope="module")
def messages(events: list[SimEvent]) -> list[GeneratedMessage]:
    return [e for e in events if isinstance(e, GeneratedMessage)]


# --- the company -----------------------------------------------------------------------------


def test_company_shape(company: Company) -> None:
    assert re.fullmatch(r"ww[0-9a-f]{16}", company.corp_id)
    depts = {d.id: d for d in company.departments}
    assert depts[1].parent_id is None and depts[1].name == company.name
    assert all(d.parent_id in depts for d in company.departments if d.id != 1)
    assert {"风控合规部", "客户服务部", "管理层"} <= {d.name for d in company.departments}
    userids = [e.userid for e in company.employees]
    assert len(userids) == len(set(userids)) == 40
    assert all(e.department_id in depts and e.department_id != 1 for e in company.employees)
    assert any(not e.archived for e in company.employees) and sum(e.archived for e in company.employees) > 30
    assert company.employee(userids[3]) == company.employees[3]
    with pytest.raises(KeyError):
        company.employee("nobody")

    ext_ids = [c.external_userid for c in company.customers]
    assert len(ext_ids) == len(set(ext_ids)) == 240
    assert all(re.fullmatch(r"w[mo][A-Za-z0-9_-]{30}", x) for x in ext_ids)
    assert {x[:2] for x in ext_ids} == {"wm", "wo"}
    assert {c.type for c in company.customers} == {1, 2}
    assert all(c.corp_name for c in company.customers if c.type == 2)
    assert all(re.search(r"[\u4e00-\u9fff]", e.name) for e in company.employees)

    followed = {c for _e, c in company.follows}
    assert followed == set(ext_ids)
    assert {e for e, _c in company.follows} <= set(userids)

    staff, customers = set(userids), set(ext_ids)
    assert len(company.groups) == 16
    assert len({g.name for g in company.groups}) == 16
    for group in company.groups:
        assert re.fullmatch(r"wr[A-Za-z0-9_-]{30}", group.roomid)
        assert group.owner in group.members and group.owner in staff
        assert len(set(group.members)) == len(group.members)
        if group.kind == "internal":
            assert set(group.members) <= staff
        else:
            assert 1 <= len(set(group.members) & staff) <= 3
            assert len(set(group.members) & customers) >= 2
            assert set(group.members) <= staff | customers
    assert {g.kind for g in company.groups} == {"internal", "customer"}
    assert company.robots and all(re.fullmatch(r"wb[A-Za-z0-9_-]{30}", r.robot_id) for r in company.robots)
    assert all(r.creator_userid in staff for r in company.robots)


def test_company_is_deterministic() -> None:
    assert build_company(5) == build_company(5)
    assert build_company(5) != build_company(6)
    small = build_company(3, employees=8, customers=20, groups=3)
    assert len(small.employees) == 8 and len(small.customers) == 20 and len(small.groups) == 3


# --- determinism -------------------------------------------------------------------------------


def _fingerprint(events: Iterator[SimEvent], n: int) -> list[object]:
    out: list[object] = []
    for event in islice(events, n):
        if isinstance(event, GeneratedMessage):
            out.append(
                (
                    event.msgid,
                    event.msgtime_ms,
                    json.dumps(pt(event), sort_keys=True),
                    sorted(event.labels),
                    [(b.sdkfileid, b.md5) for b in event.media],
                )
            )
        else:
            out.append(event)
    return out


def test_same_seed_same_stream_different_seed_different(company: Company) -> None:
    gen = ConversationGenerator(company, seed=42, start_ms=START_MS)
    first = _fingerprint(gen.events(), 5000)
    assert first == _fingerprint(gen.events(), 5000)  # events() replays
    assert first == _fingerprint(ConversationGenerator(company, seed=42, start_ms=START_MS).events(), 5000)
    other = _fingerprint(ConversationGenerator(company, seed=43, start_ms=START_MS).events(), 5000)
    assert other != first
    assert not {f[0] for f in first if isinstance(f, tuple)} & {f[0] for f in other if isinstance(f, tuple)}


# --- the stream ------------------------------------------------------------------------------------


def test_every_type_in_every_3000_message_window(messages: list[GeneratedMessage]) -> None:
    last: dict[str, int] = dict.fromkeys(MSG_TYPES, -1)
    worst: dict[str, int] = dict.fromkeys(MSG_TYPES, 0)
    for i, message in enumerate(messages):
        mtype = msgtype(message)
        worst[mtype] = max(worst[mtype], i - last[mtype])
        last[mtype] = i
    for mtype in MSG_TYPES:
        worst[mtype] = max(worst[mtype], len(messages) - last[mtype])
    assert {t: w for t, w in worst.items() if w > 3000} == {}
    counts = Counter(msgtype(m) for m in messages)
    assert counts["text"] / len(messages) > 0.5  # mostly text


def test_ids_unique_and_time_non_decreasing(events: list[SimEvent], messages: list[GeneratedMessage]) -> None:
    times = [event_time(e) for e in events]
    assert times == sorted(times)
    assert times[0] >= START_MS
    ids = [m.msgid for m in messages]
    assert len(set(ids)) == len(ids)
    for message in messages:
        assert message.plaintext["msgid"] == message.msgid
        if msgtype(message) == "switch":
            assert re.fullmatch(r"\d{21}", message.msgid)
        else:
            assert re.fullmatch(r"\d{20}_\d{10}", message.msgid)
            assert message.msgid.endswith(f"_{message.msgtime_ms // 1000}")
    blob_ids = [b.sdkfileid for m in messages for b in m.media]
    assert len(blob_ids) == len(set(blob_ids))
    assert all(len(b) >= 100 and re.fullmatch(r"[A-Za-z0-9+/]+=*", b) for b in blob_ids)


def test_rate_office_hours_and_conversation_shape(company: Company, messages: list[GeneratedMessage]) -> None:
    days = (messages[-1].msgtime_ms - messages[0].msgtime_ms) / 86_400_000
    assert 3.5 < days < 12  # ~3000 a day averaged over a week (weekdays are busier)
    in_hours = sum(working(m.msgtime_ms) for m in messages) / len(messages)
    assert 0.6 < in_hours < 0.9
    rooms = {g.roomid: g for g in company.groups}
    robots = {r.robot_id for r in company.robots}
    for message in messages:
        p = pt(message)
        if msgtype(message) == "switch":
            continue
        assert p["action"] == ("recall" if p["msgtype"] == "revoke" else "send")
        sender, tolist, roomid = p["from"], p["tolist"], p.get("roomid", "")
        assert isinstance(tolist, list) and sender not in tolist
        if sender in robots:
            assert p["msgtype"] in ("markdown", "news") and roomid in rooms
        elif p["msgtype"] in ("markdown", "news"):
            pytest.fail("markdown/news must come from robots")
        if roomid:
            assert set(tolist) == set(rooms[roomid].members) - {sender}
        elif p["msgtype"] not in ("meeting_voice_call", "voip_doc_share"):  # these carry no roomid at all
            assert len(tolist) == 1


def test_conversations_are_exchanges(messages: list[GeneratedMessage]) -> None:
    """Single chats come as runs of 2-15 messages a few seconds to minutes apart."""
    by_chat: dict[frozenset[str], list[int]] = {}
    for m in messages:
        p = pt(m)
        if p.get("roomid") == "" and p["msgtype"] not in ("meeting_voice_call", "voip_doc_share"):
            by_chat.setdefault(frozenset([p["from"], *p["tolist"]]), []).append(m.msgtime_ms)
    lengths = []
    for times in by_chat.values():
        run = 1
        for a, b in pairwise(times):
            if b - a > 30 * 60_000:
                lengths.append(run)
                run = 1
            else:
                run += 1
    assert lengths and sum(2 <= n <= 17 for n in lengths) / len(lengths) > 0.9


# --- JSON shapes and media -------------------------------------------------------------------------


def _check_media(body: dict[str, object], blobs: dict[str, bytes], size_key: str | None) -> bytes:
    data = blobs[str(body["sdkfileid"])]
    if "md5sum" in body:
        assert body["md5sum"] == hashlib.md5(data).hexdigest()
    if size_key:
        assert body[size_key] == len(data)
    return data


def _check_item_content(kind: str, content: dict[str, object], blobs: dict[str, bytes]) -> None:
    if kind in ("ChatRecordText", "text"):
        assert set(content) == {"content"}
    elif kind in ("ChatRecordImage", "image"):
        assert set(content) == {"md5sum", "filesize", "sdkfileid"}
        assert _check_media(content, blobs, "filesize")[:2] == b"\xff\xd8"
    elif kind in ("ChatRecordVoice",):
        _check_media(content, blobs, "voice_size")
    elif kind in ("ChatRecordFile",):
        _check_media(content, blobs, "filesize")
    elif kind in ("ChatRecordEmotion", "emotion"):
        _check_media(content, blobs, "imagesize")


def test_json_shapes_and_media(messages: list[GeneratedMessage]) -> None:
    seen: Counter[str] = Counter()
    for message in messages:
        p = pt(message)
        blobs = {b.sdkfileid: b.data for b in message.media}
        for blob in message.media:
            assert blob.md5 == hashlib.md5(blob.data).hexdigest()
        assert set(sdkfileids(p)) == set(blobs)
        # what the archive decodes: JSON text with big unsigned ints intact
        assert msgspec.json.decode(json.dumps(p, ensure_ascii=False).encode()) == p
        mtype = msgtype(message)
        seen[mtype] += 1
        if mtype == "switch":
            assert set(p) == {"msgid", "action", "time", "user"} and p["action"] == "switch"
            assert p["time"] == message.msgtime_ms
            continue
        assert p["msgtime"] == message.msgtime_ms
        key, fields = BODIES[mtype]
        if mtype == "vote":
            assert set(p) == ENVELOPE | set(fields)
            body = p
            assert p["votetype"] in (101, 102)
        elif mtype in ("meeting_voice_call", "voip_doc_share"):
            top = "voiceid" if mtype == "meeting_voice_call" else "voipid"
            assert set(p) == (ENVELOPE - {"roomid"}) | {top, mtype}
            assert re.fullmatch(r"gr[0-9a-f]{32}", str(p[top]))
            body = p[mtype]
        else:
            assert key is not None
            assert set(p) == ENVELOPE | {key}
            body = p[key]
        assert isinstance(body, dict)
        if mtype != "vote":
            status = {"status"} if mtype == "meeting" and body.get("meetingtype") == 102 else set()
            assert set(body) == set(fields) | status
        for name, typ in fields.items():
            assert isinstance(body[name], typ), (mtype, name, body[name])

        if mtype == "image":
            data = _check_media(body, blobs, "filesize")
            assert data[:2] == b"\xff\xd8"
        elif mtype == "voice":
            data = _check_media(body, blobs, "voice_size")
            frames = (len(data) - 6) // 32
            assert data[:6] == b"#!AMR\n" and (len(data) - 6) % 32 == 0
            assert all(data[6 + 32 * i] == 0x3C for i in range(frames))
            assert body["play_length"] == max(1, round(frames * 0.02))
        elif mtype == "video":
            data = _check_media(body, blobs, "filesize")
            assert data[4:12] == b"ftypisom" and b"mdat" in data[:64]
        elif mtype == "emotion":
            data = _check_media(body, blobs, "imagesize")
            with Image.open(io.BytesIO(data)) as img:
                assert img.format == ("GIF" if body["type"] == 1 else "PNG")
                assert img.size == (body["width"], body["height"])
        elif mtype == "file":
            data = _check_media(body, blobs, "filesize")
            assert str(body["filename"]).endswith("." + str(body["fileext"]))
            assert re.search(r"[\u4e00-\u9fff]", str(body["filename"]))
            magic = {"pdf": b"%PDF", "docx": b"PK", "xlsx": b"PK", "pptx": b"PK", "zip": b"PK"}.get(
                str(body["fileext"])
            )
            if magic:
                assert data.startswith(magic)
            else:
                data.decode("utf-8")
        elif mtype == "voip_doc_share":
            _check_media(body, blobs, "filesize")
        elif mtype == "meeting_voice_call":
            assert blobs[str(body["sdkfileid"])][:6] == b"#!AMR\n"
            assert body["endtime"] > message.msgtime_ms // 1000
        elif mtype == "meeting":
            assert body["meetingid"] > 2**32 and body["endtime"] > body["starttime"]
        elif mtype == "collect":
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", str(body["create_time"]))
            assert all(
                set(d) == {"id", "ques", "type"} and d["type"] in ("Text", "Number", "Date", "Time")
                for d in body["details"]
            )
        elif mtype in ("agree", "disagree"):
            assert body["userid"] == p["from"] and str(p["from"]).startswith(("wm", "wo"))
            assert body[f"{mtype}_time"] == message.msgtime_ms
        elif mtype == "news":
            assert all(set(i) == {"title", "description", "url", "picurl"} for i in body["item"])
        elif mtype == "mixed":
            items = body["item"]
            assert isinstance(items, list) and {i["type"] for i in items} >= {"text", "image"}
            for item in items:
                assert set(item) == {"type", "content"} and isinstance(item["content"], str)
                _check_item_content(item["type"], json.loads(item["content"]), blobs)
        elif mtype == "chatrecord":
            items = body["item"]
            assert isinstance(items, list) and len(items) >= 2
            for item in items:
                assert set(item) == {"type", "msgtime", "content", "from_chatroom"}
                assert item["type"] in CHATRECORD_TYPES and isinstance(item["from_chatroom"], bool)
                assert item["msgtime"] < message.msgtime_ms // 1000  # seconds, before the forward
                _check_item_content(item["type"], json.loads(item["content"]), blobs)
    assert set(seen) == set(MSG_TYPES)


def test_jpeg_opens_with_pillow(messages: list[GeneratedMessage]) -> None:
    images = [m for m in messages if msgtype(m) == "image"][:50]
    assert len(images) == 50
    md5s = set()
    for message in images:
        data = message.media[0].data
        assert data[:2] == b"\xff\xd8"
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "JPEG"
            img.load()
        md5s.add(message.media[0].md5)
    assert len(md5s) == 50  # each picture is unique


def test_large_file_within_30000_events(company: Company) -> None:
    sizes = []
    for event in islice(ConversationGenerator(company, seed=42, start_ms=START_MS).events(), 30_000):
        if isinstance(event, GeneratedMessage) and msgtype(event) == "file":
            sizes.append(pt(event)["file"]["filesize"])
    large = [s for s in sizes if s > MIB]
    assert large and all(1.2 * MIB <= s <= 2.6 * MIB for s in large)
    assert len(large) <= len(sizes) / 80  # rare: about one file in 200
    assert sorted(sizes)[len(sizes) // 2] < 50_000


# --- ground-truth labels -----------------------------------------------------------------------------


def test_label_vocabulary_and_mix(messages: list[GeneratedMessage]) -> None:
    counts: Counter[str] = Counter()
    texts = risky = 0
    for message in messages:
        assert message.labels <= LABEL_VOCABULARY, message.labels - LABEL_VOCABULARY
        assert f"type:{msgtype(message)}" in message.labels
        if msgtype(message) != "switch":
            assert ("after-hours" in message.labels) == (not working(message.msgtime_ms))
        counts.update(message.labels)
        if msgtype(message) == "text":
            texts += 1
            risky += any(
                lb.startswith(("sensitive:", "pii:")) or lb in ("angry", "complaint", "threat") for lb in message.labels
            )
    assert 0.08 < risky / texts < 0.18
    assert not {lb for lb in LABEL_VOCABULARY if not lb.startswith("type:")} - set(counts)


def test_idcard_and_bankcard_labels_match_checksums(messages: list[GeneratedMessage]) -> None:
    checked = Counter[str]()
    for message in messages:
        ids: list[str] = []
        cards: list[str] = []
        for text in texts_of(pt(message)):
            ids += ID_RE.findall(text)
            cards += [c.replace(" ", "") for c in BANK_RE.findall(text)]
        cards = [c for c in cards if 16 <= len(c) <= 19]
        assert ("pii:idcard-valid" in message.labels) == any(idcard_valid(i) for i in ids), pt(message)
        assert ("pii:idcard-invalid" in message.labels) == any(not idcard_valid(i) for i in ids), pt(message)
        assert ("pii:bankcard-valid" in message.labels) == any(luhn_valid(c) for c in cards), pt(message)
        assert ("pii:bankcard-invalid" in message.labels) == any(not luhn_valid(c) for c in cards), pt(message)
        checked.update(["id"] * len(ids) + ["card"] * len(cards))
    assert checked["id"] > 50 and checked["card"] > 50


def test_reference_checksums() -> None:
    assert idcard_valid("11010519491231002X") and not idcard_valid("110105194912310021")
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_sensitive_texts_carry_their_evasions(messages: list[GeneratedMessage]) -> None:
    for message in messages:
        text = "".join(texts_of(pt(message)))
        if "evasion:zerowidth" in message.labels:
            assert re.search("[\u200b\u200c\u200d\u2060]", text)
        if "evasion:fullwidth" in message.labels:
            assert re.search("[\uff01-\uff5e]", text)
        if "evasion:traditional" in message.labels:
            assert re.search("[飛單穩賺賠證風險點處轉賬]", text)
        if "pii:email" in message.labels:
            assert re.search(r"[\w.]+@[\w.]+\.\w+", text)
        if "sensitive:off_platform" in message.labels and "evasion:homophone" in message.labels:
            assert re.search(
                r"(?i)V信|薇信|威信|vx|wx|徽信|卫星|ＶＸ|ｖｘ|ＷＸ|Ｖ信|扣扣|企鹅号|球球|qq号|sb|傻X|煞笔|沙比", text
            )


def test_recalls(messages: list[GeneratedMessage]) -> None:
    by_id = {m.msgid: m for m in messages}
    revokes = [m for m in messages if msgtype(m) == "revoke"]
    assert len(revokes) > 50
    recalled_ids = set()
    for revoke in revokes:
        p = pt(revoke)
        assert p["action"] == "recall" and "recall" in revoke.labels
        pre = by_id[p["revoke"]["pre_msgid"]]
        q = pt(pre)
        assert q["from"] == p["from"] and q["roomid"] == p["roomid"] and q["tolist"] == p["tolist"]
        assert 0 < revoke.msgtime_ms - pre.msgtime_ms <= 120_000
        assert "recalled" in pre.labels
        recalled_ids.add(pre.msgid)
    end = messages[-1].msgtime_ms  # a recall of the window's last two minutes may come after it
    assert recalled_ids >= {m.msgid for m in messages if "recalled" in m.labels and m.msgtime_ms < end - 120_000}
    assert recalled_ids <= {m.msgid for m in messages if "recalled" in m.labels}


def test_behaviour_labels(company: Company, messages: list[GeneratedMessage]) -> None:
    staff = {e.userid for e in company.employees}
    for message in messages:
        p, labels, mtype = pt(message), message.labels, msgtype(message)
        if mtype == "switch":
            continue
        external = any(not str(x).startswith("wb") and x not in staff for x in p["tolist"])
        if mtype == "file":
            assert ("file-to-external" in labels) == (p["from"] in staff and external)
        if mtype == "card":
            assert ("card-to-customer" in labels) == (p["from"] in staff and external)
        assert ("redpacket" in labels) == (mtype in ("redpacket", "external_redpacket"))
        if labels & {"angry", "complaint", "threat"} and mtype == "text":
            assert p["from"] not in staff
        if "threat" in labels:
            assert re.search("举报|投诉|曝光|报警|律师|横幅|12378", p["text"]["content"])


def test_unanswered_customers(company: Company, messages: list[GeneratedMessage]) -> None:
    staff = {e.userid for e in company.employees}
    flagged = [i for i, m in enumerate(messages) if "unanswered" in m.labels]
    assert len(flagged) > 20
    end = messages[-1].msgtime_ms
    for i in flagged:
        m = messages[i]
        p = pt(m)
        assert p["roomid"] == "" and p["from"] not in staff and msgtype(m) == "text"
        emp = p["tolist"][0]
        deadline = after_working_minutes(m.msgtime_ms, 120)
        if deadline > end:
            continue
        for later in messages[i + 1 :]:
            if later.msgtime_ms > deadline:
                break
            q = pt(later)
            assert not (
                q.get("roomid") == ""
                and q["from"] in (emp, p["from"])
                and set(q["tolist"]) == {emp, p["from"]} - {q["from"]}
            ), (
                "the unanswered chat saw a reply",
                p,
                q,
            )


def test_contact_events(events: list[SimEvent]) -> None:
    contacts = [e for e in events if isinstance(e, ContactEvent)]
    assert {c.change_type for c in contacts} == {"del_external_contact", "del_follow_user"}
    deleted_at: dict[tuple[str, str], int] = {}
    for event in events:
        if isinstance(event, ContactEvent):
            assert event.external_userid.startswith(("wm", "wo"))
            deleted_at.setdefault((event.userid, event.external_userid), event.time_ms)
        else:
            p = pt(event)
            if p.get("roomid") == "" and p.get("msgtype") not in (None, "meeting_voice_call", "voip_doc_share"):
                pair = (p["from"], p["tolist"][0])
                for key in (pair, pair[::-1]):
                    assert key not in deleted_at, "a deleted customer kept chatting with that employee"


def test_messages_per_day_scales_the_clock(company: Company) -> None:
    def span(mpd: int) -> float:
        msgs = [
            e
            for e in islice(
                ConversationGenerator(company, seed=1, start_ms=START_MS, messages_per_day=mpd).events(), 3000
            )
            if isinstance(e, GeneratedMessage)
        ]
        return (msgs[-1].msgtime_ms - msgs[0].msgtime_ms) / 86_400_000

    assert span(300) > 5 * span(3000)


def test_generation_speed(company: Company) -> None:
    gen = ConversationGenerator(company, seed=7, start_ms=START_MS)
    t0 = time.perf_counter()
    for _ in islice(gen.events(), 20_000):
        pass
    # the budget is 100,000 events in under 15 s on one core
    assert time.perf_counter() - t0 < 15 * 20_000 / 100_000 * 1.5
