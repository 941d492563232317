"""``wecom-audit search`` / ``reindex`` / ``status`` as an operator runs them (real processes)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from search.embedded import EmbeddedBackend
from search.indexer import index_pending
from tests.api.test_cli import cli
from tests.conftest import Edge
from tests.search.test_indexer import run_detection


def ingest_and_index(edge: Edge) -> None:
    edge.simulator.populate(300, messages_per_day=20_000)
    edge.register_keys()
    context = edge.context()
    try:
        assert context.puller(edge.simulator.corp_id).run().status == "completed"
    finally:
        context.close()
    run_detection(edge)  # store → detect → index

    async def body() -> None:
        backend = EmbeddedBackend(edge.settings.search_index_dir)
        try:
            await index_pending(edge.database.sessions, backend)
        finally:
            await backend.close()

    asyncio.run(body())


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_search_json_lines_table_reindex_and_status(edge: Edge) -> None:
    ingest_and_index(edge)
    env = edge.env()

    found = cli(env, "search", "的", "--json", "--limit", "5", "--facet", "sender")
    assert found.returncode == 0, found.stderr[-2000:]
    lines = [json.loads(line) for line in found.stdout.splitlines()]
    hits, page = lines[:-1], lines[-1]
    assert len(hits) == 5
    for hit in hits:
        assert hit["highlights"] and all(hit["text"][start:end] == "的" for start, end in hit["highlights"])
    assert page["total"] > 5 and page["next_cursor"]
    senders = page["facets"]["sender"]
    assert 0 < len(senders) <= 20 and sum(count for _, count in senders) <= page["total"]

    following = cli(env, "search", "的", "--json", "--limit", "5", "--cursor", page["next_cursor"])
    assert following.returncode == 0, following.stderr[-2000:]
    next_ids = {json.loads(line).get("msgid") for line in following.stdout.splitlines()[:-1]}
    assert next_ids and next_ids.isdisjoint({hit["msgid"] for hit in hits})

    table = cli(env, "search", "的", "--limit", "3")
    assert table.returncode == 0, table.stderr[-2000:]
    assert f"{page['total']:,} messages" in table.stdout

    rebuilt = cli(env, "reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert "Index version" in rebuilt.stdout
    again = cli(env, "search", "的", "--json", "--limit", "1")
    assert json.loads(again.stdout.splitlines()[-1])["total"] == page["total"]

    status = cli(env, "status")
    assert status.returncode == 0, status.stderr[-2000:]
    assert "Search index: up to date." in status.stdout
    (row,) = [json.loads(line) for line in cli(env, "status", "--json").stdout.splitlines()]
    assert row["search_backlog"] == 0


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("(返利 OR 微信", "expected )", 10),
        ('返利 "加微信', "unterminated quote", 4),
        ("返利 after:11月", "after: takes a date", 10),
        ("form:张三", 'unknown filter "form:"', 1),
    ],
)
def test_a_malformed_query_shows_where_with_exit_code_2(tmp_path: Path, query: str, message: str, column: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECOM_")}
    result = cli({**env, "WECOM_AUDIT_DATA_DIR": str(tmp_path)}, "search", query)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert f"(column {column})" in result.stderr
    lines = result.stderr.splitlines()
    caret = next(line for line in lines if line.strip() == "^")
    assert lines[lines.index(caret) - 1] == query


def test_a_name_that_matches_nothing_is_one_line_with_exit_code_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECOM_")}
    result = cli({**env, "WECOM_AUDIT_DATA_DIR": str(tmp_path)}, "search", "返利 from:郝欣亮")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "from:郝欣亮 matches nothing" in line
