"""Retrying quarantined records from their stored envelopes.

Contract: WeCom may have deleted its copy long ago, so a retry uses only the envelope we
stored. Each chunk is one transaction: recovered records become messages and their
quarantine rows are marked resolved (kept, for the record), and queued for detection and
then the index like any stored message (``archive.storage``); records that fail again keep
their row with the new reason and one more attempt. Nothing is deleted.

A record the database refuses to store never fails the retry of the others: as in the
puller, the chunk is stored again with its halves in SAVEPOINTs down to single records,
and each record refused on its own keeps its row as ``unstorable`` with the database's
complaint. Unlike the puller, a chunk whose every record is refused is not an error:
nothing moves past a record here (no cursor), so a refusal costs only an attempt.
Environment errors fail the retry with nothing of the chunk stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from archive import repository
from archive.clock import Clock, utcnow
from archive.puller import PreparedRecord, prepare, unstorable_detail
from archive.repository import DecodedItem, StoredMessage
from archive.source import ChatArchiveSource, ChatEnvelope, FailureReason
from archive.storage import complaint, is_data_fault, store_isolating, store_messages
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.quarantine")

RETRY_CHUNK = 500

# A quarantine row (its id, envelope id and envelope) and its record, decrypted and parsed now.
Recovered = tuple[tuple[int, int, ChatEnvelope], PreparedRecord]


@dataclass
class RetryReport:
    attempted: int = 0
    recovered: int = 0
    still_failing: Counter[str] = field(default_factory=Counter)


def retry_quarantine(
    corp_id: str,
    source: ChatArchiveSource,
    session_factory: sessionmaker[Session],
    *,
    clock: Clock = utcnow,
    chunk: int = RETRY_CHUNK,
) -> RetryReport:
    report = RetryReport()
    after_id = 0
    while True:
        with session_scope(session_factory) as session:
            rows = repository.open_quarantine(session, corp_id, chunk, after_id)
        if not rows:
            break
        after_id = rows[-1][0]
        prepared = prepare(source.decrypt([envelope for _, _, envelope in rows]))
        with session_scope(session_factory) as session:
            now = clock()
            recovered = [(row, record) for row, record in zip(rows, prepared, strict=True) if record.parsed is not None]
            failures = [
                (quarantine_id, record.failure or "unknown", record.detail)
                for (quarantine_id, _, _), record in zip(rows, prepared, strict=True)
                if record.parsed is None
            ]
            try:
                stored = _recover(session, corp_id, recovered, now)
            except Exception as exc:
                if not is_data_fault(exc):
                    raise
                session.rollback()  # PostgreSQL has aborted the transaction: start the chunk afresh
                log.warning(
                    "archive.quarantine.chunk_refused", corp_id=corp_id, records=len(rows), reason=complaint(exc)
                )
                stored, unstorable = _recover_isolating(session, corp_id, recovered, now)
                failures += unstorable
            repository.record_failed_attempts(session, failures, now)
        report.attempted += len(rows)
        report.recovered += len(stored)
        report.still_failing.update(reason for _, reason, _ in failures)
    log.info(
        "archive.quarantine.retried",
        corp_id=corp_id,
        attempted=report.attempted,
        recovered=report.recovered,
        still_failing=sum(report.still_failing.values()),
    )
    return report


def _recover(session: Session, corp_id: str, recovered: Sequence[Recovered], now: datetime) -> list[StoredMessage]:
    """Store decrypted records from their quarantine rows and mark those rows resolved."""
    stored = store_messages(
        session,
        corp_id,
        [
            DecodedItem(envelope_id, envelope.seq, r.parsed, r.raw, envelope)
            for (_, envelope_id, envelope), r in recovered
            if r.parsed
        ],
        now,
    )
    repository.resolve_quarantine(session, [quarantine_id for (quarantine_id, _, _), _ in recovered], now)
    return stored


def _recover_isolating(
    session: Session, corp_id: str, recovered: Sequence[Recovered], now: datetime
) -> tuple[list[StoredMessage], list[tuple[int, str, str]]]:
    """``_recover`` a chunk the database refused, isolating the records it refuses on their
    own: returns what was stored and a failed attempt (unstorable) for each of those."""
    kept, refused = store_isolating(session, recovered, lambda part: _recover(session, corp_id, part, now))
    unstorable = []
    for ((quarantine_id, _, envelope), _), reason in refused:
        log.warning("archive.quarantine.unstorable", corp_id=corp_id, seq=envelope.seq, reason=reason)
        unstorable.append((quarantine_id, FailureReason.UNSTORABLE.value, unstorable_detail(reason)))
    return [message for part in kept for message in part], unstorable
