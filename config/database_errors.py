"""Telling an unusable database from everything else, for the command line's last word.

The entry points (``api/``) import no SQLAlchemy beyond the session types; what they need
to know about a database error is asked here.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError


def unusable_database_reason(exc: BaseException) -> str | None:
    """The driver's first line when ``exc`` says the database cannot be used at all (server
    down, credentials refused, disk full, file not writable); ``None`` for anything else.
    Only the first line: later lines can quote the statement and its parameters."""
    if not isinstance(exc, OperationalError):
        return None
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
