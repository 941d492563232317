"""The puller: drains one corp's archive into storage.

Contract:
- It asks the source for records with seq > the stored cursor and keeps asking until the
  source returns nothing (not one batch per tick).
- Each batch is stored in ONE transaction together with the new cursor (the batch's
  highest seq): envelopes as received, parsed messages with recipients and conversations,
  and quarantine rows for what could not be decrypted or parsed. A crash at any point
  either commits the whole batch and its cursor or nothing, so nothing is lost and nothing
  is stored twice; storage is also idempotent on msgid.
- One record never stalls the archive. When the database refuses a batch for the data's
  sake (``archive.storage.is_data_fault``: e.g. a uint64 ``filesize`` beyond the int64
  ``expected_size`` column), the batch is stored again in a new transaction with its
  halves in SAVEPOINTs, down to single records; each record refused on its own is
  quarantined as ``unstorable`` (envelope kept, for ``quarantine retry``) and the rest is
  stored with the cursor, still in one transaction. Environment errors (disk full,
  database locked, connection lost) fail the run as before, nothing of the batch stored;
  so does a batch of several records whose every record is refused on its own (the
  database is then the suspect, not the data). A batch of one is judged by the error alone,
  so the newest record never waits for later chats to join its batch.
- It writes only while it holds the corp's lease, renewed in every batch transaction; the
  lease and the run row are kept by ``archive.leased`` (as for every leased job).
- Reports and logs carry counts, seqs and durations — never message content.
- It imports nothing from ``audit`` or ``search``: storage queues each stored batch in the
  outbox (``archive.storage``), in the batch's transaction, and the downstream stages
  (detect, then index) claim their work from there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from archive import repository
from archive.clock import Clock, utcnow
from archive.errors import StorageError
from archive.leased import Heartbeat, LeasedJob, holder_is_dead_local_process, leased_run
from archive.leased import default_holder as default_holder  # re-exported: directory sync, disposition
from archive.messages import ParsedMessage, ParseError, parse_message
from archive.models import PullRun
from archive.repository import DecodedItem, FailedItem, StoredMessage
from archive.source import ChatArchiveSource, ChatEnvelope, DecryptedRecord, FailureReason
from archive.storage import complaint, is_data_fault, store_isolating, store_messages
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.pull")

DEFAULT_PULL_BATCH_LIMIT = 1000

# Kept for ``archive.directory.sync`` until it imports it from ``archive.leased``.
_holder_is_dead_local_process = holder_is_dead_local_process


@dataclass
class PullReport:
    corp_id: str
    trigger: str
    status: str = "running"  # completed | failed | skipped (lease held elsewhere)
    run_id: int | None = None
    from_seq: int = 0
    to_seq: int = 0
    batches: int = 0
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    unknown_types: int = 0
    duration_s: float = 0.0
    error_code: str | None = None
    error: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def log_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("corp_id",) and v not in (None, {})}


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    envelope: ChatEnvelope
    parsed: ParsedMessage | None
    raw: str
    failure: str | None
    detail: str


def prepare(records: Sequence[DecryptedRecord]) -> list[PreparedRecord]:
    """Parse decrypted plaintexts; what does not parse becomes a failure (quarantined)."""
    prepared = []
    for record in records:
        envelope = record.envelope
        if record.plaintext is None:
            reason = record.failure or FailureReason.DECRYPT_FAILED
            prepared.append(PreparedRecord(envelope, None, "", str(reason), record.detail))
            continue
        try:
            parsed = parse_message(record.plaintext)
        except ParseError as exc:
            detail = f"the decrypted plaintext is not a WeCom message: {exc}"
            prepared.append(PreparedRecord(envelope, None, "", FailureReason.UNPARSABLE.value, detail))
            continue
        if parsed.msgid != envelope.msgid:
            detail = "the decrypted message's msgid differs from its envelope's msgid"
            prepared.append(PreparedRecord(envelope, None, "", FailureReason.UNPARSABLE.value, detail))
            continue
        raw = record.plaintext.decode("utf-8", "replace")
        if "\x00" in raw:  # PostgreSQL text cannot hold NUL; keep the JSON escape instead
            raw = raw.replace("\x00", "\\u0000")
        prepared.append(PreparedRecord(envelope, parsed, raw, None, ""))
    return prepared


@dataclass
class BatchResult:
    stored: list[StoredMessage]
    duplicates: int
    quarantined: list[PreparedRecord]


def store_prepared(session: Session, corp_id: str, records: Sequence[PreparedRecord], clock: Clock) -> BatchResult:
    """Store one batch idempotently (msgids already stored are skipped and counted)."""
    now = clock()
    existing = repository.existing_msgids(session, corp_id, [r.envelope.msgid for r in records])
    fresh: dict[str, PreparedRecord] = {}
    for record in records:
        if record.envelope.msgid not in existing:
            fresh.setdefault(record.envelope.msgid, record)
    envelope_ids = repository.insert_envelopes(session, corp_id, [r.envelope for r in fresh.values()], now)
    decoded = [
        DecodedItem(envelope_ids[r.envelope.msgid], r.envelope.seq, r.parsed, r.raw, r.envelope)
        for r in fresh.values()
        if r.parsed is not None
    ]
    failed = [r for r in fresh.values() if r.parsed is None]
    stored = store_messages(session, corp_id, decoded, now)
    repository.insert_quarantine(
        session,
        corp_id,
        [FailedItem(envelope_ids[r.envelope.msgid], r.envelope, r.failure or "", r.detail) for r in failed],
        now,
    )
    return BatchResult(stored, len(records) - len(fresh), failed)


def unstorable_detail(reason: str) -> str:
    return (
        f"the database refused to store it ({reason}); it stays here, envelope kept, until "
        "`wecom-audit quarantine retry` can store it"
    )


def store_prepared_isolating(
    session: Session, corp_id: str, records: Sequence[PreparedRecord], clock: Clock
) -> BatchResult:
    """Store a batch the database refused for the data's sake (in a fresh transaction):
    what it takes is stored, each record it refuses on its own is quarantined as
    ``unstorable``. Only what was kept is queued for the downstream stages: a rolled-back
    part takes its outbox rows with it."""
    kept, refused = store_isolating(session, records, lambda part: store_prepared(session, corp_id, part, clock))
    if len(records) > 1 and len(refused) == len(records):
        seqs = f"seq {records[0].envelope.seq}–{records[-1].envelope.seq}" if records else "empty"
        raise StorageError(
            f"the database refused every record of the batch ({seqs}) on its own ({refused[0][1]}); "
            "nothing of it was stored",
            hint="a database that takes no record at all is the suspect, not the records: "
            "check its schema, server and logs, then pull again",
        )
    set_aside = [
        PreparedRecord(record.envelope, None, "", FailureReason.UNSTORABLE.value, unstorable_detail(reason))
        for record, reason in refused
    ]
    try:
        quarantined = store_prepared(session, corp_id, set_aside, clock)
    except Exception as exc:
        if not is_data_fault(exc):
            raise
        raise StorageError(
            f"the database refused even the quarantine row of an unstorable record ({complaint(exc)}); "
            "nothing of the batch was stored",
            hint="the record's envelope itself does not fit the database; report it with its seq",
        ) from None
    for record, reason in refused:
        log.warning("archive.pull.unstorable", corp_id=corp_id, seq=record.envelope.seq, reason=reason)
    return BatchResult(
        [message for part in kept for message in part.stored],
        sum(part.duplicates for part in kept) + quarantined.duplicates,
        [record for part in kept for record in part.quarantined] + quarantined.quarantined,
    )


def _job(corp_id: str) -> LeasedJob:
    return LeasedJob(
        lease=repository.pull_lease_name(corp_id),
        corp_id=corp_id,
        runs=PullRun,
        what="puller",
        events="archive.pull",
        again="pull again",
        take_over_dead=True,
    )


class Puller:
    """Pulls one corp's archive from a source into the database."""

    def __init__(
        self,
        corp_id: str,
        source: ChatArchiveSource,
        session_factory: sessionmaker[Session],
        *,
        batch_limit: int = DEFAULT_PULL_BATCH_LIMIT,
        lease_ttl: timedelta = timedelta(seconds=120),
        holder: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.corp_id = corp_id
        self.source = source
        self.session_factory = session_factory
        self.batch_limit = batch_limit
        self.lease_ttl = lease_ttl
        self.holder = holder or default_holder()
        self.clock = clock
        self._lease: Heartbeat | None = None

    @property
    def lease_name(self) -> str:
        return repository.pull_lease_name(self.corp_id)

    def run(self, trigger: str = "manual", *, max_batches: int | None = None) -> PullReport:
        """Drain the source (or ``max_batches`` batches). Configuration and SDK errors end the
        run with status ``failed`` and a report saying why; unexpected faults propagate."""
        report = PullReport(self.corp_id, trigger)
        started = time.monotonic()

        def finished() -> None:
            report.duration_s = round(time.monotonic() - started, 3)
            event = "archive.pull.failed" if report.status == "failed" else "archive.pull.completed"
            (log.error if report.status == "failed" else log.info)(event, corp_id=self.corp_id, **report.log_fields())

        with leased_run(
            self.session_factory,
            _job(self.corp_id),
            report,
            holder=self.holder,
            ttl=self.lease_ttl,
            clock=self.clock,
            finished=finished,
        ) as lease:
            if lease is None:
                return report
            self._lease = lease
            with session_scope(self.session_factory) as session:
                report.from_seq = report.to_seq = repository.get_cursor(session, self.corp_id)
                report.run_id = repository.start_run(session, self.corp_id, trigger, report.from_seq, self.clock())
            self._drain(report, max_batches)
        return report

    def _drain(self, report: PullReport, max_batches: int | None) -> None:
        cursor = report.to_seq
        while max_batches is None or report.batches < max_batches:
            records = self.source.fetch(cursor, self.batch_limit)
            if not records:
                break
            top_seq = max(record.envelope.seq for record in records)
            self.source.prefetch(top_seq, self.batch_limit)
            prepared = prepare(records)
            batch_started = time.monotonic()
            with session_scope(self.session_factory) as session:
                self._renew_lease(session)
                try:
                    result = store_prepared(session, self.corp_id, prepared, self.clock)
                except Exception as exc:
                    if not is_data_fault(exc):
                        raise
                    # PostgreSQL has aborted the transaction and SQLite may hold part of a
                    # statement: start the batch afresh, isolating what the database refuses.
                    session.rollback()
                    log.warning(
                        "archive.pull.batch_refused",
                        corp_id=self.corp_id,
                        seq_to=top_seq,
                        records=len(records),
                        reason=complaint(exc),
                    )
                    self._renew_lease(session)
                    result = store_prepared_isolating(session, self.corp_id, prepared, self.clock)
                repository.set_cursor(session, self.corp_id, top_seq, self.clock())
                report.batches += 1
                report.fetched += len(records)
                report.stored += len(result.stored)
                report.duplicates += result.duplicates
                report.quarantined += len(result.quarantined)
                report.unknown_types += sum(
                    1 for r in prepared if r.parsed is not None and r.parsed.parse_status != "ok"
                )
                for record in result.quarantined:
                    reason = record.failure or "unknown"
                    report.quarantine_reasons[reason] = report.quarantine_reasons.get(reason, 0) + 1
                report.to_seq = top_seq
                repository.update_run(
                    session,
                    report.run_id or 0,
                    to_seq=top_seq,
                    batches=report.batches,
                    fetched=report.fetched,
                    stored=report.stored,
                    duplicates=report.duplicates,
                    quarantined=report.quarantined,
                    unknown_types=report.unknown_types,
                )
            cursor = top_seq
            log.debug(
                "archive.pull.batch_stored",
                corp_id=self.corp_id,
                seq_to=top_seq,
                records=len(records),
                stored=len(result.stored),
                quarantined=len(result.quarantined),
                store_ms=round((time.monotonic() - batch_started) * 1000, 1),
            )

    def _renew_lease(self, session: Session) -> None:
        assert self._lease is not None, "renewed outside a run"
        self._lease.renew(session)
