"""The index layout as versioned code: mapping, analysis, templates, names and partitions.

Bump ``MAPPING_VERSION`` whenever ``mappings``/``index_settings`` change in a way existing
indices cannot take; ``wecom-audit reindex`` then builds the next generation with it.

Names (``prefix`` from ``SearchSettings.es_index_prefix``):

* ``{prefix}-v{generation}-{partition}``: one index per month (``2026.11``) or year
  (``2026``) of ``msgtime`` (UTC), so years of chats stay manageable (old partitions can be
  force-merged, moved to cheaper nodes or dropped by retention as whole indices);
* ``{prefix}``: the alias every search reads; it points at the partitions of exactly one
  generation and is moved to the next one in a single ``update_aliases`` call;
* ``{prefix}-v{generation}``: the index template of a generation (settings, mappings and —
  for the active generation only — the read alias, so a partition created for a new month
  joins it atomically). Its ``_meta.state`` tells every process where to write: ``active``
  (the alias's generation), ``building`` (a running reindex: written too) or ``retired``.

Only analysis built into the server is used (the ``standard`` tokenizer, see
``search.elasticsearch.grams``): no plugin, no module, so it runs on any Elasticsearch 9
including the test node from Maven Central. ``es_analyzer`` (e.g. ``ik_max_word`` or
``smartcn`` where those plugins are installed) adds a ``words`` field used only to rank
results by relevance; which documents match never depends on it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

MAPPING_VERSION = 2
CHARS_ANALYZER = "wecom_audit_chars"
Partition = Literal["month", "year"]
State = Literal["active", "building", "retired"]

_KEYWORD: dict[str, Any] = {"type": "keyword"}
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def check_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix) or prefix.startswith(("-", "_", ".")):
        raise ValueError(
            f"search.es_index_prefix {prefix!r} is not a valid Elasticsearch index name: use lower-case letters, "
            "digits, '-', '_' or '.', starting with a letter or digit"
        )
    return prefix


def partition_of(msgtime: datetime, partition: Partition) -> str:
    moment = msgtime.astimezone(UTC)
    return f"{moment.year:04d}" if partition == "year" else f"{moment.year:04d}.{moment.month:02d}"


def index_name(prefix: str, generation: int, partition: str) -> str:
    return f"{prefix}-v{generation}-{partition}"


def generation_pattern(prefix: str, generation: int) -> str:
    """Every partition of one generation."""
    return f"{prefix}-v{generation}-*"


def all_generations_pattern(prefix: str) -> str:
    return f"{prefix}-v*"


def template_name(prefix: str, generation: int) -> str:
    return f"{prefix}-v{generation}"


def generation_of_template(prefix: str, name: str) -> int | None:
    match = re.fullmatch(re.escape(prefix) + r"-v(\d+)", name)
    return int(match.group(1)) if match else None


def index_settings(shards: int, replicas: int, *, building: bool = False) -> dict[str, Any]:
    """``building``: the settings of a generation ``reindex`` is filling. No periodic refresh
    (every refresh cuts a segment the build then merges again: the build used ~1.5x the node
    CPU per document with the default 1 s) and no replicas (copied once at the end instead
    of indexing every document twice). ``live_settings`` restores both before the flip."""
    settings: dict[str, Any] = {
        "number_of_shards": shards,
        "number_of_replicas": 0 if building else replicas,
        "analysis": {"analyzer": {CHARS_ANALYZER: {"type": "custom", "tokenizer": "standard"}}},
        # Segments stored newest first, in the order of every newest-first search: Lucene
        # stops reading a segment once it has the page and ``track_total_hits`` matches,
        # instead of sorting every match (a 1-character term matches ~30 % of chats).
        "sort": {"field": ["msgtime", "msgid"], "order": ["desc", "desc"]},
    }
    if building:
        settings["refresh_interval"] = "-1"
    return settings


def live_settings(replicas: int) -> dict[str, Any]:
    """What a built generation's partitions get before they join the alias (``None`` resets
    a setting to its default)."""
    return {"index": {"refresh_interval": None, "number_of_replicas": replicas}}


def mappings(analyzer: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "msgid": _KEYWORD,
        "corp_id": _KEYWORD,
        "message_id": {"type": "long"},
        "conversation_id": {"type": "long"},
        "seq": {"type": "long"},
        # Nanosecond dates keep the archive's microseconds: the newest-first order and the
        # msgtime handed back are exact.
        "msgtime": {"type": "date_nanos"},
        "msgtype": _KEYWORD,
        "sender": _KEYWORD,
        "recipients": _KEYWORD,
        "roomid": _KEYWORD,
        "customer_ids": _KEYWORD,
        "staff_ids": _KEYWORD,
        "department_ids": {"type": "long"},
        "participants": _KEYWORD,  # sender, recipients, staff and customers: the scope's exclusions
        "text": {"type": "text", "index": False},  # the original, for hits and highlighting
        # One token per character. "boolean" similarity: a match scores its query boost,
        # never corpus statistics, so relevance order (and its keyset pagination) stays put
        # while new messages arrive (BM25's idf would shift every score).
        "chars": {"type": "text", "analyzer": CHARS_ANALYZER, "similarity": "boolean"},
        "has_media": {"type": "boolean"},
        "has_hit": {"type": "boolean"},
        "rules": _KEYWORD,
        "categories": _KEYWORD,
        "severities": _KEYWORD,
        "sentiment": _KEYWORD,
    }
    if analyzer:
        properties["words"] = {"type": "text", "analyzer": analyzer}
    return {
        "dynamic": "strict",
        # The encoded characters (and words) are an index structure, not data: keep them
        # out of _source. Reindexing reads the database, never _source.
        "_source": {"excludes": ["chars", "words"]},
        "_meta": {"mapping_version": MAPPING_VERSION},
        "properties": properties,
    }


def template_body(
    prefix: str,
    generation: int,
    state: State,
    *,
    shards: int,
    replicas: int,
    analyzer: str | None,
) -> dict[str, Any]:
    template: dict[str, Any] = {
        "settings": index_settings(shards, replicas, building=state == "building"),
        "mappings": mappings(analyzer),
    }
    if state == "active":
        template["aliases"] = {prefix: {}}
    return {
        "index_patterns": [generation_pattern(prefix, generation)],
        # Above Elasticsearch's built-in templates (100..), and ours never overlap each other.
        "priority": 500,
        "template": template,
        "_meta": {"state": state, "generation": generation, "mapping_version": MAPPING_VERSION},
    }
