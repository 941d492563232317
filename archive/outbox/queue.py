"""Writing to and draining the outbox.

The consumer names are fixed here (not registered at run time) on purpose: every process
that stores messages — puller, quarantine retry, a one-off CLI — must write the same
entries, or a stage would silently miss messages. The archive only knows the names; the
stages themselves live in higher layers and import this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from archive.outbox.models import OutboxEntry

SEARCH = "search"
DETECT = "detect"
CONSUMERS: tuple[str, ...] = (SEARCH, DETECT)

_MAX_BACKOFF = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Claim:
    """A batch of message ids for one consumer; complete or fail it with its entry ids."""

    consumer: str
    entry_ids: tuple[int, ...]
    message_ids: tuple[int, ...]


def enqueue(session: Session, corp_id: str, message_ids: Sequence[int], now: datetime) -> None:
    """One row per consumer for a just-stored batch (call inside the storing transaction)."""
    if not message_ids:
        return
    ids = list(message_ids)
    session.execute(
        insert(OutboxEntry),
        [
            {
                "consumer": consumer,
                "corp_id": corp_id,
                "message_ids": ids,
                "created_at": now,
                "available_at": now,
                "attempts": 0,
                "last_error": None,
            }
            for consumer in CONSUMERS
        ],
    )


def enqueue_for(session: Session, consumer: str, corp_id: str, message_ids: Sequence[int], now: datetime) -> None:
    """Queue messages for one stage only (a re-scan after a rule change, a reindex)."""
    if consumer not in CONSUMERS:
        raise ValueError(f"unknown outbox consumer {consumer!r}")
    if message_ids:
        session.execute(
            insert(OutboxEntry),
            [
                {
                    "consumer": consumer,
                    "corp_id": corp_id,
                    "message_ids": list(message_ids),
                    "created_at": now,
                    "available_at": now,
                    "attempts": 0,
                    "last_error": None,
                }
            ],
        )


def claim(session: Session, consumer: str, now: datetime, *, max_messages: int = 5000) -> Claim | None:
    """The oldest available entries of ``consumer`` up to about ``max_messages`` ids.

    Not a lock: stages run one worker per consumer (the scheduler's job lock), and a crash
    after the effect but before ``complete`` only repeats idempotent work.
    """
    rows = session.execute(
        select(OutboxEntry.id, OutboxEntry.message_ids)
        .where(OutboxEntry.consumer == consumer, OutboxEntry.available_at <= now)
        .order_by(OutboxEntry.id)
        .limit(200)
    ).all()
    entry_ids: list[int] = []
    message_ids: list[int] = []
    for entry_id, ids in rows:
        if entry_ids and len(message_ids) + len(ids) > max_messages:
            break
        entry_ids.append(entry_id)
        message_ids.extend(int(i) for i in ids)
    if not entry_ids:
        return None
    return Claim(consumer, tuple(entry_ids), tuple(message_ids))


def complete(session: Session, claim: Claim) -> None:
    session.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(claim.entry_ids)))


def fail(session: Session, claim: Claim, error: str, now: datetime) -> None:
    """Keep the entries and retry later with exponential backoff (never dropped)."""
    for entry_id in claim.entry_ids:
        attempts = session.scalar(select(OutboxEntry.attempts).where(OutboxEntry.id == entry_id)) or 0
        delay = min(timedelta(seconds=2 ** min(attempts, 12)), _MAX_BACKOFF)
        session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id == entry_id)
            .values(attempts=attempts + 1, last_error=error[:2000], available_at=now + delay)
        )


@dataclass(frozen=True, slots=True)
class Depth:
    consumer: str
    entries: int
    oldest: datetime | None
    failing: int


def depth(session: Session, consumers: Iterable[str] = CONSUMERS) -> list[Depth]:
    """How far behind each stage is (for `status`, /metrics and /health/ready)."""
    result = []
    for consumer in consumers:
        entries, oldest = session.execute(
            select(func.count(OutboxEntry.id), func.min(OutboxEntry.created_at)).where(OutboxEntry.consumer == consumer)
        ).one()
        failing = session.scalar(
            select(func.count(OutboxEntry.id)).where(OutboxEntry.consumer == consumer, OutboxEntry.attempts > 0)
        )
        result.append(Depth(consumer, int(entries), oldest, int(failing or 0)))
    return result
