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
- It writes only while it holds the corp's lease, renewed in every batch transaction.
- Reports and logs carry counts, seqs and durations — never message content.
- It imports nothing from ``audit`` or ``search``: stored batches go to the sinks it is given.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from archive import repository
from archive.clock import Clock, utcnow
from archive.errors import ArchiveError, LeaseLostError, StorageError
from archive.messages import ParsedMessage, ParseError, parse_message
from archive.models import PullRun
from archive.repository import DecodedItem, FailedItem, StoredMessage
from archive.source import ChatArchiveSource, ChatEnvelope, DecryptedRecord, FailureReason
from archive.storage import complaint, is_data_fault, store_isolating, store_messages
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.pull")

DEFAULT_PULL_BATCH_LIMIT = 1000


class BatchSink(Protocol):
    """Told about each stored batch inside its transaction (e.g. to write an outbox)."""

    def stored(self, session: Session, corp_id: str, messages: Sequence[StoredMessage]) -> None: ...


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


def store_prepared(
    session: Session, corp_id: str, records: Sequence[PreparedRecord], sinks: Sequence[BatchSink], clock: Clock
) -> BatchResult:
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
    for sink in sinks:
        sink.stored(session, corp_id, stored)
    return BatchResult(stored, len(records) - len(fresh), failed)


def unstorable_detail(reason: str) -> str:
    return (
        f"the database refused to store it ({reason}); it stays here, envelope kept, until "
        "`wecom-audit quarantine retry` can store it"
    )


def store_prepared_isolating(
    session: Session, corp_id: str, records: Sequence[PreparedRecord], sinks: Sequence[BatchSink], clock: Clock
) -> BatchResult:
    """Store a batch the database refused for the data's sake (in a fresh transaction):
    what it takes is stored, each record it refuses on its own is quarantined as
    ``unstorable``. Sinks hear once, of the messages kept, never of a rolled-back part."""
    kept, refused = store_isolating(session, records, lambda part: store_prepared(session, corp_id, part, (), clock))
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
        quarantined = store_prepared(session, corp_id, set_aside, (), clock)
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
    stored = [message for part in kept for message in part.stored]
    for sink in sinks:
        sink.stored(session, corp_id, stored)
    return BatchResult(
        stored,
        sum(part.duplicates for part in kept) + quarantined.duplicates,
        [record for part in kept for record in part.quarantined] + quarantined.quarantined,
    )


def storage_error(exc: DBAPIError) -> StorageError:
    """Only the driver's first line: the statement and its parameters (content) stay out."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    hint = "free disk space" if "full" in reason else "check the database server and its logs"
    return StorageError(
        f"the database refused the batch ({reason}); nothing of it was stored", hint=f"{hint}, then pull again"
    )


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_is_dead_local_process(holder: str) -> bool:
    """A lease left by a killed puller on this host need not wait for its expiry."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


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
        sinks: Sequence[BatchSink] = (),
        clock: Clock = utcnow,
    ) -> None:
        self.corp_id = corp_id
        self.source = source
        self.session_factory = session_factory
        self.batch_limit = batch_limit
        self.lease_ttl = lease_ttl
        self.holder = holder or default_holder()
        self.sinks = sinks
        self.clock = clock

    @property
    def lease_name(self) -> str:
        return repository.pull_lease_name(self.corp_id)

    def run(self, trigger: str = "manual", *, max_batches: int | None = None) -> PullReport:
        """Drain the source (or ``max_batches`` batches). Configuration and SDK errors end the
        run with status ``failed`` and a report saying why; unexpected faults propagate."""
        report = PullReport(self.corp_id, trigger)
        started = time.monotonic()
        with session_scope(self.session_factory) as session:
            current = repository.lease_holder(session, self.lease_name)
            dead = current if current and _holder_is_dead_local_process(current) else None
            if not repository.acquire_lease(
                session, self.lease_name, self.holder, self.clock(), self.lease_ttl, take_over_from=dead
            ):
                report.status = "skipped"
                log.info("archive.pull.skipped", corp_id=self.corp_id, reason="lease held by another puller")
                return report
            interrupted = repository.close_runs_left_running(session, PullRun, self.corp_id, self.clock())
            if interrupted:
                log.warning("archive.pull.interrupted_runs_closed", corp_id=self.corp_id, count=interrupted)
        try:
            with session_scope(self.session_factory) as session:
                report.from_seq = report.to_seq = repository.get_cursor(session, self.corp_id)
                report.run_id = repository.start_run(session, self.corp_id, trigger, report.from_seq, self.clock())
            self._drain(report, max_batches)
            report.status = "completed"
        except DBAPIError as exc:
            error = storage_error(exc)
            report.status, report.error_code, report.error = "failed", error.code, str(error)
        except ArchiveError as exc:
            report.status = "failed"
            report.error_code = exc.code
            report.error = str(exc)
        except Exception as exc:
            # Only the type is recorded: a database error's text can quote row values.
            report.status = "failed"
            report.error_code = "internal"
            report.error = f"unexpected {type(exc).__name__}; see the process log"
            raise
        finally:
            report.duration_s = round(time.monotonic() - started, 3)
            self._finish(report)
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
                    result = store_prepared(session, self.corp_id, prepared, self.sinks, self.clock)
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
                    result = store_prepared_isolating(session, self.corp_id, prepared, self.sinks, self.clock)
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
        if not repository.renew_lease(session, self.lease_name, self.holder, self.clock(), self.lease_ttl):
            raise LeaseLostError(
                f"the puller lease of corp {self.corp_id} was taken over",
                hint="another puller is running for this corp; this one stops",
            )

    def _finish(self, report: PullReport) -> None:
        try:
            with session_scope(self.session_factory) as session:
                if report.run_id is not None:
                    repository.update_run(
                        session,
                        report.run_id,
                        status=report.status,
                        finished_at=self.clock(),
                        error_code=report.error_code,
                        error=report.error,
                    )
                repository.release_lease(session, self.lease_name, self.holder)
        except DBAPIError as exc:
            # The database that failed the run may refuse this too; the lease then expires.
            log.error("archive.pull.unrecorded", corp_id=self.corp_id, error=str(storage_error(exc)))
        event = "archive.pull.failed" if report.status == "failed" else "archive.pull.completed"
        (log.error if report.status == "failed" else log.info)(event, corp_id=self.corp_id, **report.log_fields())
