"""Writing to and draining the outbox.

The pipeline is store → detect → index (ADR 0007, revised): storage queues a batch for its
first stage only (``DETECT``), and the detection stage, in the transaction that writes the
batch's hits and sentiment, completes its claim and passes every message of it on to
``SEARCH`` (:func:`complete_and_forward`). So each message is indexed once, with its
detection results. A re-scan queues ``DETECT`` (and so re-indexes through the stage); a
reindex, and retention for what it deleted, queue ``SEARCH`` alone.

The consumer names are fixed here (not registered at run time) on purpose: every process
that stores messages — puller, quarantine retry, a one-off CLI — must write the same
entries, or a stage would silently miss messages. The archive only knows the names; the
stages themselves live in higher layers and import this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from archive.outbox.models import OutboxEntry

SEARCH = "search"
DETECT = "detect"
CONSUMERS: tuple[str, ...] = (SEARCH, DETECT)
# What a just-stored batch is queued for: the first stage. Detection passes it on to search.
ON_STORE: tuple[str, ...] = (DETECT,)
# The stages a stored message waits in until it is searchable (for the search lag).
BEFORE_SEARCHABLE: tuple[str, ...] = (DETECT, SEARCH)

_MAX_BACKOFF = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Claim:
    """A batch of message ids for one consumer; complete or fail it with its entry ids."""

    consumer: str
    entry_ids: tuple[int, ...]
    message_ids: tuple[int, ...]


def enqueue(session: Session, corp_id: str, message_ids: Sequence[int], now: datetime) -> None:
    """One row per ``ON_STORE`` stage for a just-stored batch (inside the storing transaction)."""
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
            for consumer in ON_STORE
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


def complete_and_forward(session: Session, claim: Claim, consumer: str, now: datetime) -> None:
    """Complete ``claim`` and queue every message of it for the next stage ``consumer``,
    in the caller's transaction (the one that wrote this stage's results). One entry per
    corp; it keeps the oldest ``created_at`` of the entries it replaces, so the next
    stage's backlog still dates from when the messages were stored."""
    if consumer not in CONSUMERS:
        raise ValueError(f"unknown outbox consumer {consumer!r}")
    rows = session.execute(
        select(OutboxEntry.corp_id, OutboxEntry.message_ids, OutboxEntry.created_at)
        .where(OutboxEntry.id.in_(claim.entry_ids))
        .order_by(OutboxEntry.id)
    ).all()
    by_corp: dict[str, tuple[dict[int, None], datetime]] = {}
    for corp_id, ids, created_at in rows:
        known, oldest = by_corp.get(corp_id, ({}, created_at))
        known.update(dict.fromkeys(int(i) for i in ids))
        by_corp[corp_id] = (known, min(oldest, created_at))
    entries = [
        {
            "consumer": consumer,
            "corp_id": corp_id,
            "message_ids": list(ids),
            "created_at": created_at,
            "available_at": now,
            "attempts": 0,
            "last_error": None,
        }
        for corp_id, (ids, created_at) in by_corp.items()
        if ids
    ]
    if entries:
        session.execute(insert(OutboxEntry), entries)
    complete(session, claim)


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


def queued_ids(session: Session, consumer: str) -> set[int]:
    """Every message id waiting for ``consumer`` (claimed or not)."""
    return {
        int(i)
        for ids in session.scalars(select(OutboxEntry.message_ids).where(OutboxEntry.consumer == consumer))
        for i in ids
    }


@dataclass(frozen=True, slots=True)
class Depth:
    consumer: str
    entries: int
    oldest: datetime | None
    failing: int


def depth(session: Session, consumers: Iterable[str] = CONSUMERS) -> list[Depth]:
    """How far behind each stage is (for `status`, /metrics and /health/ready)."""
    return [backlog(session, (consumer,), consumer) for consumer in consumers]


def backlog(session: Session, consumers: Sequence[str], name: str) -> Depth:
    """The entries of several stages taken together, named ``name``: with
    ``BEFORE_SEARCHABLE``, how long the oldest stored message has waited to be searchable
    (detection included: an entry passed on to search keeps its ``created_at``)."""
    entries, oldest, failing = session.execute(
        select(
            func.count(OutboxEntry.id),
            func.min(OutboxEntry.created_at),
            func.count(OutboxEntry.id).filter(OutboxEntry.attempts > 0),
        ).where(OutboxEntry.consumer.in_(list(consumers)))
    ).one()
    return Depth(name, int(entries), _aware(oldest), int(failing or 0))


def _aware(value: datetime | str | None) -> datetime | None:
    """SQLite returns an aggregate of a typed column as naive text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
