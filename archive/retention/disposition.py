"""Disposition: deletes messages whose retention has run out and that no legal hold covers.

Contract:
- Only messages are disposed. With a message go its recipients, its media tasks, its
  envelope (the encrypted copy: it is the same content) and the resolved quarantine row
  of that envelope, if quarantine retry once recovered it. Open quarantine rows and their
  envelopes are not messages and are never touched. Conversations stay (other records
  refer to them); their ``message_count`` drops by the messages disposed.
- A message is disposed only if at least one policy applies to it, msgtime < now − the
  LONGEST applicable policy's days, and no active legal hold covers it
  (``archive.retention.rules``). ``now`` is fixed once per run.
- Candidates are taken in batches by message id. Each batch is ONE transaction that
  first writes the corp's rules-revision row (so it reads the rules as last committed and
  a concurrent hold waits for it), re-reads policies, holds and the directory, then — in
  this order — turns the messages' chain links into tombstones (``mark_disposed``, once
  per governing policy), releases their media tasks, deletes the rows, queues their ids
  for the search indexer (which removes what is gone from the index), and adds the
  batch's counts to the run row. A failure rolls back the whole batch: earlier batches
  stay done, the run is recorded as failed, and the next run starts over.
- Blob files are deleted only after their batch has committed, and only if no media task
  refers to them any more. A crash in between leaves unreferenced blob files behind (no
  row points to them); that is accepted and documented in ADR 0005.
- One disposition per corp at a time (lease ``retention:<corp_id>``); the lease and the
  run row's end are kept by ``archive.leased``, as for every leased job.
- A dry run makes the same decisions and deletes nothing; it is recorded as a dry run.
- Logs (``archive.retention.*``) carry counts only, never message content or ids.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.directory import repository as directory_repository
from archive.directory.service import subtree
from archive.integrity import chain
from archive.leased import Heartbeat, LeasedJob, default_holder, leased_run
from archive.media import tasks as media_tasks
from archive.media.blobstore import BlobStore
from archive.outbox import queue as outbox
from archive.retention import repository
from archive.retention.models import DispositionRun
from archive.retention.repository import Candidate
from archive.retention.rules import HoldRule, MessageFacts, PolicyRule, RetentionRules, Verdict, chat_type_of
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.retention")

DISPOSITION_BATCH_SIZE = 500
DISPOSITION_LEASE_TTL = timedelta(minutes=10)


@dataclass
class DispositionReport:
    """What a run did (or, for a dry run, would do). Counts cover committed batches only."""

    corp_id: str
    trigger: str
    dry_run: bool
    status: str = "running"  # completed | failed | skipped (another disposition holds the lease)
    run_id: int | None = None
    rules_revision: int = 0
    candidates: int = 0  # messages older than the shortest policy when the run started
    batches: int = 0
    examined: int = 0
    disposed: int = 0
    held: int = 0
    media_deleted: int = 0
    blobs_deleted: int = 0
    by_policy: dict[str, int] = field(default_factory=dict)
    error_code: str | None = None
    error: str | None = None
    duration_s: float = 0.0

    def log_fields(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "rules_revision": self.rules_revision,
            "batches": self.batches,
            "examined": self.examined,
            "disposed": self.disposed,
            "held": self.held,
            "media_deleted": self.media_deleted,
            "blobs_deleted": self.blobs_deleted,
            "duration_s": self.duration_s,
        }


@dataclass
class _BatchOutcome:
    revision: int
    last_id: int  # the last candidate examined: the next batch starts after it
    examined: int = 0
    held: int = 0
    media_deleted: int = 0
    by_policy: dict[PolicyRule, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    released_blobs: list[str] = field(default_factory=list)

    @property
    def disposed(self) -> int:
        return sum(len(doomed) for doomed in self.by_policy.values())


def dispose(
    session_factory: sessionmaker[Session],
    corp_id: str,
    *,
    blob_store: BlobStore | None,
    dry_run: bool = False,
    trigger: str = "manual",
    clock: Clock = utcnow,
    batch_size: int = DISPOSITION_BATCH_SIZE,
    holder: str | None = None,
    on_batch: Callable[[DispositionReport], None] | None = None,
) -> DispositionReport:
    """Run disposition for one corp. Storage and archive errors end the run as ``failed``
    (recorded, and said in the report); unexpected faults are recorded, then propagate.

    ``blob_store``: where media files live; ``None`` leaves released files in place (the
    report's ``blobs_deleted`` stays 0). ``on_batch`` is told after each committed batch.
    """
    run = _Run(
        session_factory,
        DispositionReport(corp_id, trigger, dry_run),
        now=clock(),
        clock=clock,
        holder=holder or default_holder(),
        blob_store=blob_store,
        batch_size=batch_size,
        on_batch=on_batch,
    )
    started = time.monotonic()

    def finished() -> None:
        run.report.duration_s = round(time.monotonic() - started, 3)
        run.log_end()

    job = LeasedJob(
        lease=repository.lease_name(corp_id),
        corp_id=corp_id,
        runs=DispositionRun,
        what="disposition",
        events="archive.retention",
        again="run disposition again",
        refused="a disposition batch ({reason}); that batch was rolled back",
    )
    with leased_run(
        session_factory, job, run.report, holder=run.holder, ttl=DISPOSITION_LEASE_TTL, clock=clock, finished=finished
    ) as lease:
        if lease is None:
            return run.report
        run.lease = lease
        run.start()
        run.drain()
    return run.report


@dataclass
class _Run:
    """One disposition run: its lease, its run row and its batches."""

    session_factory: sessionmaker[Session]
    report: DispositionReport
    now: datetime  # the run's reference time: retention is measured from it
    clock: Clock
    holder: str
    blob_store: BlobStore | None
    batch_size: int
    on_batch: Callable[[DispositionReport], None] | None
    lease: Heartbeat | None = None  # set once the run holds its lease (``archive.leased``)

    @property
    def corp_id(self) -> str:
        return self.report.corp_id

    def start(self) -> None:
        with session_scope(self.session_factory) as session:
            rules = _load_rules(session, self.corp_id, repository.current_revision(session, self.corp_id))
            shortest = rules.shortest_retention()
            if shortest is not None:
                self.report.candidates = repository.count_candidates(session, self.corp_id, self.now - shortest)
            self.report.rules_revision = rules.revision
            self.report.run_id = repository.start_run(
                session,
                DispositionRun(
                    corp_id=self.corp_id,
                    trigger=self.report.trigger,
                    dry_run=self.report.dry_run,
                    status="running",
                    started_at=self.now,
                    finished_at=None,
                    rules_revision=rules.revision,
                    batches=0,
                    examined=0,
                    disposed=0,
                    held=0,
                    media_deleted=0,
                    blobs_deleted=0,
                    error_code=None,
                    error=None,
                ),
            )

    def drain(self) -> None:
        """Batches by message id until no candidate is left, each in its own transaction."""
        after_id = 0
        while (outcome := self._batch(after_id)) is not None:
            after_id = outcome.last_id
            self._count(outcome)
            if outcome.released_blobs:
                self._delete_blobs(outcome.released_blobs)
            if self.on_batch is not None:
                self.on_batch(self.report)

    def _batch(self, after_id: int) -> _BatchOutcome | None:
        """One batch in ONE transaction; None when there is nothing left to examine."""
        with session_scope(self.session_factory) as session:
            if self.report.dry_run:
                revision = repository.current_revision(session, self.corp_id)
            else:
                assert self.lease is not None, "a batch outside the run's lease"
                self.lease.renew(session)
                revision = repository.lock_rules(session, self.corp_id, self.clock())
            rules = _load_rules(session, self.corp_id, revision)
            shortest = rules.shortest_retention()
            if shortest is None:
                return None
            batch = repository.candidates(session, self.corp_id, self.now - shortest, after_id, self.batch_size)
            if not batch:
                return None
            outcome = _decide(session, self.corp_id, rules, batch, self.now)
            if not self.report.dry_run:
                _delete(session, self.corp_id, outcome, self.now)
            _record_batch(session, self.report, outcome)
        return outcome

    def _count(self, outcome: _BatchOutcome) -> None:
        """Add a committed batch to the report."""
        report = self.report
        report.rules_revision = outcome.revision
        report.batches += 1
        report.examined += outcome.examined
        report.held += outcome.held
        report.disposed += outcome.disposed
        report.media_deleted += outcome.media_deleted
        for policy, doomed in outcome.by_policy.items():
            report.by_policy[policy.name] = report.by_policy.get(policy.name, 0) + len(doomed)
        log.debug(
            "archive.retention.batch_done",
            corp_id=self.corp_id,
            examined=outcome.examined,
            disposed=outcome.disposed,
            held=outcome.held,
        )

    def _delete_blobs(self, digests: Sequence[str]) -> None:
        """Delete released blob files that are still unreferenced (after the batch's commit)."""
        if self.blob_store is None:
            log.warning("archive.retention.blobs_left", corp_id=self.corp_id, blobs=len(digests))
            return
        deleted = 0
        with session_scope(self.session_factory) as session:
            for digest in digests:
                # A download that stored the same bytes since the batch committed keeps the file.
                if repository.blob_is_referenced(session, digest):
                    continue
                self.blob_store.delete(digest)
                deleted += 1
            repository.update_run(session, self.report.run_id or 0, blobs_deleted=self.report.blobs_deleted + deleted)
        self.report.blobs_deleted += deleted

    def log_end(self) -> None:
        """Log how the run ended, with its counts (after ``archive.leased`` recorded it)."""
        report = self.report
        if report.status == "failed":
            fields = report.log_fields()
            log.error("archive.retention.failed", corp_id=self.corp_id, error_code=report.error_code, **fields)
        else:
            log.info("archive.retention.completed", corp_id=self.corp_id, **report.log_fields())


def _load_rules(session: Session, corp_id: str, revision: int) -> RetentionRules:
    parents = directory_repository.department_parents(session, corp_id)
    policies = tuple(
        PolicyRule(
            id=policy.id,
            name=policy.name,
            scope_kind=policy.scope_kind,
            scope_value=policy.scope_value,
            retain_days=policy.retain_days,
            departments=frozenset(subtree(parents, int(policy.scope_value)))
            if policy.scope_kind == "department"
            else frozenset(),
        )
        for policy in repository.policies(session, corp_id)
    )
    active = repository.holds(session, corp_id, active_only=True)
    subjects = repository.hold_subjects(session, [hold.id for hold in active])
    holds = tuple(
        HoldRule(
            id=hold.id,
            starts_at=hold.starts_at,
            ends_at=hold.ends_at,
            employees=frozenset(v for k, v in subjects.get(hold.id, []) if k == "employee"),
            customers=frozenset(v for k, v in subjects.get(hold.id, []) if k == "customer"),
            rooms=frozenset(v for k, v in subjects.get(hold.id, []) if k == "room"),
        )
        for hold in active
    )
    return RetentionRules(revision, policies, holds)


def _decide(
    session: Session, corp_id: str, rules: RetentionRules, batch: Sequence[Candidate], now: datetime
) -> _BatchOutcome:
    ids = [candidate.id for candidate in batch]
    recipients = repository.recipients(session, ids)
    kinds = repository.conversation_kinds(session, {c.conversation_id for c in batch if c.conversation_id})
    participants = {c.sender for c in batch} | {r for rs in recipients.values() for r in rs}
    memberships = directory_repository.memberships(session, corp_id, participants)
    outcome = _BatchOutcome(revision=rules.revision, last_id=batch[-1].id, examined=len(batch))
    for candidate in batch:
        to = frozenset(recipients.get(candidate.id, ()))
        kind, has_external = kinds.get(candidate.conversation_id or 0, (None, None))
        departments = frozenset(d for user in (candidate.sender, *to) for d in memberships.get(user, ()))
        facts = MessageFacts(
            id=candidate.id,
            msgtime=candidate.msgtime,
            sender=candidate.sender,
            recipients=to,
            roomid=candidate.roomid,
            chat_type=chat_type_of(kind, has_external),
            departments=departments,
        )
        decision = rules.decide(facts, now)
        if decision.verdict is Verdict.HELD:
            outcome.held += 1
        elif decision.verdict is Verdict.DISPOSE and decision.policy is not None:
            outcome.by_policy[decision.policy].append(candidate)
    doomed_ids = [c.id for doomed in outcome.by_policy.values() for c in doomed]
    outcome.media_deleted = repository.count_media_tasks(session, corp_id, doomed_ids)
    return outcome


def _delete(session: Session, corp_id: str, outcome: _BatchOutcome, now: datetime) -> None:
    """The batch's deletions, in the order the contract gives (tombstones first)."""
    doomed: list[Candidate] = []
    for policy, messages in sorted(outcome.by_policy.items(), key=lambda item: item[0].id):
        chain.mark_disposed(session, corp_id, [c.id for c in messages], policy.name, now)
        doomed.extend(messages)
    if not doomed:
        return
    outcome.released_blobs = media_tasks.release_for_messages(session, corp_id, [c.id for c in doomed])
    repository.delete_messages(session, corp_id, doomed)
    # The indexer removes from the search index what it finds gone (ADR 0007).
    outbox.enqueue_for(session, outbox.SEARCH, corp_id, [c.id for c in doomed], now)


def _record_batch(session: Session, report: DispositionReport, outcome: _BatchOutcome) -> None:
    """Add the batch's counts to the run row, in the batch's transaction."""
    repository.update_run(
        session,
        report.run_id or 0,
        rules_revision=outcome.revision,
        batches=report.batches + 1,
        examined=report.examined + outcome.examined,
        disposed=report.disposed + outcome.disposed,
        held=report.held + outcome.held,
        media_deleted=report.media_deleted + outcome.media_deleted,
    )
    repository.add_policy_counts(
        session,
        report.run_id or 0,
        report.corp_id,
        {(policy.id, policy.name): len(doomed) for policy, doomed in outcome.by_policy.items()},
    )
