"""``EmbeddedBackend``: the zero-setup search backend on a SQLite file beside the archive.

Exact substring semantics for text of any length (see ``search.embedded.grams``), filters
and facets on ordinary indexed columns, newest-first order straight from the row ids.
SQLite calls run in a worker thread so an API event loop is never blocked; one lock
serialises them (SQLite allows one writer, and a search is a few milliseconds).
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from search.backend import SearchDocument, SearchHit, SearchPage, SearchRequest
from search.cursor import decode_cursor, encode_cursor
from search.embedded import store
from search.embedded.grams import pair_tokens
from search.embedded.sql import Plan, plan, score_expression
from search.errors import InvalidCursorError, SearchBackendError
from search.folding import fold_for_index
from search.highlight import highlight_spans
from search.query import Filter

_HIT_COLUMNS = "d.id, d.msgid, d.message_id, d.conversation_id, d.sender, d.msgtype, d.text, d.corp_id, d.roomid"
_CHUNK = 500  # ids per IN (...) list
_QUARTER_HOUR_MS = 900_000


def row_id_base(msgtime: datetime) -> int:
    return int(msgtime.timestamp() * 1000) << store.TIME_SHIFT


class EmbeddedBackend:
    """The embedded index in directory ``path`` (created on first use)."""

    name = "embedded"

    def __init__(self, path: Path) -> None:
        self._directory = path
        self._lock = threading.Lock()  # the live connection
        self._build_lock = threading.Lock()  # the version a reindex is writing (taken after _lock)
        self._connection: Any = None
        self._version: str | None = None
        self._building: Any = None  # the index a running reindex writes to (dual writes)

    # ------------------------------------------------------------------ protocol

    async def index(self, docs: Sequence[SearchDocument]) -> None:
        if docs:
            await asyncio.to_thread(self._locked, self._index_sync, docs)

    async def delete(self, message_ids: Sequence[int]) -> None:
        if message_ids:
            await asyncio.to_thread(self._locked, self._delete_sync, message_ids)

    async def search(self, request: SearchRequest) -> SearchPage:
        return await asyncio.to_thread(self._locked, self._search_sync, request)

    async def health(self) -> bool:
        try:
            await asyncio.to_thread(self._locked, lambda: self._live().execute("SELECT 1").fetchone())
        except SearchBackendError:
            return False
        return True

    async def reindex(
        self,
        batches: AsyncIterator[Sequence[SearchDocument]],
        progress: Callable[[int], None] | None = None,
    ) -> str:
        version = store.new_version()
        path = store.index_file(self._directory, version)
        self._directory.mkdir(parents=True, exist_ok=True)
        building = store.connect(path, bulk=True)
        with self._lock:
            self._building = building
        writing: asyncio.Future[Any] | None = None
        try:
            async for batch in batches:
                prepared = _prepare(batch)  # overlaps with SQLite writing the previous batch
                if writing is not None:
                    await writing
                # Only the build lock: searches on this backend go on while the new version is written.
                writing = asyncio.ensure_future(asyncio.to_thread(self._build_locked, _apply, building, prepared))
                if progress is not None:
                    progress(len(batch))
            if writing is not None:
                await writing
            await asyncio.to_thread(self._build_locked, store.finish_bulk, building)
        except BaseException:
            if writing is not None and not writing.done():
                await asyncio.wait([writing])
            with self._lock, self._build_lock:
                self._building = None
            building.close()
            store.remove_version(self._directory, version)
            raise
        with self._lock, self._build_lock:
            self._building = None
            building.close()
            previous = store.read_pointer(self._directory)
            store.write_pointer(self._directory, version)
            self._reopen()
        if previous is not None and previous != version:
            store.remove_version(self._directory, previous)
        return version

    async def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
                self._version = None

    # ------------------------------------------------------------------ internals

    def _locked(self, function: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            return function(*args)

    def _build_locked(self, function: Callable[..., Any], *args: Any) -> Any:
        with self._build_lock:
            return function(*args)

    def _live(self) -> Any:
        """The connection to the current index version (reopened after a flip)."""
        try:
            return self._open_live()
        except OSError as error:
            raise SearchBackendError(
                f"the search index directory {self._directory} is not usable ({error.strerror or error});"
                " check search.embedded_path and its permissions"
            ) from error

    def _open_live(self) -> Any:
        pointer = store.read_pointer(self._directory)
        if pointer is None:
            self._directory.mkdir(parents=True, exist_ok=True)
            pointer = store.INITIAL_VERSION
            store.connect(store.index_file(self._directory, pointer)).close()
            store.write_pointer(self._directory, pointer)
        if pointer != self._version:
            self._reopen(pointer)
        return self._connection

    def _reopen(self, version: str | None = None) -> None:
        version = version or store.read_pointer(self._directory)
        assert version is not None
        if self._connection is not None:
            self._connection.close()
        self._connection = store.connect(store.index_file(self._directory, version))
        self._version = version

    def _index_sync(self, docs: Sequence[SearchDocument]) -> None:
        _write_docs(self._live(), docs)
        with self._build_lock:
            if self._building is not None:
                _write_docs(self._building, docs)

    def _delete_sync(self, message_ids: Sequence[int]) -> None:
        _delete_docs(self._live(), message_ids)
        with self._build_lock:
            if self._building is not None:
                _delete_docs(self._building, message_ids)

    def _search_sync(self, request: SearchRequest) -> SearchPage:
        connection = self._live()
        query_plan = plan(request.query, request.corp_id, request.scope, lambda item: _selective(connection, item))
        key = query_plan.key()
        source, params = _from_where(query_plan)
        position = decode_cursor(request)
        if request.sort == "relevance":
            score_sql, score_params = score_expression(request.query)
            sql = f"SELECT {_HIT_COLUMNS}, {score_sql} {source}"
            sql_params = [*score_params, *params]
            if position is not None:
                score, last = _position(position, 2)
                sql += f" AND ({score_sql} < ? OR ({score_sql} = ? AND {key} < ?))"
                sql_params += [*score_params, score, *score_params, score, last]
            sql += f" ORDER BY {score_sql} DESC, {key} DESC LIMIT ?"
            sql_params += score_params
        else:
            sql = f"SELECT {_HIT_COLUMNS}, NULL {source}"
            sql_params = list(params)
            if position is not None:
                (last,) = _position(position, 1)
                sql += f" AND {key} < ?"
                sql_params.append(last)
            sql += f" ORDER BY {key} DESC LIMIT ?"
        rows = connection.execute(sql, [*sql_params, request.limit + 1]).fetchall()
        more = len(rows) > request.limit
        rows = rows[: request.limit]
        next_cursor = None
        if more and rows:
            last_row = rows[-1]
            next_position: list[Any] = [last_row[9], last_row[0]] if request.sort == "relevance" else [last_row[0]]
            next_cursor = encode_cursor(request, next_position)
        if query_plan.match is not None and not query_plan.where:
            # Counting needs no document rows: FTS5 counts its own matches.
            bounds, bound_params = query_plan.bounds()
            count_source, count_params = (
                f"FROM grams g WHERE g.grams MATCH ?{bounds}",
                [query_plan.match, *bound_params],
            )
        else:
            count_source, count_params = source, params
        if request.total_limit is None:
            total = connection.execute(f"SELECT count(*) {count_source}", count_params).fetchone()[0]
        else:
            limited = f"SELECT count(*) FROM (SELECT 1 {count_source} LIMIT ?)"
            total = connection.execute(limited, [*count_params, request.total_limit + 1]).fetchone()[0]
        exact = request.total_limit is None or total <= request.total_limit
        if not exact:
            assert request.total_limit is not None
            total = request.total_limit
        facets = {name: _facet(connection, name, query_plan, request) for name in request.facets}
        return SearchPage(
            hits=[_hit(row, request) for row in rows],
            next_cursor=next_cursor,
            total=int(total),
            facets=facets,
            total_exact=exact,
        )


_SELECTIVE_ROWS = 20_000
_SELECTIVE_SQL = {
    "from": "SELECT 1 FROM docs WHERE sender = ?",
    "room": "SELECT 1 FROM docs WHERE roomid = ?",
    "to": "SELECT 1 FROM doc_values WHERE kind = 'to' AND value = ?",
    "customer": "SELECT 1 FROM doc_values WHERE kind = 'customer' AND value = ?",
}


def _selective(connection: Any, item: Filter) -> bool:
    """Whether the filter leaves fewer than ``_SELECTIVE_ROWS`` documents (an index count)."""
    sql = f"SELECT count(*) FROM ({_SELECTIVE_SQL[item.field]} LIMIT {_SELECTIVE_ROWS})"
    return bool(connection.execute(sql, [item.value]).fetchone()[0] < _SELECTIVE_ROWS)


def _from_where(query_plan: Plan) -> tuple[str, list[Any]]:
    """``FROM ... WHERE ...`` of a plan (further ``AND`` terms may follow) and its parameters.
    With a text match FTS5 drives, in its own (newest-first) row id order."""
    bounds, bound_params = query_plan.bounds()
    if query_plan.match is None:
        return f"FROM docs d WHERE {query_plan.condition()}{bounds}", [*query_plan.params, *bound_params]
    return (
        f"FROM grams g JOIN docs d ON d.id = g.rowid WHERE g.grams MATCH ?{bounds} AND {query_plan.condition()}",
        [query_plan.match, *bound_params, *query_plan.params],
    )


def _position(position: list[Any], size: int) -> list[Any]:
    if len(position) != size or not all(isinstance(value, int | float) for value in position):
        raise InvalidCursorError("the cursor is not valid; start again without it")
    return position


def _hit(row: Any, request: SearchRequest) -> SearchHit:
    row_id, msgid, message_id, conversation_id, sender, msgtype, text, corp_id, roomid, score = row
    msgtime = datetime.fromtimestamp((row_id >> store.TIME_SHIFT) / 1000, tz=UTC)
    return SearchHit(
        msgid=msgid,
        message_id=message_id,
        conversation_id=conversation_id,
        msgtime=msgtime,
        sender=sender,
        msgtype=msgtype,
        text=text,
        highlights=highlight_spans(request.query, text),
        score=None if score is None else float(score),
        corp_id=corp_id,
        roomid=roomid,
    )


def _facet(connection: Any, name: str, query_plan: Plan, request: SearchRequest) -> list[tuple[str, int]]:
    source, params = _from_where(query_plan)
    if name == "day":
        zone = ZoneInfo(request.zone)
        rows = connection.execute(
            f"SELECT (d.id >> {store.TIME_SHIFT}) / {_QUARTER_HOUR_MS}, count(*) {source} GROUP BY 1", params
        ).fetchall()
        # Quarter-hour buckets are exact for every zone offset in use (all are multiples of 15 min).
        days: Counter[str] = Counter()
        for bucket, count in rows:
            moment = datetime.fromtimestamp(bucket * _QUARTER_HOUR_MS / 1000, tz=UTC).astimezone(zone)
            days[moment.date().isoformat()] += count
        return sorted(days.items(), key=lambda item: (-item[1], item[0]))[: request.facet_size]
    if name == "rule":
        sql = (
            f"SELECT v.value, count(*) FROM doc_values v WHERE v.kind = 'rule' AND v.doc IN (SELECT d.id {source})"
            " GROUP BY v.value"
        )
    else:
        column = {"sender": "d.sender", "room": "d.roomid", "type": "d.msgtype"}[name]
        sql = f"SELECT {column}, count(*) {source} AND {column} IS NOT NULL GROUP BY {column}"
    rows = connection.execute(f"{sql} ORDER BY 2 DESC, 1 LIMIT ?", [*params, request.facet_size]).fetchall()
    return [(str(value), int(count)) for value, count in rows]


# ---------------------------------------------------------------------- writing


def _values(doc: SearchDocument) -> set[tuple[str, str]]:
    values = {("to", recipient) for recipient in doc.recipients}
    values.update(("customer", customer) for customer in doc.customer_ids)
    values.update(("dept", str(dept)) for dept in doc.department_ids)
    values.update(("rule", rule) for rule in doc.rules)
    values.update(("category", category) for category in doc.categories)
    values.update(("severity", severity) for severity in doc.severities)
    values.update(("staff", person) for person in doc.staff_ids)
    return values


def _delete_docs(connection: Any, message_ids: Sequence[int]) -> None:
    try:
        connection.execute("BEGIN IMMEDIATE")
        for start in range(0, len(message_ids), _CHUNK):
            chunk = list(message_ids[start : start + _CHUNK])
            marks = ", ".join("?" for _ in chunk)
            ids = [row[0] for row in connection.execute(f"SELECT id FROM docs WHERE message_id IN ({marks})", chunk)]
            _remove(connection, ids)
        connection.execute("COMMIT")
    except BaseException as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if isinstance(error, store.Error):
            raise SearchBackendError(f"deleting from the search index failed: {error}") from error
        raise


def _remove(connection: Any, ids: list[int]) -> None:
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        connection.execute(f"DELETE FROM grams WHERE rowid IN ({marks})", chunk)
        connection.execute(f"DELETE FROM doc_values WHERE doc IN ({marks})", chunk)
        connection.execute(f"DELETE FROM docs WHERE id IN ({marks})", chunk)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The CPU-bound part of writing a batch (folding, pair tokens), done before the SQL part
    so a bulk build can prepare the next batch while SQLite writes this one."""

    docs: dict[str, SearchDocument]  # by msgid; the last version of a msgid in the batch wins
    folded: dict[str, str]
    pairs: dict[str, str]
    values: dict[str, set[tuple[str, str]]]


def _prepare(docs: Sequence[SearchDocument]) -> _Prepared:
    latest = {doc.msgid: doc for doc in docs}
    folded = {msgid: fold_for_index(doc.text) for msgid, doc in latest.items()}
    return _Prepared(
        docs=latest,
        folded=folded,
        pairs={msgid: pair_tokens(text) for msgid, text in folded.items()},
        values={msgid: _values(doc) for msgid, doc in latest.items()},
    )


def _write_docs(connection: Any, docs: Sequence[SearchDocument]) -> None:
    _apply(connection, _prepare(docs))


def _apply(connection: Any, prepared: _Prepared) -> None:
    """Upsert the prepared documents by msgid in one transaction; a replaced document keeps
    its row id (so cursors handed out before stay valid)."""
    latest = prepared.docs
    try:
        connection.execute("BEGIN IMMEDIATE")
        existing: dict[str, int] = {}  # msgid -> row id kept
        replaced: list[int] = []
        msgids = list(latest)
        message_ids = [doc.message_id for doc in latest.values()]
        for start in range(0, len(msgids), _CHUNK):
            chunk, id_chunk = msgids[start : start + _CHUNK], message_ids[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for column, values in (("msgid", chunk), ("message_id", id_chunk)):
                for msgid, row_id in connection.execute(
                    f"SELECT msgid, id FROM docs WHERE {column} IN ({marks})",
                    values,
                ):
                    replaced.append(row_id)
                    if msgid in latest:
                        existing[msgid] = row_id
        _remove(connection, sorted(set(replaced)))
        ids = _assign_ids(connection, latest, existing)
        doc_rows = [
            (
                ids[msgid],
                doc.msgid,
                doc.message_id,
                doc.corp_id,
                doc.conversation_id,
                doc.seq,
                doc.msgtype,
                doc.sender,
                doc.roomid,
                doc.text,
                prepared.folded[msgid],
                int(doc.has_media),
                int(bool(doc.rules)),
                doc.sentiment,
            )
            for msgid, doc in latest.items()
        ]
        connection.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", doc_rows)
        connection.executemany(
            "INSERT INTO grams (rowid, pairs) VALUES (?, ?)",
            [(ids[msgid], pairs) for msgid, pairs in prepared.pairs.items()],
        )
        connection.executemany(
            "INSERT INTO doc_values (kind, value, doc) VALUES (?, ?, ?)",
            [(kind, value, ids[msgid]) for msgid, values in prepared.values.items() for kind, value in values],
        )
        connection.execute("COMMIT")
    except BaseException as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if isinstance(error, store.Error):
            raise SearchBackendError(f"writing to the search index failed: {error}") from error
        raise


def _assign_ids(connection: Any, docs: dict[str, SearchDocument], existing: dict[str, int]) -> dict[str, int]:
    """Row ids: kept for known msgids; new ones are msgtime-ordered with a msgid-derived
    tie-break, moved to the next free slot in the same millisecond on a collision."""
    ids = dict(existing)
    wanted = {
        msgid: row_id_base(doc.msgtime) | (zlib.crc32(msgid.encode()) & store.TIE_MASK)
        for msgid, doc in docs.items()
        if msgid not in existing
    }
    taken: set[int] = set(existing.values())
    candidates = list(wanted.values())
    for start in range(0, len(candidates), _CHUNK):
        chunk = candidates[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        taken.update(row[0] for row in connection.execute(f"SELECT id FROM docs WHERE id IN ({marks})", chunk))
    for msgid, row_id in wanted.items():
        base = row_id & ~store.TIE_MASK
        while row_id in taken:
            row_id = base | ((row_id + 1) & store.TIE_MASK)
            if connection.execute("SELECT 1 FROM docs WHERE id = ?", (row_id,)).fetchone():
                taken.add(row_id)
        taken.add(row_id)
        ids[msgid] = row_id
    return ids
