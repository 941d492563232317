"""The SDK worker process: the only place the native library is loaded.

Contract: a crash of the native code (SIGSEGV and friends) kills this process, never the
application. Before each ``DecryptData`` the worker writes the record's seq to shared
memory, so the parent knows which record killed it. Requests and replies are whole
batches (one round trip per batch, not per message). The worker logs nothing: it never
sees anything worth logging that is not content.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec

from archive.errors import ArchiveError
from archive.keyring import KeyMaterial, KeyRing
from archive.sdk.errors import SDK_RETURN_CODES, SdkLibraryError
from archive.sdk.native import FinanceSdkLibrary
from archive.source import ChatEnvelope, FailureReason

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
            config = self.config
            rc, chunk = self.library.get_media_data(
                request[2], request[1], config.proxy, config.proxy_password, config.media_timeout_s
            )
            if chunk is None:
                return ("rc", rc, "GetMediaData")
            return ("chunk", chunk.data, chunk.next_index, chunk.is_finish)
        raise ValueError(f"unknown worker request {kind!r}")

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
            elif rc in (10006, 10008):
                detail = (
                    f"DecryptData returned {rc} ({SDK_RETURN_CODES[rc][0]}) although the random key had the "
                    f"right shape: the private key for publickey_ver {envelope.publickey_ver} is probably "
                    "not the one WeCom used, or the record is corrupt"
                )
                records.append((*head, None, FailureReason.WRONG_KEY.value, detail))
            else:
                meaning = SDK_RETURN_CODES.get(rc, ("unknown return code", ""))[0]
                records.append(
                    (*head, None, FailureReason.DECRYPT_FAILED.value, f"DecryptData returned {rc} ({meaning})")
                )
        return records


def worker_main(connection: Connection, progress: Any, config: WorkerConfig) -> None:
    # Ctrl-C is the parent's business; the worker ends when its pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        worker = _Worker(config, progress)
    except SdkLibraryError as exc:
        connection.send(("fatal", str(exc)))
        return
    connection.send(("ready",))
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            break  # the parent is gone
        if request[0] == "stop":
            break
        try:
            reply = worker.handle(request)
        except ArchiveError as exc:
            reply = ("error", str(exc))
        connection.send(reply)
    worker.library.destroy()
