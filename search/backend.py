"""The ``SearchBackend`` interface and the values that cross it.

Two implementations: ``search.embedded.EmbeddedBackend`` (SQLite file, zero setup) and
``search.elasticsearch.backend.ElasticsearchBackend``. One contract suite
(``tests/search/test_contract.py``) runs unchanged against both; ``search.matching`` is the
reference semantics they must agree with. Backend-independent pieces live beside this
module: ``search.highlight`` (spans in the original text), ``search.cursor`` (keyset
cursors), ``search.documents`` (building documents from the database).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from search.errors import SearchBackendError
from search.query import Query

__all__ = [
    "FACETS",
    "SearchBackend",
    "SearchBackendError",
    "SearchDocument",
    "SearchHit",
    "SearchPage",
    "SearchRequest",
    "SearchScope",
]

# Facet names a request may ask for: sender (employee or customer id), room (roomid; messages
# outside groups are not counted), type (msgtype), day (YYYY-MM-DD in the request's zone),
# rule (each rule that hit; a message with two rules counts for both).
FACETS: tuple[str, ...] = ("sender", "room", "type", "day", "rule")
DEFAULT_FACET_SIZE = 20
DEFAULT_TOTAL_LIMIT = 10_000
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """One message as the index sees it (no ORM objects cross into the search layer)."""

    msgid: str
    corp_id: str
    message_id: int
    conversation_id: int | None
    seq: int
    msgtime: datetime  # UTC-aware
    msgtype: str
    sender: str
    recipients: tuple[str, ...]
    roomid: str | None
    customer_ids: tuple[str, ...]  # external participants (archive.messages.is_external_id)
    staff_ids: tuple[str, ...]  # internal participants
    # Departments of the staff participants when indexed: only for ``dept:`` filters (what the
    # officer asked for), never for scoping (what the caller may see follows people: ADR 0021).
    department_ids: tuple[int, ...]
    text: str  # original text ("" for none); backends index fold(text)
    has_media: bool
    rules: tuple[str, ...]
    categories: tuple[str, ...]
    severities: tuple[str, ...]
    sentiment: str | None


@dataclass(frozen=True, slots=True)
class SearchScope:
    """What the caller may see, in terms of people and conversations as they are *now*
    (built per request from the access gate's scope: ``search.scope.search_scope_of``).

    A document is visible when none of ``excluded_people`` takes part in it (sender,
    recipients, staff or customers), its conversation is not in ``excluded_conversation_ids``,
    and either ``member_ids`` is ``None`` (company-wide: everything, also messages outside any
    conversation) or it belongs to a conversation and one of its staff is in ``member_ids`` or
    its conversation is in ``conversation_ids``.

    Nothing here depends on what the index stored about departments: a member who moves
    changes ``member_ids`` at once, with no reindex (ADR 0021). ``staff_ids`` are facts of the
    message (its sender and recipients), which never change."""

    member_ids: frozenset[str] | None = None
    conversation_ids: frozenset[int] = frozenset()
    excluded_people: frozenset[str] = frozenset()
    excluded_conversation_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class SearchRequest:
    query: Query
    corp_id: str | None = None  # None: every corp
    sort: Literal["newest", "relevance"] = "newest"
    limit: int = 50
    cursor: str | None = None
    facets: tuple[str, ...] = ()  # names from FACETS
    scope: SearchScope | None = None
    # Added beyond the first draft: the zone of the "day" facet, and the facet size.
    zone: str = "Asia/Shanghai"
    facet_size: int = DEFAULT_FACET_SIZE
    # Count matches exactly up to this many (None: always exactly). Beyond it a backend may
    # stop counting and report ``total == total_limit`` with ``total_exact=False``, so a
    # one-character search over millions of messages costs a page, not a full count.
    total_limit: int | None = DEFAULT_TOTAL_LIMIT

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        unknown = [name for name in self.facets if name not in FACETS]
        if unknown:
            raise ValueError(f"unknown facet {unknown[0]!r}; facets: {', '.join(FACETS)}")


@dataclass(frozen=True, slots=True)
class SearchHit:
    msgid: str
    message_id: int
    conversation_id: int | None
    msgtime: datetime
    sender: str
    msgtype: str
    text: str
    highlights: tuple[tuple[int, int], ...]  # [start, end) spans in the ORIGINAL text
    score: float | None
    corp_id: str = ""
    roomid: str | None = None


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str | None  # None: no further page
    total: int  # every match in scope, not only this page (see total_exact)
    # name -> [(value, count)], count descending then value ascending, at most facet_size.
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    total_exact: bool = True  # False: there are at least ``total`` matches (request.total_limit)


class SearchBackend(Protocol):
    """Where documents are indexed and searched. All methods raise ``SearchBackendError``
    when the backend is unavailable; ``search`` raises ``InvalidCursorError`` for a bad cursor."""

    name: str

    async def index(self, docs: Sequence[SearchDocument]) -> None:
        """Insert or replace documents by msgid (idempotent: at-least-once delivery)."""
        ...

    async def delete(self, message_ids: Sequence[int]) -> None:
        """Remove documents of messages that left the archive (retention); unknown ids are ignored."""
        ...

    async def search(self, request: SearchRequest) -> SearchPage: ...

    async def health(self) -> bool: ...

    async def reindex(
        self,
        batches: AsyncIterator[Sequence[SearchDocument]],
        progress: Callable[[int], None] | None = None,
    ) -> str:
        """Build a new versioned index from ``batches``, then switch to it atomically.

        Searches keep working on the old index meanwhile; documents indexed by ``index``
        during the rebuild must not be lost (write them to both, or re-apply them). Calls
        ``progress(n)`` with the number of documents just written. Returns the new version."""
        ...

    async def close(self) -> None: ...
