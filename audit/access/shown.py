"""What a conversation view shows of each message the gate has just read.

``audit.access.reads`` reads the messages (scope check and one access-log row listing
their ids); ``annotate`` adds, in the same transaction and for exactly those ids, what a
page needs to render them: parsed bodies, attachments, detection hits (with their
explanation) and which messages were recalled. Nothing here widens what was read: the
one extra read (a withdrawn message shown beside its recall notice) is logged as a read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from archive.media.models import MediaTask
from archive.models import Message
from audit.access.gate import AccessGate
from audit.access.reads import MessageView, message_views
from audit.detect.models import MessageHit
from audit.text.fold import fold


@dataclass(frozen=True)
class Attachment:
    task_id: int
    status: str
    extension: str
    content_type: str | None
    size: int
    sdkfileid: str


@dataclass(frozen=True)
class HitView:
    rule: str
    category: str
    severity: str
    detail: str
    detector: str
    span: tuple[int, int] | None


@dataclass
class ShownMessage:
    view: MessageView
    body: dict[str, Any]
    attachments: list[Attachment] = field(default_factory=list)
    hits: list[HitView] = field(default_factory=list)
    recalled: bool = False  # a later "revoke" message withdrew this one
    recalls: MessageView | None = None  # for a "revoke" message: the message it withdrew
    segments: list[tuple[str, str | None]] = field(default_factory=list)  # (text, None | "hit" | "match")

    def attachment(self, sdkfileid: str | None = None) -> Attachment | None:
        for item in self.attachments:
            if sdkfileid is None or item.sdkfileid == sdkfileid:
                return item
        return None


def _spans(text: str, words: Iterable[str]) -> list[tuple[int, int]]:
    """Where the folded ``words`` occur in ``text``, as offsets into the original text."""
    folded = fold(text)
    spans = []
    for word in words:
        start = folded.text.find(word)
        while start >= 0:
            spans.append(folded.to_original(start, start + len(word)))
            start = folded.text.find(word, start + 1)
    return spans


def segments(
    text: str, hit_spans: list[tuple[int, int]], match_spans: list[tuple[int, int]]
) -> list[tuple[str, str | None]]:
    """The text cut into pieces marked "hit" (a rule matched), "match" (the search) or None."""
    marks: list[str | None] = [None] * len(text)
    for kind, spans in (("match", match_spans), ("hit", hit_spans)):
        for start, end in spans:
            for index in range(max(0, start), min(len(text), end)):
                marks[index] = kind
    pieces: list[tuple[str, str | None]] = []
    for char, mark in zip(text, marks, strict=True):
        if pieces and pieces[-1][1] == mark:
            pieces[-1] = (pieces[-1][0] + char, mark)
        else:
            pieces.append((char, mark))
    return pieces


def _attachments(gate: AccessGate, ids: list[int]) -> dict[int, list[Attachment]]:
    attachments: dict[int, list[Attachment]] = defaultdict(list)
    tasks = gate.session.execute(select(MediaTask).where(MediaTask.message_id.in_(ids)).order_by(MediaTask.id))
    for task in tasks.scalars():
        attachments[task.message_id].append(
            Attachment(
                task.id,
                task.status,
                task.extension,
                task.content_type,
                task.stored_size or task.expected_size,
                task.sdkfileid,
            )
        )
    return attachments


def _hits(gate: AccessGate, ids: list[int]) -> dict[int, list[HitView]]:
    hits: dict[int, list[HitView]] = defaultdict(list)
    rows = gate.session.execute(select(MessageHit).where(MessageHit.message_id.in_(ids)).order_by(MessageHit.id))
    for hit in rows.scalars():
        span = (hit.start, hit.end) if hit.start is not None and hit.end is not None else None
        hits[hit.message_id].append(HitView(hit.rule, hit.category, hit.severity, hit.detail, hit.detector, span))
    return hits


def _withdrawn_originals(gate: AccessGate, views: list[MessageView], withdrawn: set[str]) -> dict[str, MessageView]:
    """The messages the "revoke" messages withdrew, by msgid: from this page, or read (and
    logged) from the same conversation."""
    originals = {view.msgid: view for view in views}
    missing = withdrawn - set(originals)
    conversation_id = views[0].conversation_id
    if missing and conversation_id is not None:
        rows = list(
            gate.session.execute(
                select(Message).where(Message.msgid.in_(missing), Message.conversation_id == conversation_id)
            )
            .scalars()
            .all()
        )
        originals.update((view.msgid, view) for view in message_views(gate.session, rows))
        if rows:  # withdrawn messages shown beside their recall notice are reads too
            gate.record(
                "content.message",
                {"conversation_id": conversation_id, "recalled_message_ids": [row.id for row in rows]},
                len(rows),
            )
    return originals


def annotate(gate: AccessGate, views: list[MessageView], words: list[str]) -> list[ShownMessage]:
    """Bodies, attachments, hits and recall marks for messages the gate has just read, with
    their text cut into segments marking rule hits and the folded search ``words``."""
    ids = [view.id for view in views]
    if not ids:
        return []
    bodies: dict[int, dict[str, Any]] = {
        message_id: body
        for message_id, body in gate.session.execute(select(Message.id, Message.body).where(Message.id.in_(ids)))
    }
    attachments, hits = _attachments(gate, ids), _hits(gate, ids)
    # Recalls: "revoke" messages name the withdrawn message by msgid, in this conversation.
    withdrawn = {
        str(body.get("pre_msgid"))
        for view in views
        if view.msgtype == "revoke" and isinstance(body := bodies.get(view.id), dict) and body.get("pre_msgid")
    }
    originals = _withdrawn_originals(gate, views, withdrawn)
    shown = []
    for view in views:
        body = bodies.get(view.id) or {}
        message_hits = hits.get(view.id, [])
        message = ShownMessage(view, dict(body), attachments.get(view.id, []), message_hits, view.msgid in withdrawn)
        if view.msgtype == "revoke":
            message.recalls = originals.get(str(body.get("pre_msgid", "")))
        if view.text:
            message.segments = segments(
                view.text, [hit.span for hit in message_hits if hit.span is not None], _spans(view.text, words)
            )
        shown.append(message)
    return shown
