"""The media job: downloads attachments through the SDK worker into the blob store.

Contract:
- Oldest first: WeCom deletes media with its message after a few days, so the tasks whose
  messages are oldest (nearest expiry) go first.
- The worker downloads a batch of files concurrently, a few chunks (≤ 512 KiB each) per
  file per call, into partial files with a progress record beside each. A crash — of the
  worker or of this job — resumes from that record: finished chunks are never fetched
  again. Between calls the worker is free for the puller, so media never holds up the
  message cursor.
- The whole file is checked against the message's md5 (when WeCom gave one). A mismatch
  restarts that download, up to ``MD5_ATTEMPTS`` times; then the task fails with the
  reason, and the bytes are kept as evidence of what WeCom served.
- Files stream to disk; nothing holds a whole file in memory. A finished file is fsynced
  and moved (not copied) into the content-addressed store.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.media.blobstore import LocalBlobStore
from archive.media.models import MediaTask
from archive.sdk.errors import SdkDataExpiredError, SdkError
from archive.sdk.source import MediaJob, MediaProgress
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.media")

MD5_ATTEMPTS = 3
TRANSIENT_RETRY_DELAY = timedelta(minutes=5)
FILES_PER_BATCH = 8
CHUNKS_PER_CALL = 8  # ≤ 4 MiB per file per call: the puller waits at most that long
HASH_CHUNK_BYTES = 1024 * 1024


class MediaSource(Protocol):
    def download_media(self, jobs: Sequence[MediaJob]) -> list[MediaProgress]: ...


@dataclass
class MediaReport:
    corp_id: str
    downloaded: int = 0
    bytes: int = 0
    failed: int = 0
    md5_retries: int = 0
    calls: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.failures[reason] = self.failures.get(reason, 0) + 1


@dataclass
class _Download:
    task_id: int
    sdkfileid: str
    md5sum: str
    attempts: int
    partial: Path


class MediaDownloader:
    def __init__(
        self,
        corp_id: str,
        source: MediaSource,
        session_factory: sessionmaker[Session],
        blobs: LocalBlobStore,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.corp_id = corp_id
        self.source = source
        self.session_factory = session_factory
        self.blobs = blobs
        self.clock = clock
        self.partial_dir = blobs.root / ".partial"

    def run(self, *, max_tasks: int | None = None, time_budget_s: float | None = None) -> MediaReport:
        """Download due tasks, oldest message first, until none is due or a limit is hit."""
        report = MediaReport(self.corp_id)
        deadline = time.monotonic() + time_budget_s if time_budget_s else None
        attempted: set[int] = set()
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        while deadline is None or time.monotonic() < deadline:
            room = FILES_PER_BATCH if max_tasks is None else min(FILES_PER_BATCH, max_tasks - len(attempted))
            batch = self._due(attempted, room) if room > 0 else []
            if not batch:
                break
            attempted.update(download.task_id for download in batch)
            self._download(batch, report)
        if report.downloaded or report.failed:
            log.info("archive.media.run", **report.__dict__)
        return report

    def _due(self, attempted: set[int], limit: int) -> list[_Download]:
        with session_scope(self.session_factory) as session:
            query = (
                select(MediaTask.id, MediaTask.sdkfileid, MediaTask.md5sum, MediaTask.attempts)
                .where(
                    MediaTask.corp_id == self.corp_id,
                    MediaTask.status == "pending",
                    MediaTask.next_attempt_at <= self.clock(),
                )
                .order_by(MediaTask.msgtime, MediaTask.id)
                .limit(limit)
            )
            if attempted:
                query = query.where(MediaTask.id.not_in(attempted))
            return [
                _Download(task_id, sdkfileid, md5sum, attempts, self.partial_dir / f"{self.corp_id}-{task_id}.part")
                for task_id, sdkfileid, md5sum, attempts in session.execute(query)
            ]

    def _download(self, batch: list[_Download], report: MediaReport) -> None:
        active = list(batch)
        while active:
            try:
                progress = self.source.download_media(
                    [MediaJob(d.sdkfileid, d.partial, CHUNKS_PER_CALL) for d in active]
                )
            except SdkError as exc:  # the worker keeps dying: every file of the batch waits
                for download in active:
                    self._fail(download, exc, report)
                return
            report.calls += 1
            still_active = []
            for download, outcome in zip(active, progress, strict=True):
                if outcome.error is not None:
                    self._fail(download, outcome.error, report)
                elif not outcome.finished:
                    self._record_progress(download.task_id, outcome.bytes_done)
                    still_active.append(download)
                elif self._finish(download, outcome, report):
                    still_active.append(download)  # md5 mismatch: downloading again
            active = still_active

    def _finish(self, download: _Download, outcome: MediaProgress, report: MediaReport) -> bool:
        """Verify and store a finished file; True if it must be downloaded again."""
        with download.partial.open("rb") as written:
            os.fsync(written.fileno())
        md5, sha256 = outcome.md5, outcome.sha256
        if md5 is None or sha256 is None:  # resumed after a crash: hash the file itself
            md5, sha256 = _digests_of(download.partial)
        download.attempts += 1
        if download.md5sum and md5 != download.md5sum:
            if download.attempts < MD5_ATTEMPTS:
                report.md5_retries += 1
                log.warning("archive.media.md5_mismatch", task_id=download.task_id, attempt=download.attempts)
                download.partial.unlink()
                self._record_progress(download.task_id, 0, attempts=download.attempts)
                return True
            reason = f"md5 mismatch after {download.attempts} downloads (expected {download.md5sum}, got {md5})"
            self._store(download, sha256, reason)
            report.fail("md5_mismatch")
            return False
        size = self._store(download, sha256, None)
        report.downloaded += 1
        report.bytes += size
        return False

    def _store(self, download: _Download, sha256: str, failure: str | None) -> int:
        content_type = sniff_content_type(download.partial)
        size = self.blobs.adopt(download.partial, sha256)
        with session_scope(self.session_factory) as session:
            session.execute(
                update(MediaTask)
                .where(MediaTask.id == download.task_id)
                .values(
                    status="failed" if failure else "done",
                    failure=failure,
                    attempts=download.attempts,
                    blob_sha256=sha256,
                    stored_size=size,
                    content_type=content_type,
                    bytes_done=size,
                    finished_at=self.clock(),
                )
            )
        return size

    def _record_progress(self, task_id: int, bytes_done: int, *, attempts: int | None = None) -> None:
        values: dict[str, object] = {"bytes_done": bytes_done}
        if attempts is not None:
            values["attempts"] = attempts
        with session_scope(self.session_factory) as session:
            session.execute(update(MediaTask).where(MediaTask.id == task_id).values(**values))

    def _fail(self, download: _Download, exc: SdkError, report: MediaReport) -> None:
        permanent = isinstance(exc, SdkDataExpiredError) or not exc.retryable
        values: dict[str, object] = {"attempts": download.attempts + 1, "failure": f"{exc.code}: {exc}"}
        if permanent:
            values.update(status="failed", finished_at=self.clock())
        else:
            values["next_attempt_at"] = self.clock() + TRANSIENT_RETRY_DELAY
        with session_scope(self.session_factory) as session:
            session.execute(update(MediaTask).where(MediaTask.id == download.task_id).values(**values))
        report.fail(exc.code)
        log.warning("archive.media.failed", task_id=download.task_id, code=exc.code, permanent=permanent)


def _digests_of(path: Path) -> tuple[str, str]:
    """md5 (WeCom's check) and sha256 (the blob's name) in one pass over the file."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF8", 0, "image/gif"),
    (b"#!AMR\n", 0, "audio/amr"),
    (b"#!SILK", 1, "audio/silk"),
    (b"ftyp", 4, "video/mp4"),
    (b"%PDF", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
]


def sniff_content_type(path: Path) -> str:
    """The type by magic bytes (WeCom's extensions are hints; meeting recordings have none)."""
    with path.open("rb") as handle:
        head = handle.read(16)
    for magic, offset, content_type in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return content_type
    return "application/octet-stream"
