"""The content reads every front end makes (JSON API, console, CLI), each one use case
through the one door (:func:`audit.access.gate.through_gate`): the read and its log row in
one transaction, a refusal for scope logged in a transaction of its own.

Each read returns frozen values with the display names of the people and rooms it shows
(``archive.directory.names``, resolved in the same transaction: the conversation's members
name its customers by their remarks). Front ends only convert and render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from archive.consent.service import ConsentRecord
from archive.consent.service import for_conversation as consent_for_conversation
from archive.directory.names import Names, display_names, kind_of
from archive.models import Conversation
from audit.access import reads
from audit.access.gate import AccessGate, through_gate
from audit.access.shown import ShownMessage, annotate
from audit.security.principal import Principal

T = TypeVar("T")


@dataclass(frozen=True)
class Named(Generic[T]):
    """What a read returned, with the names of everyone it shows."""

    value: T
    names: Names


@dataclass(frozen=True)
class ConversationView:
    """A conversation as the console shows it: the messages annotated (bodies,
    attachments, hits, recalls, search marks), the names, and the customer's consent
    (None for a conversation without external contacts)."""

    info: reads.ConversationSummary
    messages: list[ShownMessage]
    names: Names
    consent: list[ConsentRecord] | None


def names_in(
    gate: AccessGate,
    conversations: Iterable[reads.ConversationSummary] = (),
    messages: Iterable[reads.MessageView] = (),
    extra: Iterable[str] = (),
) -> Names:
    """The names of everyone these conversations and messages show (one resolver call);
    the members among them name the customers by their remarks."""
    ids = {p for c in conversations for p in (c.roomid, *c.participants) if p}
    ids |= {m.sender for m in messages} | {i for i in extra if i}
    return display_names(gate.session, None, ids, followers=[i for i in ids if kind_of(i) == "member"])


@dataclass(frozen=True)
class ContentReader:
    """One caller's reads of chat content: who (``principal``), why (``purpose``; None
    uses the one remembered for their session) and the database to read."""

    session_factory: sessionmaker[Session]
    principal: Principal
    purpose: str | None

    def through(self, action: str, target: dict[str, Any], read: Callable[[AccessGate], T]) -> T:
        """Any other read behind the gate (a refusal is logged as ``action`` on ``target``)."""
        return through_gate(self.session_factory, self.principal, self.purpose, action, target, read)

    def conversations(self, *, before_id: int | None, limit: int) -> Named[list[reads.ConversationSummary]]:
        """Conversations in scope, newest first."""

        def read(gate: AccessGate) -> Named[list[reads.ConversationSummary]]:
            items = reads.list_conversations(gate, before_id=before_id, limit=limit)
            return Named(items, names_in(gate, conversations=items))

        return self.through("content.conversations", {"before_id": before_id}, read)

    def conversation_messages(
        self, conversation_id: int, *, after: tuple[datetime, int] | None, limit: int
    ) -> Named[list[reads.MessageView]]:
        """One page of a conversation in time order."""

        def read(gate: AccessGate) -> Named[list[reads.MessageView]]:
            items = reads.conversation_messages(gate, conversation_id, after=after, limit=limit)
            return Named(items, names_in(gate, messages=items))

        return self.through("content.conversation", {"conversation_id": conversation_id}, read)

    def message(self, message_id: int) -> Named[reads.MessageDetail]:
        """One message with its parsed body and attachments."""

        def read(gate: AccessGate) -> Named[reads.MessageDetail]:
            detail = reads.message_detail(gate, message_id)
            return Named(detail, names_in(gate, messages=[detail.message]))

        return self.through("content.message", {"message_id": message_id}, read)

    def context(self, message_id: int, *, before: int, after: int) -> Named[reads.ConversationContext]:
        """The conversation around one message."""

        def read(gate: AccessGate) -> Named[reads.ConversationContext]:
            found = reads.conversation_context(gate, message_id, before=before, after=after)
            return Named(found, names_in(gate, conversations=[found.conversation], messages=found.messages))

        return self.through("content.conversation", {"anchor_message_id": message_id}, read)

    def media(self, message_id: int, task_id: int) -> reads.MediaBlob:
        """Where a downloaded attachment lives in the blob store (the caller streams it)."""
        return self.through(
            "content.media",
            {"message_id": message_id, "task_id": task_id},
            lambda gate: reads.media_blob(gate, message_id, task_id),
        )

    def conversation_view(
        self,
        conversation_id: int,
        *,
        anchor: int | None,
        after: tuple[datetime, int] | None,
        page: int,
        around: int,
        words: list[str],
    ) -> ConversationView:
        """The console's conversation view: ``around`` messages either side of ``anchor``
        (whatever conversation it belongs to: the caller compares ``info.id``), else a
        ``page`` of messages after ``after``; annotated, named, with the consent records."""

        def read(gate: AccessGate) -> ConversationView:
            if anchor is not None:
                found = reads.conversation_context(gate, anchor, before=around, after=around)
                info, views = found.conversation, found.messages
            else:
                info = reads.conversation_summary(gate, conversation_id)
                views = reads.conversation_messages(gate, conversation_id, after=after, limit=page)
            shown = annotate(gate, views, words)
            cards = [str(m.body.get("userid", "")) for m in shown if m.view.msgtype == "card"]
            names = names_in(gate, conversations=[info], messages=views, extra=cards)
            return ConversationView(info, shown, names, _consent(gate, info) if info.has_external else None)

        if anchor is not None:
            return self.through("content.conversation", {"anchor_message_id": anchor}, read)
        return self.through("content.conversation", {"conversation_id": conversation_id}, read)


def _consent(gate: AccessGate, info: reads.ConversationSummary) -> list[ConsentRecord]:
    """The consent records of a conversation the gate has just let the caller read (they
    belong to it: same scope, and the read is logged)."""
    conversation = gate.session.get(Conversation, info.id)
    return [] if conversation is None else consent_for_conversation(gate.session, conversation)
