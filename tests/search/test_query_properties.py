"""The query language under property-based testing (hypothesis): whatever an officer types,
the parser either returns a query or raises ``QuerySyntaxError`` with a position inside the
text, and every query it returns can be run: by the reference semantics, by the embedded
backend over a real index, and compiled to an Elasticsearch query that the node accepts
(bool queries nested at most 20 deep, Elasticsearch's own limit)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.text.fold import fold_text
from search.backend import SearchRequest, SearchScope
from search.elasticsearch.dsl import search_query
from search.embedded import EmbeddedBackend
from search.errors import QuerySyntaxError
from search.matching import matches
from search.query import FILTER_FIELDS, MAX_QUERY_LENGTH, Query, parse_query, resolve_departments
from tests.search.corpus import build_corpus

EXAMPLES = 300
ELASTICSEARCH_MAX_BOOL_DEPTH = 20
SAMPLE_DOCS = build_corpus(size=5).docs
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of the language, so that the generated text is mostly near-valid queries (random
# text alone rarely gets past the tokenizer's first error).
KEYWORDS = st.sampled_from(["AND", "OR", "NOT", "and", "or", "not", "-", "NEAR", "NEAR/3", "near/0", "NEAR/99999"])
BRACKETS = st.sampled_from(["(", ")", "((", "))", '"', "\\"])
DATES = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from(["0001-01-01", "9999-12-31", "1900-01-01", "2199-12-31", "2200-01-01", "20261101", "2026-W44-1"]),
)
FILTER_VALUES = st.one_of(
    DATES,
    st.integers(min_value=-1, max_value=2**70).map(str),
    st.sampled_from(["media", "hit", "HIGH", "negative", "image", "²", "٣", ""]),
    st.text(max_size=12),
)
FILTERS = st.builds(
    lambda name, value, quoted: f'{name}:"{value}"' if quoted else f"{name}:{value}",
    st.sampled_from([*FILTER_FIELDS, "form", "After"]),
    FILTER_VALUES,
    st.booleans(),
)
WORDS = st.one_of(st.sampled_from(["返利", "微信", "ＶＸ", "轉賬", "a", "加 我"]), st.text(min_size=1, max_size=8))
PIECES = st.one_of(KEYWORDS, BRACKETS, FILTERS, WORDS, WORDS.map(lambda word: f'"{word}"'))
QUERIES = st.one_of(
    st.lists(PIECES, max_size=40).map(" ".join),
    st.lists(PIECES, max_size=40).map("".join),
    st.text(max_size=200),
    # Long repetitions: nesting, negation chains and the length limit.
    st.builds(lambda piece, count: piece * count, PIECES, st.integers(min_value=1, max_value=700)),
)


def parsed_or_refused(text: str) -> Query | None:
    """The query, or None when the parser refused it properly (any other error fails)."""
    refused: QuerySyntaxError | None = None
    try:
        return resolve_departments(parse_query(text), lambda dept: {dept})
    except QuerySyntaxError as error:
        refused = error
    assert 0 <= refused.position <= max(len(text), MAX_QUERY_LENGTH), refused
    assert refused.message
    return None


def bool_depth(dsl: Any) -> int:
    if isinstance(dsl, dict):
        inner = max((bool_depth(value) for value in dsl.values()), default=0)
        return inner + (1 if "bool" in dsl else 0)
    if isinstance(dsl, list):
        return max((bool_depth(item) for item in dsl), default=0)
    return 0


@PROPERTY
@given(text=QUERIES)
def test_parse_returns_a_query_or_a_positioned_syntax_error(text: str) -> None:
    query = parsed_or_refused(text)
    if query is None:
        return
    for doc in SAMPLE_DOCS:
        matches(query, doc, fold_text(doc.text))
    body = search_query(
        query, "corp", SearchScope(member_ids=frozenset({"zhangsan"}), conversation_ids=frozenset({1})), None
    )
    assert bool_depth(body) <= ELASTICSEARCH_MAX_BOOL_DEPTH


@pytest.fixture(scope="module")
def embedded_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("properties") / "search"

    async def index() -> None:
        backend = EmbeddedBackend(path)
        try:
            await backend.index(build_corpus().docs)
        finally:
            await backend.close()

    asyncio.run(index())
    return path


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=QUERIES)
def test_every_parsed_query_runs_on_the_embedded_backend(embedded_index: Path, text: str) -> None:
    query = parsed_or_refused(text)
    if query is None:
        return

    async def search() -> None:
        backend = EmbeddedBackend(embedded_index)
        try:
            await backend.search(SearchRequest(query, limit=5))
        finally:
            await backend.close()

    asyncio.run(search())
