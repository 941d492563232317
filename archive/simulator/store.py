"""The simulated WeCom's own storage: what its servers keep for the archive API.

A SQLite file of its own (``sim.db``), separate from wecom-audit's database: this is the
vendor's side of the edge. Holds the encrypted chatdata by seq, media bytes by sdkfileid,
contact events, the corp's identity and its RSA key pairs by version.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from archive.simulator.cipher import CorpKeyPair

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chatdata (
    seq INTEGER PRIMARY KEY,
    msgid TEXT NOT NULL UNIQUE,
    publickey_ver INTEGER NOT NULL,
    encrypt_random_key TEXT NOT NULL,
    encrypt_chat_msg TEXT NOT NULL,
    msgtime_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS media (
    sdkfileid TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    md5 TEXT NOT NULL,
    msgtime_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS contact_events (
    id INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    change_type TEXT NOT NULL,
    userid TEXT NOT NULL,
    external_userid TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (version INTEGER PRIMARY KEY, private_pem BLOB NOT NULL);
"""


@dataclass(frozen=True)
class StoredChat:
    seq: int
    msgid: str
    publickey_ver: int
    encrypt_random_key: str
    encrypt_chat_msg: str
    msgtime_ms: int


class SimulatorStore:
    """Thread-safe: each thread gets its own SQLite connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # keys ---------------------------------------------------------------------------------

    def save_key(self, pair: CorpKeyPair) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO keys (version, private_pem) VALUES (?, ?)", (pair.version, pair.private_pem())
            )

    def key_pairs(self) -> list[CorpKeyPair]:
        rows = self._connection().execute("SELECT version, private_pem FROM keys ORDER BY version").fetchall()
        return [CorpKeyPair.from_pem(version, pem) for version, pem in rows]

    # chatdata -----------------------------------------------------------------------------

    def append(self, chats: Iterable[tuple[int, StoredChat]], media: Iterable[tuple[str, bytes, str, int]]) -> None:
        """Append chats (with explicit seqs) and media in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO chatdata (seq, msgid, publickey_ver, encrypt_random_key, encrypt_chat_msg, msgtime_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (seq, c.msgid, c.publickey_ver, c.encrypt_random_key, c.encrypt_chat_msg, c.msgtime_ms)
                    for seq, c in chats
                ],
            )
            db.executemany("INSERT OR IGNORE INTO media (sdkfileid, data, md5, msgtime_ms) VALUES (?, ?, ?, ?)", media)

    def add_contact_events(self, events: Iterable[tuple[int, str, str, str]]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO contact_events (time_ms, change_type, userid, external_userid) VALUES (?, ?, ?, ?)", events
            )

    def chats_after(self, seq: int, limit: int, not_before_ms: int = 0) -> list[StoredChat]:
        rows = (
            self._connection()
            .execute(
                "SELECT seq, msgid, publickey_ver, encrypt_random_key, encrypt_chat_msg, msgtime_ms FROM chatdata"
                " WHERE seq > ? AND msgtime_ms >= ? ORDER BY seq LIMIT ?",
                (seq, not_before_ms, limit),
            )
            .fetchall()
        )
        return [StoredChat(*row) for row in rows]

    def max_seq(self) -> int:
        row = self._connection().execute("SELECT COALESCE(MAX(seq), 0) FROM chatdata").fetchone()
        return int(row[0])

    def last_msgtime_ms(self) -> int | None:
        row = self._connection().execute("SELECT MAX(msgtime_ms) FROM chatdata").fetchone()
        return None if row[0] is None else int(row[0])

    def count(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM chatdata").fetchone()[0])

    # media --------------------------------------------------------------------------------

    def media_slice(self, sdkfileid: str, offset: int, length: int) -> tuple[bytes, int] | None:
        """(bytes from offset, total size) of a media file, or None if unknown. Incremental
        blob I/O reads just the range (substr would load the whole file for every chunk)."""
        connection = self._connection()
        row = connection.execute("SELECT rowid, length(data) FROM media WHERE sdkfileid = ?", (sdkfileid,)).fetchone()
        if row is None:
            return None
        rowid, total = int(row[0]), int(row[1])
        if offset >= total:
            return b"", total
        with connection.blobopen("media", "data", rowid, readonly=True) as blob:
            blob.seek(offset)
            return blob.read(min(length, total - offset)), total

    def media_msgtime_ms(self, sdkfileid: str) -> int:
        row = self._connection().execute("SELECT msgtime_ms FROM media WHERE sdkfileid = ?", (sdkfileid,)).fetchone()
        return 0 if row is None else int(row[0])

    def media_bytes(self, sdkfileid: str) -> bytes | None:
        row = self._connection().execute("SELECT data FROM media WHERE sdkfileid = ?", (sdkfileid,)).fetchone()
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
