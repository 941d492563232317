"""The embedded index's SQLite file: schema, opening, and the versioned-file pointer.

Layout of the index directory (``search.embedded_path``)::

    current             one line: the file name of the live index (replaced atomically)
    index-<version>.db  one SQLite database per built version

``reindex`` builds a new ``index-<version>.db`` next to the live one and then replaces
``current`` with ``os.replace`` (atomic on POSIX); readers compare ``current`` on every call
and reopen when it changed, so no search ever sees a half-built index.

We use ``pysqlite3`` (a recent SQLite, 3.51) instead of Python's ``sqlite3`` for this file:
Debian 12's SQLite 3.40 has FTS5 trigram bugs and lacks ``contentless_delete`` (3.43+),
which lets us replace documents in a content-less index without storing the text twice.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pysqlite3 import dbapi2 as sqlite3

from search.errors import SearchBackendError
from search.matching import near

SCHEMA_VERSION = "3"
Error = sqlite3.Error
POINTER_NAME = "current"

# Row id of a document: its msgtime in milliseconds shifted left 20 bits plus a tie-break, so
# rowid order IS newest-first order and FTS5 can return the newest matches without sorting.
TIME_SHIFT = 20
TIE_MASK = (1 << TIME_SHIFT) - 1

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY,
    msgid TEXT NOT NULL UNIQUE,
    message_id INTEGER NOT NULL UNIQUE,
    corp_id TEXT NOT NULL,
    conversation_id INTEGER,
    seq INTEGER NOT NULL,
    msgtype TEXT NOT NULL,
    sender TEXT NOT NULL,
    roomid TEXT,
    text TEXT NOT NULL,
    folded TEXT NOT NULL,
    has_media INTEGER NOT NULL,
    has_hit INTEGER NOT NULL,
    sentiment TEXT
);
-- Multi-valued fields (recipients, customers, departments, rules, participants ...).
CREATE TABLE IF NOT EXISTS doc_values (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    doc INTEGER NOT NULL,
    PRIMARY KEY (kind, value, doc)
) WITHOUT ROWID;
-- Character pairs of the folded text (search.embedded.grams); content-less: the text is in docs.
CREATE VIRTUAL TABLE IF NOT EXISTS grams USING fts5 (
    pairs, tokenize = 'ascii', prefix = '1', detail = full, content = '', contentless_delete = 1
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
"""

# Secondary indexes: created after a bulk build (sorting once is several times faster than
# maintaining them row by row), right away for an index that is written incrementally.
_INDEXES = """
CREATE INDEX IF NOT EXISTS docs_corp ON docs (corp_id, id);
CREATE INDEX IF NOT EXISTS docs_sender ON docs (sender, id);
CREATE INDEX IF NOT EXISTS docs_room ON docs (roomid, id);
CREATE INDEX IF NOT EXISTS docs_type ON docs (msgtype, id);
CREATE INDEX IF NOT EXISTS docs_conversation ON docs (conversation_id, id);
CREATE INDEX IF NOT EXISTS doc_values_doc ON doc_values (doc);
"""


def _near_udf(folded: str, left: str, right: str, distance: int) -> int:
    return 1 if near(left, right, distance, folded) else 0


def connect(path: Path, *, bulk: bool = False) -> Any:
    """Open (creating if needed) one index file."""
    try:
        connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA busy_timeout = 10000")
        if bulk:
            # A file nobody reads until it is complete: no journal, no fsync per commit.
            connection.execute("PRAGMA journal_mode = OFF")
            connection.execute("PRAGMA synchronous = OFF")
        else:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA cache_size = -65536")  # 64 MiB
        connection.execute("PRAGMA temp_store = MEMORY")
        connection.create_function("wa_near", 4, _near_udf, deterministic=True)
        # Idempotent and in one write transaction: two processes may create the file at once.
        connection.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}{'' if bulk else _INDEXES}COMMIT;")
        version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error as error:
        raise SearchBackendError(
            f"cannot open the search index {path}: {error}; run `wecom-audit reindex` to rebuild it"
        ) from error
    if version is None or version[0] != SCHEMA_VERSION:
        connection.close()
        raise SearchBackendError(
            f"the search index {path} has an older layout; run `wecom-audit reindex` to rebuild it"
        )
    return connection


def finish_bulk(connection: Any) -> None:
    """Make a bulk-built index ready to serve: secondary indexes, one merged FTS segment
    (the fastest layout to read), statistics for the planner, WAL for concurrent readers."""
    connection.executescript(_INDEXES)
    connection.execute("INSERT INTO grams (grams) VALUES ('optimize')")
    connection.execute("PRAGMA analysis_limit = 1000")
    connection.execute("ANALYZE")
    connection.execute("PRAGMA journal_mode = WAL")


INITIAL_VERSION = "initial"  # the same name in every process that finds no index yet


def new_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def index_file(directory: Path, version: str) -> Path:
    return directory / f"index-{version}.db"


def read_pointer(directory: Path) -> str | None:
    try:
        return (directory / POINTER_NAME).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def write_pointer(directory: Path, version: str) -> None:
    temporary = directory / f".{POINTER_NAME}.{secrets.token_hex(4)}"
    temporary.write_text(version + "\n", encoding="utf-8")
    os.replace(temporary, directory / POINTER_NAME)


def remove_version(directory: Path, version: str) -> None:
    """Delete an index file that is no longer current (open readers keep their handle)."""
    base = index_file(directory, version)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{base}{suffix}").unlink(missing_ok=True)
