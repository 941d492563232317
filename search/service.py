"""Gated search: the one use case behind ``GET /api/v1/search``, the console's search page
and the search-query export, and the operator's search of the CLI.

Contract (``gated_search``):
- One transaction opens the caller's gate (``content:read`` and a purpose; no head lock:
  the read is served by the index) and prepares the query: names and ``dept:`` subtrees
  become ids and the caller's scope becomes the backend's ``SearchScope``, all as the
  directory is now (``search.prepare``). An unknown or ambiguous name raises
  ``NameResolutionError`` before the backend is asked.
- The backend is awaited outside any transaction.
- A second transaction records the search in the access log (``content.search``: the query
  as typed, the corp, whether a cursor was given, the hit ids; the hit count) and resolves
  the display names of the senders, rooms and named facets — before any hit is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from anyio import to_thread
from sqlalchemy.orm import Session, sessionmaker

from archive.clock import utcnow
from archive.corps import corps_in_question
from archive.directory.names import Names, display_names
from audit.access import exports
from audit.access.gate import AccessGate
from audit.errors import InvalidInput
from audit.security.principal import Principal
from config.database import session_scope
from config.settings import Settings
from search import saved
from search.backend import MAX_LIMIT, SearchBackend, SearchPage, SearchRequest, SearchScope
from search.prepare import prepare_search, resolve_query
from search.query import Query, parse_query

NAMED_FACETS = ("sender", "room")  # facets whose values are WeCom ids
SEARCH_ACTION = "content.search"


@dataclass(frozen=True)
class SearchAsk:
    """One search as asked: ``text`` in the query language, as typed (what the access log
    keeps); it is parsed in the configured zone (``QuerySyntaxError`` first of all)."""

    text: str
    corp_id: str | None = None
    sort: Literal["newest", "relevance"] = "newest"
    limit: int = 50
    cursor: str | None = None
    facets: tuple[str, ...] = ()
    zone: str | None = None  # of the "day" facet; None: the backend's default


@dataclass(frozen=True)
class FoundPage:
    """A page of hits with the names of the senders, rooms and named facet values."""

    page: SearchPage
    names: Names


def _names(session: Session, corp_id: str | None, page: SearchPage) -> Names:
    ids = {p for hit in page.hits for p in (hit.sender, hit.roomid) if p}
    ids |= {value for name in NAMED_FACETS for value, _ in page.facets.get(name, ())}
    return display_names(session, corp_id, ids)


def _open(
    session_factory: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    purpose: str | None,
    query: Query,
    corp_id: str | None,
    now: datetime,
) -> tuple[AccessGate, SearchScope, Query]:
    """The caller's gate (detached from its session: only its scope and purpose are used
    later), the backend's scope and the query with ids only, in one transaction."""
    with session_scope(session_factory) as session:
        gate = AccessGate.open(session, principal, purpose=purpose, now=now, lock=False)
        backend_scope, resolved = prepare_search(session, gate.scope, query, corps_in_question(settings, corp_id))
    return gate, backend_scope, resolved


def parse(settings: Settings, text: str) -> Query:
    """``text`` in the query language, dates in the configured zone (``QuerySyntaxError``)."""
    return parse_query(text, zone=ZoneInfo(settings.search.timezone))


def _request(ask: SearchAsk, query: Query, scope: SearchScope | None) -> SearchRequest:
    try:
        request = SearchRequest(
            query,
            corp_id=ask.corp_id,
            sort=ask.sort,
            limit=ask.limit,
            cursor=ask.cursor,
            facets=ask.facets,
            scope=scope,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return replace(request, zone=ask.zone) if ask.zone else request


async def gated_search(
    session_factory: sessionmaker[Session],
    backend: SearchBackend,
    settings: Settings,
    principal: Principal,
    purpose: str | None,
    ask: SearchAsk,
) -> FoundPage:
    """A search in the caller's scope, logged (with its hit ids) before any hit is returned."""
    parsed = parse(settings, ask.text)
    now = utcnow()
    gate, backend_scope, query = await to_thread.run_sync(
        _open, session_factory, settings, principal, purpose, parsed, ask.corp_id, now
    )
    page = await backend.search(_request(ask, query, backend_scope))

    def record() -> Names:
        with session_scope(session_factory) as session:
            AccessGate(session, principal, gate.scope, gate.purpose, now).record(
                SEARCH_ACTION,
                {
                    "query": ask.text,
                    "corp_id": ask.corp_id,
                    "cursor": ask.cursor is not None,
                    "message_ids": [hit.message_id for hit in page.hits],
                },
                len(page.hits),
            )
            return _names(session, ask.corp_id, page)

    return FoundPage(page, await to_thread.run_sync(record))


async def operator_search(
    session_factory: sessionmaker[Session], backend: SearchBackend, settings: Settings, ask: SearchAsk
) -> FoundPage:
    """The CLI's search: an operator on the server reads the database directly, so no
    scope applies and nothing is logged; names resolve as for everyone else."""
    parsed = parse(settings, ask.text)

    def prepare() -> Query:
        with session_scope(session_factory) as session:
            return resolve_query(session, parsed, corps_in_question(settings, ask.corp_id))

    page = await backend.search(_request(ask, await to_thread.run_sync(prepare), None))

    def names() -> Names:
        with session_scope(session_factory) as session:
            return _names(session, ask.corp_id, page)

    return FoundPage(page, await to_thread.run_sync(names))


def saved_searches(session_factory: sessionmaker[Session], user_id: int) -> list[saved.SavedSearchView]:
    """A user's saved searches, in a transaction of their own (for a page that searches:
    it spans an awaited call, so it has no request session)."""
    with session_scope(session_factory) as session:
        return saved.list_saved(session, user_id)


# --- exports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportAsk:
    """An export as asked: ``query`` (the search language) or ``conversation_id``,
    narrowed to [since, until) and ``corp_id``."""

    query: str | None
    conversation_id: int | None
    since: datetime | None
    until: datetime | None
    corp_id: str | None
    max_messages: int


async def _search_ids(
    session_factory: sessionmaker[Session],
    backend: SearchBackend,
    settings: Settings,
    principal: Principal,
    purpose: str | None,
    query: Query,
    corp_id: str | None,
    limit: int,
) -> list[int]:
    """Every message id the backend finds for ``query`` within the caller's scope (the
    export itself re-reads them through the gate and logs them)."""
    _, scope, query = await to_thread.run_sync(
        _open, session_factory, settings, principal, purpose, query, corp_id, utcnow()
    )
    cursor: str | None = None
    ids: list[int] = []
    while True:
        page = await backend.search(SearchRequest(query, corp_id=corp_id, limit=MAX_LIMIT, cursor=cursor, scope=scope))
        ids.extend(hit.message_id for hit in page.hits)
        if len(ids) > limit:
            raise InvalidInput(
                f"more than {limit} messages match this export",
                hint="narrow the time range or the query, or raise max_messages",
            )
        if page.next_cursor is None or not page.hits:
            return ids
        cursor = page.next_cursor


async def gated_export(
    session_factory: sessionmaker[Session],
    backend: SearchBackend,
    settings: Settings,
    principal: Principal,
    purpose: str | None,
    ask: ExportAsk,
) -> exports.ExportFile:
    """An export of content in the caller's scope (``audit.access.exports``): a query's
    matches (found by the backend within scope, then re-read through the gate) or one
    conversation; logged as ``content.export`` (a refusal for scope too)."""
    if (ask.query is None) == (ask.conversation_id is None):
        raise InvalidInput("an export needs either a query or a conversation_id (not both)")
    if ask.since is not None and ask.until is not None and ask.since >= ask.until:
        raise InvalidInput("since must be before until")
    message_ids: Sequence[int] | None = None
    if ask.query is not None:
        parsed = parse(settings, ask.query)
        message_ids = await _search_ids(
            session_factory, backend, settings, principal, purpose, parsed, ask.corp_id, ask.max_messages
        )
    selection = exports.ExportSelection(ask.query, message_ids, ask.conversation_id, ask.since, ask.until, ask.corp_id)

    def run() -> exports.ExportFile:
        return exports.export(session_factory, principal, purpose, selection, max_messages=ask.max_messages)

    return await to_thread.run_sync(run)
