"""Full-text search over the archive, through the access gate (``search.service``): the
caller's scope becomes the backend's ``SearchScope`` (people and conversations as they are
now: ADR 0021), names in filters become ids (``search.names``; unknown or ambiguous → 400
with the candidates), and the search is logged (query, result count, purpose) before any
hit is returned. Saved searches (``search.saved``: a user's named queries, never results)
are the console's too."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Litestar, Request, delete, get, post
from litestar.params import FromQuery, JSONBody, QueryParameter

from api.auth.guards import context_of, principal_of, purpose_of, requires
from api.pagination import PathId
from api.schemas import SavedSearchIn, SavedSearchOut, SearchFacetValue, SearchResultOut, search_hit_out
from api.unit_of_work import Db
from archive.clock import utcnow
from audit.security.roles import Permission
from search import saved, service
from search.backend import FACETS, MAX_LIMIT, SearchBackend

READ = [requires(Permission.CONTENT_READ)]
BACKEND_STATE = "search_backend"
NAMED_FACETS = service.NAMED_FACETS  # facets whose values are WeCom ids


async def open_search(app: Litestar) -> None:
    app.state[BACKEND_STATE] = app.state["context"].search_backend()


async def close_search(app: Litestar) -> None:
    backend: SearchBackend | None = app.state.get(BACKEND_STATE)
    if backend is not None:
        await backend.close()


def backend_of(request: Request[Any, Any, Any]) -> SearchBackend:
    backend: SearchBackend = request.app.state[BACKEND_STATE]
    return backend


@get("/api/v1/search", guards=READ)
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
    context = context_of(request)
    ask = service.SearchAsk(q, corp_id=corp_id, sort=sort, limit=limit, cursor=cursor, facets=tuple(facet or ()))
    found = await service.gated_search(  # QuerySyntaxError, NameResolutionError → 400
        context.session_factory, backend_of(request), context.settings, principal_of(request), purpose_of(request), ask
    )
    page, names = found.page, found.names
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


@get("/api/v1/search/saved", guards=READ, sync_to_thread=True)
def list_saved_searches(request: Request[Any, Any, Any], db: Db) -> list[SavedSearchOut]:
    """Your saved searches, by name (queries only: running one is a search like any other)."""
    views = saved.list_saved(db, principal_of(request).user_id)
    return msgspec.convert(views, list[SavedSearchOut], from_attributes=True)


@post("/api/v1/search/saved", guards=READ, sync_to_thread=True, status_code=200)
def save_search(request: Request[Any, Any, Any], db: Db, data: JSONBody[SavedSearchIn]) -> SavedSearchOut:
    """Save a query under a name, or replace the query saved under that name (the
    console's "Save this search")."""
    view = saved.save(db, principal_of(request).user_id, data.name, data.query, utcnow())
    return msgspec.convert(view, SavedSearchOut, from_attributes=True)


@delete("/api/v1/search/saved/{saved_id:int}", guards=READ, sync_to_thread=True)
def delete_saved_search(request: Request[Any, Any, Any], db: Db, saved_id: PathId) -> None:
    """Delete one of your saved searches (404 for anyone else's)."""
    saved.delete(db, principal_of(request).user_id, saved_id)


HANDLERS = [search, list_saved_searches, save_search, delete_saved_search]
