"""The conversation view: chat bubbles with sender and time (the user's zone), every
message type rendered as what it is, recalled messages marked (with what they said),
rule hits highlighted with their explanation, and the search words marked.

``?anchor=<message id>`` opens the conversation around one message (a search hit or an
alert's message: the hook other pages link to); without it the conversation is paged
from its start. Reads go through the access gate (``audit.access.content.ContentReader``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from api.auth.guards import context_of, purpose_of
from api.console.auth import principal_of, signed_in
from api.console.nav import CONSOLE_PATH
from api.console.render import render
from api.pagination import decode_cursor, encode_cursor
from audit.access.content import ContentReader, ConversationView
from audit.security.roles import Permission
from search.errors import QuerySyntaxError
from search.query import And, Near, Or, Phrase, Query, Term, parse_query

PAGE_MESSAGES = 100
CONTEXT_MESSAGES = 25
READ = [signed_in(Permission.CONTENT_READ)]

MESSAGES = {
    "conv.title": ("会话", "Conversation"),
    "conv.kind.single": ("单聊", "One-to-one"),
    "conv.kind.group": ("群聊", "Group chat"),
    "conv.participants": ("参与人", "Participants"),
    "conv.messages": ("{count} 条消息", "{count} messages"),
    "conv.external": ("含外部联系人", "with external contacts"),
    "conv.customer": ("客户", "customer"),
    "conv.export": ("导出此会话", "Export this conversation"),
    "conv.whole": ("查看整个会话", "Show the whole conversation"),
    "conv.context": ("已定位到所选消息（前后各 {count} 条）。", "Showing the selected message with {count} around it."),
    "conv.more": ("更早的消息", "Earlier messages"),
    "conv.later": ("后面的消息", "Later messages"),
    "conv.empty": ("此会话没有消息。", "This conversation has no messages."),
    "conv.back_search": ("返回搜索结果", "Back to the search results"),
    "conv.recalled": ("已撤回", "Recalled"),
    "conv.recalled_original": ("撤回了一条消息：", "recalled a message:"),
    "conv.recalled_unknown": ("撤回了一条消息（原消息不在存档中）", "recalled a message (not in the archive)"),
    "conv.hit": ("命中规则", "Rule hit"),
    "conv.match": ("搜索词", "search match"),
    "conv.not_downloaded": ("附件尚未下载", "attachment not downloaded yet"),
    "conv.download": ("下载", "Download"),
    "conv.seconds": ("{seconds} 秒", "{seconds} s"),
    "conv.map": ("位置", "Location"),
    "msg.text": ("文本", "Text"),
    "msg.image": ("图片", "Image"),
    "msg.emotion": ("表情", "Sticker"),
    "msg.voice": ("语音", "Voice"),
    "msg.video": ("视频", "Video"),
    "msg.file": ("文件", "File"),
    "msg.link": ("链接", "Link"),
    "msg.weapp": ("小程序", "Mini program"),
    "msg.card": ("名片", "Contact card"),
    "msg.location": ("位置", "Location"),
    "msg.redpacket": ("红包", "Red packet"),
    "msg.external_redpacket": ("互通红包", "Red packet"),
    "msg.chatrecord": ("聊天记录", "Chat record"),
    "msg.revoke": ("撤回", "Recall"),
    "msg.agree": ("同意存档", "Agreed to archiving"),
    "msg.disagree": ("拒绝存档", "Refused archiving"),
    "msg.mixed": ("图文", "Mixed"),
    "msg.vote": ("投票", "Vote"),
    "msg.meeting": ("会议邀请", "Meeting"),
    "msg.docmsg": ("在线文档", "Document"),
    "msg.markdown": ("Markdown", "Markdown"),
    "msg.news": ("图文消息", "News"),
    "msg.calendar": ("日程", "Calendar"),
    "msg.todo": ("待办", "To-do"),
    "msg.collect": ("填表", "Form"),
    "msg.sphfeed": ("视频号", "Channels post"),
    "msg.voiptext": ("音视频通话", "Call"),
    "msg.voip_doc_share": ("通话中共享文件", "File shared in a call"),
    "msg.meeting_voice_call": ("会议录音", "Meeting recording"),
    "msg.amount": ("金额 ¥{amount}", "Amount ¥{amount}"),
    "msg.count": ("{count} 个", "{count} packets"),
    "msg.card_user": ("联系人 {userid}", "Contact {userid}"),
    "msg.duration": ("时长 {seconds} 秒", "{seconds} s long"),
    "msg.no_text": ("（无文字内容）", "(no text)"),
}


def query_words(query: Query | None) -> list[str]:
    """The folded words and phrases a query looks for (what to mark in the messages)."""
    if isinstance(query, Term | Phrase):
        return [query.text] if query.text else []
    if isinstance(query, And | Or):
        return [word for item in query.items for word in query_words(item)]
    if isinstance(query, Near):
        return [*query_words(query.left), *query_words(query.right)]
    return []  # None, Not (excluded words are not in the messages shown) and field filters


def _words(request: Request[Any, Any, Any], q: str | None) -> list[str]:
    if not q:
        return []
    try:
        return query_words(parse_query(q, zone=ZoneInfo(context_of(request).settings.search.timezone)))
    except QuerySyntaxError:
        return []


def _reader(request: Request[Any, Any, Any]) -> ContentReader:
    """The signed-in user's content reads (the purpose: the header's, else their session's)."""
    return ContentReader(context_of(request).session_factory, principal_of(request), purpose_of(request))


def _page(
    request: Request[Any, Any, Any],
    view: ConversationView,
    *,
    anchor: int | None,
    q: str | None,
    next_after: str | None,
    first_page: bool,
) -> Response[str]:
    return render(
        request,
        "conversation.html",
        principal=principal_of(request),
        info=view.info,
        messages=view.messages,
        people=view.names,
        anchor=anchor,
        q=q or "",
        quote=lambda value: quote(value, safe=""),
        next_after=next_after,
        first_page=first_page,
        context_messages=CONTEXT_MESSAGES,
        consent=view.consent,
    )


@get("/conversations/{conversation_id:int}", guards=READ, sync_to_thread=True)
def conversation_page(
    request: Request[Any, Any, Any],
    conversation_id: FromPath[int],
    anchor: FromQuery[int | None] = None,
    q: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
) -> Response[Any]:
    words = _words(request, q)
    key = decode_cursor(after, datetime, int) if anchor is None else None
    position = (key[0], key[1]) if key else None
    view = _reader(request).conversation_view(
        conversation_id, anchor=anchor, after=position, page=PAGE_MESSAGES, around=CONTEXT_MESSAGES, words=words
    )
    if anchor is not None:
        if view.info.id != conversation_id:
            return Redirect(f"{CONSOLE_PATH}/conversations/{view.info.id}?anchor={anchor}")
        return _page(request, view, anchor=anchor, q=q, next_after=None, first_page=False)
    shown = view.messages
    next_after = encode_cursor(shown[-1].view.msgtime, shown[-1].view.id) if len(shown) == PAGE_MESSAGES else None
    return _page(request, view, anchor=None, q=q, next_after=next_after, first_page=position is None)


@get("/messages/{message_id:int}", guards=READ, sync_to_thread=True)
def message_in_context(request: Request[Any, Any, Any], message_id: FromPath[int]) -> Redirect:
    """A message in its conversation (the link alerts and other pages use)."""
    detail = _reader(request).message(message_id).value
    return Redirect(f"{CONSOLE_PATH}/conversations/{detail.message.conversation_id}?anchor={message_id}")


HANDLERS = [conversation_page, message_in_context]
