"""``ElasticsearchBackend``: the scale path of ``SearchBackend`` (async client, Elasticsearch 9).

Contract with the rest of the system:

* ``index`` upserts by ``_id = msgid`` (at-least-once delivery from the outbox is safe) into
  the month/year partition of every generation that is ``active`` or ``building``; it
  refreshes before returning, so what ``index`` wrote is searchable.
* ``search`` reads the alias only; newest-first pages are keyed on ``(msgtime, msgid)``
  (``search_after``), so a page never repeats or skips a document that existed before the
  first page, whatever arrives meanwhile.
* ``reindex`` builds generation N+1 beside N (writes from ``index`` go to both meanwhile,
  also from other processes: they read the generation states from the index templates),
  then moves the alias in one ``update_aliases`` call and drops N after a grace period.
* Every failure to reach the cluster is a ``SearchBackendError`` saying what to do; the
  indexer keeps its outbox rows and retries, so ingest never waits for Elasticsearch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from config.logs import get_logger
from config.settings import SearchSettings
from search.backend import SearchDocument, SearchHit, SearchPage, SearchRequest
from search.cursor import decode_cursor, encode_cursor
from search.elasticsearch import mapping
from search.elasticsearch.dsl import Dsl, search_query
from search.elasticsearch.grams import char_tokens
from search.errors import InvalidCursorError, SearchBackendError
from search.folding import fold_for_index
from search.highlight import highlight_spans
from search.query import positive_texts

log = get_logger("search.elasticsearch")
_json = msgspec.json.Encoder()

BULK_DOCS = 5000  # documents per bulk request (~3 MB for chat messages)
DELETE_CHUNK = 2000  # message ids per delete lookup (4x stays within max_result_window)
BULK_CONCURRENCY = 2  # bulk requests in flight during a rebuild
RETIRE_GRACE_S = 5.0  # searches that resolved the alias before a flip finish on the old indices
REQUEST_TIMEOUT_S = 30.0
_SEARCH_RETRY_PAUSES_S = (0.05, 0.2, 0.5, 1.0)
_TERMS_SHARD_SIZE = 1000  # facet counts are exact while a shard has fewer distinct values


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(self, settings: SearchSettings, *, refresh: bool = True) -> None:
        self._urls = list(settings.es_urls)
        self._prefix = mapping.check_prefix(settings.es_index_prefix)
        self._shards = settings.es_shards
        self._replicas = settings.es_replicas
        self._analyzer = settings.es_analyzer or None
        self._partition: mapping.Partition = settings.es_partition
        self._refresh = refresh
        self._client = AsyncElasticsearch(
            self._urls,
            request_timeout=REQUEST_TIMEOUT_S,
            max_retries=1,
            retry_on_timeout=False,
        )
        self._known_indices: set[str] = set()

    # ------------------------------------------------------------------ protocol

    async def index(self, docs: Sequence[SearchDocument]) -> None:
        if not docs:
            return
        generations = await self._write_generations()
        for start in range(0, len(docs), BULK_DOCS):
            await self._bulk_index(docs[start : start + BULK_DOCS], generations, refresh=self._refresh)

    async def delete(self, message_ids: Sequence[int]) -> None:
        if not message_ids:
            return
        pattern = mapping.all_generations_pattern(self._prefix)
        # _delete_by_query lives in the reindex module, which not every node has (the test
        # node from Maven Central does not): find the documents, then bulk-delete them.
        for start in range(0, len(message_ids), DELETE_CHUNK):
            chunk = sorted(set(message_ids[start : start + DELETE_CHUNK]))
            found = await self._call(
                "finding documents to delete",
                self._client.search(
                    index=pattern,
                    query={"terms": {"message_id": chunk}},
                    size=4 * len(chunk),  # one per generation present (two during a rebuild)
                    source=False,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                ),
            )
            operations = [{"delete": {"_index": hit["_index"], "_id": hit["_id"]}} for hit in found["hits"]["hits"]]
            if operations:
                response = await self._call(
                    "deleting documents", self._client.bulk(operations=operations, refresh=self._refresh)
                )
                _raise_item_errors(response, ignore_status=404)

    async def search(self, request: SearchRequest) -> SearchPage:
        position = decode_cursor(request)
        body = self._search_body(request, position)
        for attempt, pause_s in enumerate((*_SEARCH_RETRY_PAUSES_S, None)):
            try:
                response = await self._search_once(body)
                break
            except _Retry as error:
                # The alias moved and a retired generation was deleted while this search ran
                # on it: while the node applies the deletion its shards fail; the alias
                # already resolves to the new generation.
                if pause_s is None:
                    raise SearchBackendError(
                        f"Elasticsearch could not search every shard after {attempt + 1} attempts ({error}); "
                        "check the cluster's health"
                    ) from error
                await asyncio.sleep(pause_s)
        return self._page(request, response)

    async def health(self) -> bool:
        try:
            response = await self._client.cluster.health(timeout="5s")
        except (TransportError, ApiError):
            return False
        return response.get("status") in ("green", "yellow")

    async def reindex(
        self,
        batches: AsyncIterator[Sequence[SearchDocument]],
        progress: Callable[[int], None] | None = None,
    ) -> str:
        states = await self._states()
        active = [generation for generation, state in states.items() if state == "active"]
        new = max(states, default=0) + 1
        await self._put_template(new, "building")
        log.info("search.reindex.started", backend=self.name, generation=new, previous=active)

        async def send(body: bytes, count: int) -> None:
            await self._send_bulk(body, refresh=False)
            if progress is not None:
                progress(count)

        # Up to BULK_CONCURRENCY requests in flight: Elasticsearch indexes one while the
        # next is encoded here (one bulk request on one shard uses one write thread).
        in_flight: set[asyncio.Task[None]] = set()
        try:
            async for batch in batches:
                for start in range(0, len(batch), BULK_DOCS):
                    chunk = batch[start : start + BULK_DOCS]
                    body = await self._bulk_body(chunk, [new])
                    if len(in_flight) >= BULK_CONCURRENCY:
                        done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                        for task in done:
                            task.result()
                    in_flight.add(asyncio.create_task(send(body, len(chunk))))
            for task in list(in_flight):
                await task
        except BaseException:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            await self._drop_generation(new)
            raise
        pattern = mapping.generation_pattern(self._prefix, new)
        # Retire the old templates first (no new old-generation partition may join the
        # alias), then make the new one active (a new partition joins the alias at creation,
        # with live settings), give the built partitions live settings (refresh interval,
        # replicas), make them searchable, then flip every partition in one atomic call.
        for generation in active:
            await self._put_template(generation, "retired")
        await self._put_template(new, "active")
        await self._call(
            "restoring the refresh interval and replicas of the new indices",
            self._client.indices.put_settings(
                index=pattern,
                settings=mapping.live_settings(self._replicas),
                ignore_unavailable=True,
                allow_no_indices=True,
            ),
        )
        await self._call(
            "refreshing the new indices",
            self._client.indices.refresh(index=pattern, ignore_unavailable=True, allow_no_indices=True),
        )
        actions: list[Dsl] = [
            {
                "remove": {
                    "index": mapping.generation_pattern(self._prefix, generation),
                    "alias": self._prefix,
                    "must_exist": False,
                }
            }
            for generation in active
        ]
        if await self._exists(pattern):
            actions.append({"add": {"index": pattern, "alias": self._prefix}})
        if actions:
            await self._call("switching the alias", self._client.indices.update_aliases(actions=actions))
        self._known_indices.clear()
        log.info("search.reindex.switched", backend=self.name, generation=new)
        if active:
            await asyncio.sleep(RETIRE_GRACE_S)
        for generation in active:
            await self._drop_generation(generation)
        return f"v{new}"

    async def close(self) -> None:
        await self._client.close()

    # ------------------------------------------------------------------ generations

    async def _states(self) -> dict[int, str]:
        """Generation -> state, from the index templates (shared by every process)."""
        response = await self._call(
            "reading the index templates",
            self._client.options(ignore_status=404).indices.get_index_template(
                name=mapping.all_generations_pattern(self._prefix)
            ),
        )
        states: dict[int, str] = {}
        for item in response.get("index_templates", []):
            generation = mapping.generation_of_template(self._prefix, item["name"])
            if generation is None:
                continue
            meta = item["index_template"].get("_meta", {})
            states[generation] = meta.get("state", "retired")
            if meta.get("state") == "active" and meta.get("mapping_version", 0) < mapping.MAPPING_VERSION:
                log.warning(
                    "search.elasticsearch.mapping_outdated",
                    generation=generation,
                    index_mapping_version=meta.get("mapping_version"),
                    code_mapping_version=mapping.MAPPING_VERSION,
                    hint="run `wecom-audit reindex` to rebuild with the current mapping",
                )
        return states

    async def _write_generations(self) -> list[int]:
        """The generations a write goes to: the active one and a building one, if any."""
        states = await self._states()
        if not states:  # first use: generation 1 becomes the active one
            await self._put_template(1, "active")
            return [1]
        targets = sorted(generation for generation, state in states.items() if state in ("active", "building"))
        if not targets:
            raise SearchBackendError(
                f"no active Elasticsearch index generation under {self._prefix!r} (an interrupted reindex?); "
                "run `wecom-audit reindex`"
            )
        return targets

    async def _put_template(self, generation: int, state: mapping.State) -> None:
        body = mapping.template_body(
            self._prefix,
            generation,
            state,
            shards=self._shards,
            replicas=self._replicas,
            analyzer=self._analyzer,
        )
        await self._call(
            "writing an index template",
            self._client.indices.put_index_template(name=mapping.template_name(self._prefix, generation), **body),
        )

    async def _drop_generation(self, generation: int) -> None:
        pattern = mapping.generation_pattern(self._prefix, generation)
        await self._call(
            "deleting retired indices",
            self._client.options(ignore_status=404).indices.delete(
                index=pattern, ignore_unavailable=True, allow_no_indices=True, expand_wildcards="all"
            ),
        )
        await self._call(
            "deleting a retired index template",
            self._client.options(ignore_status=404).indices.delete_index_template(
                name=mapping.template_name(self._prefix, generation)
            ),
        )
        self._known_indices = {name for name in self._known_indices if not name.startswith(pattern[:-1])}

    async def _exists(self, pattern: str) -> bool:
        response = await self._call(
            "listing indices",
            self._client.indices.get(index=pattern, ignore_unavailable=True, allow_no_indices=True, features="aliases"),
        )
        return bool(response.body)

    async def _ensure_index(self, name: str) -> None:
        if name in self._known_indices:
            return
        # The generation's template supplies settings, mappings and (when active) the alias.
        try:
            await self._client.indices.create(index=name)
        except ApiError as error:
            if _error_type(error.body) != "resource_already_exists_exception":
                raise _backend_error("creating an index", error) from error
        except TransportError as error:
            raise _backend_error("creating an index", error) from error
        self._known_indices.add(name)

    # ------------------------------------------------------------------ writing

    async def _bulk_index(self, docs: Sequence[SearchDocument], generations: list[int], *, refresh: bool) -> None:
        await self._send_bulk(await self._bulk_body(docs, generations), refresh=refresh)

    async def _bulk_body(self, docs: Sequence[SearchDocument], generations: list[int]) -> bytes:
        """The NDJSON of a bulk request, encoded here (msgspec: several times faster than
        the client's json, and indexing is CPU-bound on both sides of the socket)."""
        lines: list[bytes] = []
        for doc in docs:
            partition = mapping.partition_of(doc.msgtime, self._partition)
            source = _json.encode(self._source(doc))
            for generation in generations:
                name = mapping.index_name(self._prefix, generation, partition)
                await self._ensure_index(name)
                lines.append(_json.encode({"index": {"_index": name, "_id": doc.msgid}}))
                lines.append(source)
        lines.append(b"")
        return b"\n".join(lines)

    async def _send_bulk(self, body: bytes, *, refresh: bool) -> None:
        # The client passes pre-encoded NDJSON through unchanged; its type hints only know lists.
        operations: Any = body
        response = await self._call("indexing documents", self._client.bulk(operations=operations, refresh=refresh))
        _raise_item_errors(response)

    def _source(self, doc: SearchDocument) -> Dsl:
        folded = fold_for_index(doc.text)
        source: Dsl = {
            "msgid": doc.msgid,
            "corp_id": doc.corp_id,
            "message_id": doc.message_id,
            "conversation_id": doc.conversation_id,
            "seq": doc.seq,
            "msgtime": doc.msgtime.isoformat(),
            "msgtype": doc.msgtype,
            "sender": doc.sender,
            "recipients": list(doc.recipients),
            "roomid": doc.roomid,
            "customer_ids": list(doc.customer_ids),
            "staff_ids": list(doc.staff_ids),
            "department_ids": list(doc.department_ids),
            "participants": sorted({doc.sender, *doc.recipients, *doc.staff_ids, *doc.customer_ids}),
            "text": doc.text,
            "chars": char_tokens(folded),
            "has_media": doc.has_media,
            "has_hit": bool(doc.rules),
            "rules": list(doc.rules),
            "categories": list(doc.categories),
            "severities": list(doc.severities),
            "sentiment": doc.sentiment,
        }
        if self._analyzer:
            source["words"] = folded
        return source

    # ------------------------------------------------------------------ searching

    def _search_body(self, request: SearchRequest, position: list[Any] | None) -> Dsl:
        words = " ".join(node.text for node in positive_texts(request.query)) if self._analyzer else None
        sort: list[Any] = [{"msgtime": "desc"}, {"msgid": "desc"}]
        if request.sort == "relevance":
            sort.insert(0, {"_score": "desc"})
        body: Dsl = {
            "query": search_query(request.query, request.corp_id, request.scope, words),
            "sort": sort,
            "size": request.limit + 1,  # one more tells whether there is a next page
            # Exact up to total_limit; beyond it Elasticsearch stops counting ("gte").
            "track_total_hits": True if request.total_limit is None else request.total_limit,
            "source_excludes": ["chars", "words"],
        }
        if position is not None:
            if len(position) != len(sort) or not isinstance(position[-1], str):
                raise InvalidCursorError("the cursor is not valid; start again without it")
            body["search_after"] = position
        aggregations = {name: self._facet(name, request) for name in request.facets}
        if aggregations:
            body["aggregations"] = aggregations
        return body

    @staticmethod
    def _facet(name: str, request: SearchRequest) -> Dsl:
        if name == "day":
            return {
                "date_histogram": {
                    "field": "msgtime",
                    "calendar_interval": "day",
                    "time_zone": request.zone,
                    "format": "yyyy-MM-dd",
                    "min_doc_count": 1,
                }
            }
        field = {"sender": "sender", "room": "roomid", "type": "msgtype", "rule": "rules"}[name]
        return {
            "terms": {
                "field": field,
                "size": request.facet_size,
                "shard_size": max(_TERMS_SHARD_SIZE, request.facet_size * 10),
                "order": [{"_count": "desc"}, {"_key": "asc"}],
            }
        }

    async def _search_once(self, body: Dsl) -> Any:
        try:
            response = await self._client.search(
                index=self._prefix, ignore_unavailable=True, allow_no_indices=True, **body
            )
        except ApiError as error:
            if error.meta.status == 404:
                raise _Retry from error
            raise _backend_error("searching", error) from error
        except TransportError as error:
            raise _backend_error("searching", error) from error
        shards = response.get("_shards", {})
        if shards.get("failed"):
            failures = shards.get("failures") or [{}]
            raise _Retry(_reason({"error": failures[0].get("reason")}) or "shard failure")
        return response

    def _page(self, request: SearchRequest, response: Any) -> SearchPage:
        raw_hits = response["hits"]["hits"]
        more = len(raw_hits) > request.limit
        raw_hits = raw_hits[: request.limit]
        hits = [self._hit(raw, request) for raw in raw_hits]
        next_cursor = encode_cursor(request, list(raw_hits[-1]["sort"])) if more and raw_hits else None
        facets: dict[str, list[tuple[str, int]]] = {}
        aggregations = response.get("aggregations", {})
        for name in request.facets:
            buckets = aggregations.get(name, {}).get("buckets", [])
            if name == "day":
                counted = [(str(bucket["key_as_string"]), int(bucket["doc_count"])) for bucket in buckets]
                counted.sort(key=lambda item: (-item[1], item[0]))
                facets[name] = counted[: request.facet_size]
            else:
                facets[name] = [(str(bucket["key"]), int(bucket["doc_count"])) for bucket in buckets]
        total = response["hits"]["total"]
        return SearchPage(
            hits=hits,
            next_cursor=next_cursor,
            total=int(total["value"]),
            facets=facets,
            total_exact=total.get("relation", "eq") == "eq",
        )

    @staticmethod
    def _hit(raw: Any, request: SearchRequest) -> SearchHit:
        source = raw["_source"]
        text = source.get("text") or ""
        score = raw.get("_score")
        return SearchHit(
            msgid=source["msgid"],
            message_id=int(source["message_id"]),
            conversation_id=source.get("conversation_id"),
            msgtime=datetime.fromisoformat(source["msgtime"]),
            sender=source["sender"],
            msgtype=source["msgtype"],
            text=text,
            highlights=highlight_spans(request.query, text),
            score=float(score) if request.sort == "relevance" and score is not None else None,
            corp_id=source.get("corp_id", ""),
            roomid=source.get("roomid"),
        )

    # ------------------------------------------------------------------ errors

    async def _call(self, action: str, awaitable: Any) -> Any:
        try:
            return await awaitable
        except (ApiError, TransportError) as error:
            raise _backend_error(action, error) from error


class _Retry(Exception):
    """A search that raced with a generation switch; retried after a short pause."""


def _backend_error(action: str, error: ApiError | TransportError) -> SearchBackendError:
    if isinstance(error, ApiError):
        status = error.meta.status
        reason = _reason(error.body) or str(error)
        if status == 429 or status >= 500:
            return SearchBackendError(
                f"Elasticsearch is overloaded or failing while {action} (HTTP {status}: {reason}); "
                "the indexer retries, check the cluster's health and logs"
            )
        return SearchBackendError(f"Elasticsearch rejected {action} (HTTP {status}: {reason})")
    return SearchBackendError(
        f"Elasticsearch is unreachable while {action} ({type(error).__name__}); start it "
        "(scripts/elasticsearch.py start for a local node) or fix search.es_urls. Ingest continues: "
        "the outbox keeps the messages and the indexer catches up once it is back"
    )


def _error_type(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("type", "")) if isinstance(error, dict) else ""


def _reason(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("reason") or error.get("type") or "")
        if error:
            return str(error)
    return ""


def _raise_item_errors(response: Any, *, ignore_status: int | None = None) -> None:
    if not response.get("errors"):
        return
    for item in response["items"]:
        result = next(iter(item.values()))
        if "error" in result and result.get("status") != ignore_status:
            error = result["error"]
            reason = error.get("reason") if isinstance(error, dict) else error
            raise SearchBackendError(
                f"Elasticsearch refused a document ({result.get('status')}: {reason}); the outbox keeps it for a retry"
            )
