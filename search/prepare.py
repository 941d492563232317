"""What one search request reads from the database before it reaches a backend, in the
caller's transaction: names and ``dept:`` subtrees resolved to ids (``search.names``,
``search.departments``) and the caller's scope as people and conversations
(``search.scope``). All of it as the directory is now, never as the index stored it."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from audit.security.scope import DataScope
from search.backend import SearchScope
from search.departments import expand_departments
from search.names import resolve_names
from search.query import Query
from search.scope import search_scope_of


def resolve_query(session: Session, query: Query, corp_ids: Iterable[str]) -> Query:
    """The query with ids only (names and ``dept:`` subtrees resolved in ``corp_ids``'
    directories). Raises ``NameResolutionError``."""
    corps = sorted(set(corp_ids))
    return expand_departments(session, resolve_names(session, query, corps), corps)


def prepare_search(
    session: Session, scope: DataScope, query: Query, corp_ids: Iterable[str]
) -> tuple[SearchScope, Query]:
    """The backend's scope and the query with ids only. Raises ``NameResolutionError``."""
    corps = sorted(set(corp_ids))
    resolved = resolve_query(session, query, corps)
    return search_scope_of(session, scope, corps), resolved
