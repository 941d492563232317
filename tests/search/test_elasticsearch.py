"""The Elasticsearch backend against a real node (scripts/elasticsearch.py): exactness of the
character encoding against the reference semantics, the versioned mapping, month/year partitions
behind the alias, idempotent upserts, deletes, the alias flip of ``reindex`` under concurrent
searches, and a clear error when the cluster is unreachable."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from elasticsearch import AsyncElasticsearch

from config.settings import SearchSettings
from search.backend import SearchDocument, SearchRequest
from search.elasticsearch import ElasticsearchBackend, mapping
from search.errors import SearchBackendError
from search.folding import fold_for_index
from search.matching import matches
from search.query import Near, Phrase, Query, Term, parse_query

T = TypeVar("T")


def es_settings(url: str, **overrides: Any) -> SearchSettings:
    """Elasticsearch settings with an index prefix of their own (tests share one node)."""
    return SearchSettings(
        backend="elasticsearch", es_urls=[url], es_index_prefix=f"test-{uuid.uuid4().hex[:10]}", **overrides
    )


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


def document(number: int, text: str, msgtime: datetime | None = None, **overrides: Any) -> SearchDocument:
    values: dict[str, Any] = {
        "msgid": f"msg-{number:05d}",
        "corp_id": "corp",
        "message_id": number,
        "conversation_id": 1 + number % 3,
        "seq": number,
        "msgtime": msgtime or datetime(2026, 11, 1, 8, tzinfo=UTC) + timedelta(minutes=number, microseconds=number),
        "msgtype": "text",
        "sender": f"zhang{number % 4}",
        "recipients": ("li",),
        "roomid": None,
        "customer_ids": (),
        "staff_ids": (f"zhang{number % 4}", "li"),
        "department_ids": (2,),
        "text": text,
        "has_media": False,
        "rules": (),
        "categories": (),
        "severities": (),
        "sentiment": None,
    }
    values.update(overrides)
    return SearchDocument(**values)


async def _cleanup(url: str, prefix: str) -> None:
    client = AsyncElasticsearch(url)
    try:
        await client.options(ignore_status=404).indices.delete(index=f"{prefix}-*", expand_wildcards="all")
        await client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-*")
    finally:
        await client.close()


@pytest.fixture
def settings(elasticsearch_url: str) -> Iterator[SearchSettings]:
    settings = es_settings(elasticsearch_url)
    yield settings
    run(lambda: _cleanup(elasticsearch_url, settings.es_index_prefix))


async def _msgids(backend: ElasticsearchBackend, query: Query, limit: int = 500) -> tuple[set[str], int]:
    page = await backend.search(SearchRequest(query=query, limit=limit))
    return {hit.msgid for hit in page.hits}, page.total


# ------------------------------------------------------------------------ exactness

# Chinese (with traditional forms that fold to it), full-width Latin, digits, punctuation,
# spaces and an emoji: everything the character encoding has to keep apart.
ALPHABET = "返利微信加我發票vx1２，, 😀"


def test_text_queries_match_the_reference_semantics_exactly(settings: SearchSettings) -> None:
    rng = random.Random(7)
    docs = [document(number, "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 16)))) for number in range(300)]
    folded = {doc.msgid: fold_for_index(doc.text) for doc in docs}
    letters = [char for char in ALPHABET if char != " "]
    queries: list[Query] = []
    for length in (1, 2, 3, 4):
        queries += [Term(fold_for_index("".join(rng.choice(letters) for _ in range(length)))) for _ in range(25)]
    for _ in range(20):
        queries.append(Phrase(fold_for_index("".join(rng.choice(ALPHABET) for _ in range(3))).strip() or "a"))
    for _ in range(60):
        left = fold_for_index("".join(rng.choice(letters) for _ in range(rng.randint(1, 3))))
        right = fold_for_index("".join(rng.choice(letters) for _ in range(rng.randint(1, 3))))
        queries.append(Near(Term(left), Term(right), rng.randint(0, 5)))

    async def check() -> list[str]:
        backend = ElasticsearchBackend(settings)
        try:
            await backend.index(docs)
            wrong = []
            for query in queries:
                got, total = await _msgids(backend, query)
                want = {doc.msgid for doc in docs if matches(query, doc, folded[doc.msgid])}
                if got != want or total != len(want):
                    wrong.append(f"{query}: {len(got - want)} false, {len(want - got)} missed")
            return wrong
        finally:
            await backend.close()

    assert run(check) == []


def test_folding_finds_traditional_and_full_width_forms(settings: SearchSettings) -> None:
    docs = [document(1, "返利十個點"), document(2, "返利"), document(3, "加ＶＸ聊"), document(4, "返 利")]

    async def check() -> dict[str, set[str]]:
        backend = ElasticsearchBackend(settings)
        try:
            await backend.index(docs)
            found = {}
            for text in ("返利", "vx", "個", '"返 利"'):
                found[text] = (await _msgids(backend, parse_query(text)))[0]
            return found
        finally:
            await backend.close()

    found = run(check)
    assert found["返利"] == {"msg-00001", "msg-00002"}  # 返利 is the traditional form
    assert found["vx"] == {"msg-00003"}
    assert found["個"] == {"msg-00001"}
    assert found['"返 利"'] == {"msg-00004"}


# ------------------------------------------------------------------------ layout


def test_partitions_by_month_behind_one_alias_with_the_versioned_mapping(settings: SearchSettings) -> None:
    settings.es_partition = "month"
    months = [datetime(2026, month, 15, 12, tzinfo=UTC) for month in (9, 10, 11)]
    docs = [document(number, f"第{number}条", months[number % 3]) for number in range(9)]

    async def check() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], set[str]]:
        backend = ElasticsearchBackend(settings)
        client = AsyncElasticsearch(settings.es_urls)
        try:
            await backend.index(docs)
            prefix = settings.es_index_prefix
            counts = {}
            for name in (await client.indices.get(index=f"{prefix}-*")).body:
                counts[name] = (await client.count(index=name))["count"]
            aliases = (await client.indices.get_alias(name=prefix)).body
            template = (await client.indices.get_index_template(name=f"{prefix}-v1")).body["index_templates"][0]
            found, _ = await _msgids(backend, parse_query("条"))
            return counts, aliases, template, found
        finally:
            await client.close()
            await backend.close()

    counts, aliases, template, found = run(check)
    prefix = settings.es_index_prefix
    expected = {f"{prefix}-v1-2026.09", f"{prefix}-v1-2026.10", f"{prefix}-v1-2026.11"}
    assert counts == dict.fromkeys(expected, 3)
    assert set(aliases) == expected  # the alias covers every partition
    assert template["index_template"]["_meta"]["state"] == "active"
    assert template["index_template"]["_meta"]["mapping_version"] == mapping.MAPPING_VERSION
    body = template["index_template"]["template"]
    assert body["mappings"]["dynamic"] == "strict"
    assert body["mappings"]["properties"]["chars"]["analyzer"] == mapping.CHARS_ANALYZER
    assert found == {doc.msgid for doc in docs}


def test_year_partitions_by_default(settings: SearchSettings) -> None:
    assert settings.es_partition == "year"
    docs = [
        document(1, "去年", datetime(2025, 12, 31, 23, tzinfo=UTC)),
        document(2, "今年", datetime(2026, 1, 1, tzinfo=UTC)),
    ]

    async def names() -> set[str]:
        backend = ElasticsearchBackend(settings)
        client = AsyncElasticsearch(settings.es_urls)
        try:
            await backend.index(docs)
            return set((await client.indices.get(index=f"{settings.es_index_prefix}-*")).body)
        finally:
            await client.close()
            await backend.close()

    prefix = settings.es_index_prefix
    assert run(names) == {f"{prefix}-v1-2025", f"{prefix}-v1-2026"}


def test_shards_and_replicas_come_from_the_settings(settings: SearchSettings) -> None:
    settings.es_shards = 2

    async def index_settings() -> dict[str, Any]:
        backend = ElasticsearchBackend(settings)
        client = AsyncElasticsearch(settings.es_urls)
        try:
            await backend.index([document(1, "分片")])
            body = (await client.indices.get_settings(index=f"{settings.es_index_prefix}-*")).body
            index: dict[str, Any] = next(iter(body.values()))["settings"]["index"]
            return index
        finally:
            await client.close()
            await backend.close()

    index = run(index_settings)
    assert (index["number_of_shards"], index["number_of_replicas"]) == ("2", "0")


def test_upserts_are_idempotent_and_deletes_remove(settings: SearchSettings) -> None:
    docs = [document(number, "重复投递") for number in range(5)]

    async def check() -> tuple[int, set[str], set[str], int]:
        backend = ElasticsearchBackend(settings)
        try:
            await backend.index(docs)
            await backend.index(docs)  # at-least-once delivery: the same batch again
            await backend.index([document(0, "改过的内容")])  # a replaced document
            _, total = await _msgids(backend, parse_query("重复投递"))
            changed, _ = await _msgids(backend, parse_query("改过"))
            await backend.delete([1, 2, 999])
            left, _ = await _msgids(backend, parse_query("重复投递"))
            everything = await backend.search(SearchRequest(query=parse_query("")))
            return total, changed, left, everything.total
        finally:
            await backend.close()

    total, changed, left, everything = run(check)
    assert total == 4
    assert changed == {"msg-00000"}
    assert left == {"msg-00003", "msg-00004"}
    assert everything == 3


# ------------------------------------------------------------------------ reindex


async def _batches(
    docs: Sequence[SearchDocument], size: int, pause_s: float
) -> AsyncIterator[Sequence[SearchDocument]]:
    for start in range(0, len(docs), size):
        await asyncio.sleep(pause_s)  # a slow database read: searches run meanwhile
        yield docs[start : start + size]


def test_reindex_while_searching_never_errors_and_results_stay_complete(settings: SearchSettings) -> None:
    settings.es_partition = "month"  # several partitions flip in one call
    months = [datetime(2026, month, 3, tzinfo=UTC) for month in (10, 11)]
    docs = [
        document(number, f"合同{number}号", months[number % 2] + timedelta(minutes=number)) for number in range(400)
    ]
    late = document(1000, "合同补充", months[1] + timedelta(days=1))

    async def check() -> tuple[list[int], list[str], str, set[str], int, list[int], list[dict[str, Any]]]:
        backend = ElasticsearchBackend(settings)
        other_process = ElasticsearchBackend(settings)  # another indexer, unaware of the reindex
        totals: list[int] = []
        errors: list[str] = []
        done = asyncio.Event()
        try:
            await backend.index(docs)

            async def search_loop() -> None:
                while not done.is_set():
                    try:
                        page = await backend.search(SearchRequest(query=parse_query("合同"), limit=10))
                        totals.append(page.total)
                    except Exception as error:  # the assertion below reports it
                        errors.append(repr(error))

            async def write_during_rebuild() -> None:
                # A message stored after the rebuild began (so not in its database scan).
                client = AsyncElasticsearch(settings.es_urls)
                try:
                    template = mapping.template_name(settings.es_index_prefix, 2)
                    while not await client.indices.exists_index_template(name=template):
                        await asyncio.sleep(0.05)
                finally:
                    await client.close()
                await other_process.index([late])

            loop = asyncio.create_task(search_loop())
            writer = asyncio.create_task(write_during_rebuild())
            progress: list[int] = []
            version = await backend.reindex(_batches(docs, 50, 0.1), progress.append)
            await writer
            done.set()
            await loop
            client = AsyncElasticsearch(settings.es_urls)
            try:
                names = set((await client.indices.get(index=f"{settings.es_index_prefix}-*")).body)
                body = (await client.indices.get_settings(index=f"{settings.es_index_prefix}-*")).body
                index_settings = [item["settings"]["index"] for item in body.values()]
            finally:
                await client.close()
            final = await backend.search(SearchRequest(query=parse_query("合同")))
            return totals, errors, version, names, final.total, progress, index_settings
        finally:
            await other_process.close()
            await backend.close()

    totals, errors, version, names, final_total, progress, index_settings = run(check)
    prefix = settings.es_index_prefix
    assert errors == []
    assert len(totals) > 5  # the searches really ran during the rebuild
    assert set(totals) <= {400, 401}  # complete before, during and after the flip
    assert version == "v2"
    assert names == {f"{prefix}-v2-2026.10", f"{prefix}-v2-2026.11"}  # generation 1 dropped
    assert final_total == 401  # the write made during the rebuild is in the new generation
    assert sum(progress) == 400
    for index in index_settings:  # built without refreshes and replicas, flipped with live settings
        assert "refresh_interval" not in index  # the default (1 s) again
        assert index["number_of_replicas"] == str(settings.es_replicas)
        assert index["sort"] == {"field": ["msgtime", "msgid"], "order": ["desc", "desc"]}


# ------------------------------------------------------------------------ faults


def test_an_unreachable_cluster_is_a_clear_retryable_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = es_settings(f"http://127.0.0.1:{port}")

    async def check() -> tuple[bool, list[SearchBackendError]]:
        backend = ElasticsearchBackend(settings)
        errors = []
        try:
            for call in (
                lambda: backend.index([document(1, "不可达")]),
                lambda: backend.search(SearchRequest(query=parse_query("不可达"))),
            ):
                try:
                    await call()
                except SearchBackendError as error:
                    errors.append(error)
            return await backend.health(), errors
        finally:
            await backend.close()

    healthy, errors = run(check)
    assert healthy is False
    assert len(errors) == 2
    for error in errors:
        assert error.retryable
        assert "unreachable" in str(error)
        assert "es_urls" in str(error)
