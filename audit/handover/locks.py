"""The handover's own locks: who may change a corp's cases at the same moment.

Contract:
- **Opening** a case (a manager, or discovery on the scheduler) takes
  :func:`lock_openings` first in its transaction: one opener of a corp's cases at a time.
  The second waits for the first to commit, then sees its case and is refused (one active
  case per member). There is no case row yet to lock, so the lock is a row of the
  ``leases`` table named ``handover:<corp>`` written by ``archive.repository.acquire_lease``
  inside the opening transaction: held until that transaction ends (a row lock on
  PostgreSQL, the database write lock on SQLite), never across a WeCom call, and nothing
  is left to expire if the process dies (the holder is always :data:`HOLDER`, so the row
  is "ours" for every opener and only its lock counts).
- **Every step on an existing case** (decide, accept suggestions, claim for execution,
  record WeCom's answers, release, poll, settle, sign off) takes :func:`lock_case` first:
  a write to the case's own row. On PostgreSQL that is the row lock a ``SELECT … FOR
  UPDATE`` would take; on SQLite the write lock is taken *before* anything is read (a WAL
  read snapshot cannot be upgraded to a writer once another connection committed). Two
  executions of one case are therefore one after the other: the second finds every item
  claimed and has nothing to send. Other cases are not held up.

Before this module the access log's head lock served as the handover mutex: every
content reader of the company waited on a handover opening, and a handover step had to
write the log before it could trust what it read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from archive import repository as archive_repository
from audit.handover.models import HandoverCase

HOLDER: Final = "handover"
# Never waited for: the lock is the row's, held for one transaction.
OPENING_TTL: Final = timedelta(0)


def openings_lock_name(corp_id: str) -> str:
    return f"handover:{corp_id}"


def lock_openings(session: Session, corp_id: str, now: datetime) -> None:
    """Hold the corp's opening lock until this transaction ends (see the contract)."""
    archive_repository.acquire_lease(session, openings_lock_name(corp_id), HOLDER, now, OPENING_TTL)


def lock_case(session: Session, case_id: int) -> bool:
    """Hold the case's row lock until this transaction ends; False if there is no such
    case (the caller's read of it then says so, with its own message)."""
    result = session.execute(
        update(HandoverCase)
        .where(HandoverCase.id == case_id)
        .values(id=HandoverCase.id)
        .execution_options(synchronize_session=False)
    )
    return isinstance(result, CursorResult) and result.rowcount == 1
