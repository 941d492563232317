"""The one path by which decrypted messages enter the archive.

Contract: called inside the caller's transaction (a puller batch or a quarantine retry).
Along with the message rows it appends them to the corp's integrity chain, creates a
media task for every attachment and queues the batch in the outbox for the first
downstream stage, detection (``outbox.ON_STORE``), so a message is never stored without
all three. Detection passes every message on to the search indexer in the transaction
that writes its hits and sentiment (store → detect → index, ADR 0007): a message is
indexed once, with what detection found.

When the database refuses a batch for the data's sake (``is_data_fault``: a value out of
range, a constraint, text it cannot encode), ``store_isolating`` stores it again in
SAVEPOINTs, halving whatever is refused down to single records, and returns the records
it refused on their own for the caller to quarantine. Everything a refused attempt wrote —
message rows, chain links and head, media tasks, outbox rows, conversation counts — lives
in the database and goes with its SAVEPOINT; nothing about it is kept in Python. The common
path (nothing refused) runs no SAVEPOINT.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from archive import repository
from archive.integrity import chain
from archive.media import tasks as media_tasks
from archive.outbox import queue as outbox
from archive.repository import DecodedItem, StoredMessage

Item = TypeVar("Item")
Result = TypeVar("Result")

# Longer complaints are cut: the reason must fit a quarantine row and a log line.
COMPLAINT_MAX_CHARS = 200

_TABLE_OF_STATEMENT = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


def store_messages(session: Session, corp_id: str, items: Sequence[DecodedItem], now: datetime) -> list[StoredMessage]:
    stored = repository.insert_messages(session, corp_id, items)
    chain.append(session, corp_id, stored, now)
    media_tasks.enqueue(session, corp_id, items, stored, now)
    outbox.enqueue(session, corp_id, [message.id for message in stored], now)
    return stored


def is_data_fault(exc: BaseException) -> bool:
    """Did the values of what was being stored cause ``exc`` (rather than the database,
    the disk or the connection)?

    PostgreSQL (psycopg) reports bad values as ``DataError`` (``bigint out of range``,
    ``value too long for type character varying(128)``, ``PostgreSQL text fields cannot
    contain NUL (0x00) bytes``, ``unsupported Unicode escape sequence`` for ``\\u0000`` in
    JSONB) and broken constraints as ``IntegrityError``. SQLite's driver raises a bare
    ``OverflowError`` for an int beyond int64 (``Python int too large to convert to SQLite
    INTEGER``), ``IntegrityError`` for constraints and ``DataError`` for ``string or blob
    too big``. Both drivers raise a bare ``UnicodeEncodeError`` for a lone surrogate.
    Everything else — ``OperationalError`` (disk full, database locked, connection lost),
    ``InternalError``, ``ProgrammingError`` — is the environment's or ours."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        return False
    cause = exc.orig if isinstance(exc, StatementError) else exc
    return isinstance(cause, OverflowError | UnicodeEncodeError)


def complaint(exc: BaseException) -> str:
    """The database's complaint in one line: the driver's first line (later lines can
    quote row values) and the table, never the statement or its parameters."""
    cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    if isinstance(cause, UnicodeEncodeError):  # its text quotes the character itself
        text = f"text it cannot encode as {cause.encoding} ({cause.reason})"
    else:
        lines = str(cause).strip().splitlines()
        text = lines[0].strip() if lines else type(cause).__name__
    table = _TABLE_OF_STATEMENT.match(exc.statement or "") if isinstance(exc, StatementError) else None
    if table:
        text = f"{text}, in table {table.group(1)}"
    return text[:COMPLAINT_MAX_CHARS]


def store_isolating(
    session: Session, items: Sequence[Item], store: Callable[[Sequence[Item]], Result]
) -> tuple[list[Result], list[tuple[Item, str]]]:
    """Store ``items`` after ``store(items)`` was refused for the data's sake and its
    transaction rolled back: halves in SAVEPOINTs, halving again what is refused, down to
    single items. Returns what ``store`` returned for each part kept, in the items' order,
    and each item refused on its own with the database's complaint. Any other error
    propagates: the caller's transaction then rolls back whole, kept parts included."""
    _begin_before_savepoints(session)
    kept: list[Result] = []
    refused: list[tuple[Item, str]] = []

    def attempt(part: Sequence[Item]) -> None:
        try:
            with session.begin_nested():
                result = store(part)
        except Exception as exc:
            if not is_data_fault(exc):
                raise
            if len(part) == 1:
                refused.append((part[0], complaint(exc)))
            else:
                split(part)
            return
        kept.append(result)

    def split(part: Sequence[Item]) -> None:
        middle = len(part) // 2
        attempt(part[:middle])
        attempt(part[middle:])

    if len(items) > 1:
        split(items)  # the whole was refused already
    elif items:
        attempt(items)
    return kept, refused


def _begin_before_savepoints(session: Session) -> None:
    """pysqlite sends BEGIN only before an INSERT, UPDATE or DELETE. A SAVEPOINT sent first
    would open a transaction of its own that its RELEASE commits, so what was kept would no
    longer roll back with the caller's transaction: open it first. (PostgreSQL is always in
    the transaction SQLAlchemy began.)"""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.dbapi_connection
        if not getattr(driver, "in_transaction", True):
            connection.exec_driver_sql("BEGIN")
