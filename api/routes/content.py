"""Chat content: conversations, messages, context, media and search — all through the
access gate (``audit.access.gate``), which checks scope and writes the access log."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from api.auth.guards import context_of, principal_of, purpose_of, requires
from api.disposition import content_disposition
from api.pagination import PathId, decode_cursor, encode_cursor, page_size
from api.schemas import (
    ConversationContextOut,
    ConversationOut,
    ConversationPage,
    MediaLink,
    MessageDetailOut,
    MessageOut,
    MessagePage,
    NameOut,
)
from archive.clock import utcnow
from archive.directory.names import Names, display_names, kind_of
from audit.access import reads
from audit.access.gate import AccessGate, record_denied
from audit.security.errors import OutOfScope
from audit.security.roles import Permission
from config.database import session_scope

T = TypeVar("T")
CONTEXT_DEFAULT_MESSAGES = 20
READ = [requires(Permission.CONTENT_READ)]
MEDIA_CHUNK_BYTES = 256 * 1024


def through_gate(
    request: Request[Any, Any, Any], action: str, target: dict[str, Any], read: Callable[[AccessGate], T]
) -> T:
    """Run one content read in one transaction behind the gate; a refusal for scope is
    itself logged (in a transaction of its own: the read's rolls back)."""
    context, principal, purpose = context_of(request), principal_of(request), purpose_of(request)
    now = utcnow()
    try:
        with session_scope(context.session_factory) as session:
            return read(AccessGate.open(session, principal, purpose=purpose, now=now))
    except OutOfScope:
        with session_scope(context.session_factory) as session:
            record_denied(session, principal, action, target, purpose, now)
        raise


def conversation_out(summary: reads.ConversationSummary, names: Names) -> ConversationOut:
    return ConversationOut(
        **summary.__dict__,
        room_name=names.label(summary.roomid) if summary.roomid else None,
        participant_names=[NameOut.of(names.of(p)) for p in summary.participants],
    )


def message_out(view: reads.MessageView, names: Names) -> MessageOut:
    sender = names.of(view.sender)
    return MessageOut(**view.__dict__, sender_name=sender.label, sender_synced=sender.synced)


def names_in(
    gate: AccessGate,
    conversations: Iterable[reads.ConversationSummary] = (),
    messages: Iterable[reads.MessageView] = (),
) -> Names:
    """The names of everyone these conversations and messages show (one resolver call);
    the members among them name the customers by their remarks."""
    ids = {p for c in conversations for p in (c.roomid, *c.participants) if p} | {m.sender for m in messages}
    return display_names(gate.session, None, ids, followers=[i for i in ids if kind_of(i) == "member"])


@get("/api/v1/conversations", guards=READ, sync_to_thread=True)
def list_conversations(
    request: Request[Any, Any, Any],
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
) -> ConversationPage:
    """Conversations in your scope, newest first. Needs a purpose (X-Access-Purpose)."""
    size = page_size(limit)
    key = decode_cursor(cursor, int)
    before_id = key[0] if key else None

    def read(gate: AccessGate) -> tuple[list[reads.ConversationSummary], Names]:
        items = reads.list_conversations(gate, before_id=before_id, limit=size)
        return items, names_in(gate, conversations=items)

    items, names = through_gate(request, "content.conversations", {"before_id": before_id}, read)
    next_cursor = encode_cursor(items[-1].id) if len(items) == size else None
    return ConversationPage([conversation_out(item, names) for item in items], next_cursor)


@get("/api/v1/conversations/{conversation_id:int}/messages", guards=READ, sync_to_thread=True)
def conversation_messages(
    request: Request[Any, Any, Any],
    conversation_id: PathId,
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
) -> MessagePage:
    """A conversation in time order, one page at a time."""
    size = page_size(limit)
    key = decode_cursor(cursor, datetime, int)
    after = (key[0], key[1]) if key else None

    def read(gate: AccessGate) -> tuple[list[reads.MessageView], Names]:
        items = reads.conversation_messages(gate, conversation_id, after=after, limit=size)
        return items, names_in(gate, messages=items)

    items, names = through_gate(request, "content.conversation", {"conversation_id": conversation_id}, read)
    next_cursor = encode_cursor(items[-1].msgtime, items[-1].id) if len(items) == size else None
    return MessagePage([message_out(item, names) for item in items], next_cursor)


@get("/api/v1/messages/{message_id:int}", guards=READ, sync_to_thread=True)
def message_detail(request: Request[Any, Any, Any], message_id: PathId) -> MessageDetailOut:
    """One message with its parsed body and links to its downloaded attachments."""

    def read(gate: AccessGate) -> tuple[reads.MessageDetail, Names]:
        detail = reads.message_detail(gate, message_id)
        return detail, names_in(gate, messages=[detail.message])

    detail, names = through_gate(request, "content.message", {"message_id": message_id}, read)
    media = [
        MediaLink(
            item.task_id,
            item.status,
            item.extension,
            item.expected_size,
            item.content_type,
            f"/api/v1/messages/{message_id}/media/{item.task_id}" if item.status == "done" else None,
        )
        for item in detail.media
    ]
    return MessageDetailOut(message_out(detail.message, names), detail.body, media)


@get("/api/v1/messages/{message_id:int}/context", guards=READ, sync_to_thread=True)
def message_context(
    request: Request[Any, Any, Any],
    message_id: PathId,
    before: Annotated[int, QueryParameter(ge=0, le=reads.CONTEXT_MAX_MESSAGES)] = CONTEXT_DEFAULT_MESSAGES,
    after: Annotated[int, QueryParameter(ge=0, le=reads.CONTEXT_MAX_MESSAGES)] = CONTEXT_DEFAULT_MESSAGES,
) -> ConversationContextOut:
    """The conversation around one message (e.g. a search hit or an alert)."""

    def read(gate: AccessGate) -> tuple[reads.ConversationContext, Names]:
        found = reads.conversation_context(gate, message_id, before=before, after=after)
        return found, names_in(gate, conversations=[found.conversation], messages=found.messages)

    found, names = through_gate(request, "content.conversation", {"anchor_message_id": message_id}, read)
    return ConversationContextOut(
        conversation_out(found.conversation, names),
        found.anchor_message_id,
        [message_out(m, names) for m in found.messages],
    )


@get(
    "/api/v1/messages/{message_id:int}/media/{task_id:int}",
    guards=READ,
    sync_to_thread=True,
    media_type="application/octet-stream",
)
def message_media(request: Request[Any, Any, Any], message_id: PathId, task_id: PathId) -> Stream:
    """A downloaded attachment (the bytes, as stored)."""
    blob = through_gate(
        request,
        "content.media",
        {"message_id": message_id, "task_id": task_id},
        lambda gate: reads.media_blob(gate, message_id, task_id),
    )
    store = context_of(request).blob_store

    def chunks() -> Iterator[bytes]:
        with store.open(blob.sha256) as stream:
            while chunk := stream.read(MEDIA_CHUNK_BYTES):
                yield chunk

    return Stream(
        chunks(),
        media_type=blob.content_type,
        headers={"Content-Disposition": content_disposition(f"{message_id}-{task_id}", blob.extension)},
    )
