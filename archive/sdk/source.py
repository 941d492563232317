"""``FinanceSdkSource``: the production ``ChatArchiveSource``, over the SDK worker process.

Contract:
- The native library runs only in the worker (``archive.sdk.worker``, started by
  ``archive.sdk.process`` as a fresh interpreter that loads it first: ADR 0018). If the
  worker dies, it is restarted and the request is sent again. A record that was being decrypted
  when it died is counted; once it has killed the worker ``crash_quarantine_threshold``
  times it is skipped by the worker and reported as ``sdk_crash`` (so it is quarantined,
  not lost). Deaths outside any record (in GetChatData) are retried a few times, then
  raise ``SdkCrashError``.
- SDK codes 10001–10003 (and unreadable GetChatData output) are retried with exponential
  backoff, with no wait after the last attempt; every other code raises a typed error that
  says what to do.
- Every private key is loaded when the source is made or given new keys: a key that cannot
  be read stops the caller before anything is fetched.
- ``errcode`` 301058 (response too large) halves the batch limit and tries again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.keyring import KeyRing
from archive.sdk.errors import (
    SdkCrashError,
    SdkError,
    SdkTransientError,
    error_for_errcode,
    error_for_return_code,
)
from archive.sdk.process import ProgressWord, WorkerDied, WorkerProcess, describe_exit
from archive.sdk.worker import RecordTuple, WorkerConfig
from archive.source import ChatEnvelope, DecryptedRecord, FailureReason
from config.logs import get_logger

log = get_logger("archive.sdk")

# A worker that dies outside any record this many times in a row fails the call.
MAX_UNATTRIBUTED_CRASHES = 3
# How long a reply may take beyond the SDK's own network timeout before the worker is
# considered hung and killed (RSA for a full batch takes well under a second per core).
REPLY_GRACE_S = 120.0
MAX_BACKOFF_S = 60.0
RESPONSE_TOO_LARGE = 301058


@dataclass(frozen=True)
class MediaJob:
    sdkfileid: str
    path: Path  # the partial file; its progress is kept beside it
    max_chunks: int


@dataclass(frozen=True)
class MediaProgress:
    bytes_done: int
    finished: bool
    md5: str | None  # known when the worker saw the whole file go by
    sha256: str | None
    error: SdkError | None


class FinanceSdkSource:
    """Pulls and decrypts through the Finance SDK C library in an isolated worker process."""

    def __init__(
        self,
        config: WorkerConfig,
        keyring: KeyRing,
        *,
        retry_attempts: int = 5,
        retry_backoff_s: float = 1.0,
        crash_quarantine_threshold: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        keyring.preload()  # a key that cannot be read stops here, before anything is fetched
        self._config = config
        self._keyring = keyring
        self._retry_attempts = retry_attempts
        self._retry_backoff_s = retry_backoff_s
        self._crash_threshold = crash_quarantine_threshold
        self._sleep = sleep
        self._progress = ProgressWord()
        self._worker: WorkerProcess | None = None
        self._in_flight: tuple[Any, ...] | None = None
        self._crashes: Counter[int] = Counter()
        self._lock = threading.RLock()
        self.worker_restarts = 0

    # --- ChatArchiveSource ----------------------------------------------------------------

    def fetch(self, after_seq: int, limit: int) -> list[DecryptedRecord]:
        retries = 0
        while True:
            reply = self._call(("fetch", after_seq, limit))
            kind = reply[0]
            if kind == "records":
                return _records(reply[1])
            if kind == "errcode":
                if reply[1] == RESPONSE_TOO_LARGE and limit > 1:
                    limit = max(1, limit // 2)
                    log.warning("archive.sdk.limit_lowered", limit=limit)
                    continue
                raise error_for_errcode(reply[1], reply[2])
            if kind == "rc":
                error = error_for_return_code(reply[1], reply[2], attempts=retries + 1)
            else:  # garbled
                error = SdkTransientError(reply[1], hint="usually transient; retry later", sdk_code=10002)
            if not error.retryable or retries >= self._retry_attempts:
                raise error  # no sleep after the last attempt: the caller learns at once
            delay = min(self._retry_backoff_s * 2**retries, MAX_BACKOFF_S)
            log.warning("archive.sdk.retry", code=error.sdk_code, attempt=retries + 1, delay_s=delay)
            self._sleep(delay)
            retries += 1

    def prefetch(self, after_seq: int, limit: int) -> None:
        with self._lock:
            self._prefetch_locked(after_seq, limit)

    def _prefetch_locked(self, after_seq: int, limit: int) -> None:
        if self._in_flight is not None or self._worker is None or not self._worker.alive():
            return
        request = self._with_skips(("fetch", after_seq, limit))
        try:
            self._send(request)
        except WorkerDied:
            return  # the next call finds the worker dead and handles it
        self._in_flight = request

    def download_media(self, jobs: Sequence[MediaJob]) -> list[MediaProgress]:
        """Advance a batch of downloads by up to ``max_chunks`` chunks each, concurrently in
        the worker. Transient SDK codes are retried from where the file stands (spec §5:
        same index, never from 0); other codes come back per file as ``error``."""
        requests = [(job.sdkfileid, str(job.path), job.max_chunks) for job in jobs]
        results: list[MediaProgress | None] = [None] * len(jobs)
        pending = list(range(len(jobs)))
        attempt = 0
        while pending:
            deadline_s = self._config.media_timeout_s * max(job.max_chunks for job in jobs) + REPLY_GRACE_S
            reply = self._call(("media", [requests[i] for i in pending]), deadline_s)
            if reply[0] == "rc":  # the worker's own handle failed Init: no file can move
                raise error_for_return_code(reply[1], reply[2])
            retry: list[int] = []
            for position, outcome in zip(pending, reply[1], strict=True):
                if outcome[0] == "rc":
                    error = error_for_return_code(outcome[1], outcome[3], attempts=attempt + 1)
                    if error.retryable and attempt < self._retry_attempts:
                        retry.append(position)
                        continue
                    results[position] = MediaProgress(outcome[2], False, None, None, error)
                else:
                    finished = outcome[0] == "done"
                    md5, sha256 = (outcome[2], outcome[3]) if finished else (None, None)
                    results[position] = MediaProgress(outcome[1], finished, md5, sha256, None)
            if retry:
                delay = min(self._retry_backoff_s * 2**attempt, MAX_BACKOFF_S)
                log.warning("archive.sdk.retry", call="GetMediaData", files=len(retry), attempt=attempt + 1)
                self._sleep(delay)
                attempt += 1
            pending = retry
        return [result for result in results if result is not None]

    def decrypt(self, envelopes: Sequence[ChatEnvelope]) -> list[DecryptedRecord]:
        fields = [(e.seq, e.msgid, e.publickey_ver, e.encrypt_random_key, e.encrypt_chat_msg) for e in envelopes]
        reply = self._call(("decrypt", fields))
        if reply[0] == "rc":
            raise error_for_return_code(reply[1], reply[2])
        return _records(reply[1])

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        self._worker = None
        self._in_flight = None

    # --- keys -----------------------------------------------------------------------------

    def update_keys(self, keyring: KeyRing) -> None:
        """Use a new key ring (after ``keys add``): the worker restarts with it on next use."""
        if keyring.identity() == self._keyring.identity():
            return
        keyring.preload()
        self._keyring = keyring
        self.close()

    # --- the worker -------------------------------------------------------------------------

    def _call(self, request: tuple[Any, ...], deadline_s: float | None = None) -> tuple[Any, ...]:
        # The puller and the media job share one worker from two scheduler threads:
        # requests are serialised here.
        with self._lock:
            return self._call_locked(request, deadline_s or self._config.timeout_s + REPLY_GRACE_S)

    def _call_locked(self, request: tuple[Any, ...], deadline_s: float) -> tuple[Any, ...]:
        unattributed = 0
        while True:
            request = self._with_skips(request)
            try:
                self._ensure_worker()
                if self._in_flight != request:
                    self._drain_in_flight()
                    self._send(request)
                self._in_flight = None
                return self._receive(deadline_s)
            except WorkerDied as died:
                self._discard_worker(died)
                if died.seq:
                    self._crashes[died.seq] += 1
                    continue
                unattributed += 1
                if unattributed >= MAX_UNATTRIBUTED_CRASHES:
                    last_words = f"; it printed: {died.last_words}" if died.last_words else ""
                    raise SdkCrashError(
                        f"the SDK worker died {unattributed} times in a row outside any record "
                        f"(last: {describe_exit(died.exitcode)}){last_words}",
                        hint="check the SDK library and its dependencies; run `wecom-audit pull --once` "
                        "with WECOM_AUDIT_LOGGING__LEVEL=debug and report the lines above",
                    ) from None

    def _with_skips(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        if request[0] == "media":
            return request
        base = request[:3] if request[0] == "fetch" else request[:2]
        skips = {seq: n for seq, n in self._crashes.items() if n >= self._crash_threshold}
        return (*base, skips)

    def _send(self, request: tuple[Any, ...]) -> None:
        assert self._worker is not None
        self._worker.send(request)

    def _receive(self, deadline_s: float | None = None) -> tuple[Any, ...]:
        assert self._worker is not None
        return self._worker.receive(deadline_s or self._config.timeout_s + REPLY_GRACE_S)

    def _drain_in_flight(self) -> None:
        """Read and drop the reply to a prefetch nobody wants any more."""
        if self._in_flight is not None:
            self._in_flight = None
            self._receive()

    def _ensure_worker(self) -> None:
        if self._worker is None:
            self._worker = WorkerProcess.start(self._config, self._progress, self._keyring)
        elif not self._worker.alive():
            raise self._worker.died()

    def _discard_worker(self, died: WorkerDied) -> None:
        log.warning("archive.sdk.worker_died", exit=describe_exit(died.exitcode), seq=died.seq or None)
        if self._worker is not None:
            self._worker.close()
        self._worker = None
        self._in_flight = None
        self._progress.clear()
        self.worker_restarts += 1


def _records(rows: list[RecordTuple]) -> list[DecryptedRecord]:
    return [
        DecryptedRecord(
            ChatEnvelope(seq, msgid, ver, random_key, chat_msg),
            plaintext,
            FailureReason(reason) if reason else None,
            detail,
        )
        for seq, msgid, ver, random_key, chat_msg, plaintext, reason, detail in rows
    ]
