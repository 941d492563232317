"""Exports of chained messages with a manifest of hashes, and their verification.

Contract:
- ``export`` writes ``messages.jsonl`` — one line per message, in chain order:
  ``{"position", "prev_hash", "record_hash", "record"}`` where ``record`` is the canonical
  record (``archive.integrity.canonical``) — then ``manifest.json``: the files with their
  SHA-256 and size, the message count, every exported (position, record hash), the chain
  head and the latest checkpoint at export time, the export time and the tool version,
  and a digest of the manifest itself. Both files are canonical JSON and created 0600.
- Every record's hash is recomputed from the database while exporting; if it differs
  from its link, the export stops (ExportError): a broken chain is never exported as if
  it were sound.
- ``verify_export`` needs nothing but the directory: an auditor checks an export on
  another machine. The manifest digest is not a signature; authenticity comes from
  comparing the record hashes and the checkpoint with an off-site copy of the checkpoint
  file.
- Message content leaves the database here without an access-log row: only the operator's
  ``wecom-audit export`` (run on the server) calls this. People export through the access
  gate (``audit.access.exports``), which logs who exported what.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.integrity import canonical, repository
from archive.integrity.checkpoints import CheckpointLine, checkpoint_line
from archive.integrity.errors import ExportError
from archive.integrity.repository import Head, LinkRow
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.integrity")

MESSAGES_FILE = "messages.jsonl"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
EXPORT_CHUNK = 1000
EXPORT_FILE_MODE = 0o600
MAX_REPORTED_PROBLEMS = 50
_READ_BLOCK_BYTES = 1 << 20


class FileEntry(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    sha256: str
    size: int


class ExportFilters(msgspec.Struct, forbid_unknown_fields=True):
    conversation_id: int | None
    since: str | None
    until: str | None


class ChainHeadEntry(msgspec.Struct, forbid_unknown_fields=True):
    position: int
    head_hash: str


class Manifest(msgspec.Struct, forbid_unknown_fields=True):
    format: int
    tool: str
    tool_version: str
    corp_id: str
    exported_at: str
    filters: ExportFilters
    files: list[FileEntry]
    message_count: int
    records: list[tuple[int, str]]  # (position, record hash) of every exported message
    chain_head: ChainHeadEntry
    checkpoint: CheckpointLine | None
    # SHA-256 of this manifest's encoding with the digest left empty.
    manifest_digest: str = ""


class ExportLine(msgspec.Struct, forbid_unknown_fields=True):
    position: int
    prev_hash: str
    record_hash: str
    record: dict[str, Any]


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    messages: int
    files: list[FileEntry]


@dataclass
class VerifyExportReport:
    messages: int = 0
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)  # the first MAX_REPORTED_PROBLEMS

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED_PROBLEMS:
            self.problems.append(problem)


_LINE_DECODER = msgspec.json.Decoder(ExportLine)
_MANIFEST_DECODER = msgspec.json.Decoder(Manifest)


# --- export -------------------------------------------------------------------------------


def export(
    session_factory: sessionmaker[Session],
    corp_id: str,
    out_dir: Path,
    *,
    conversation_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    clock: Clock = utcnow,
    chunk: int = EXPORT_CHUNK,
) -> ExportReport:
    """Export the corp's messages (optionally one conversation, ``since <= msgtime < until``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    filters = ExportFilters(conversation_id, since.isoformat() if since else None, until.isoformat() if until else None)
    with session_scope(session_factory) as session:
        head = repository.read_head(session, corp_id)
        latest = repository.latest_checkpoint(session, corp_id)
        with _created(out_dir / MESSAGES_FILE) as handle:
            records = [
                _write(handle, line)
                for line in _export_lines(session, corp_id, head, filters, conversation_id, since, until, chunk)
            ]
    files = [_file_entry(out_dir / MESSAGES_FILE)]
    manifest = Manifest(
        format=MANIFEST_FORMAT,
        tool="wecom-audit",
        tool_version=_tool_version(),
        corp_id=corp_id,
        exported_at=clock().isoformat(),
        filters=filters,
        files=files,
        message_count=len(records),
        records=records,
        chain_head=ChainHeadEntry(head.position, head.head_hash),
        checkpoint=checkpoint_line(latest) if latest else None,
    )
    manifest.manifest_digest = _manifest_digest(manifest)
    with _created(out_dir / MANIFEST_FILE) as handle:
        handle.write(canonical.encode_struct(manifest) + b"\n")
    log.info("archive.integrity.exported", corp_id=corp_id, messages=len(records))
    return ExportReport(out_dir, len(records), files)


def _export_lines(
    session: Session,
    corp_id: str,
    head: Head,
    filters: ExportFilters,
    conversation_id: int | None,
    since: datetime | None,
    until: datetime | None,
    chunk: int,
) -> Iterator[ExportLine]:
    after = 0
    while links := repository.export_links(
        session, corp_id, after, head.position, chunk, conversation_id=conversation_id, since=since, until=until
    ):
        evidence = repository.read_evidence(session, corp_id, [link.message_id for link in links if link.message_id])
        for link in links:
            yield _export_line(corp_id, link, evidence)
        after = links[-1].position


def _export_line(corp_id: str, link: LinkRow, evidence: dict[int, tuple[canonical.Evidence, list[str]]]) -> ExportLine:
    found = evidence.get(link.message_id or 0)
    if found is not None:
        document = canonical.record_document(corp_id, link.position, *found)
        if canonical.chain_hash(link.prev_hash, canonical.encode(document)) == link.record_hash:
            return ExportLine(link.position, link.prev_hash, link.record_hash, document)
    raise ExportError(
        f"the chain of corp {corp_id} is broken at position {link.position}; nothing more was exported",
        hint="run `wecom-audit verify` and investigate before exporting",
    )


def _write(handle: BinaryIO, line: ExportLine) -> tuple[int, str]:
    handle.write(canonical.encode_struct(line) + b"\n")
    return line.position, line.record_hash


@contextmanager
def _created(path: Path) -> Iterator[BinaryIO]:
    """A new file, created exclusively with mode 0600 (it holds content), fsynced."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, EXPORT_FILE_MODE)
    except FileExistsError:
        raise ExportError(f"{path} already exists", hint="export into a new, empty directory") from None
    with os.fdopen(descriptor, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _file_entry(path: Path) -> FileEntry:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_READ_BLOCK_BYTES):
            digest.update(block)
    return FileEntry(path.name, digest.hexdigest(), path.stat().st_size)


def _manifest_digest(manifest: Manifest) -> str:
    return hashlib.sha256(canonical.encode_struct(msgspec.structs.replace(manifest, manifest_digest=""))).hexdigest()


def _tool_version() -> str:
    try:
        return importlib.metadata.version("wecom-audit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --- verify-export ----------------------------------------------------------------------


def verify_export(out_dir: Path) -> VerifyExportReport:
    """Check an export's manifest, its files' hashes and every record's hash."""
    report = VerifyExportReport()
    manifest = _read_manifest(out_dir / MANIFEST_FILE, report)
    if manifest is None:
        return report
    for entry in manifest.files:
        _check_file(out_dir, entry, report)
    _check_records(out_dir / MESSAGES_FILE, manifest, report)
    log.info("archive.integrity.export_verified", messages=report.messages, problems=report.problem_count)
    return report


def _read_manifest(path: Path, report: VerifyExportReport) -> Manifest | None:
    try:
        data = path.read_bytes()
        manifest = _MANIFEST_DECODER.decode(data)
    except FileNotFoundError:
        report.add(f"{MANIFEST_FILE} is missing")
        return None
    except msgspec.DecodeError as exc:
        report.add(f"{MANIFEST_FILE} is not a manifest: {exc}")
        return None
    if manifest.format != MANIFEST_FORMAT:
        report.add(f"{MANIFEST_FILE} has unknown format {manifest.format}")
        return None
    if data != canonical.encode_struct(manifest) + b"\n" or manifest.manifest_digest != _manifest_digest(manifest):
        report.add(f"{MANIFEST_FILE} was modified after the export (digest or encoding differs)")
    if MESSAGES_FILE not in {entry.name for entry in manifest.files}:
        report.add(f"{MANIFEST_FILE} does not list {MESSAGES_FILE}")
    return manifest


def _check_file(out_dir: Path, entry: FileEntry, report: VerifyExportReport) -> None:
    path = out_dir / entry.name
    if entry.name != path.name or not path.is_file():
        report.add(f"{entry.name} is missing")
        return
    actual = _file_entry(path)
    if (actual.sha256, actual.size) != (entry.sha256, entry.size):
        report.add(f"{entry.name}: SHA-256 or size differs from the manifest")


def _check_records(path: Path, manifest: Manifest, report: VerifyExportReport) -> None:
    if not path.is_file():
        return  # reported as a missing file
    listed = iter(manifest.records)
    previous: ExportLine | None = None
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            problem = _check_line(data, manifest.corp_id, previous, next(listed, None))
            if isinstance(problem, str):
                report.add(f"{MESSAGES_FILE} line {number}: {problem}")
                continue
            report.messages += 1
            previous = problem
    if report.messages != manifest.message_count or next(listed, None) is not None:
        report.add(f"{MESSAGES_FILE} holds other messages than the {manifest.message_count} of the manifest")


def _check_line(
    data: bytes, corp_id: str, previous: ExportLine | None, listed: tuple[int, str] | None
) -> ExportLine | str:
    """The line if it is sound, else what is wrong with it."""
    try:
        line = _LINE_DECODER.decode(data)
    except msgspec.DecodeError:
        return "not an exported record"
    record = line.record
    if record.get("position") != line.position or record.get("corp_id") != corp_id:
        return f"record at position {line.position} names another position or corp"
    if canonical.chain_hash(line.prev_hash, canonical.encode(record)) != line.record_hash:
        return f"record at position {line.position} does not hash to its record hash"
    if previous is not None and line.position <= previous.position:
        return f"position {line.position} is out of chain order"
    if previous is not None and line.position == previous.position + 1 and line.prev_hash != previous.record_hash:
        return f"position {line.position} does not link to the record before it"
    if listed != (line.position, line.record_hash):
        return f"position {line.position} or its hash differs from the manifest"
    return line
