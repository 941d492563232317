"""Search: the query bar (with syntax help and examples), facets, highlighted hits, saved
searches and the export of the results.

A search runs exactly as ``GET /api/v1/search`` does: the caller's scope becomes the
backend's ``SearchScope``, and the search is written to the access log (query, hit ids,
purpose) before any hit is shown. The export button posts the query to
``POST /api/v1/exports`` (the same gate; a ZIP with ``manifest.json`` holding the file's
SHA-256)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal

import msgspec
from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from api.auth.guards import context_of
from api.console.auth import principal_of, signed_in
from api.console.i18n import translator
from api.console.nav import CONSOLE_PATH
from api.console.pages.formdata import FORM_BODY, CsrfForm
from api.console.render import language, render
from api.routes.search import backend_of
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.directory.names import Name, Names
from audit.security.errors import PurposeRequired
from audit.security.principal import Principal
from audit.security.roles import Permission
from search import saved, service
from search.backend import FACETS, SearchHit, SearchPage
from search.errors import QuerySyntaxError

RESULTS_PER_PAGE = 50
SNIPPET_MAX_CHARS = 240
READ = [signed_in(Permission.CONTENT_READ)]
# facet name -> the filter that narrows to one of its values
FACET_FILTER = {"sender": "from", "room": "room", "type": "type", "rule": "rule"}
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("返利", "search.ex.term"),
    ('"保证 收益"', "search.ex.phrase"),
    ("返利 OR 回扣", "search.ex.or"),
    ("收益 -测试", "search.ex.not"),
    ("保本 NEAR/5 收益", "search.ex.near"),
    ("type:image", "search.ex.type"),
    ("has:hit severity:high", "search.ex.hit"),
    ("rule:pii.mobile", "search.ex.rule"),
    ("after:2026-11-01 before:2026-11-08", "search.ex.dates"),
    ("sentiment:negative", "search.ex.sentiment"),
)

MESSAGES = {
    "search.title": ("搜索聊天记录", "Search the chats"),
    "search.label": ("查询", "Query"),
    "search.placeholder": ("输入关键词，例如：返利（按 / 键聚焦）", "Words to find, e.g. 返利 (press / to focus)"),
    "search.submit": ("搜索", "Search"),
    "search.sort": ("排序", "Sort"),
    "search.sort.newest": ("最新", "Newest"),
    "search.sort.relevance": ("相关度", "Relevance"),
    "search.help": ("查询语法与示例", "Query syntax and examples"),
    "search.help.intro": (
        "关键词匹配消息原文中的子串（不区分大小写与繁简体）。相邻条件默认同时满足。点击示例填入搜索框。",
        "Words match substrings of the message text (case and traditional/simplified folded). Adjacent "
        "conditions must all hold. Click an example to put it in the box.",
    ),
    "search.ex.term": ("包含该词", "contains the word"),
    "search.ex.phrase": ("包含整个短语", "contains the whole phrase"),
    "search.ex.or": ("任一词", "either word"),
    "search.ex.not": ("排除某词", "without a word"),
    "search.ex.near": ("两词相距不超过 5 个字", "two words at most 5 characters apart"),
    "search.ex.type": ("消息类型（text、image、voice、file…）", "message type (text, image, voice, file…)"),
    "search.ex.hit": ("命中过高风险规则", "has a high-severity rule hit"),
    "search.ex.rule": ("命中某条规则", "hit by one rule"),
    "search.ex.dates": ("时间范围（含起始日，不含结束日）", "date range (from the first day, before the last)"),
    "search.ex.sentiment": ("负面情绪的消息", "messages with negative sentiment"),
    "search.ex.fields": (
        "其他条件：from:（发送人） to:（接收人） room:（群） customer:（客户） dept:（部门编号）",
        "More filters: from: to: room: customer: dept: (department id)",
    ),
    "search.results": ("找到 {total} 条消息", "{total} messages found"),
    "search.results_more": ("至少 {total} 条消息", "at least {total} messages"),
    "search.none": ("没有符合条件的消息。", "No message matches."),
    "search.none.hint": (
        "试试更短的词、去掉筛选条件，或检查时间范围。",
        "Try a shorter word, fewer filters or another date range.",
    ),
    "search.start": ("输入关键词开始搜索。", "Type a query to search."),
    "search.start.hint": (
        "搜索结果只包含您数据范围内的会话，每次搜索都会记入访问日志。",
        "Results only include conversations in your data scope; every search is logged.",
    ),
    "search.syntax_error_end": ("查询语法有误（在查询末尾）：{message}", "Query syntax error at the end: {message}"),
    "search.syntax_error": (
        "查询语法有误（第 {position} 个字符）：{message}",
        "Query syntax error at character {position}: {message}",
    ),
    "search.name_unknown": (
        "“{field}:{value}” 找不到：没有{what}的 ID 或名称以“{value}”开头。请检查名称，或先同步通讯录。",
        "{field}:{value} matches nothing: no {what} has that id or a name starting with “{value}”.",
    ),
    "search.name_ambiguous": (
        "“{field}:{value}” 对应 {count} 个{what}，请输入更完整的名称，或点选下面的一项：",
        "{field}:{value} matches {count} {what}: type more of the name, or pick one below:",
    ),
    "search.name_more": ("另有 {count} 项未列出", "and {count} more"),
    "search.kind.from": ("成员、客户或机器人", "member, customer or robot"),
    "search.kind.to": ("成员、客户或机器人", "member, customer or robot"),
    "search.kind.customer": ("客户（名称或备注）", "customer (name or remark)"),
    "search.kind.room": ("群聊", "group"),
    "search.kind.dept": ("部门", "department"),
    "search.next": ("下一页", "Next page"),
    "search.first": ("第一页", "First page"),
    "search.open": ("打开会话", "Open the conversation"),
    "search.no_conversation": ("（不属于任何会话）", "(outside any conversation)"),
    "search.facets": ("筛选", "Refine"),
    "facet.sender": ("发送人", "Sender"),
    "facet.room": ("群聊", "Group"),
    "facet.type": ("消息类型", "Type"),
    "facet.day": ("日期", "Day"),
    "facet.rule": ("命中规则", "Rule hit"),
    "search.export": ("导出结果", "Export results"),
    "search.export.busy": ("正在导出…", "Exporting…"),
    "search.export.done": (
        "已下载（ZIP 内的 manifest.json 含文件的 SHA-256）。",
        "Downloaded (manifest.json in the ZIP holds the file's SHA-256).",
    ),
    "search.saved": ("已保存的搜索", "Saved searches"),
    "search.saved.none": ("还没有保存的搜索。", "No saved searches yet."),
    "search.save": ("保存此搜索", "Save this search"),
    "search.save.name": ("名称", "Name"),
    "search.saved.delete": ("删除", "Delete"),
    "search.saved.confirm": ("删除这个已保存的搜索？", "Delete this saved search?"),
}


class SaveForm(msgspec.Struct):
    name: str = ""
    query: str = ""
    csrf_token: str = ""


@dataclass(frozen=True)
class ResultRow:
    hit: SearchHit
    segments: list[tuple[str, bool]]  # (text, highlighted)
    sender: Name
    room: Name | None
    link: str | None


def segments(text: str, spans: tuple[tuple[int, int], ...], limit: int = SNIPPET_MAX_CHARS) -> list[tuple[str, bool]]:
    """The text cut into plain and highlighted pieces; a long text is cut around the first hit."""
    start = 0
    if len(text) > limit and spans:
        start = max(0, min(spans[0][0] - limit // 4, len(text) - limit))
    end = min(len(text), start + limit)
    pieces: list[tuple[str, bool]] = [("…", False)] if start else []
    at = start
    for span_start, span_end in sorted(spans):
        span_start, span_end = max(span_start, at), min(span_end, end)
        if span_start >= span_end:
            continue
        if span_start > at:
            pieces.append((text[at:span_start], False))
        pieces.append((text[span_start:span_end], True))
        at = span_end
    if at < end:
        pieces.append((text[at:end], False))
    if end < len(text):
        pieces.append(("…", False))
    return pieces


def _facet_label(name: str, value: str, people: Names, translate: Any) -> str | Name:
    """A facet value as shown: people and rooms by name (the template adds the id)."""
    if name in ("sender", "room"):
        return people.of(value)
    if name == "type":
        label = translate(f"msg.{value}")
        return str(label) if label != f"msg.{value}" else value
    return value


def _narrowed(q: str, field: str, value: str) -> str:
    if field == "day":
        day = date.fromisoformat(value)
        condition = f"after:{day.isoformat()} before:{(day + timedelta(days=1)).isoformat()}"
    else:
        quoted = f'"{value}"' if any(c.isspace() or c in '"()' for c in value) else value
        condition = f"{FACET_FILTER[field]}:{quoted}"
    return f"{q} {condition}".strip()


async def run_search(
    request: Request[Any, Any, Any], principal: Principal, q: str, sort: str, cursor: str | None
) -> service.FoundPage:
    """A search in the caller's scope, logged before its hits are returned: the API's
    (``search.service.gated_search``), with the purpose remembered for the session. Names
    become ids there: an unknown or ambiguous one raises a QuerySyntaxError the page shows
    with the candidates (search.names)."""
    context = context_of(request)
    ask = service.SearchAsk(
        q, sort="relevance" if sort == "relevance" else "newest", limit=RESULTS_PER_PAGE, cursor=cursor, facets=FACETS
    )
    return await service.gated_search(
        context.session_factory, backend_of(request), context.settings, principal, None, ask
    )


def _rows(page: SearchPage, people: Names, q: str) -> list[ResultRow]:
    return [
        ResultRow(
            hit,
            segments(hit.text, hit.highlights),
            people.of(hit.sender),
            people.of(hit.roomid) if hit.roomid else None,
            f"{CONSOLE_PATH}/conversations/{hit.conversation_id}?anchor={hit.message_id}&q={_quote(q)}"
            if hit.conversation_id is not None
            else None,
        )
        for hit in page.hits
    ]


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


@get("/search", guards=READ)
async def search_page(
    request: Request[Any, Any, Any],
    q: FromQuery[str] = "",
    sort: FromQuery[Literal["newest", "relevance"]] = "newest",
    cursor: FromQuery[str | None] = None,
) -> Response[str]:
    principal = principal_of(request)
    if not principal.purpose:
        raise PurposeRequired()  # everything on this page reads content: ask before the first search
    context = context_of(request)
    q = q.strip()[:2000]
    page: SearchPage | None = None
    people = Names({})
    syntax_error: QuerySyntaxError | None = None
    if q:
        try:
            found = await run_search(request, principal, q, sort, cursor)
            page, people = found.page, found.names
        except QuerySyntaxError as error:
            syntax_error = error
    saved_searches = await to_thread.run_sync(service.saved_searches, context.session_factory, principal.user_id)
    facets = []
    translate = translator(language(request))
    if page is not None:
        for name in FACETS:
            values = page.facets.get(name, [])
            if values:
                facets.append(
                    (
                        name,
                        [
                            (_facet_label(name, value, people, translate), count, _narrowed(q, name, value))
                            for value, count in values
                        ],
                    )
                )
    fragment = request.headers.get("hx-target") == "results"
    return render(
        request,
        "search_results.html" if fragment else "search.html",
        principal=principal,
        q=q,
        sort=sort,
        cursor=cursor,
        page=page,
        rows=_rows(page, people, q) if page else [],
        facets=facets,
        syntax_error=syntax_error,
        saved_searches=saved_searches,
        examples=EXAMPLES,
        export_body=json.dumps({"query": q}, ensure_ascii=False),
        quote=_quote,
    )


@post("/search/saved", guards=READ, sync_to_thread=True, status_code=303)
def save_search(request: Request[Any, Any, Any], db: Db, data: Annotated[SaveForm, FORM_BODY]) -> Redirect:
    view = saved.save(db, principal_of(request).user_id, data.name, data.query, utcnow())
    return Redirect(f"{CONSOLE_PATH}/search?q={_quote(view.query)}", status_code=303)


@post("/search/saved/{saved_id:int}/delete", guards=READ, sync_to_thread=True, status_code=303)
def delete_saved_search(
    request: Request[Any, Any, Any],
    db: Db,
    saved_id: FromPath[int],
    data: Annotated[CsrfForm, FORM_BODY],
) -> Redirect:
    saved.delete(db, principal_of(request).user_id, saved_id)
    return Redirect(f"{CONSOLE_PATH}/search", status_code=303)


HANDLERS = [search_page, save_search, delete_saved_search]
