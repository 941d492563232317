"""The SDK worker process: the only place the native library is loaded.

Contract: a crash of the native code (SIGSEGV and friends) kills this process, never the
application. Before each ``DecryptData`` the worker writes the record's seq to shared
memory, so the parent knows which record killed it. Requests and replies are whole
batches (one round trip per batch, not per message). The worker logs nothing: it never
sees anything worth logging that is not content.
"""

from __future__ import annotations

import ctypes
import hashlib
import mmap
import os
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec

from archive.errors import ArchiveError
from archive.keyring import KeyMaterial, KeyRing
from archive.sdk.errors import DECRYPT_DATA_CODES, SdkLibraryError
from archive.sdk.native import FinanceSdkLibrary
from archive.source import ChatEnvelope, FailureReason

# The shared progress word: one unsigned 64-bit seq.
PROGRESS_BYTES = 8

# One record in a reply: (seq, msgid, publickey_ver, encrypt_random_key, encrypt_chat_msg,
# plaintext or None, failure reason or None, detail). Plain tuples pickle fastest.
RecordTuple = tuple[int, str, int, str, str, bytes | None, str | None, str]


@dataclass(frozen=True)
class WorkerConfig:
    library_path: Path
    corp_id: str
    secret: str = field(repr=False)
    proxy: str = ""
    proxy_password: str = field(default="", repr=False)
    timeout_s: int = 10
    media_timeout_s: int = 60
    rsa_threads: int = 0
    media_threads: int = 4


class _ChatDataItem(msgspec.Struct):
    seq: int
    msgid: str
    publickey_ver: int
    encrypt_random_key: str
    encrypt_chat_msg: str


class _ChatDataResponse(msgspec.Struct):
    errcode: int = 0
    errmsg: str = ""
    chatdata: list[_ChatDataItem] = msgspec.field(default_factory=list)


_RESPONSE_DECODER = msgspec.json.Decoder(_ChatDataResponse)


class _Worker:
    def __init__(self, config: WorkerConfig, progress: Any) -> None:
        self.config = config
        self.progress = progress
        self.library = FinanceSdkLibrary(config.library_path)
        self.init_rc = self.library.init(config.corp_id, config.secret)
        self.keyring = KeyRing([])
        self.pool = ThreadPoolExecutor(max_workers=config.rsa_threads or os.cpu_count() or 1)
        self.media_pool = ThreadPoolExecutor(max_workers=config.media_threads)
        self.thread_state = threading.local()
        self.media_digests: dict[str, tuple[Any, Any, int]] = {}

    def handle(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        kind = request[0]
        if kind == "keys":
            # Parsed lazily, on the first record of each version (about 50 ms a key).
            self.keyring = KeyRing(KeyMaterial(*fields) for fields in request[1])
            return ("ok",)
        if self.init_rc != 0:
            return ("rc", self.init_rc, "Init")
        if kind == "fetch":
            return self.fetch(request[1], request[2], request[3])
        if kind == "decrypt":
            return ("records", self.decrypt([ChatEnvelope(*fields) for fields in request[1]], request[2]))
        if kind == "media":
            return ("media", self.media(request[1]))
        raise ValueError(f"unknown worker request {kind!r}")

    def media(self, jobs: list[tuple[str, str, int]]) -> list[tuple[Any, ...]]:
        """Download a batch of files concurrently, each up to ``max_chunks`` more chunks.

        Each file goes to its partial file, and after every chunk its progress (bytes, next
        index) to a sidecar ``.progress`` file, so a download resumes after any crash —
        this worker's or the job's — without fetching finished chunks again. The bytes never
        cross the pipe. md5/sha256 are computed on the way when the file was downloaded in
        one go by this worker; otherwise the parent hashes the finished file.
        """
        return list(self.media_pool.map(lambda job: self._media_file(*job), jobs))

    def _media_file(self, sdkfileid: str, path_text: str, max_chunks: int) -> tuple[Any, ...]:
        path, progress_path = Path(path_text), Path(path_text + ".progress")
        done, index = _read_progress(progress_path)
        digests = self.media_digests.get(path_text)
        if digests is None or digests[2] != done:
            digests = None if done else (hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0)
        library, init_rc = self._thread_library()
        if init_rc != 0:
            return ("rc", init_rc, done, "Init")
        config = self.config
        with open(path, "r+b" if path.exists() else "wb") as sink:
            sink.truncate(done)  # bytes after the last recorded chunk are not trusted
            sink.seek(done)
            for _ in range(max_chunks):
                rc, chunk = library.get_media_data(
                    index, sdkfileid, config.proxy, config.proxy_password, config.media_timeout_s
                )
                if chunk is None:
                    return ("rc", rc, done, "GetMediaData")
                sink.write(chunk.data)
                sink.flush()
                done += len(chunk.data)
                if digests is not None:
                    digests[0].update(chunk.data)
                    digests[1].update(chunk.data)
                    digests = (digests[0], digests[1], done)
                if chunk.is_finish:
                    self.media_digests.pop(path_text, None)
                    progress_path.unlink(missing_ok=True)
                    if digests is None:
                        return ("done", done, None, None)
                    return ("done", done, digests[0].hexdigest(), digests[1].hexdigest())
                index = chunk.next_index
                _write_progress(progress_path, done, index)
        if digests is not None:
            self.media_digests[path_text] = digests
        return ("more", done)

    def _thread_library(self) -> tuple[FinanceSdkLibrary, int]:
        """One SDK handle per download thread (the SDK is not documented thread-safe), and
        its ``Init`` return code: a handle that failed ``Init`` is not used."""
        state: tuple[FinanceSdkLibrary, int] | None = getattr(self.thread_state, "library", None)
        if state is None:
            library = FinanceSdkLibrary(self.config.library_path)
            state = (library, library.init(self.config.corp_id, self.config.secret))
            if state[1] == 0:
                self.thread_state.library = state
            else:
                library.destroy()  # a failed Init is tried again on the next file
        return state

    def fetch(self, after_seq: int, limit: int, skip: dict[int, int]) -> tuple[Any, ...]:
        config = self.config
        rc, body = self.library.get_chat_data(after_seq, limit, config.proxy, config.proxy_password, config.timeout_s)
        if rc != 0:
            return ("rc", rc, "GetChatData")
        try:
            response = _RESPONSE_DECODER.decode(body)
        except msgspec.DecodeError as exc:
            # The message names the JSON problem and position, never the content.
            return ("garbled", f"GetChatData returned data that is not chatdata JSON ({exc})")
        if response.errcode != 0:
            return ("errcode", response.errcode, response.errmsg)
        envelopes = sorted(
            (
                ChatEnvelope(i.seq, i.msgid, i.publickey_ver, i.encrypt_random_key, i.encrypt_chat_msg)
                for i in response.chatdata
            ),
            key=lambda envelope: envelope.seq,
        )
        return ("records", self.decrypt(envelopes, skip))

    def decrypt(self, envelopes: Sequence[ChatEnvelope], skip: dict[int, int]) -> list[RecordTuple]:
        records: list[RecordTuple] = []
        # RSA unwraps run on every core (the call releases the GIL) while this thread
        # feeds DecryptData one record at a time: whether the SDK's DecryptData is
        # thread-safe is undocumented (spec §1.5), so it is never called concurrently.
        unwrapped = self.pool.map(lambda e: self.keyring.unwrap(e.publickey_ver, e.encrypt_random_key), envelopes)
        for envelope, result in zip(envelopes, unwrapped, strict=True):
            head = (
                envelope.seq,
                envelope.msgid,
                envelope.publickey_ver,
                envelope.encrypt_random_key,
                envelope.encrypt_chat_msg,
            )
            if envelope.seq in skip:
                detail = f"the SDK crashed {skip[envelope.seq]} times decrypting this record"
                records.append((*head, None, FailureReason.SDK_CRASH.value, detail))
                continue
            if result.failure is not None or result.random_key is None:
                records.append((*head, None, str(result.failure), result.detail))
                continue
            self.progress.value = envelope.seq
            rc, plaintext = self.library.decrypt_data(
                result.random_key, envelope.encrypt_chat_msg.encode("ascii", "replace")
            )
            self.progress.value = 0
            if rc == 0:
                records.append((*head, plaintext, None, ""))
            elif rc == 10008:  # K does not decrypt with the key part of M: not the key WeCom wrapped
                detail = (
                    f"DecryptData returned 10008 ({DECRYPT_DATA_CODES[rc]}) although the random key had the "
                    f"right shape: the private key for publickey_ver {envelope.publickey_ver} is probably "
                    "not the one WeCom used, or the record is corrupt"
                )
                records.append((*head, None, FailureReason.WRONG_KEY.value, detail))
            else:  # 10005, 10006: the random key was right, so the record itself is damaged
                meaning = DECRYPT_DATA_CODES.get(rc, "unknown return code")
                detail = f"DecryptData returned {rc} ({meaning}): the record is corrupt"
                records.append((*head, None, FailureReason.DECRYPT_FAILED.value, detail))
        return records


def _read_progress(path: Path) -> tuple[int, str]:
    try:
        done, _, index = path.read_text(encoding="ascii").partition("\n")
        return int(done), index
    except (OSError, ValueError):
        return 0, ""


def _write_progress(path: Path, done: int, index: str) -> None:
    temporary = path.with_suffix(".progress-tmp")
    temporary.write_text(f"{done}\n{index}", encoding="ascii")
    os.replace(temporary, path)  # never a half-written progress record


def serve(channel: Connection, progress_fd: int, settings: dict[str, Any]) -> None:
    """Serve the parent's requests until it says stop or goes away (see ``worker_entry``)."""
    # Ctrl-C is the parent's business; the worker ends when its channel closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The seq being decrypted, in memory the parent reads after a crash of this process.
    progress_memory = mmap.mmap(progress_fd, PROGRESS_BYTES)
    progress = ctypes.c_ulonglong.from_buffer(progress_memory)
    config = WorkerConfig(**{**settings, "library_path": Path(settings["library_path"])})
    try:
        worker = _Worker(config, progress)
    except SdkLibraryError as exc:
        channel.send(("fatal", "symbols", str(exc)))
        return
    channel.send(("ready",))
    while True:
        try:
            request = channel.recv()
        except (EOFError, OSError):
            break  # the parent is gone
        if request[0] == "stop":
            break
        try:
            reply = worker.handle(request)
        except ArchiveError as exc:
            reply = ("error", str(exc))
        channel.send(reply)
    worker.library.destroy()
