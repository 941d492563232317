"""Exports of chat content: a JSON Lines file of messages and a manifest, through the gate.

Contract:
- Only messages in the caller's data scope are written. The selection (a conversation
  and time range, or the message ids a search returned) is filtered again in the database
  by the gate's visible clause, so a stale search index or a forged id cannot widen it.
- One access-log row (``content.export``) records the selection, every exported message
  id, the file's SHA-256, the count and the purpose, in the transaction that read the rows.
- The manifest carries the integrity-chain head of each exported corp at export time, so
  the export can later be matched against the archive's hash chain (``archive.integrity``).
- An export larger than the caller's limit is refused, never silently cut.
- :func:`export` is the use case every front end calls (a refusal for scope is logged in
  a transaction of its own); :func:`bundle` packs it as the ZIP the API serves.
- :func:`verify_bundle` checks such a ZIP, or a ZIP of a directory written by
  ``wecom-audit export`` (``archive.integrity.export``, checked by its ``verify_export``,
  the one ``wecom-audit verify-export`` runs): it needs nothing but the bytes.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import msgspec
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from archive.directory.names import display_names
from archive.integrity import export as integrity_export
from archive.integrity.repository import read_head
from archive.media.models import MediaTask
from archive.models import Conversation, Message
from audit.access.gate import AccessGate, through_gate
from audit.access.reads import message_views
from audit.errors import InvalidInput
from audit.security.principal import Principal

EXPORT_MAX_MESSAGES = 50_000
EXPORT_FILE_NAME = "messages.jsonl"
MANIFEST_FILE_NAME = "manifest.json"
# What verify_bundle unpacks at most (a ZIP names its sizes; a bomb is refused unread).
BUNDLE_MAX_UNPACKED_BYTES = 1 << 30
_COPY_BLOCK_BYTES = 1 << 20
# Bound parameters per IN list: far below SQLite's and PostgreSQL's limits.
IN_CHUNK = 900


@dataclass(frozen=True)
class ExportSelection:
    """What to export: ``message_ids`` (from a search for ``query``) or one conversation;
    either way narrowed to [since, until) and to ``corp_id`` when given."""

    query: str | None = None
    message_ids: Sequence[int] | None = None
    conversation_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    corp_id: str | None = None

    def target(self) -> dict[str, object]:
        return {
            "query": self.query,
            "conversation_id": self.conversation_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "corp_id": self.corp_id,
        }


class ExportLine(msgspec.Struct, frozen=True):
    msgid: str
    corp_id: str
    conversation_id: int | None
    time: datetime
    sender: str
    recipients: list[str]
    type: str
    text: str | None
    media_sha256: list[str]
    # Display names as the directory knew them at export time (the ids above stay the
    # evidence); a name equal to its id with ``sender_synced`` False was not synced yet.
    sender_name: str = ""
    sender_synced: bool = False
    recipient_names: list[str] = msgspec.field(default_factory=list)


class ChainHeadEntry(msgspec.Struct, frozen=True):
    corp_id: str
    position: int
    head_hash: str


class ExportManifest(msgspec.Struct, frozen=True):
    export_id: str
    file: str
    sha256: str
    count: int
    query: str | None
    conversation_id: int | None
    since: datetime | None
    until: datetime | None
    corp_id: str | None
    exported_by: str
    role: str
    purpose: str
    created_at: datetime
    chain_heads: list[ChainHeadEntry]


@dataclass(frozen=True)
class ExportFile:
    lines: bytes
    manifest: ExportManifest


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[start : start + IN_CHUNK]) for start in range(0, len(ids), IN_CHUNK)]


def _select(gate: AccessGate, selection: ExportSelection, limit: int) -> list[Message]:
    conditions: list[ColumnElement[bool]] = [gate.visible()]
    if selection.conversation_id is not None:
        conditions.append(Message.conversation_id == selection.conversation_id)
    if selection.since is not None:
        conditions.append(Message.msgtime >= selection.since)
    if selection.until is not None:
        conditions.append(Message.msgtime < selection.until)
    if selection.corp_id is not None:
        conditions.append(Message.corp_id == selection.corp_id)
    base = select(Message).join(Conversation, Conversation.id == Message.conversation_id).where(*conditions)
    if selection.message_ids is None:
        rows = list(gate.session.execute(base.order_by(Message.msgtime, Message.id).limit(limit + 1)).scalars())
    else:
        rows = []
        for chunk in _chunks(sorted(set(selection.message_ids))):
            rows.extend(gate.session.execute(base.where(Message.id.in_(chunk))).scalars())
        rows.sort(key=lambda row: (row.msgtime, row.id))
    if len(rows) > limit:
        raise InvalidInput(
            f"more than {limit} messages match this export",
            hint="narrow the time range or the query, or raise max_messages",
        )
    return rows


def _media(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for chunk in _chunks(ids):
        for message_id, sha256 in session.execute(
            select(MediaTask.message_id, MediaTask.blob_sha256)
            .where(MediaTask.message_id.in_(chunk), MediaTask.status == "done", MediaTask.blob_sha256.is_not(None))
            .order_by(MediaTask.id)
        ):
            if sha256 is not None:
                found.setdefault(message_id, []).append(sha256)
    return found


def _head(session: Session, corp_id: str) -> tuple[int, str]:
    head = read_head(session, corp_id)
    return head.position, head.head_hash


def export_messages(gate: AccessGate, selection: ExportSelection, *, max_messages: int) -> ExportFile:
    """The selected messages in scope as JSON Lines (time order) with their manifest; logged."""
    if selection.conversation_id is not None:
        gate.check_conversation(selection.conversation_id)
    rows = _select(gate, selection, min(max_messages, EXPORT_MAX_MESSAGES))
    media = _media(gate.session, [row.id for row in rows])
    encoder = msgspec.json.Encoder()
    lines = bytearray()
    views = message_views(gate.session, rows)
    ids = {p for view in views for p in (view.sender, *view.recipients)}
    names = display_names(gate.session, {row.corp_id for row in rows}, ids)
    for view in views:
        sender = names.of(view.sender)
        lines += encoder.encode(
            ExportLine(
                view.msgid,
                view.corp_id,
                view.conversation_id,
                view.msgtime,
                view.sender,
                view.recipients,
                view.msgtype,
                view.text,
                media.get(view.id, []),
                sender.label,
                sender.synced,
                [names.label(p) for p in view.recipients],
            )
        )
        lines += b"\n"
    digest = hashlib.sha256(lines).hexdigest()
    corps = sorted({row.corp_id for row in rows} | ({selection.corp_id} if selection.corp_id else set()))
    heads = [
        ChainHeadEntry(corp, head.position, head.head_hash)
        for corp in corps
        for head in [read_head(gate.session, corp)]
    ]
    manifest = ExportManifest(
        export_id=uuid.uuid4().hex,
        file=EXPORT_FILE_NAME,
        sha256=digest,
        count=len(rows),
        query=selection.query,
        conversation_id=selection.conversation_id,
        since=selection.since,
        until=selection.until,
        corp_id=selection.corp_id,
        exported_by=gate.principal.username,
        role=gate.principal.role.value,
        purpose=gate.purpose,
        created_at=gate.now,
        chain_heads=heads,
    )
    gate.record(
        "content.export",
        {
            **selection.target(),
            "export_id": manifest.export_id,
            "sha256": digest,
            "message_ids": [row.id for row in rows],
        },
        len(rows),
    )
    return ExportFile(bytes(lines), manifest)


def export(
    session_factory: sessionmaker[Session],
    principal: Principal,
    purpose: str | None,
    selection: ExportSelection,
    *,
    max_messages: int,
) -> ExportFile:
    """The export use case: :func:`export_messages` behind the gate, a refusal for scope
    logged as ``content.export`` with the selection."""
    return through_gate(
        session_factory,
        principal,
        purpose,
        "content.export",
        selection.target(),
        lambda gate: export_messages(gate, selection, max_messages=max_messages),
    )


def bundle(export: ExportFile) -> bytes:
    """The export as a ZIP: ``messages.jsonl`` and ``manifest.json``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(export.manifest.file, export.lines)
        archive.writestr(MANIFEST_FILE_NAME, msgspec.json.format(msgspec.json.encode(export.manifest)))
    return buffer.getvalue()


# --- verify-export ------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleReport:
    """What :func:`verify_bundle` found: the kind of export (``content``: a ZIP of
    ``POST /api/v1/exports``; ``integrity``: a ZIP of a ``wecom-audit export`` directory;
    ``unknown``), the messages that verified and the problems (the first
    ``archive.integrity.export.MAX_REPORTED_PROBLEMS`` of ``problem_count``)."""

    kind: Literal["content", "integrity", "unknown"]
    messages: int
    problem_count: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


class _Kind(msgspec.Struct):
    format: int | None = None
    export_id: str | None = None


def verify_bundle(data: bytes) -> BundleReport:
    """Check an export ZIP without the database: a content export's file against its
    manifest's SHA-256 and count, an integrity export's manifest digest, files and every
    record's chain hash (``archive.integrity.export.verify_export``)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return BundleReport("unknown", 0, 1, ["this is not a ZIP file"])
    try:
        return _verify_zip(archive)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        return BundleReport("unknown", 0, 1, [f"the ZIP is damaged: {exc}"])


def _verify_zip(archive: zipfile.ZipFile) -> BundleReport:
    with archive:
        members = {info.filename: info for info in archive.infolist() if not info.is_dir()}
        if MANIFEST_FILE_NAME not in members:
            return BundleReport("unknown", 0, 1, [f"{MANIFEST_FILE_NAME} is missing"])
        if sum(info.file_size for info in members.values()) > BUNDLE_MAX_UNPACKED_BYTES:
            return BundleReport("unknown", 0, 1, ["the ZIP unpacks to more than this server checks"])
        manifest = archive.read(MANIFEST_FILE_NAME)
        try:
            kind = msgspec.json.decode(manifest, type=_Kind)
        except msgspec.DecodeError as exc:
            return BundleReport("unknown", 0, 1, [f"{MANIFEST_FILE_NAME} is not a manifest: {exc}"])
        if kind.format is not None:
            return _verify_integrity(archive, members)
        if kind.export_id is not None:
            return _verify_content(archive, manifest, members)
    return BundleReport("unknown", 0, 1, [f"{MANIFEST_FILE_NAME} is not the manifest of an export"])


def _verify_content(archive: zipfile.ZipFile, data: bytes, members: dict[str, zipfile.ZipInfo]) -> BundleReport:
    try:
        manifest = msgspec.json.decode(data, type=ExportManifest)
    except msgspec.DecodeError as exc:
        return BundleReport("content", 0, 1, [f"{MANIFEST_FILE_NAME} is not a manifest: {exc}"])
    if manifest.file not in members:
        return BundleReport("content", 0, 1, [f"{manifest.file} is missing"])
    lines = archive.read(manifest.file)
    problems: list[str] = []
    if hashlib.sha256(lines).hexdigest() != manifest.sha256:
        problems.append(f"{manifest.file}: SHA-256 differs from the manifest")
    messages = 0
    for number, line in enumerate(lines.splitlines(), start=1):
        try:
            msgspec.json.decode(line, type=ExportLine)
        except msgspec.DecodeError:
            problems.append(f"{manifest.file} line {number}: not an exported message")
            continue
        messages += 1
    if messages != manifest.count:
        problems.append(f"{manifest.file} holds {messages} messages, the manifest says {manifest.count}")
    shown = problems[: integrity_export.MAX_REPORTED_PROBLEMS]
    return BundleReport("content", messages, len(problems), shown)


def _verify_integrity(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> BundleReport:
    with tempfile.TemporaryDirectory(prefix="wecom-audit-verify-") as directory:
        for name in (integrity_export.MANIFEST_FILE, integrity_export.MESSAGES_FILE):
            if name in members:  # only the export's own files, never a path from the ZIP
                with archive.open(members[name]) as source, (Path(directory) / name).open("wb") as target:
                    shutil.copyfileobj(source, target, _COPY_BLOCK_BYTES)
        report = integrity_export.verify_export(Path(directory))
    return BundleReport("integrity", report.messages, report.problem_count, report.problems)
