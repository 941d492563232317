"""The SearchBackend contract: the same tests, unchanged, against every backend.

Exact recall of 1- to 4-character Chinese terms, phrases and mixed strings (also written in
traditional characters, full width or upper case) on a corpus with known occurrences and no
false matches; boolean, NEAR and filter semantics; scopes; highlight offsets in the original
text; facet counts; stable pagination while new messages arrive; idempotent upserts,
deletes, and a reindex that never interrupts searching.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import pytest

from audit.text.fold import fold_text
from config.settings import SearchSettings
from search.backend import SearchBackend, SearchDocument, SearchPage, SearchRequest, SearchScope
from search.embedded import EmbeddedBackend
from search.errors import InvalidCursorError
from search.matching import in_scope, matches
from search.query import parse_query, resolve_departments
from tests.search.corpus import START, Corpus, build_corpus, filler, make_document

T = TypeVar("T")
Sort = Literal["newest", "relevance"]
BackendFactory = Callable[[], SearchBackend]

# dept 1 is the root; 2 and 3 sit below it, 4 below 3.
DEPARTMENT_PARENTS = {1: None, 2: 1, 3: 1, 4: 3}


def _subtree(dept: int) -> set[int]:
    found = {dept}
    changed = True
    while changed:
        changed = False
        for child, parent in DEPARTMENT_PARENTS.items():
            if parent in found and child not in found:
                found.add(child)
                changed = True
    return found


@pytest.fixture(params=["embedded", "elasticsearch"])
def search_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """A factory of backends over one fresh index (each asyncio.run opens its own client)."""
    if request.param == "embedded":
        yield lambda: EmbeddedBackend(tmp_path / "search")
        return
    url = request.getfixturevalue("elasticsearch_url")
    from search.elasticsearch import ElasticsearchBackend

    settings = SearchSettings(
        backend="elasticsearch", es_urls=[url], es_index_prefix=f"contract-{uuid.uuid4().hex[:10]}"
    )
    yield lambda: ElasticsearchBackend(settings)


def run(factory: BackendFactory, action: Callable[[SearchBackend], Awaitable[T]]) -> T:
    async def body() -> T:
        backend = factory()
        try:
            return await action(backend)
        finally:
            await backend.close()

    return asyncio.run(body())


@pytest.fixture
def corpus(search_backend: BackendFactory) -> Corpus:
    built = build_corpus()
    run(search_backend, lambda backend: backend.index(built.docs))
    return built


def search_all(factory: BackendFactory, text: str, **options: Any) -> SearchPage:
    query = resolve_departments(parse_query(text), _subtree)
    return run(factory, lambda backend: backend.search(SearchRequest(query, limit=500, **options)))


def msgids(page: SearchPage) -> set[str]:
    return {hit.msgid for hit in page.hits}


def expected(corpus: Corpus, text: str, scope: SearchScope | None = None, corp_id: str | None = None) -> set[str]:
    """The reference semantics (search.matching) over the corpus."""
    query = resolve_departments(parse_query(text), _subtree)
    return {
        doc.msgid
        for doc in corpus.docs
        if matches(query, doc, fold_text(doc.text))
        and in_scope(doc, scope)
        and (corp_id is None or doc.corp_id == corp_id)
    }


# --- exact recall, no false matches -----------------------------------------------------------


def test_the_corpus_plants_what_the_reference_semantics_find(corpus: Corpus) -> None:
    for term, planted in corpus.planted.items():
        assert planted, term
        query_text = f'"{term}"' if " " in term else term
        assert expected(corpus, query_text) == planted, term


@pytest.mark.parametrize(
    ("query", "term"),
    [
        ("鑫", "鑫"),  # one character
        ("返利", "返利"),  # two
        ("零风险", "零风险"),  # three
        ("零風險", "零风险"),  # three, asked in traditional characters
        ("私下转账", "私下转账"),  # four
        ("私下轉賬", "私下转账"),
        ("vx123", "vx123"),  # mixed Latin and digits
        ("ＶＸ１２３", "vx123"),  # full width
        ("VX123", "vx123"),  # upper case
        ('"好 处费"', "好 处费"),  # a phrase with a space
    ],
)
def test_terms_find_exactly_the_documents_they_occur_in(
    search_backend: BackendFactory, corpus: Corpus, query: str, term: str
) -> None:
    page = search_all(search_backend, query)
    assert msgids(page) == corpus.planted[term]
    assert page.total == len(corpus.planted[term])


@pytest.mark.parametrize("query", ["利", "风险", "转", "vx", "x1", "23", "处费", "返", "下转"])
def test_substrings_of_planted_terms_match_exactly(search_backend: BackendFactory, corpus: Corpus, query: str) -> None:
    page = search_all(search_backend, query)
    assert msgids(page) == expected(corpus, query)
    assert page.total == len(expected(corpus, query))


@pytest.mark.parametrize("query", ["利返", "鑫鑫", "零风险私", "vx1234", "好处费", '"返利 "', '"x 1"'])
def test_strings_that_do_not_occur_match_nothing(search_backend: BackendFactory, corpus: Corpus, query: str) -> None:
    page = search_all(search_backend, query)
    assert page.hits == []
    assert page.total == 0


def test_filler_characters_of_every_length_match_exactly(search_backend: BackendFactory, corpus: Corpus) -> None:
    rng = random.Random(3)
    for _ in range(12):
        doc = rng.choice(corpus.docs)
        start = rng.randrange(0, 2)
        for length in (1, 2, 3, 4):
            needle = doc.text[start : start + length]
            assert msgids(search_all(search_backend, needle)) == expected(corpus, needle), needle


# --- boolean, NEAR, filters, scope -------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "返利 鑫",
        "返利 AND 鑫",
        "返利 OR 鑫",
        "返利 -鑫",
        "返利 AND NOT 鑫",
        "NOT 返利",
        "(返利 OR 零风险) 私下转账",
        "返利 AND NOT (鑫 OR vx123)",
        '"好 处费" OR (vx123 -返利)',
        "返利 OR from:lisi",
        "NOT (返利 OR 鑫) from:zhangsan",
    ],
)
def test_boolean_queries(search_backend: BackendFactory, corpus: Corpus, query: str) -> None:
    page = search_all(search_backend, query)
    assert msgids(page) == expected(corpus, query)
    assert page.total == len(expected(corpus, query))


def test_near_counts_the_characters_between_the_two_terms(search_backend: BackendFactory) -> None:
    rng = random.Random(9)
    docs = [
        make_document(1, "返利鑫", rng),  # gap 0
        make_document(2, "返利" + "的" * 3 + "鑫", rng),  # gap 3
        make_document(3, "返利" + "的" * 4 + "鑫", rng),  # gap 4
        make_document(4, "鑫" + "的" * 2 + "返利", rng),  # reversed, gap 2
        make_document(5, "鑫" + "的" * 9 + "返利" + "的" * 5 + "鑫", rng),  # nearest gap 5
        make_document(6, "返利", rng),
    ]
    run(search_backend, lambda backend: backend.index(docs))
    assert msgids(search_all(search_backend, "返利 NEAR/3 鑫")) == {"msg-00001", "msg-00002", "msg-00004"}
    assert msgids(search_all(search_backend, "返利 NEAR/5 鑫")) == {f"msg-0000{n}" for n in (1, 2, 3, 4, 5)}
    assert msgids(search_all(search_backend, "鑫 NEAR/0 返利")) == {"msg-00001"}
    assert msgids(search_all(search_backend, "返利 NEAR/4 鑫 -from:lisi")) == expected(
        Corpus(docs, {}), "返利 NEAR/4 鑫 -from:lisi"
    )


@pytest.mark.parametrize(
    "query",
    [
        "from:zhangsan",
        "from:wmcustomer1 返利",
        "to:wangwu",
        "room:wr-room-a",
        "customer:wmcustomer2",
        "dept:3",  # lisi (3) and wangwu (4, below 3)
        "dept:4",
        "dept:1",
        "type:image",
        "after:2026-11-01 before:2026-11-01",
        f"after:{(START + timedelta(days=1)).date()}",
        f"before:{(START + timedelta(hours=20)).date()}",
        "has:media",
        "has:hit",
        "rule:kickback.cash",
        "rule:pii",  # a category
        "severity:high",
        "sentiment:negative",
        "has:media -type:image 鑫",
        "room:wr-room-b OR room:wr-room-a",
    ],
)
def test_filters(search_backend: BackendFactory, corpus: Corpus, query: str) -> None:
    page = search_all(search_backend, query)
    assert msgids(page) == expected(corpus, query)
    assert page.total == len(expected(corpus, query))


def test_after_and_before_are_read_in_the_query_zone(search_backend: BackendFactory) -> None:
    rng = random.Random(1)
    shanghai_midnight = START.astimezone(ZoneInfo("Asia/Shanghai")).replace(day=2, hour=0)
    docs = [
        make_document(1, "鑫", rng, msgtime=shanghai_midnight - timedelta(seconds=1)),
        make_document(2, "鑫", rng, msgtime=shanghai_midnight),
    ]
    run(search_backend, lambda backend: backend.index(docs))
    assert msgids(search_all(search_backend, "鑫 after:2026-11-02")) == {"msg-00002"}
    assert msgids(search_all(search_backend, "鑫 before:2026-11-02")) == {"msg-00001"}


def test_corp_and_scope(search_backend: BackendFactory, corpus: Corpus) -> None:
    assert msgids(search_all(search_backend, "返利", corp_id="corp-b")) == expected(corpus, "返利", corp_id="corp-b")
    scopes = [
        SearchScope(member_ids=frozenset({"zhangsan"})),
        SearchScope(member_ids=frozenset({"wangwu"}), conversation_ids=frozenset({101, 102})),
        SearchScope(member_ids=frozenset(), conversation_ids=frozenset({103})),
        SearchScope(member_ids=frozenset()),  # nobody and nothing granted: nothing
        SearchScope(excluded_people=frozenset({"wangwu"})),
        SearchScope(member_ids=frozenset({"zhangsan", "lisi"}), excluded_people=frozenset({"wmcustomer1"})),
        # The gate hides a whole conversation a protected person took part in, also the
        # messages they are not in; company-wide and department scopes alike.
        SearchScope(excluded_conversation_ids=frozenset({102})),
        SearchScope(
            member_ids=frozenset({"lisi"}),
            conversation_ids=frozenset({104}),
            excluded_conversation_ids=frozenset({104, 105}),
        ),
    ]
    for scope in scopes:
        for query in ("返利", "", "鑫 OR vx123"):
            page = search_all(search_backend, query, scope=scope)
            assert msgids(page) == expected(corpus, query, scope=scope), (scope, query)
            assert page.total == len(expected(corpus, query, scope=scope))


def test_a_scope_with_more_conversations_than_a_query_takes_parameters(
    search_backend: BackendFactory, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of granted or excluded conversations: SQLite gets them as one JSON parameter,
    Elasticsearch as several ``terms`` clauses (split at 100 here, at 50,000 for real)."""
    from search.elasticsearch import dsl

    monkeypatch.setattr(dsl, "TERMS_CHUNK", 100)
    scope = SearchScope(
        member_ids=frozenset({"wangwu"}),
        conversation_ids=frozenset(range(1000, 1700)) | {103, 105},
        excluded_conversation_ids=frozenset(range(2000, 2600)) | {105},
    )
    for query in ("返利", ""):
        page = search_all(search_backend, query, scope=scope)
        assert msgids(page) == expected(corpus, query, scope=scope), query
        assert page.total == len(expected(corpus, query, scope=scope))


def test_scopes_follow_people_not_the_departments_the_index_stored(search_backend: BackendFactory) -> None:
    """A member moved from department 2 to 3 after their messages were indexed: the index
    still says department 2, but a scope names the members a department has *now*."""
    rng = random.Random(3)
    people = {"sender": "zhangsan", "recipients": ("wmcustomer1",), "customer_ids": ("wmcustomer1",)}
    docs = [
        make_document(number, "返利", rng, **people, staff_ids=("zhangsan",), department_ids=(2,)) for number in (1, 2)
    ]
    assert all(doc.department_ids == (2,) for doc in docs)  # what the index keeps
    run(search_backend, lambda backend: backend.index(docs))
    old_department = SearchScope(member_ids=frozenset({"lisi"}))  # zhangsan has left it
    new_department = SearchScope(member_ids=frozenset({"zhangsan", "wangwu"}))
    assert msgids(search_all(search_backend, "返利", scope=old_department)) == set()
    assert msgids(search_all(search_backend, "返利", scope=new_department)) == {"msg-00001", "msg-00002"}
    assert search_all(search_backend, "dept:2 返利").total == 2  # dept: still asks what was indexed


# --- highlights, facets --------------------------------------------------------------------------


def test_highlights_are_spans_of_the_original_text(search_backend: BackendFactory) -> None:
    rng = random.Random(2)
    text = "客户说零風險，加ＶＸ１２３聊，私下轉賬也行，零风险"
    run(search_backend, lambda backend: backend.index([make_document(1, text, rng)]))
    (hit,) = search_all(search_backend, "零风险 OR vx123 OR 转账 -鑫").hits
    assert hit.text == text
    assert [text[start:end] for start, end in hit.highlights] == ["零風險", "ＶＸ１２３", "轉賬", "零风险"]
    (hit,) = search_all(search_backend, "风 NEAR/2 险").hits
    assert [text[start:end] for start, end in hit.highlights] == ["風險", "风险"]


def test_facet_counts(search_backend: BackendFactory, corpus: Corpus) -> None:
    facets = ("sender", "room", "type", "day", "rule")
    page = search_all(search_backend, "返利 OR 鑫", facets=facets)
    docs = [corpus.by_msgid()[msgid] for msgid in expected(corpus, "返利 OR 鑫")]
    zone = ZoneInfo("Asia/Shanghai")
    counts = {
        "sender": Counter(doc.sender for doc in docs),
        "room": Counter(doc.roomid for doc in docs if doc.roomid),
        "type": Counter(doc.msgtype for doc in docs),
        "day": Counter(doc.msgtime.astimezone(zone).date().isoformat() for doc in docs),
        "rule": Counter(rule for doc in docs for rule in doc.rules),
    }
    for name in facets:
        ordered = sorted(counts[name].items(), key=lambda item: (-item[1], item[0]))[:20]
        assert page.facets[name] == ordered, name


# --- sorting, pagination --------------------------------------------------------------------------


def _pages(
    factory: BackendFactory, text: str, sort: Sort, limit: int, between: Callable[[int], Sequence[SearchDocument]]
) -> list[str]:
    """Every hit of all pages, indexing ``between(page_number)`` after each page."""

    async def body(backend: SearchBackend) -> list[str]:
        seen: list[str] = []
        cursor: str | None = None
        number = 0
        while True:
            request = SearchRequest(parse_query(text), sort=sort, limit=limit, cursor=cursor)
            page = await backend.search(request)
            seen.extend(hit.msgid for hit in page.hits)
            number += 1
            extra = between(number)
            if extra:
                await backend.index(extra)
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    return run(factory, body)


def test_totals_are_exact_up_to_the_total_limit(search_backend: BackendFactory, corpus: Corpus) -> None:
    planted = len(corpus.planted["鑫"])
    exact = search_all(search_backend, "鑫", total_limit=None)
    assert (exact.total, exact.total_exact) == (planted, True)
    roomy = search_all(search_backend, "鑫", total_limit=planted)
    assert (roomy.total, roomy.total_exact) == (planted, True)
    capped = search_all(search_backend, "鑫", total_limit=5)
    # A backend may stop counting at the limit, or count exactly anyway.
    assert (capped.total, capped.total_exact) in {(5, False), (planted, True)}
    assert len(capped.hits) == planted  # the limit bounds the count, never the hits


def test_newest_first_is_by_message_time(search_backend: BackendFactory, corpus: Corpus) -> None:
    page = search_all(search_backend, "鑫")
    times = [hit.msgtime for hit in page.hits]
    assert times == sorted(times, reverse=True)
    assert len(page.hits) == len(corpus.planted["鑫"])


@pytest.mark.parametrize("sort", ["newest", "relevance"])
def test_pagination_is_stable_while_new_messages_arrive(
    search_backend: BackendFactory, corpus: Corpus, sort: Sort
) -> None:
    rng = random.Random(4)
    arrivals = iter(range(10_000, 10_100))

    def newcomers(page_number: int) -> list[SearchDocument]:
        batch = []
        for _ in range(3):
            number = next(arrivals)
            # Newer and older than the page boundary, both containing the term.
            when = START + timedelta(days=30) if number % 2 else START + timedelta(minutes=3 + number % 50)
            batch.append(make_document(number, filler(rng) + "鑫" + filler(rng), rng, msgtime=when))
        return batch

    seen = _pages(search_backend, "鑫", sort, 7, newcomers)
    assert len(seen) == len(set(seen)), "a document appeared on two pages"
    assert corpus.planted["鑫"] <= set(seen), "a document that existed before page one was skipped"


def test_a_cursor_from_another_query_is_refused(search_backend: BackendFactory, corpus: Corpus) -> None:
    page = run(search_backend, lambda backend: backend.search(SearchRequest(parse_query("鑫"), limit=2)))
    assert page.next_cursor is not None
    other = SearchRequest(parse_query("返利"), limit=2, cursor=page.next_cursor)
    with pytest.raises(InvalidCursorError):
        run(search_backend, lambda backend: backend.search(other))
    broken = SearchRequest(parse_query("鑫"), limit=2, cursor="not-a-cursor")
    with pytest.raises(InvalidCursorError):
        run(search_backend, lambda backend: backend.search(broken))


# --- writes -------------------------------------------------------------------------------------


def test_indexing_is_an_idempotent_upsert_by_msgid(search_backend: BackendFactory, corpus: Corpus) -> None:
    run(search_backend, lambda backend: backend.index(corpus.docs[:40]))
    assert search_all(search_backend, "").total == len(corpus.docs)
    target = next(doc for doc in corpus.docs if doc.msgid in corpus.planted["鑫"])
    changed = make_document(target.message_id, "内容已经改了", random.Random(0), msgtime=target.msgtime)
    run(search_backend, lambda backend: backend.index([changed, changed]))
    assert target.msgid not in msgids(search_all(search_backend, "鑫"))
    assert msgids(search_all(search_backend, "改了")) == {target.msgid}
    assert search_all(search_backend, "").total == len(corpus.docs)


def test_delete_removes_documents_by_message_id(search_backend: BackendFactory, corpus: Corpus) -> None:
    gone = sorted(corpus.planted["返利"])[:3]
    ids = [corpus.by_msgid()[msgid].message_id for msgid in gone]
    run(search_backend, lambda backend: backend.delete([*ids, 999_999]))
    assert msgids(search_all(search_backend, "返利")) == corpus.planted["返利"] - set(gone)


def test_reindex_switches_versions_without_interrupting_searches(
    search_backend: BackendFactory, corpus: Corpus
) -> None:
    rng = random.Random(6)
    extra = [make_document(20_000 + n, "新版本" + filler(rng), rng) for n in range(30)]
    late = [make_document(30_000, "重建时到达" + filler(rng), rng)]

    async def body(backend: SearchBackend) -> tuple[str, list[int]]:
        searcher = search_backend()
        totals: list[int] = []
        done = asyncio.Event()

        async def keep_searching() -> None:
            while not done.is_set():
                page = await searcher.search(SearchRequest(parse_query("鑫"), limit=5))
                totals.append(page.total)
                await asyncio.sleep(0)

        async def batches() -> AsyncIterator[Sequence[SearchDocument]]:
            docs = [*corpus.docs, *extra]
            for start in range(0, len(docs), 25):
                yield docs[start : start + 25]
                await asyncio.sleep(0.01)
                if start == 50:  # the indexer delivers a message while the rebuild runs
                    await backend.index(late)

        task = asyncio.create_task(keep_searching())
        try:
            version = await backend.reindex(batches())
        finally:
            done.set()
            await task
            await searcher.close()
        return version, totals

    version, totals = run(search_backend, body)
    assert version
    assert totals and set(totals) == {len(corpus.planted["鑫"])}
    assert len(search_all(search_backend, "新版本").hits) == 30
    assert msgids(search_all(search_backend, "重建时到达")) == {"msg-30000"}
    assert search_all(search_backend, "").total == len(corpus.docs) + 31


async def _empty() -> AsyncIterator[Sequence[SearchDocument]]:
    if False:  # pragma: no cover - an async generator that yields nothing
        yield []


def test_health(search_backend: BackendFactory) -> None:
    assert run(search_backend, lambda backend: backend.health()) is True
