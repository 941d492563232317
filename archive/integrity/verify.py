"""``verify``: recompute a corp's chain from the database and report the first broken link.

Contract:
- Read-only until it has passed; then it writes a checkpoint of the verified head (a
  broken chain is never checkpointed).
- Streams links in position order, ``VERIFY_CHUNK`` at a time, so memory does not grow
  with the archive. For every link it checks, in this order: the position follows the
  previous one (no link deleted or moved); ``prev_hash`` is the previous record hash; for
  a live link, that its message still exists, that the record hash recomputed from the
  message, envelope and recipient rows is the stored one, that the link names that
  message's msgid and seq, and that the stored ``body`` is what ``raw`` parses to; for a
  tombstone, that its message is really gone; and that every checkpoint at this position
  (database row or file line) names this link's hash and seq.
- Then: the head row is the last link; no link lies beyond it; every message row of the
  corp has a link (a row inserted behind wecom-audit's back has none); every checkpoint
  row is in the file, unchanged.
- Reports name positions, msgids, seqs and checks — never content. Only the first
  failure is reported: after it, everything downstream would fail too.
- What it cannot see: someone able to rewrite the database can recompute the chain past
  the last checkpoint they can also rewrite. The off-site copy of the checkpoint file is
  what such a rewrite cannot reach (docs/adr/0004-integrity-chain.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.corps import NoCorpError, corps_in_question
from archive.integrity import canonical, repository
from archive.integrity.canonical import Evidence
from archive.integrity.checkpoints import (
    CheckpointLine,
    checkpoint_line,
    checkpoint_path,
    read_checkpoint_lines,
    write_checkpoint,
)
from archive.integrity.repository import Checkpoint, Head, LinkRow
from archive.messages import ParseError, parse_message
from config.database import session_scope
from config.logs import get_logger
from config.settings import Settings

log = get_logger("archive.integrity")

VERIFY_CHUNK = 1000

Progress = Callable[[int, int], None]


class Check(StrEnum):
    """The check a link failed."""

    LINK_MISSING = "link_missing"
    PREV_HASH = "prev_hash_mismatch"
    MESSAGE_MISSING = "message_missing"
    RECORD_HASH = "record_hash_mismatch"
    LINK_MISMATCH = "link_mismatch"
    BODY = "body_mismatch"
    DISPOSED_PRESENT = "disposed_message_present"
    HEAD = "head_mismatch"
    UNLINKED_MESSAGE = "unlinked_message"
    CHECKPOINT = "checkpoint_mismatch"
    CHECKPOINT_FILE = "checkpoint_file_mismatch"


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain first breaks and why (no content)."""

    check: Check
    position: int | None
    msgid: str | None
    seq: int | None
    detail: str

    def describe(self) -> str:
        where = f"position {self.position}" if self.position is not None else "outside the chain"
        if self.msgid is not None:
            where += f" (msgid {self.msgid}, seq {self.seq})"
        return f"{self.check.value} at {where}: {self.detail}"


@dataclass
class VerifyReport:
    corp_id: str
    head_position: int = 0
    links_checked: int = 0
    messages_checked: int = 0
    tombstones: int = 0
    checkpoints_checked: int = 0
    broken: Break | None = None
    # The checkpoint written after the chain verified (None if broken or unchanged).
    checkpoint: Checkpoint | None = None
    duration_s: float = 0.0
    # A bounded run checks the links of these positions only (None: the whole chain).
    from_position: int | None = None
    to_position: int | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


@dataclass(frozen=True, slots=True)
class _Anchor:
    """A checkpoint, from the database or the file, to compare with the link it names."""

    label: str
    position: int
    last_seq: int
    head_hash: str


@dataclass
class _Walk:
    """State of the walk along the chain."""

    head: Head
    anchors: dict[int, list[_Anchor]] = field(default_factory=dict)
    position: int = 0
    prev_hash: str = canonical.GENESIS_HASH


def verify(
    session_factory: sessionmaker[Session],
    corp_id: str,
    *,
    checkpoint_file: Path,
    progress: Progress | None = None,
    clock: Clock = utcnow,
    chunk: int = VERIFY_CHUNK,
    positions: tuple[int, int | None] | None = None,
) -> VerifyReport:
    """Recompute the corp's chain; on success, checkpoint its head.

    ``positions`` (first, last or None for the head) bounds the run to those links: each is
    checked against the link before it and the checkpoints at its position, but the head,
    unlinked messages and the checkpoint file are left to a whole run, and no checkpoint is
    written."""
    started = time.monotonic()
    report = VerifyReport(corp_id)
    # File before rows before head: every checkpoint read then lies within the head read.
    lines = list(read_checkpoint_lines(checkpoint_file))
    with session_scope(session_factory) as session:
        rows = repository.checkpoints(session, corp_id)
        walk = _Walk(repository.read_head(session, corp_id))
        report.head_position = walk.head.position
        _index_anchors(walk, rows, lines)
        if positions is None:
            report.broken = (
                _walk_links(session, corp_id, walk, report, progress, chunk, walk.head.position)
                or _check_head(session, corp_id, walk)
                or _check_unlinked(session, corp_id)
                or _check_file(corp_id, rows, lines)
            )
        else:
            first, last = positions
            end = walk.head.position if last is None else min(last, walk.head.position)
            report.from_position, report.to_position = first, end
            report.broken = _start_at(session, corp_id, walk, first) or _walk_links(
                session, corp_id, walk, report, progress, chunk, end
            )
    if report.ok and positions is None:
        with session_scope(session_factory) as session:
            report.checkpoint = write_checkpoint(session, corp_id, clock(), checkpoint_file)
    report.duration_s = round(time.monotonic() - started, 3)
    _log(report)
    return report


def verify_corp(
    session_factory: sessionmaker[Session],
    settings: Settings,
    corp_id: str | None = None,
    *,
    progress: Progress | None = None,
    clock: Clock = utcnow,
    positions: tuple[int, int | None] | None = None,
) -> VerifyReport:
    """:func:`verify` of one corp (the first configured one when ``corp_id`` is None), with
    its checkpoint file in the data directory (``wecom-audit verify``, the API)."""
    corp = next(iter(corps_in_question(settings, corp_id)), None)
    if corp is None:
        raise NoCorpError("no corp is configured", hint="pass the corp id (corp_id)")
    return verify(
        session_factory,
        corp,
        checkpoint_file=checkpoint_path(settings, corp),
        progress=progress,
        clock=clock,
        positions=positions,
    )


def _index_anchors(walk: _Walk, rows: Iterable[Checkpoint], lines: Iterable[tuple[int, CheckpointLine | None]]) -> None:
    anchors = [_Anchor(f"checkpoint #{row.id}", row.position, row.last_seq, row.head_hash) for row in rows]
    anchors += [
        _Anchor(f"checkpoint file line {number}", line.position, line.last_seq, line.head_hash)
        for number, line in lines
        if line is not None
    ]
    for anchor in anchors:
        walk.anchors.setdefault(anchor.position, []).append(anchor)


def _start_at(session: Session, corp_id: str, walk: _Walk, first: int) -> Break | None:
    """Start a bounded walk after the link before ``first`` (taken as it is)."""
    if first <= 1:
        return None
    if first - 1 >= walk.head.position:
        walk.position = first - 1  # at or beyond the head: nothing to check
        return None
    before = repository.links_after(session, corp_id, first - 2, first - 1, 1)
    if not before or before[0].position != first - 1:
        return Break(Check.LINK_MISSING, first - 1, None, None, "no link at this position")
    walk.position, walk.prev_hash = before[0].position, before[0].record_hash
    return None


def _walk_links(
    session: Session,
    corp_id: str,
    walk: _Walk,
    report: VerifyReport,
    progress: Progress | None,
    chunk: int,
    end: int,
) -> Break | None:
    if progress:
        progress(0, end)
    while walk.position < end:
        links = repository.links_after(session, corp_id, walk.position, end, chunk)
        if not links:
            return Break(Check.LINK_MISSING, walk.position + 1, None, None, "no link at or after this position")
        live = [link.message_id for link in links if link.disposed_at is None and link.message_id is not None]
        evidence = repository.read_evidence(session, corp_id, live, with_body=True)
        gone = [link.msgid for link in links if link.disposed_at is not None]
        still_present = repository.present_msgids(session, corp_id, gone)
        for link in links:
            broken = _check_link(corp_id, walk, link, evidence, still_present) or _check_anchors(walk, link)
            if broken:
                return broken
            report.links_checked += 1
            report.tombstones += link.disposed_at is not None
            report.messages_checked += link.disposed_at is None
            report.checkpoints_checked += len(walk.anchors.get(link.position, ()))
            walk.position, walk.prev_hash = link.position, link.record_hash
        if progress:
            progress(walk.position, end)
    return None


def _check_link(
    corp_id: str,
    walk: _Walk,
    link: LinkRow,
    evidence: dict[int, tuple[Evidence, list[str]]],
    still_present: set[str],
) -> Break | None:
    def broken(check: Check, detail: str) -> Break:
        return Break(check, link.position, link.msgid, link.seq, detail)

    if link.position != walk.position + 1:
        return Break(Check.LINK_MISSING, walk.position + 1, None, None, f"the next link is at position {link.position}")
    if link.prev_hash != walk.prev_hash:
        return broken(Check.PREV_HASH, "prev_hash is not the previous link's record hash")
    if link.disposed_at is not None:
        return (
            broken(Check.DISPOSED_PRESENT, "disposed of, yet the message is still stored")
            if (link.msgid in still_present)
            else None
        )
    found = evidence.get(link.message_id) if link.message_id is not None else None
    if found is None:
        return broken(Check.MESSAGE_MISSING, "the message row (or its envelope) is gone without a tombstone")
    record, recipients = found
    encoded = canonical.encode(canonical.record_document(corp_id, link.position, record, recipients))
    if canonical.chain_hash(walk.prev_hash, encoded) != link.record_hash:
        return broken(Check.RECORD_HASH, "the message, envelope or recipient rows differ from what was chained")
    if (record.msgid, record.seq) != (link.msgid, link.seq):
        return broken(Check.LINK_MISMATCH, "the link's msgid or seq differ from its message's")
    if not _body_matches(record):
        return broken(Check.BODY, "the stored body is not what the stored raw plaintext parses to")
    return None


def _body_matches(record: Evidence) -> bool:
    try:
        return parse_message(record.raw.encode()).body_document() == record.body
    except ParseError:
        return False


def _check_anchors(walk: _Walk, link: LinkRow) -> Break | None:
    for anchor in walk.anchors.get(link.position, ()):
        if (anchor.head_hash, anchor.last_seq) != (link.record_hash, link.seq):
            return Break(
                Check.CHECKPOINT, link.position, link.msgid, link.seq, f"{anchor.label} names another hash or seq"
            )
    return None


def _check_head(session: Session, corp_id: str, walk: _Walk) -> Break | None:
    if walk.prev_hash != walk.head.head_hash:
        return Break(Check.HEAD, walk.head.position, None, None, "the chain head names another hash")
    outside = [
        anchor for position, anchors in walk.anchors.items() if not 1 <= position <= walk.position for anchor in anchors
    ]
    if outside:
        anchor = outside[0]
        return Break(Check.CHECKPOINT, anchor.position, None, None, f"{anchor.label} names no link of the chain")
    last = repository.last_position(session, corp_id)
    # Read after the last position: a concurrent append moves the head before this read.
    if last > repository.read_head(session, corp_id).position:
        return Break(Check.HEAD, last, None, None, "links lie beyond the chain head")
    return None


def _check_unlinked(session: Session, corp_id: str) -> Break | None:
    unlinked = repository.first_unlinked_message(session, corp_id)
    if unlinked is None:
        return None
    msgid, seq = unlinked
    return Break(Check.UNLINKED_MESSAGE, None, msgid, seq, "a stored message has no chain link")


def _check_file(corp_id: str, rows: list[Checkpoint], lines: list[tuple[int, CheckpointLine | None]]) -> Break | None:
    """Every line is a checkpoint of this corp, and every row has its unchanged line."""
    by_id: dict[int, CheckpointLine] = {}
    for number, line in lines:
        if line is None or line.corp_id != corp_id:
            return Break(Check.CHECKPOINT_FILE, None, None, None, f"line {number} is not a checkpoint of this corp")
        by_id[line.id] = line
    for row in rows:
        line = by_id.get(row.id)
        if line is None:
            return Break(Check.CHECKPOINT_FILE, row.position, None, None, f"checkpoint #{row.id} is not in the file")
        if line != checkpoint_line(row):
            return Break(
                Check.CHECKPOINT_FILE, row.position, None, None, f"checkpoint #{row.id} differs from its file line"
            )
    return None


def _log(report: VerifyReport) -> None:
    fields = {
        "corp_id": report.corp_id,
        "head_position": report.head_position,
        "links": report.links_checked,
        "tombstones": report.tombstones,
        "checkpoints": report.checkpoints_checked,
        "duration_s": report.duration_s,
    }
    if report.broken is None:
        log.info("archive.integrity.verified", **fields)
    else:
        log.error(
            "archive.integrity.broken", check=report.broken.check.value, position=report.broken.position, **fields
        )
