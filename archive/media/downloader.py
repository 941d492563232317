"""The media job: downloads attachments through the SDK worker into the blob store.

Contract:
- Oldest first: WeCom deletes media with its message after a few days, so the task whose
  message is oldest (nearest expiry) goes first.
- Chunks of ≤ 512 KiB are appended to a partial file; after each chunk that is not the
  last, the task's ``bytes_done``/``next_index`` are committed. A crash (worker or job)
  resumes from there: finished chunks are never downloaded again.
- The whole file is checked against the message's md5 (when WeCom gave one). A mismatch
  restarts the download, up to ``MD5_ATTEMPTS`` times; then the task fails with the
  reason, and the bytes are kept as evidence of what WeCom served.
- Files stream to disk; nothing holds a whole file in memory. A finished file is moved
  (not copied) into the content-addressed store.
- The job never touches the message cursor; it shares the SDK worker with the puller,
  request by request.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.media.blobstore import LocalBlobStore
from archive.media.models import MediaTask
from archive.sdk.errors import SdkDataExpiredError, SdkError
from archive.sdk.native import MediaChunk
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.media")

MD5_ATTEMPTS = 3
TRANSIENT_RETRY_DELAY = timedelta(minutes=5)
TASKS_PER_QUERY = 50
HASH_CHUNK_BYTES = 1024 * 1024


class MediaSource(Protocol):
    def media_chunk(self, sdkfileid: str, index: str) -> MediaChunk: ...


@dataclass
class MediaReport:
    corp_id: str
    downloaded: int = 0
    bytes: int = 0
    failed: int = 0
    md5_retries: int = 0
    chunks: int = 0
    failures: dict[str, int] = field(default_factory=dict)


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
        while True:
            tasks = self._due_tasks(attempted)
            if not tasks:
                break
            for task_id in tasks:
                if (max_tasks is not None and len(attempted) >= max_tasks) or (
                    deadline is not None and time.monotonic() > deadline
                ):
                    return self._logged(report)
                attempted.add(task_id)
                self._download(task_id, report)
        return self._logged(report)

    def _logged(self, report: MediaReport) -> MediaReport:
        if report.downloaded or report.failed:
            log.info("archive.media.run", **report.__dict__)
        return report

    def _due_tasks(self, attempted: set[int]) -> list[int]:
        with session_scope(self.session_factory) as session:
            ids = session.scalars(
                select(MediaTask.id)
                .where(
                    MediaTask.corp_id == self.corp_id,
                    MediaTask.status == "pending",
                    MediaTask.next_attempt_at <= self.clock(),
                    MediaTask.id.not_in(attempted) if attempted else MediaTask.id.is_not(None),
                )
                .order_by(MediaTask.msgtime, MediaTask.id)
                .limit(TASKS_PER_QUERY)
            )
            return list(ids)

    def _download(self, task_id: int, report: MediaReport) -> None:
        with session_scope(self.session_factory) as session:
            task = session.get(MediaTask, task_id)
            assert task is not None
            sdkfileid, md5sum = task.sdkfileid, task.md5sum
            done, index, attempts = task.bytes_done, task.next_index, task.attempts
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        partial = self.partial_dir / f"{self.corp_id}-{task_id}.part"
        if not partial.exists() or partial.stat().st_size < done:
            done, index = 0, ""  # the partial file is gone: start over
        try:
            while True:
                with partial.open("r+b" if partial.exists() else "wb") as sink:
                    sink.truncate(done)  # drop bytes written after the last committed chunk
                    sink.seek(done)
                    self._fetch_rest(task_id, sdkfileid, sink, done, index, report)
                    sink.flush()
                    os.fsync(sink.fileno())
                md5, size = _md5_of(partial)
                if not md5sum or md5 == md5sum:
                    self._complete(task_id, partial, None, attempts + 1)
                    report.downloaded += 1
                    report.bytes += size
                    return
                attempts += 1
                if attempts >= MD5_ATTEMPTS:
                    reason = f"md5 mismatch after {attempts} downloads (expected {md5sum}, got {md5})"
                    self._complete(task_id, partial, reason, attempts)
                    report.failed += 1
                    report.failures["md5_mismatch"] = report.failures.get("md5_mismatch", 0) + 1
                    return
                report.md5_retries += 1
                log.warning("archive.media.md5_mismatch", task_id=task_id, attempt=attempts)
                done, index = 0, ""
                self._save_progress(task_id, 0, "", attempts)
        except SdkError as exc:
            self._fail(task_id, exc, attempts + 1, report)

    def _fetch_rest(
        self, task_id: int, sdkfileid: str, sink: BinaryIO, done: int, index: str, report: MediaReport
    ) -> None:
        while True:
            chunk = self.source.media_chunk(sdkfileid, index)
            sink.write(chunk.data)
            done += len(chunk.data)
            report.chunks += 1
            if chunk.is_finish:
                return
            index = chunk.next_index
            sink.flush()  # to the OS before the progress that claims it is committed
            self._save_progress(task_id, done, index, None)

    def _save_progress(self, task_id: int, done: int, index: str, attempts: int | None) -> None:
        values: dict[str, object] = {"bytes_done": done, "next_index": index}
        if attempts is not None:
            values["attempts"] = attempts
        with session_scope(self.session_factory) as session:
            session.execute(update(MediaTask).where(MediaTask.id == task_id).values(**values))

    def _complete(self, task_id: int, partial: Path, failure: str | None, attempts: int) -> None:
        content_type = sniff_content_type(partial)
        sha256, size = self.blobs.adopt(partial)
        with session_scope(self.session_factory) as session:
            session.execute(
                update(MediaTask)
                .where(MediaTask.id == task_id)
                .values(
                    status="failed" if failure else "done",
                    failure=failure,
                    attempts=attempts,
                    blob_sha256=sha256,
                    stored_size=size,
                    content_type=content_type,
                    bytes_done=size,
                    next_index="",
                    finished_at=self.clock(),
                )
            )

    def _fail(self, task_id: int, exc: SdkError, attempts: int, report: MediaReport) -> None:
        permanent = isinstance(exc, SdkDataExpiredError) or not exc.retryable
        reason = f"{exc.code}: {exc}"
        with session_scope(self.session_factory) as session:
            values: dict[str, object] = {"attempts": attempts, "failure": reason}
            if permanent:
                values.update(status="failed", finished_at=self.clock())
            else:
                values["next_attempt_at"] = self.clock() + TRANSIENT_RETRY_DELAY
            session.execute(update(MediaTask).where(MediaTask.id == task_id).values(**values))
        report.failed += 1
        report.failures[exc.code] = report.failures.get(exc.code, 0) + 1
        log.warning("archive.media.failed", task_id=task_id, code=exc.code, permanent=permanent)


def _md5_of(path: Path) -> tuple[str, int]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


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
