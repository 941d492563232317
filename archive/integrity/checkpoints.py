"""Checkpoints: the chain's head written to the database and to an append-only file.

Contract:
- ``write_checkpoint`` inserts a row in the caller's transaction, then appends the same
  checkpoint as one JSON line to ``<data_dir>/integrity/<corp_id>.checkpoints.jsonl``
  (O_APPEND, fsynced). The file is meant to be copied off-site: it is the anchor that a
  rewrite of the whole database cannot reach. Nothing ever rewrites or truncates it.
- The line is written after the row is flushed (so it carries the row's id) and before
  the caller commits. If that commit fails, the file holds a line without a row; since a
  checkpoint only describes links that were already committed, ``verify`` still checks
  such a line against the chain and does not count it as tampering.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import msgspec
from sqlalchemy.orm import Session

from archive.integrity import repository
from archive.integrity.errors import ChainError, CheckpointFileError
from archive.integrity.repository import Checkpoint
from config.logs import get_logger
from config.settings import Settings

log = get_logger("archive.integrity")

CHECKPOINT_DIR_NAME = "integrity"
_SAFE_CORP_ID = re.compile(r"[A-Za-z0-9_.-]+")
CHECKPOINT_FILE_MODE = 0o640


class CheckpointLine(msgspec.Struct, forbid_unknown_fields=True):
    """One line of the checkpoint file."""

    id: int
    corp_id: str
    position: int
    last_seq: int
    head_hash: str
    count: int
    created_at: str


_LINE_DECODER = msgspec.json.Decoder(CheckpointLine)


def checkpoint_path(settings: Settings, corp_id: str) -> Path:
    if not _SAFE_CORP_ID.fullmatch(corp_id) or corp_id.startswith("."):
        raise CheckpointFileError(f"corp id {corp_id!r} cannot name a checkpoint file")
    return settings.data_dir / CHECKPOINT_DIR_NAME / f"{corp_id}.checkpoints.jsonl"


def write_checkpoint(session: Session, corp_id: str, now: datetime, checkpoint_file: Path) -> Checkpoint | None:
    """Checkpoint the corp's current head; None if the chain is empty or unchanged since
    the latest checkpoint."""
    head = repository.read_head(session, corp_id)
    latest = repository.latest_checkpoint(session, corp_id)
    if head.position == 0 or (latest is not None and latest.position == head.position):
        return None
    last_seq = repository.link_seq(session, corp_id, head.position)
    if last_seq is None:
        raise ChainError(
            f"the chain head of corp {corp_id} points at a missing link",
            hint="run `wecom-audit verify`; no checkpoint was written",
        )
    checkpoint = repository.insert_checkpoint(
        session, corp_id, head, last_seq, repository.live_link_count(session, corp_id), now
    )
    append_line(checkpoint_file, msgspec.json.encode(checkpoint_line(checkpoint)) + b"\n")
    log.info("archive.integrity.checkpoint_written", corp_id=corp_id, position=head.position)
    return checkpoint


def list_checkpoints(session: Session, corp_id: str) -> list[Checkpoint]:
    """The corp's checkpoints in the database, oldest first."""
    return repository.checkpoints(session, corp_id)


def checkpoint_line(checkpoint: Checkpoint) -> CheckpointLine:
    return CheckpointLine(
        id=checkpoint.id,
        corp_id=checkpoint.corp_id,
        position=checkpoint.position,
        last_seq=checkpoint.last_seq,
        head_hash=checkpoint.head_hash,
        count=checkpoint.count,
        created_at=checkpoint.created_at.isoformat(),
    )


def read_checkpoint_lines(checkpoint_file: Path) -> Iterator[tuple[int, CheckpointLine | None]]:
    """(line number, the line, or None if it is not a checkpoint) of every line; nothing
    if there is no file yet."""
    try:
        handle = checkpoint_file.open("rb")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CheckpointFileError(f"cannot read {checkpoint_file}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            try:
                yield number, _LINE_DECODER.decode(line)
            except msgspec.DecodeError:
                yield number, None


def append_line(path: Path, line: bytes) -> None:
    """Append one line to an append-only anchor file (O_APPEND, fsynced; also used by the
    access log's checkpoints, ``audit.accesslog.checkpoints``)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, CHECKPOINT_FILE_MODE)
        try:
            remaining = memoryview(line)
            while remaining:
                remaining = remaining[os.write(descriptor, remaining) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if created:  # make the new file's directory entry durable too
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
    except OSError as exc:
        raise CheckpointFileError(
            f"cannot append to the checkpoint file {path}: {exc.strerror}",
            hint="check the data directory's disk space and permissions; no checkpoint was recorded",
        ) from None
