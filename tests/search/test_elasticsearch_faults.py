"""Acceptance: Elasticsearch stopped during ingest. Ingest continues, the ``search`` outbox
grows and ``status`` shows the lag; once the node is back the indexer catches up and every
stored message is searchable exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from sqlalchemy import select

from api.cli import search as cli_search
from archive.clock import utcnow
from archive.models import Message
from config.settings import SearchSettings
from search.backend import SearchRequest
from search.elasticsearch import ElasticsearchBackend
from search.indexer import IndexReport, index_pending, search_lag
from search.query import MatchAll
from tests.conftest import Edge
from tests.search.test_indexer import run_detection


async def _index(edge: Edge, settings: SearchSettings, *, later: bool = False) -> IndexReport:
    backend = ElasticsearchBackend(settings)
    # After an outage the failed claims wait out their backoff; "later" runs past it.
    clock = (lambda: utcnow() + timedelta(hours=1)) if later else utcnow
    try:
        return await index_pending(edge.database.sessions, backend, clock=clock)
    finally:
        await backend.close()


async def _all_msgids(settings: SearchSettings) -> list[str]:
    backend = ElasticsearchBackend(settings)
    msgids: list[str] = []
    try:
        cursor = None
        while True:
            page = await backend.search(SearchRequest(query=MatchAll(), limit=500, cursor=cursor))
            msgids += [hit.msgid for hit in page.hits]
            if page.next_cursor is None:
                return msgids
            cursor = page.next_cursor
    finally:
        await backend.close()


async def _document_count(settings: SearchSettings) -> int:
    client = AsyncElasticsearch(settings.es_urls)
    try:
        return int((await client.count(index=settings.es_index_prefix))["count"])
    finally:
        await client.close()


def _pull(edge: Edge) -> Any:
    """Ingest, then detection, which passes the messages on to the indexer."""
    context = edge.context()
    try:
        report = context.puller(edge.simulator.corp_id).run()
    finally:
        context.close()
    run_detection(edge)
    return report


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_ingest_continues_while_elasticsearch_is_down_and_the_index_catches_up(
    edge: Edge, elasticsearch_node: Any
) -> None:
    url = elasticsearch_node.start()
    settings = SearchSettings(backend="elasticsearch", es_urls=[url], es_index_prefix=f"fault-{uuid.uuid4().hex[:8]}")
    edge.register_keys()

    # Part of the archive is indexed while the node is up.
    edge.simulator.populate(300)
    assert _pull(edge).status == "completed"
    first = asyncio.run(_index(edge, settings))
    assert first.failed_claims == 0 and first.indexed == 300

    elasticsearch_node.stop()
    try:
        edge.simulator.populate(700)
        report = _pull(edge)
        assert report.status == "completed", report.error  # ingest does not wait for search
        assert report.stored == 700

        down = asyncio.run(_index(edge, settings))
        assert down.failed_claims == 1 and down.indexed == 0
        assert down.error is not None and "unreachable" in down.error

        with edge.database.sessions() as session:
            lag_before = search_lag(session)
        edge.simulator.populate(200)
        assert _pull(edge).stored == 200
        with edge.database.sessions() as session:
            lag = search_lag(session)
            line = cli_search.status_line(session, utcnow())
        assert lag.entries > lag_before.entries  # the outbox keeps growing
        assert lag.failing >= 1
        assert "waiting" in line and "failing" in line
    finally:
        elasticsearch_node.start()

    caught_up = asyncio.run(_index(edge, settings, later=True))
    assert caught_up.failed_claims == 0
    with edge.database.sessions() as session:
        assert search_lag(session).entries == 0
        stored = set(session.scalars(select(Message.msgid)))
    assert len(stored) == 1200

    found = asyncio.run(_all_msgids(settings))
    assert Counter(found).most_common(1)[0][1] == 1  # none twice
    assert set(found) == stored  # every stored message
    assert asyncio.run(_document_count(settings)) == len(stored)
