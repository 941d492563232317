"""Full-text search over the archive, through the access gate: the caller's scope becomes
the backend's ``SearchScope`` and the search is logged (query, result count, purpose)
before any hit is returned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from anyio import to_thread
from litestar import Litestar, Request, get
from litestar.params import FromQuery, QueryParameter

from api.auth.guards import context_of, principal_of, purpose_of, requires
from api.schemas import SearchFacetValue, SearchHitOut, SearchResultOut
from archive.clock import utcnow
from audit.access.gate import AccessGate
from audit.security.errors import InvalidInput
from audit.security.roles import Permission
from audit.security.scope import DataScope
from config.database import session_scope
from search.backend import FACETS, MAX_LIMIT, SearchBackend, SearchPage, SearchRequest, SearchScope
from search.departments import expand_departments
from search.query import Query, parse_query

if TYPE_CHECKING:
    from api.context import AppContext

BACKEND_STATE = "search_backend"


def corps_of(context: AppContext, corp_id: str | None) -> list[str]:
    """The corps whose directories resolve ``dept:`` filters: the one asked for, else all."""
    return [corp_id] if corp_id else [corp.corp_id for corp in context.settings.corps()]


def search_scope(scope: DataScope) -> SearchScope:
    return SearchScope(
        department_ids=None if scope.everything else scope.department_ids,
        conversation_ids=scope.conversation_ids,
        excluded_people=scope.excluded_people,
    )


async def open_search(app: Litestar) -> None:
    app.state[BACKEND_STATE] = app.state["context"].search_backend()


async def close_search(app: Litestar) -> None:
    backend: SearchBackend | None = app.state.get(BACKEND_STATE)
    if backend is not None:
        await backend.close()


def backend_of(request: Request[Any, Any, Any]) -> SearchBackend:
    backend: SearchBackend = request.app.state[BACKEND_STATE]
    return backend


@get("/api/v1/search", guards=[requires(Permission.CONTENT_READ)])
async def search(
    request: Request[Any, Any, Any],
    q: FromQuery[str] = "",
    corp_id: FromQuery[str | None] = None,
    sort: FromQuery[Literal["newest", "relevance"]] = "newest",
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 50,
    facet: Annotated[list[str] | None, QueryParameter(description=f"any of: {', '.join(FACETS)}")] = None,
) -> SearchResultOut:
    """Search messages in your scope (query syntax: words, "phrases", AND/OR/NOT, field:value)."""
    context, principal, purpose = context_of(request), principal_of(request), purpose_of(request)
    query = parse_query(q, zone=ZoneInfo(context.settings.search.timezone))  # QuerySyntaxError → 400
    now = utcnow()

    def open_scope() -> tuple[DataScope, Query]:
        with session_scope(context.session_factory) as session:
            scope = AccessGate.open(session, principal, purpose=purpose, now=now, lock=False).scope
            return scope, expand_departments(session, query, corps_of(context, corp_id))

    def record(page: SearchPage, scope: DataScope, used_purpose: str) -> None:
        with session_scope(context.session_factory) as session:
            gate = AccessGate(session, principal, scope, used_purpose, now)
            gate.record(
                "content.search",
                {
                    "query": q,
                    "corp_id": corp_id,
                    "cursor": cursor is not None,
                    "message_ids": [hit.message_id for hit in page.hits],
                },
                len(page.hits),
            )

    scope, query = await to_thread.run_sync(open_scope)
    used_purpose = purpose or principal.purpose or ""
    try:
        search_request = SearchRequest(
            query,
            corp_id=corp_id,
            sort=sort,
            limit=limit,
            cursor=cursor,
            facets=tuple(facet or ()),
            scope=search_scope(scope),
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    page = await backend_of(request).search(search_request)
    await to_thread.run_sync(record, page, scope, used_purpose)  # logged before any hit leaves
    return SearchResultOut(
        hits=[
            SearchHitOut(
                hit.message_id,
                hit.msgid,
                hit.corp_id,
                hit.conversation_id,
                hit.roomid,
                hit.msgtime,
                hit.sender,
                hit.msgtype,
                hit.text,
                list(hit.highlights),
                hit.score,
            )
            for hit in page.hits
        ],
        total=page.total,
        next_cursor=page.next_cursor,
        facets={
            name: [SearchFacetValue(value, count) for value, count in values] for name, values in page.facets.items()
        },
    )
