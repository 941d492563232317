"""Compiling a query AST to SQL over the embedded index (parameters bound, never spliced).

Text that FTS5 can answer exactly (terms, phrases and their AND/OR/NOT combinations) becomes
one FTS5 expression over character pairs; when the top level is such an expression it
drives the query in rowid (= newest-first) order, so a page costs a few index reads. The
rest (filters, NEAR, negations without a positive text part) becomes conditions on ``d``
(the ``docs`` row). NEAR selects candidates containing both sides and then checks the
distance on the folded text (``wa_near``), so it never over-matches.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from search.backend import SearchScope
from search.embedded.grams import match_expression, needs_verification
from search.embedded.store import TIME_SHIFT
from search.query import And, Filter, MatchAll, Near, Not, Or, Phrase, Query, Term, positive_texts

_COLUMN_FILTERS = {"from": "d.sender", "room": "d.roomid", "type": "d.msgtype", "sentiment": "d.sentiment"}
_VALUE_FILTERS = {"to": ("to",), "customer": ("customer",), "severity": ("severity",), "rule": ("rule", "category")}


@dataclass
class Plan:
    """``match``: the FTS5 expression driving the query (``None``: scan ``docs`` by id);
    ``where``: further conditions on ``d``; ``params`` in order of ``where``."""

    match: str | None = None
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    # Top-level after:/before: as a row-id range (row ids are time-ordered), so FTS5 itself
    # skips everything outside it.
    low: int | None = None
    high: int | None = None

    def key(self) -> str:
        """The row id column in order: FTS5's own when it drives (no sort needed)."""
        return "d.id" if self.match is None else "g.rowid"

    def bounds(self) -> tuple[str, list[Any]]:
        sql, params = "", list[Any]()
        if self.low is not None:
            sql, params = sql + f" AND {self.key()} >= ?", [*params, self.low]
        if self.high is not None:
            sql, params = sql + f" AND {self.key()} < ?", [*params, self.high]
        return sql, params

    def add(self, sql: str, params: list[Any]) -> None:
        self.where.append(sql)
        self.params.extend(params)

    def condition(self) -> str:
        return " AND ".join(f"({sql})" for sql in self.where) if self.where else "1"


SELECTIVE_FIELDS = ("from", "room", "to", "customer")


def plan(
    query: Query,
    corp_id: str | None,
    scope: SearchScope | None,
    selective: Callable[[Filter], bool] = lambda _: False,
) -> Plan:
    """``selective(filter)`` says whether a top-level ``from:``/``room:``/``to:``/``customer:``
    filter selects few enough documents to read them all and test the text on each (cheaper
    than walking a common term's matches); the backend answers it from an index count."""
    result = Plan()
    items = list(query.items) if isinstance(query, And) else [query]
    if any(isinstance(item, Filter) and item.field in SELECTIVE_FIELDS and selective(item) for item in items):
        for item in items:
            if isinstance(item, Filter) and item.field in ("after", "before"):
                result.add(*condition(item))
            else:
                result.add(*scan_condition(item))
        _add_common(result, corp_id, scope)
        return result
    in_fts = [_fts_part(item) for item in items]
    if any(item is not None and not isinstance(item, Not) for item in in_fts):
        result.match = _join_and([item for item in in_fts if item is not None])
        items = [item for item, part in zip(items, in_fts, strict=True) if part is None]
    for item in items:
        if isinstance(item, Filter) and item.field in ("after", "before"):
            bound = _row_id(item)
            if item.field == "after":
                result.low = bound if result.low is None else max(result.low, bound)
            else:
                result.high = bound if result.high is None else min(result.high, bound)
            continue
        result.add(*condition(item))
    _add_common(result, corp_id, scope)
    return result


def _add_common(result: Plan, corp_id: str | None, scope: SearchScope | None) -> None:
    if corp_id is not None:
        result.add("d.corp_id = ?", [corp_id])
    if scope is not None:
        _add_scope(result, scope)


def scan_condition(query: Query) -> tuple[str, list[Any]]:
    """Like ``condition`` but testing text on the row's folded text instead of the index
    (for the few rows a selective filter leaves)."""
    if isinstance(query, Term | Phrase):
        return "instr(d.folded, ?) > 0", [query.text]
    if isinstance(query, Near):
        return "wa_near(d.folded, ?, ?, ?)", [query.left.text, query.right.text, query.distance]
    if isinstance(query, And | Or):
        joiner = " AND " if isinstance(query, And) else " OR "
        parts = [scan_condition(item) for item in query.items]
        return joiner.join(f"({sql})" for sql, _ in parts), [param for _, params in parts for param in params]
    if isinstance(query, Not):
        sql, params = scan_condition(query.item)
        return f"NOT ({sql})", params
    return condition(query)


def fts_expression(query: Query) -> str | None:
    """The exact FTS5 expression for a pure-text query, or ``None`` if it needs SQL."""
    if isinstance(query, Term | Phrase):
        return None if needs_verification(query.text) else match_expression(query.text)
    if isinstance(query, Or):
        parts = [fts_expression(item) for item in query.items]
        if any(part is None for part in parts):
            return None
        return "(" + " OR ".join(f"({part})" for part in parts) + ")"
    if isinstance(query, And):
        if any(_fts_part(item) is None for item in query.items) or all(isinstance(item, Not) for item in query.items):
            return None
        return _join_and(list(query.items))
    return None


def _fts_part(query: Query) -> Query | None:
    """``query`` if it can be one operand of an FTS5 AND (a NOT only there: FTS5's NOT is binary)."""
    if isinstance(query, Not):
        return query if fts_expression(query.item) is not None else None
    return query if fts_expression(query) is not None else None


def _join_and(items: list[Query]) -> str:
    positives = [item for item in items if not isinstance(item, Not)]
    negatives = [item.item for item in items if isinstance(item, Not)]
    expression = " AND ".join(f"({fts_expression(item)})" for item in positives)
    for negative in negatives:
        expression = f"({expression}) NOT ({fts_expression(negative)})"
    return expression


def _match_in(expression: str) -> tuple[str, list[Any]]:
    return "d.id IN (SELECT rowid FROM grams WHERE grams MATCH ?)", [expression]


def _values_in(kinds: tuple[str, ...], values: list[str]) -> tuple[str, list[Any]]:
    kind_marks = ", ".join("?" for _ in kinds)
    value_marks = ", ".join("?" for _ in values)
    return (
        f"d.id IN (SELECT doc FROM doc_values WHERE kind IN ({kind_marks}) AND value IN ({value_marks}))",
        [*kinds, *values],
    )


def condition(query: Query) -> tuple[str, list[Any]]:
    """A SQL condition on ``d`` equivalent to ``query``."""
    expression = fts_expression(query)
    if expression is not None:
        return _match_in(expression)
    if isinstance(query, Term | Phrase):  # contains characters the index only marks
        return (
            "d.id IN (SELECT rowid FROM grams WHERE grams MATCH ?) AND instr(d.folded, ?) > 0",
            [match_expression(query.text), query.text],
        )
    if isinstance(query, And | Or):
        joiner = " AND " if isinstance(query, And) else " OR "
        parts = [condition(item) for item in query.items]
        return joiner.join(f"({sql})" for sql, _ in parts), [param for _, params in parts for param in params]
    if isinstance(query, Not):
        sql, params = condition(query.item)
        return f"NOT ({sql})", params
    if isinstance(query, Near):
        both = f"({match_expression(query.left.text)}) AND ({match_expression(query.right.text)})"
        return (
            "d.id IN (SELECT rowid FROM grams WHERE grams MATCH ?) AND wa_near(d.folded, ?, ?, ?)",
            [both, query.left.text, query.right.text, query.distance],
        )
    if isinstance(query, Filter):
        return _filter(query)
    if isinstance(query, MatchAll):
        return "1", []
    raise TypeError(f"cannot compile {query!r}")  # pragma: no cover


def _filter(query: Filter) -> tuple[str, list[Any]]:
    if query.field in _COLUMN_FILTERS:
        return f"{_COLUMN_FILTERS[query.field]} = ?", [query.value]
    if query.field in _VALUE_FILTERS:
        return _values_in(_VALUE_FILTERS[query.field], [query.value])
    if query.field == "dept":
        return _values_in(("dept",), [str(dept) for dept in sorted(query.departments())])
    if query.field in ("after", "before"):
        return ("d.id >= ?" if query.field == "after" else "d.id < ?"), [_row_id(query)]
    if query.field == "has":
        return ("d.has_media = 1" if query.value == "media" else "d.has_hit = 1"), []
    raise ValueError(f"unknown filter field {query.field!r}")  # pragma: no cover


def _row_id(query: Filter) -> int:
    assert query.at is not None
    return int(query.at.timestamp() * 1000) << TIME_SHIFT


# Up to this many ids are bound one parameter each (as before ADR 0021); beyond, one JSON
# parameter: a scope may carry more conversation ids than SQLite accepts parameters.
BOUND_IDS_LIMIT = 500


def _ids_in(column: str, ids: frozenset[int]) -> tuple[str, list[Any]]:
    ordered = sorted(ids)
    if len(ordered) <= BOUND_IDS_LIMIT:
        return f"{column} IN ({', '.join('?' for _ in ordered)})", list(ordered)
    return f"{column} IN (SELECT value FROM json_each(?))", [json.dumps(ordered)]


def _add_scope(result: Plan, scope: SearchScope) -> None:
    if scope.excluded_people:
        # Participants: the sender plus recipients, staff and customers (multi-valued rows).
        people = sorted(scope.excluded_people)
        sql, params = _values_in(("to", "staff", "customer"), people)
        marks = ", ".join("?" for _ in people)
        result.add(f"NOT (d.sender IN ({marks}) OR {sql})", [*people, *params])
    if scope.excluded_conversation_ids:
        sql, params = _ids_in("d.conversation_id", scope.excluded_conversation_ids)
        result.add(f"d.conversation_id IS NULL OR NOT ({sql})", params)
    if scope.member_ids is not None:
        # A message outside any conversation (a corp switch) is for company-wide scopes only,
        # as everywhere else (``audit.security.scope.conversation_id_visible``).
        parts: list[str] = []
        params = []
        if scope.member_ids:
            staff_sql, staff_params = _values_in(("staff",), sorted(scope.member_ids))
            parts.append(f"d.conversation_id IS NOT NULL AND {staff_sql}")
            params.extend(staff_params)
        if scope.conversation_ids:
            granted_sql, granted_params = _ids_in("d.conversation_id", scope.conversation_ids)
            parts.append(granted_sql)
            params.extend(granted_params)
        result.add(" OR ".join(f"({part})" for part in parts) if parts else "0", params)


def score_expression(query: Query) -> tuple[str, list[Any]]:
    """A relevance score computed from the document alone (so keyset pagination stays
    stable while the corpus grows): occurrences of the positive terms weighted by their
    length, over the text length. Pure SQL functions, so it runs at C speed."""
    needles = sorted({node.text for node in positive_texts(query)})
    if not needles:
        return "0.0", []
    parts = ["(length(d.folded) - length(replace(d.folded, ?, ''))) * 1.0" for _ in needles]
    return f"(({' + '.join(parts)}) / (length(d.folded) + 10))", needles
