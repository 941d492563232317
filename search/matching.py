"""The reference semantics of a query over one document, in plain Python.

Backends use it to verify index candidates where their index can over-match (it is the
definition of "no false matches"), and the contract suite uses it as the oracle.
"""

from __future__ import annotations

from search.backend import SearchDocument, SearchScope
from search.query import And, Filter, MatchAll, Near, Not, Or, Phrase, Query, Term


def occurrences(needle: str, haystack: str) -> list[int]:
    """Start offsets of every (also overlapping) occurrence of ``needle`` in ``haystack``."""
    found: list[int] = []
    start = haystack.find(needle)
    while start >= 0:
        found.append(start)
        start = haystack.find(needle, start + 1)
    return found


def near(left: str, right: str, distance: int, folded: str) -> bool:
    """An occurrence of ``left`` and one of ``right`` at most ``distance`` characters apart
    (gap between the end of one and the start of the other, in either order)."""
    lefts = occurrences(left, folded)
    if not lefts:
        return False
    rights = occurrences(right, folded)
    for a in lefts:
        for b in rights:
            gap = b - (a + len(left)) if b >= a else a - (b + len(right))
            if gap <= distance:
                return True
    return False


def matches(query: Query, doc: SearchDocument, folded: str) -> bool:
    """Whether ``doc`` (with ``folded`` = ``fold_text(doc.text)``) satisfies ``query``."""
    if isinstance(query, Term | Phrase):
        return query.text in folded
    if isinstance(query, And):
        return all(matches(item, doc, folded) for item in query.items)
    if isinstance(query, Or):
        return any(matches(item, doc, folded) for item in query.items)
    if isinstance(query, Not):
        return not matches(query.item, doc, folded)
    if isinstance(query, Near):
        return near(query.left.text, query.right.text, query.distance, folded)
    if isinstance(query, Filter):
        return filter_matches(query, doc)
    if isinstance(query, MatchAll):
        return True
    raise TypeError(f"not a query node: {query!r}")  # pragma: no cover


def filter_matches(query: Filter, doc: SearchDocument) -> bool:
    field, value = query.field, query.value
    if field == "from":
        return doc.sender == value
    if field == "to":
        return value in doc.recipients
    if field == "room":
        return doc.roomid == value
    if field == "customer":
        return value in doc.customer_ids
    if field == "dept":
        return not query.departments().isdisjoint(doc.department_ids)
    if field == "type":
        return doc.msgtype == value
    if field == "after":
        assert query.at is not None
        return doc.msgtime >= query.at
    if field == "before":
        assert query.at is not None
        return doc.msgtime < query.at
    if field == "has":
        return doc.has_media if value == "media" else bool(doc.rules)
    if field == "rule":
        # A rule id or a category ("off_platform_contact" finds every rule of that category).
        return value in doc.rules or value in doc.categories
    if field == "severity":
        return value in doc.severities
    if field == "sentiment":
        return doc.sentiment == value
    raise ValueError(f"unknown filter field {field!r}")  # pragma: no cover


def participants(doc: SearchDocument) -> set[str]:
    return {doc.sender, *doc.recipients, *doc.staff_ids, *doc.customer_ids}


def in_scope(doc: SearchDocument, scope: SearchScope | None) -> bool:
    if scope is None:
        return True
    if scope.excluded_people and not scope.excluded_people.isdisjoint(participants(doc)):
        return False
    if doc.conversation_id is not None and doc.conversation_id in scope.excluded_conversation_ids:
        return False
    if scope.member_ids is None:
        return True
    if doc.conversation_id is None:  # outside any conversation: company-wide scopes only
        return False
    return not scope.member_ids.isdisjoint(doc.staff_ids) or doc.conversation_id in scope.conversation_ids
