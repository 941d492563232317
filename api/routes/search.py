"""Full-text search over the archive, through the access gate: the caller's scope becomes
the backend's ``SearchScope`` (people and conversations as they are now: ADR 0021), names
in filters become ids (``search.names``; unknown or ambiguous → 400 with the candidates),
and the search is logged (query, result count, purpose) before any hit is returned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from anyio import to_thread
from litestar import Litestar, Request, get
from litestar.params import FromQuery, QueryParameter

from api.auth.guards import context_of, principal_of, purpose_of, requires
from api.schemas import SearchFacetValue, SearchResultOut, search_hit_out
from archive.clock import utcnow
from archive.directory.names import Names, display_names
from audit.access.gate import AccessGate
from audit.errors import InvalidInput
from audit.security.principal import Principal
from audit.security.roles import Permission
from audit.security.scope import DataScope
from config.database import session_scope
from search.backend import FACETS, MAX_LIMIT, SearchBackend, SearchPage, SearchRequest, SearchScope
from search.prepare import prepare_search
from search.query import Query, parse_query

if TYPE_CHECKING:
    from api.context import AppContext

BACKEND_STATE = "search_backend"
NAMED_FACETS = ("sender", "room")  # facets whose values are WeCom ids


def corps_of(context: AppContext, corp_id: str | None) -> list[str]:
    """The corps whose directories resolve ``dept:`` filters: the one asked for, else all."""
    return [corp_id] if corp_id else [corp.corp_id for corp in context.settings.corps()]


def open_search_scope(
    context: AppContext, principal: Principal, purpose: str | None, query: Query, corp_id: str | None
) -> tuple[DataScope, SearchScope, Query]:
    """The caller's gate scope, the backend's scope and the query with ids only, read in one
    transaction (the gate is opened without a lock: the caller records the search itself)."""
    with session_scope(context.session_factory) as session:
        scope = AccessGate.open(session, principal, purpose=purpose, now=utcnow(), lock=False).scope
        return scope, *prepare_search(session, scope, query, corps_of(context, corp_id))


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

    def record(page: SearchPage, scope: DataScope, used_purpose: str) -> Names:
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
            ids = {p for hit in page.hits for p in (hit.sender, hit.roomid) if p}
            ids |= {value for name in NAMED_FACETS for value, _ in page.facets.get(name, ())}
            return display_names(session, corp_id, ids)

    opened = await to_thread.run_sync(open_search_scope, context, principal, purpose, query, corp_id)
    scope, backend_scope, query = opened
    used_purpose = purpose or principal.purpose or ""
    try:
        search_request = SearchRequest(
            query,
            corp_id=corp_id,
            sort=sort,
            limit=limit,
            cursor=cursor,
            facets=tuple(facet or ()),
            scope=backend_scope,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    page = await backend_of(request).search(search_request)
    names = await to_thread.run_sync(record, page, scope, used_purpose)  # logged before any hit leaves
    return SearchResultOut(
        hits=[search_hit_out(hit, names) for hit in page.hits],
        total=page.total,
        next_cursor=page.next_cursor,
        facets={
            name: [
                SearchFacetValue(value, count, names.label(value) if name in NAMED_FACETS else None)
                for value, count in values
            ]
            for name, values in page.facets.items()
        },
    )
