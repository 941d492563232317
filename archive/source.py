"""What the puller consumes: a source of decrypted archive records.

``ChatArchiveSource`` hides where records come from. The production implementation is
``FinanceSdkSource`` (Tencent's C SDK — or the project's fake with the same ABI — in an
isolated worker process). A source does the SDK's part *and* the integrator's part of
decryption (RSA unwrap by ``publickey_ver``, then ``DecryptData``) and reports per
record either the plaintext or why it could not be decrypted; it never drops a record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class FailureReason(StrEnum):
    UNKNOWN_KEY_VERSION = "unknown_key_version"
    KEY_UNREADABLE = "key_unreadable"
    WRONG_KEY = "wrong_key"
    DECRYPT_FAILED = "decrypt_failed"
    SDK_CRASH = "sdk_crash"
    UNPARSABLE = "unparsable"
    # Decrypted and parsed, but the database refused to store it (set by the puller).
    UNSTORABLE = "unstorable"


@dataclass(frozen=True, slots=True)
class ChatEnvelope:
    """One ``chatdata`` item of GetChatData, still encrypted."""

    seq: int
    msgid: str
    publickey_ver: int
    encrypt_random_key: str
    encrypt_chat_msg: str


@dataclass(frozen=True, slots=True)
class DecryptedRecord:
    """An envelope and its outcome: ``plaintext`` on success, else ``failure`` and ``detail``.

    ``detail`` explains the failure for the operator; it never contains message content.
    """

    envelope: ChatEnvelope
    plaintext: bytes | None
    failure: FailureReason | None = None
    detail: str = ""


class ChatArchiveSource(Protocol):
    def fetch(self, after_seq: int, limit: int) -> list[DecryptedRecord]:
        """Records with seq > ``after_seq`` in ascending seq, at most ``limit``; [] when drained."""
        ...

    def prefetch(self, after_seq: int, limit: int) -> None:
        """Start fetching the batch a later ``fetch(after_seq, limit)`` will ask for (a hint)."""
        ...

    def decrypt(self, envelopes: Sequence[ChatEnvelope]) -> list[DecryptedRecord]:
        """Decrypt stored envelopes again (quarantine retry), in the given order."""
        ...

    def close(self) -> None: ...
