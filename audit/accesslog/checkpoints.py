"""Checkpoints of the access log: its head, in the database and in an append-only file.

Contract:
- ``write_checkpoint`` inserts a row in the caller's transaction, then appends the same
  checkpoint as one JSON line to the anchor file (``access_log.checkpoint_file``, by default
  ``<data_dir>/integrity/access-log-checkpoints.jsonl``; O_APPEND, fsynced), exactly like
  the message chain's checkpoints (``archive.integrity.checkpoints``). The file is the anchor
  a database writer cannot reach: copy it off-site. Nothing rewrites or truncates it.
- A checkpoint only describes rows that were already committed, so a line whose own
  transaction failed to commit still holds for the chain; ``anchors`` checks it anyway and
  does not count the missing row as tampering.
- ``anchors`` reads the file before the rows and the rows before the head, so every
  checkpoint read lies within the chain ``verify`` walks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.integrity.checkpoints import append_line
from archive.integrity.errors import CheckpointFileError
from audit.accesslog.models import AccessLogCheckpoint, AccessLogHead
from config.logs import get_logger

log = get_logger("audit.access")

HEAD_ROW_ID = 1


class AccessCheckpointLine(msgspec.Struct, forbid_unknown_fields=True):
    """One line of the access log's checkpoint file."""

    id: int
    kind: str
    position: int
    head_hash: str
    keyed_from: int | None
    created_at: str


LINE_KIND = "access_log"
_LINE_DECODER = msgspec.json.Decoder(AccessCheckpointLine)


@dataclass(frozen=True, slots=True)
class Anchor:
    """A checkpoint, from the database or the file, to compare with the row it names."""

    label: str
    position: int
    head_hash: str
    keyed_from: int | None


def checkpoint_line(row: AccessLogCheckpoint) -> AccessCheckpointLine:
    return AccessCheckpointLine(
        id=row.id,
        kind=LINE_KIND,
        position=row.position,
        head_hash=row.head_hash,
        keyed_from=row.keyed_from,
        created_at=row.created_at.isoformat(),
    )


def write_checkpoint(session: Session, checkpoint_file: Path, now: datetime) -> AccessLogCheckpoint | None:
    """Checkpoint the current head; None if the log is empty or unchanged since the latest
    checkpoint."""
    head = session.execute(
        select(AccessLogHead.position, AccessLogHead.head_hash, AccessLogHead.keyed_from).where(
            AccessLogHead.id == HEAD_ROW_ID
        )
    ).one_or_none()
    if head is None or head.position == 0:
        return None
    latest = session.execute(
        select(AccessLogCheckpoint.position).order_by(AccessLogCheckpoint.id.desc()).limit(1)
    ).scalar_one_or_none()
    if latest == head.position:
        return None
    row = AccessLogCheckpoint(
        position=head.position, head_hash=head.head_hash, keyed_from=head.keyed_from, created_at=now
    )
    session.add(row)
    session.flush()
    append_line(checkpoint_file, msgspec.json.encode(checkpoint_line(row)) + b"\n")
    log.info("audit.access.checkpoint_written", position=head.position)
    return row


def anchors(session: Session, checkpoint_file: Path | None) -> tuple[list[Anchor], list[str]]:
    """Every checkpoint (rows and file lines), and the problems of the file itself: a line
    that is not a checkpoint, a row missing from the file or differing from its line."""
    problems: list[str] = []
    by_id: dict[int, AccessCheckpointLine] = {}
    found: list[Anchor] = []
    for number, line in _read_lines(checkpoint_file) if checkpoint_file is not None else ():
        if line is None or line.kind != LINE_KIND:
            problems.append(f"line {number} of the checkpoint file is not an access-log checkpoint")
            continue
        by_id[line.id] = line
        found.append(Anchor(f"checkpoint file line {number}", line.position, line.head_hash, line.keyed_from))
    for row in session.execute(select(AccessLogCheckpoint).order_by(AccessLogCheckpoint.id)).scalars():
        found.append(Anchor(f"checkpoint #{row.id}", row.position, row.head_hash, row.keyed_from))
        if checkpoint_file is None:
            continue
        line = by_id.get(row.id)
        if line is None:
            problems.append(f"checkpoint #{row.id} (position {row.position}) is not in the checkpoint file")
        elif line != checkpoint_line(row):
            problems.append(f"checkpoint #{row.id} (position {row.position}) differs from its line in the file")
    return found, problems


def _read_lines(path: Path) -> list[tuple[int, AccessCheckpointLine | None]]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CheckpointFileError(f"cannot read {path}: {exc.strerror}") from None
    lines: list[tuple[int, AccessCheckpointLine | None]] = []
    with handle:
        for number, line in enumerate(handle, start=1):
            try:
                lines.append((number, _LINE_DECODER.decode(line)))
            except msgspec.DecodeError:
                lines.append((number, None))
    return lines
