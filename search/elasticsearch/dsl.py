"""Compiling the typed query AST to Elasticsearch query DSL (values are data, never spliced).

Text semantics are those of ``search.matching`` (exact substrings of the folded text) over
the ``chars`` field, one token per character (``search.elasticsearch.grams``):

* a 1-character term is a term query on its code, a longer term or phrase the
  ``match_phrase`` of its codes;
* ``A NEAR/n B`` is an ``intervals`` query: A then B, or B then A, with at most ``n``
  positions (= characters) between them, plus the strings an occurrence of A and one of B
  form when they overlap (``search.matching.near`` counts an overlap as distance 0; ordered
  intervals cannot overlap, so those cases are spelled out as the merged phrases).

Filters, the corp and the caller's scope are ``filter`` clauses (no scoring, cached).
Scores depend on the query and the document only (see ``text_query``), never on corpus
statistics, like the embedded backend's: relevance pages stay stable under inserts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from search.backend import SearchScope
from search.elasticsearch.grams import char_tokens, encode_char
from search.query import And, Filter, MatchAll, Near, Not, Or, Phrase, Query, Term

Dsl = dict[str, Any]

_KEYWORD_FILTERS = {
    "from": "sender",
    "to": "recipients",
    "room": "roomid",
    "customer": "customer_ids",
    "type": "msgtype",
    "severity": "severities",
    "sentiment": "sentiment",
}


def text_query(folded: str) -> Dsl:
    """Documents whose folded text contains ``folded`` (not empty). Relevance: with the
    field's boolean similarity a match scores its boost, the needle's length, so documents
    matching more (and longer) parts of the query rank first; ties go newest first."""
    if len(folded) == 1:
        return {"term": {"chars": {"value": encode_char(folded), "boost": 1.0}}}
    return {"match_phrase": {"chars": {"query": char_tokens(folded), "boost": float(len(folded))}}}


def _interval(folded: str) -> Dsl:
    return {"match": {"query": char_tokens(folded), "max_gaps": 0, "ordered": True}}


def _ordered(first: str, second: str, distance: int) -> Dsl:
    return {"all_of": {"intervals": [_interval(first), _interval(second)], "ordered": True, "max_gaps": distance}}


def _overlaps(left: str, right: str) -> list[str]:
    """Every string an occurrence of ``left`` overlapping one of ``right`` forms."""
    merged: set[str] = set()
    for offset in range(-(len(right) - 1), len(left)):  # start of right relative to left
        start = min(0, offset)
        end = max(len(left), offset + len(right))
        chars: list[str | None] = [None] * (end - start)
        consistent = True
        for base, text in ((-start, left), (offset - start, right)):
            for i, char in enumerate(text):
                if chars[base + i] not in (None, char):
                    consistent = False
                    break
                chars[base + i] = char
            if not consistent:
                break
        if consistent:
            merged.add("".join(char or "" for char in chars))
    return sorted(merged)


def near_query(left: str, right: str, distance: int) -> Dsl:
    clauses: list[Dsl] = [
        {
            "intervals": {
                "chars": {"any_of": {"intervals": [_ordered(left, right, distance), _ordered(right, left, distance)]}}
            }
        }
    ]
    clauses += [text_query(merged) for merged in _overlaps(left, right)]
    return {"bool": {"should": clauses, "minimum_should_match": 1, "boost": float(len(left) + len(right))}}


def filter_query(query: Filter) -> Dsl:
    field, value = query.field, query.value
    if field in _KEYWORD_FILTERS:
        return {"term": {_KEYWORD_FILTERS[field]: value}}
    if field == "dept":
        return {"terms": {"department_ids": sorted(query.departments())}}
    if field in ("after", "before"):
        assert query.at is not None, "after:/before: filters carry their instant (search.query.parse_query)"
        bound = "gte" if field == "after" else "lt"
        return {"range": {"msgtime": {bound: query.at.isoformat()}}}
    if field == "has":
        return {"term": {"has_media" if value == "media" else "has_hit": True}}
    if field == "rule":  # a rule id or a category
        return {"bool": {"should": [{"term": {"rules": value}}, {"term": {"categories": value}}]}}
    raise ValueError(f"unknown filter field {field!r}")


def compile_query(query: Query) -> Dsl:
    if isinstance(query, Term | Phrase):
        return text_query(query.text)
    if isinstance(query, Near):
        return near_query(query.left.text, query.right.text, query.distance)
    if isinstance(query, Filter):
        return {"bool": {"filter": [filter_query(query)]}}
    if isinstance(query, MatchAll):
        return {"match_all": {}}
    if isinstance(query, Not):
        return {"bool": {"must_not": [compile_query(query.item)]}}
    if isinstance(query, Or):
        return {"bool": {"should": [compile_query(item) for item in query.items], "minimum_should_match": 1}}
    if isinstance(query, And):
        must: list[Dsl] = []
        filters: list[Dsl] = []
        must_not: list[Dsl] = []
        for item in query.items:
            if isinstance(item, Filter):
                filters.append(filter_query(item))
            elif isinstance(item, Not):
                must_not.append(compile_query(item.item))
            else:
                must.append(compile_query(item))
        body: Dsl = {}
        for key, clauses in (("must", must), ("filter", filters), ("must_not", must_not)):
            if clauses:
                body[key] = clauses
        return {"bool": body}
    raise TypeError(f"not a query node: {query!r}")  # pragma: no cover


def scope_filters(corp_id: str | None, scope: SearchScope | None) -> tuple[list[Dsl], list[Dsl]]:
    """``filter`` and ``must_not`` clauses for the corp and the caller's scope."""
    filters: list[Dsl] = []
    must_not: list[Dsl] = []
    if corp_id is not None:
        filters.append({"term": {"corp_id": corp_id}})
    if scope is None:
        return filters, must_not
    if scope.excluded_people:
        must_not.append({"terms": {"participants": sorted(scope.excluded_people)}})
    if scope.excluded_conversation_ids:
        must_not.append(_terms("conversation_id", sorted(scope.excluded_conversation_ids)))
    if scope.member_ids is not None:
        visible: list[Dsl] = []
        if scope.member_ids:
            # A message outside any conversation (a corp switch) is for company-wide scopes
            # only, as everywhere else (``audit.security.scope.conversation_id_visible``).
            by_members: list[Dsl] = [
                {"terms": {"staff_ids": sorted(scope.member_ids)}},
                {"exists": {"field": "conversation_id"}},
            ]
            visible.append({"bool": {"filter": by_members}})
        if scope.conversation_ids:
            visible.append(_terms("conversation_id", sorted(scope.conversation_ids)))
        # No member and no conversation: nothing is visible (an empty ``should`` matches all).
        filters.append({"bool": {"should": visible, "minimum_should_match": 1}} if visible else {"match_none": {}})
    return filters, must_not


# Elasticsearch refuses a ``terms`` query with more values than ``index.max_terms_count``
# (65,536 by default); a scope's conversations are split into several clauses below that.
TERMS_CHUNK = 50_000


def _terms(field: str, values: Sequence[int | str]) -> Dsl:
    chunks = [list(values[start : start + TERMS_CHUNK]) for start in range(0, len(values), TERMS_CHUNK)]
    if len(chunks) == 1:
        return {"terms": {field: chunks[0]}}
    return {"bool": {"should": [{"terms": {field: chunk}} for chunk in chunks], "minimum_should_match": 1}}


def search_query(query: Query, corp_id: str | None, scope: SearchScope | None, words: str | None) -> Dsl:
    """The whole query: the compiled AST, scoped; ``words`` (folded positive text) adds
    relevance from the optional ``es_analyzer`` field without changing what matches."""
    filters, must_not = scope_filters(corp_id, scope)
    body: Dsl = {"must": [compile_query(query)]}
    if filters:
        body["filter"] = filters
    if must_not:
        body["must_not"] = must_not
    if words:
        body["should"] = [{"match": {"words": {"query": words}}}]
    return {"bool": body}
