"""Retrying quarantined records from their stored envelopes.

Contract: WeCom may have deleted its copy long ago, so a retry uses only the envelope we
stored. Each chunk is one transaction: recovered records become messages and their
quarantine rows are marked resolved (kept, for the record); records that fail again keep
their row with the new reason and one more attempt. Nothing is deleted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from archive import repository
from archive.clock import Clock, utcnow
from archive.puller import BatchSink, prepare
from archive.repository import DecodedItem
from archive.source import ChatArchiveSource
from archive.storage import store_messages
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.quarantine")

RETRY_CHUNK = 500


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
    sinks: Sequence[BatchSink] = (),
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
            failures = [
                (quarantine_id, record.failure or "unknown", record.detail)
                for (quarantine_id, _, _), record in zip(rows, prepared, strict=True)
                if record.parsed is None
            ]
            repository.record_failed_attempts(session, failures, now)
            for sink in sinks:
                sink.stored(session, corp_id, stored)
        report.attempted += len(rows)
        report.recovered += len(recovered)
        report.still_failing.update(reason for _, reason, _ in failures)
    log.info(
        "archive.quarantine.retried",
        corp_id=corp_id,
        attempted=report.attempted,
        recovered=report.recovered,
        still_failing=sum(report.still_failing.values()),
    )
    return report
