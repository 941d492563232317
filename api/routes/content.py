"""Chat content: conversations, messages, context, media and search — all through the
access gate (``audit.access.gate``), which checks scope and writes the access log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
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
from archive.directory.names import Names
from audit.access import gate as access_gate
from audit.access import reads
from audit.access.content import ContentReader
from audit.access.gate import AccessGate
from audit.security.roles import Permission

T = TypeVar("T")
CONTEXT_DEFAULT_MESSAGES = 20
READ = [requires(Permission.CONTENT_READ)]
MEDIA_CHUNK_BYTES = 256 * 1024


def reader_of(request: Request[Any, Any, Any]) -> ContentReader:
    """The caller's content reads (``audit.access.content``): who, why, which database."""
    return ContentReader(context_of(request).session_factory, principal_of(request), purpose_of(request))


def through_gate(
    request: Request[Any, Any, Any], action: str, target: dict[str, Any], read: Callable[[AccessGate], T]
) -> T:
    """Run one content read behind the gate (``audit.access.gate.through_gate``): its own
    transaction, and a refusal for scope logged in another."""
    context = context_of(request)
    return access_gate.through_gate(
        context.session_factory, principal_of(request), purpose_of(request), action, target, read
    )


def conversation_out(summary: reads.ConversationSummary, names: Names) -> ConversationOut:
    return msgspec.structs.replace(
        msgspec.convert(summary, ConversationOut, from_attributes=True),
        room_name=names.label(summary.roomid) if summary.roomid else None,
        participant_names=[NameOut.of(names.of(p)) for p in summary.participants],
    )


def message_out(view: reads.MessageView, names: Names) -> MessageOut:
    sender = names.of(view.sender)
    return msgspec.structs.replace(
        msgspec.convert(view, MessageOut, from_attributes=True), sender_name=sender.label, sender_synced=sender.synced
    )


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
    found = reader_of(request).conversations(before_id=before_id, limit=size)
    items, names = found.value, found.names
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
    found = reader_of(request).conversation_messages(conversation_id, after=after, limit=size)
    items, names = found.value, found.names
    next_cursor = encode_cursor(items[-1].msgtime, items[-1].id) if len(items) == size else None
    return MessagePage([message_out(item, names) for item in items], next_cursor)


@get("/api/v1/messages/{message_id:int}", guards=READ, sync_to_thread=True)
def message_detail(request: Request[Any, Any, Any], message_id: PathId) -> MessageDetailOut:
    """One message with its parsed body and links to its downloaded attachments."""
    found = reader_of(request).message(message_id)
    detail, names = found.value, found.names
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
    named = reader_of(request).context(message_id, before=before, after=after)
    found, names = named.value, named.names
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
    blob = reader_of(request).media(message_id, task_id)
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
