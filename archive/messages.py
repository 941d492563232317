"""Typed WeCom archive messages and the parser from decrypted plaintext (protocol spec §4).

The parser decodes the envelope first, then finds the body by ``msgtype`` using the
exception table (``docmsg`` → ``doc``, ``markdown``/``news`` → ``info`` …). A type it does
not know is kept raw and marked ``unknown_type``; a known type whose body does not fit
is kept raw and marked ``malformed_body``. Nothing that decrypted is ever dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec


class ParseError(Exception):
    """The plaintext is not a WeCom message at all (not JSON, or no msgid/action)."""


# --- bodies -----------------------------------------------------------------------------


class Body(msgspec.Struct, kw_only=True):
    """Base of every typed body; ``text()`` is what search and detection read."""

    def text(self) -> str:
        return ""

    def media(self) -> list[MediaRef]:
        return []


class MediaRef(msgspec.Struct, frozen=True, kw_only=True):
    """A downloadable attachment: what GetMediaData needs and how to check it."""

    sdkfileid: str
    md5sum: str = ""
    size: int = 0
    extension: str = ""


class TextBody(Body, kw_only=True):
    content: str = ""

    def text(self) -> str:
        return self.content


class ImageBody(Body, kw_only=True):
    md5sum: str = ""
    filesize: int = 0
    sdkfileid: str = ""

    def media(self) -> list[MediaRef]:
        return [MediaRef(sdkfileid=self.sdkfileid, md5sum=self.md5sum, size=self.filesize, extension="jpg")]


class RevokeBody(Body, kw_only=True):
    pre_msgid: str = ""


class AgreeBody(Body, kw_only=True):
    userid: str = ""
    agree_time: int = 0


class DisagreeBody(Body, kw_only=True):
    userid: str = ""
    disagree_time: int = 0


class VoiceBody(Body, kw_only=True):
    md5sum: str = ""
    voice_size: int = 0
    play_length: int = 0
    sdkfileid: str = ""

    def media(self) -> list[MediaRef]:
        return [MediaRef(sdkfileid=self.sdkfileid, md5sum=self.md5sum, size=self.voice_size, extension="amr")]


class VideoBody(Body, kw_only=True):
    md5sum: str = ""
    filesize: int = 0
    play_length: int = 0
    sdkfileid: str = ""

    def media(self) -> list[MediaRef]:
        return [MediaRef(sdkfileid=self.sdkfileid, md5sum=self.md5sum, size=self.filesize, extension="mp4")]


class CardBody(Body, kw_only=True):
    corpname: str = ""
    userid: str = ""

    def text(self) -> str:
        return self.corpname


class LocationBody(Body, kw_only=True):
    longitude: float = 0.0
    latitude: float = 0.0
    address: str = ""
    title: str = ""
    zoom: int = 0

    def text(self) -> str:
        return _join(self.title, self.address)


class EmotionBody(Body, kw_only=True):
    type: int = 0
    width: int = 0
    height: int = 0
    imagesize: int = 0
    md5sum: str = ""
    sdkfileid: str = ""

    def media(self) -> list[MediaRef]:
        extension = "gif" if self.type == 1 else "png"
        return [MediaRef(sdkfileid=self.sdkfileid, md5sum=self.md5sum, size=self.imagesize, extension=extension)]


class FileBody(Body, kw_only=True):
    md5sum: str = ""
    filename: str = ""
    fileext: str = ""
    filesize: int = 0
    sdkfileid: str = ""

    def text(self) -> str:
        return self.filename

    def media(self) -> list[MediaRef]:
        return [MediaRef(sdkfileid=self.sdkfileid, md5sum=self.md5sum, size=self.filesize, extension=self.fileext)]


class LinkBody(Body, kw_only=True):
    title: str = ""
    description: str = ""
    link_url: str = ""
    image_url: str = ""

    def text(self) -> str:
        return _join(self.title, self.description, self.link_url)


class WeappBody(Body, kw_only=True):
    title: str = ""
    description: str = ""
    username: str = ""
    displayname: str = ""

    def text(self) -> str:
        return _join(self.title, self.description, self.displayname)


class ChatRecordItem(msgspec.Struct, kw_only=True):
    type: str = ""
    # Seconds in the official example, milliseconds elsewhere (UNCERTAIN): kept as given.
    msgtime: int = 0
    # The inner body, decoded from the JSON string WeCom sends; raw if it did not decode.
    content: dict[str, Any] | str = ""
    from_chatroom: bool = False


class ChatRecordBody(Body, kw_only=True):
    title: str = ""
    item: list[ChatRecordItem] = msgspec.field(default_factory=list)

    def text(self) -> str:
        parts = [self.title]
        for item in self.item:
            inner = _inner_body(item.type.removeprefix("ChatRecord").lower(), item.content)
            if inner is not None:
                parts.append(inner.text())
        return _join(*parts)

    def media(self) -> list[MediaRef]:
        refs: list[MediaRef] = []
        for item in self.item:
            inner = _inner_body(item.type.removeprefix("ChatRecord").lower(), item.content)
            if inner is not None:
                refs.extend(inner.media())
        return refs


class TodoBody(Body, kw_only=True):
    title: str = ""
    content: str = ""

    def text(self) -> str:
        return _join(self.title, self.content)


class VoteBody(Body, kw_only=True):
    votetitle: str = ""
    voteitem: list[str] = msgspec.field(default_factory=list)
    votetype: int = 0
    voteid: str = ""

    def text(self) -> str:
        return _join(self.votetitle, *self.voteitem)


class CollectDetail(msgspec.Struct, kw_only=True):
    id: str = ""  # uint64 in WeCom's JSON: kept as a string
    ques: str = ""
    type: str = ""


class CollectBody(Body, kw_only=True):
    room_name: str = ""
    creator: str = ""
    create_time: str = ""
    title: str = ""
    details: list[CollectDetail] = msgspec.field(default_factory=list)

    def text(self) -> str:
        return _join(self.title, *(detail.ques for detail in self.details))


class RedpacketBody(Body, kw_only=True):
    type: int = 0
    wish: str = ""
    totalcnt: int = 0
    totalamount: int = 0  # fen (1/100 CNY)

    def text(self) -> str:
        return self.wish


class MeetingBody(Body, kw_only=True):
    topic: str = ""
    starttime: int = 0
    endtime: int = 0
    address: str = ""
    remarks: str = ""
    meetingtype: int = 0
    meetingid: str = ""  # uint64: kept as a string
    status: int = 0

    def text(self) -> str:
        return _join(self.topic, self.address, self.remarks)


class DocBody(Body, kw_only=True):
    title: str = ""
    doc_creator: str = ""
    link_url: str = ""

    def text(self) -> str:
        return self.title


class MarkdownBody(Body, kw_only=True):
    content: str = ""

    def text(self) -> str:
        return self.content


class NewsItem(msgspec.Struct, kw_only=True):
    title: str = ""
    description: str = ""
    url: str = ""
    picurl: str = ""


class NewsBody(Body, kw_only=True):
    item: list[NewsItem] = msgspec.field(default_factory=list)

    def text(self) -> str:
        return _join(*(part for item in self.item for part in (item.title, item.description)))


class CalendarBody(Body, kw_only=True):
    title: str = ""
    creatorname: str = ""
    attendeename: list[str] = msgspec.field(default_factory=list)
    starttime: int = 0
    endtime: int = 0
    place: str = ""
    remarks: str = ""

    def text(self) -> str:
        return _join(self.title, self.place, self.remarks)


class MixedItem(msgspec.Struct, kw_only=True):
    type: str = ""
    content: dict[str, Any] | str = ""


class MixedBody(Body, kw_only=True):
    item: list[MixedItem] = msgspec.field(default_factory=list)

    def text(self) -> str:
        inners = (_inner_body(item.type, item.content) for item in self.item)
        return _join(*(inner.text() for inner in inners if inner is not None))

    def media(self) -> list[MediaRef]:
        refs: list[MediaRef] = []
        for item in self.item:
            inner = _inner_body(item.type, item.content)
            if inner is not None:
                refs.extend(inner.media())
        return refs


class DemoFile(msgspec.Struct, kw_only=True):
    filename: str = ""
    demooperator: str = ""
    starttime: int = 0
    endtime: int = 0


class ShareScreen(msgspec.Struct, kw_only=True):
    share: str = ""
    starttime: int = 0
    endtime: int = 0


class MeetingVoiceCallBody(Body, kw_only=True):
    voiceid: str = ""  # top level in WeCom's JSON, folded in here
    endtime: int = 0
    sdkfileid: str = ""
    demofiledata: list[DemoFile] = msgspec.field(default_factory=list)
    sharescreendata: list[ShareScreen] = msgspec.field(default_factory=list)

    def media(self) -> list[MediaRef]:
        # The recording's container is undocumented (UNCERTAIN): sniff it after download.
        return [MediaRef(sdkfileid=self.sdkfileid)] if self.sdkfileid else []


class VoipDocShareBody(Body, kw_only=True):
    voipid: str = ""  # top level in WeCom's JSON, folded in here
    filename: str = ""
    md5sum: str = ""
    filesize: int = 0
    sdkfileid: str = ""

    def text(self) -> str:
        return self.filename

    def media(self) -> list[MediaRef]:
        extension = self.filename.rsplit(".", 1)[-1] if "." in self.filename else ""
        return [MediaRef(sdkfileid=self.sdkfileid, md5sum=self.md5sum, size=self.filesize, extension=extension)]


class SphfeedBody(Body, kw_only=True):
    feed_type: int = 0
    sph_name: str = ""
    feed_desc: str = ""

    def text(self) -> str:
        return _join(self.sph_name, self.feed_desc)


class VoipTextBody(Body, kw_only=True):
    callduration: int = 0
    invitetype: int = 0


class QyDiskFileBody(Body, kw_only=True):
    filename: str = ""

    def text(self) -> str:
        return self.filename


class SwitchBody(Body, kw_only=True):
    """A member switched the client to another enterprise (``action == "switch"``)."""

    user: str = ""


class RawBody(Body, kw_only=True):
    """The body of a type the parser does not know (or that did not fit its type)."""

    data: Any = None


@dataclass(frozen=True)
class BodySpec:
    key: str  # where the body sits in the envelope
    type: type[Body]


# msgtype → body. Exceptions to "the body key equals msgtype" are from spec §4.1; the
# voiptext/qydiskfile keys and the vote shape are UNCERTAIN there, so both forms are read.
BODY_SPECS: Final[dict[str, BodySpec]] = {
    "text": BodySpec("text", TextBody),
    "image": BodySpec("image", ImageBody),
    "revoke": BodySpec("revoke", RevokeBody),
    "agree": BodySpec("agree", AgreeBody),
    "disagree": BodySpec("disagree", DisagreeBody),
    "voice": BodySpec("voice", VoiceBody),
    "video": BodySpec("video", VideoBody),
    "card": BodySpec("card", CardBody),
    "location": BodySpec("location", LocationBody),
    "emotion": BodySpec("emotion", EmotionBody),
    "file": BodySpec("file", FileBody),
    "link": BodySpec("link", LinkBody),
    "weapp": BodySpec("weapp", WeappBody),
    "chatrecord": BodySpec("chatrecord", ChatRecordBody),
    "todo": BodySpec("todo", TodoBody),
    "vote": BodySpec("vote", VoteBody),
    "collect": BodySpec("collect", CollectBody),
    "redpacket": BodySpec("redpacket", RedpacketBody),
    "external_redpacket": BodySpec("redpacket", RedpacketBody),
    "meeting": BodySpec("meeting", MeetingBody),
    "docmsg": BodySpec("doc", DocBody),
    "markdown": BodySpec("info", MarkdownBody),
    "news": BodySpec("info", NewsBody),
    "calendar": BodySpec("calendar", CalendarBody),
    "mixed": BodySpec("mixed", MixedBody),
    "meeting_voice_call": BodySpec("meeting_voice_call", MeetingVoiceCallBody),
    "voip_doc_share": BodySpec("voip_doc_share", VoipDocShareBody),
    "sphfeed": BodySpec("sphfeed", SphfeedBody),
    "voiptext": BodySpec("info", VoipTextBody),
    "qydiskfile": BodySpec("info", QyDiskFileBody),
}

# Fields holding uint64 ids that can overflow a signed 64-bit integer or a double.
_BIG_ID_FIELDS: Final = {"meetingid", "id", "voteid"}


# --- the parsed message -----------------------------------------------------------------


@dataclass(frozen=True)
class ParsedMessage:
    msgid: str
    action: str
    msgtype: str
    sender: str
    tolist: tuple[str, ...]
    roomid: str
    msgtime: datetime
    body: Body
    parse_status: str  # ok | unknown_type | malformed_body

    @property
    def text(self) -> str:
        return self.body.text()

    @property
    def media(self) -> list[MediaRef]:
        return [ref for ref in self.body.media() if ref.sdkfileid]

    @property
    def recalls_msgid(self) -> str | None:
        return self.body.pre_msgid or None if isinstance(self.body, RevokeBody) else None

    def body_document(self) -> dict[str, Any]:
        """The typed body as plain JSON data, tagged with its type."""
        data = msgspec.to_builtins(self.body)
        return {"kind": type(self.body).__name__, **(data if isinstance(data, dict) else {"data": data})}


_CONTROL_CHARS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_JSON_DECODER = msgspec.json.Decoder()


def decode_plaintext(plaintext: bytes) -> dict[str, Any]:
    """JSON-decode a decrypted message, tolerating what WeCom is known to send.

    Raw control characters inside strings (spec §3.4) are escaped rather than deleted, so
    the content is kept; integers beyond 64 bits fall back to Python's exact decoder.
    """
    for candidate in (plaintext, _CONTROL_CHARS.sub(_escape_control, plaintext)):
        try:
            document = _JSON_DECODER.decode(candidate)
        except msgspec.DecodeError:
            try:
                document = json.loads(candidate)
            except (ValueError, UnicodeDecodeError):
                continue
        if isinstance(document, dict):
            return document
        raise ParseError("plaintext is JSON but not an object")
    raise ParseError("plaintext is not valid JSON")


def _escape_control(match: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % match.group()[0]


def parse_message(plaintext: bytes) -> ParsedMessage:
    document = decode_plaintext(plaintext)
    msgid = document.get("msgid")
    action = document.get("action")
    if not isinstance(msgid, str) or not msgid or not isinstance(action, str):
        raise ParseError("plaintext has no msgid or action")

    if action == "switch":  # a different envelope: no msgtype, from, tolist, roomid, msgtime
        return ParsedMessage(
            msgid=msgid,
            action=action,
            msgtype="switch",
            sender=str(document.get("user", "")),
            tolist=(),
            roomid="",
            msgtime=_from_millis(document.get("time")),
            body=SwitchBody(user=str(document.get("user", ""))),
            parse_status="ok",
        )

    msgtype = str(document.get("msgtype", ""))
    body, status = _parse_body(msgtype, document)
    tolist = document.get("tolist") or []
    return ParsedMessage(
        msgid=msgid,
        action=action,
        msgtype=msgtype,
        sender=str(document.get("from", "")),
        tolist=tuple(str(item) for item in tolist) if isinstance(tolist, list) else (),
        roomid=str(document.get("roomid") or ""),
        msgtime=_from_millis(document.get("msgtime")),
        body=body,
        parse_status=status,
    )


def _parse_body(msgtype: str, document: dict[str, Any]) -> tuple[Body, str]:
    spec = BODY_SPECS.get(msgtype)
    if spec is None:
        return RawBody(data=document.get(msgtype)), "unknown_type"
    raw = document.get(spec.key)
    if msgtype == "vote" and raw is None:  # the official example puts vote fields at top level
        raw = {k: document[k] for k in ("votetitle", "voteitem", "votetype", "voteid") if k in document}
    if msgtype == "meeting_voice_call" and isinstance(raw, dict):
        raw = {**raw, "voiceid": document.get("voiceid", "")}
    if msgtype == "voip_doc_share" and isinstance(raw, dict):
        raw = {**raw, "voipid": document.get("voipid", "")}
    if not isinstance(raw, dict):
        return RawBody(data=raw), "malformed_body"
    try:
        prepared = _prepare(raw, items_with_json_content=msgtype in ("mixed", "chatrecord"))
        return msgspec.convert(prepared, spec.type, strict=False), "ok"
    except msgspec.ValidationError:
        return RawBody(data=raw), "malformed_body"


def _prepare(value: Any, *, items_with_json_content: bool = False) -> Any:
    """Big ids to strings; for mixed/chatrecord, each item's JSON-string content to an object."""
    if isinstance(value, dict):
        prepared: dict[str, Any] = {}
        for key, item in value.items():
            if key in _BIG_ID_FIELDS and isinstance(item, int):
                prepared[key] = str(item)
            elif key == "item" and items_with_json_content and isinstance(item, list):
                prepared[key] = [_decode_item_content(entry) for entry in item]
            else:
                prepared[key] = _prepare(item)
        return prepared
    if isinstance(value, list):
        return [_prepare(item) for item in value]
    return value


def _decode_item_content(entry: Any) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
        return entry
    try:
        inner = json.loads(entry["content"])
    except ValueError:
        return entry  # kept as the raw string
    return {**entry, "content": _prepare(inner)} if isinstance(inner, dict) else entry


def _inner_body(msgtype: str, content: dict[str, Any] | str) -> Body | None:
    """The typed body of an item inside mixed/chatrecord, or None if it cannot be read."""
    spec = BODY_SPECS.get(msgtype)
    if spec is None or not isinstance(content, dict):
        return None
    try:
        return msgspec.convert(content, spec.type, strict=False)
    except msgspec.ValidationError:
        return None


def _from_millis(value: Any) -> datetime:
    millis = int(value) if isinstance(value, int | float) else 0
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def _join(*parts: str) -> str:
    return "\n".join(part for part in parts if part)


def is_external_id(wecom_id: str) -> bool:
    """External contacts are ``wm…``/``wo…``; robots ``wb…`` are not customers."""
    return wecom_id.startswith(("wm", "wo"))
