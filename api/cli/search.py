"""``wecom-audit search`` and ``wecom-audit reindex``, and the search lag shown by ``status``.

The CLI is an operator tool on the server (it reads the database directly), so it searches
without an access scope (``search.service.operator_search``); the API and the console go
through the access gate (``search.service.gated_search``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from api.cli.support import console, err_console, open_context, transaction
from api.context import AppContext
from archive.directory.names import Names
from search import repository, service
from search.backend import FACETS, MAX_LIMIT, SearchHit, SearchPage
from search.errors import NameResolutionError, QuerySyntaxError, SearchBackendError, SearchError
from search.indexer import reindex_all, search_lag


def search(
    query: Annotated[str, typer.Argument(help='e.g. 返利 from:zhangsan after:2026-11-01, "加 微信", a NEAR/5 b')],
    sort: Annotated[str, typer.Option(help="newest or relevance.")] = "newest",
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="Hits per page.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    facet: Annotated[list[str] | None, typer.Option(help=f"Count by: {', '.join(FACETS)} (repeatable).")] = None,
    corp: Annotated[str | None, typer.Option(help="Only this corp (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines: one per hit, then the page.")] = False,
) -> None:
    """Search the archived messages (newest first; highlighted matches)."""
    if sort not in ("newest", "relevance"):
        _fail("--sort must be newest or relevance", 2)
    unknown = [name for name in facet or () if name not in FACETS]
    if unknown:
        _fail(f"unknown facet {unknown[0]!r}; facets: {', '.join(FACETS)}", 2)
    context = open_context()
    zone = context.settings.search.timezone
    try:
        service.parse(context.settings, query)
    except QuerySyntaxError as error:
        err_console.print(f"[red]error:[/red] {error.message} (column {error.position + 1})")
        err_console.print(Text(error.caret(query)), highlight=False)
        raise typer.Exit(2) from None
    ask = service.SearchAsk(
        query,
        corp_id=corp,
        sort="relevance" if sort == "relevance" else "newest",
        limit=limit,
        cursor=cursor,
        facets=tuple(facet or ()),
        zone=zone,
    )
    try:
        context.migrate()
        found = asyncio.run(_search(context, ask))
        page, names = found.page, found.names
    except SearchBackendError as error:
        _fail(str(error), 1)
    except NameResolutionError as error:  # one line: what the name matched, or that nothing did
        _fail(error.message, 2)
    except SearchError as error:
        _fail(str(error), 2)
    finally:
        context.close()
    if as_json:
        _print_json(page, names)
    else:
        _print_table(page, ZoneInfo(zone), names)


def reindex() -> None:
    """Rebuild the search index from the stored messages into a new version and switch to
    it when complete (searches keep using the old version meanwhile)."""
    context = open_context()
    try:
        context.migrate()
        with transaction(context) as session:
            total = repository.message_count(session)
        columns = (TextColumn("reindexing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("reindex", total=total)
            result = asyncio.run(_reindex(context, lambda n: progress.advance(task, n)))
    except SearchBackendError as error:
        _fail(str(error), 1)
    finally:
        context.close()
    console.print(
        f"Index version {result.version}: {result.documents:,} messages."
        + (f" {result.requeued:,} stored meanwhile are queued for the indexer." if result.requeued else "")
    )


async def _search(context: AppContext, ask: service.SearchAsk) -> service.FoundPage:
    backend = context.search_backend()
    try:
        return await service.operator_search(context.session_factory, backend, context.settings, ask)
    finally:
        await backend.close()


async def _reindex(context: AppContext, progress: Callable[[int], None]) -> Any:
    backend = context.search_backend()
    try:
        return await reindex_all(
            context.session_factory, backend, batch=context.settings.search.indexer_batch, progress=progress
        )
    finally:
        await backend.close()


def _fail(message: str, code: int) -> None:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def hit_json(hit: SearchHit, names: Names) -> dict[str, Any]:
    sender = names.of(hit.sender)
    return {
        "msgid": hit.msgid,
        "message_id": hit.message_id,
        "corp_id": hit.corp_id,
        "conversation_id": hit.conversation_id,
        "roomid": hit.roomid,
        "msgtime": hit.msgtime.isoformat(),
        "sender": hit.sender,
        "sender_name": sender.label,
        "sender_synced": sender.synced,
        "room_name": names.label(hit.roomid) if hit.roomid else None,
        "msgtype": hit.msgtype,
        "text": hit.text,
        "highlights": [list(span) for span in hit.highlights],
        "score": hit.score,
    }


def _print_json(page: SearchPage, names: Names) -> None:
    for hit in page.hits:
        print(json.dumps(hit_json(hit, names), ensure_ascii=False))
    facets = {name: [[value, count] for value, count in values] for name, values in page.facets.items()}
    final = {"next_cursor": page.next_cursor, "total": page.total, "total_exact": page.total_exact, "facets": facets}
    print(json.dumps(final, ensure_ascii=False))


def highlighted(hit: SearchHit) -> Text:
    text = Text(hit.text)
    for start, end in hit.highlights:
        text.stylize("bold black on yellow", start, end)
    return text


def _print_table(page: SearchPage, zone: ZoneInfo, names: Names) -> None:
    table = Table(title=f"{page.total:,}{'' if page.total_exact else '+'} messages", title_justify="left")
    table.add_column("time")
    table.add_column("sender")
    table.add_column("room")
    table.add_column("type")
    table.add_column("text", overflow="fold")
    for hit in page.hits:
        table.add_row(
            hit.msgtime.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            escape(names.of(hit.sender).with_id()),
            escape(names.of(hit.roomid).with_id()) if hit.roomid else "",
            hit.msgtype,
            highlighted(hit),
        )
    console.print(table)
    for name, values in page.facets.items():
        shown = [
            (escape(names.of(value).with_id()) if name in ("sender", "room") else value, count)
            for value, count in values
        ]
        console.print(
            f"[bold]{name}[/bold]: " + ", ".join(f"{value} ({count})" for value, count in shown), highlight=False
        )
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}", highlight=False)


def status_fields(session: Session, now: datetime) -> dict[str, Any]:
    """The search lag for ``status --json``."""
    lag = search_lag(session)
    return {"search_backlog": lag.entries, "search_lag_s": lag.age_s(now), "search_failing": lag.failing}


def status_line(session: Session, now: datetime) -> str:
    """The search lag for ``status``: outbox entries not yet indexed and the oldest one's age."""
    lag = search_lag(session)
    if not lag.entries:
        return "Search index: up to date."
    age = lag.age_s(now) or 0.0
    line = f"Search index: {lag.entries:,} batches waiting, oldest {_duration(age)} old"
    if lag.failing:
        line += f"; {lag.failing:,} failing (is the search backend reachable? see the scheduler log)"
    return line + "."


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
