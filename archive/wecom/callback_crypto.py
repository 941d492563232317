"""WeCom's callback encryption (WXBizMsgCrypt, spec §7.3): signature, AES-256-CBC, framing.

Contract:
- ``verify_url`` and ``decrypt_event`` raise :class:`CallbackRejected` (with a stable
  ``reason``) for anything that is not a genuine message of this corp: a wrong signature
  (compared in constant time), undecodable base64, a bad padding or length, or a
  ``receiveid`` that is not our CorpID. They never return partial data.
- The pad block is **32** bytes, not AES's 16 (spec §7.3, step 3): a pad value outside 1..32
  is rejected here rather than treated as 0 like the reference code does.
- Nothing here logs; errors never carry the token, the key or the plaintext.
- Envelopes and plaintexts come as XML or as JSON (WeCom's JSON mode: the same field names,
  ``{"ToUserName": …, "Encrypt": …, "AgentID": …}``); :func:`parse_callback_fields` tells
  them apart and both parsers answer the same name → text mapping, under the same size
  limit, or raise ``CallbackRejected``.
- Freshness (timestamp window, nonce replay) is the caller's job: it needs shared state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import struct
import threading
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from archive.errors import ArchiveError

PAD_BLOCK_BYTES = 32
RANDOM_PREFIX_BYTES = 16
ENCODING_AES_KEY_LENGTH = 43


class CallbackRejected(ArchiveError):
    """A callback request that is not a genuine, intact message for this corp."""

    code = "callback_rejected"

    def __init__(self, reason: str) -> None:
        super().__init__(f"callback rejected: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class CallbackCrypto:
    """One callback configuration: the Token and EncodingAESKey set on WeCom's admin page and
    the receive id (the CorpID for the corp's own callbacks)."""

    token: str
    encoding_aes_key: str
    receive_id: str

    def __post_init__(self) -> None:
        if len(self.encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
            raise ValueError("EncodingAESKey must be 43 characters (copy it from the WeCom callback settings)")
        try:
            key = base64.b64decode(self.encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("EncodingAESKey is not valid base64") from exc
        if len(key) != 32:  # pragma: no cover - 43 base64 characters always give 32 bytes
            raise ValueError("EncodingAESKey must decode to 32 bytes")

    @property
    def _key(self) -> bytes:
        return base64.b64decode(self.encoding_aes_key + "=")

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        parts = sorted([self.token, timestamp, nonce, encrypted])
        return hashlib.sha1("".join(parts).encode(), usedforsecurity=False).hexdigest()

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = self.signature(timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), msg_signature.lower().encode()):
            raise CallbackRejected("bad_signature")

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The plaintext to answer a URL verification (GET) with."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_event(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """The decrypted event XML of a delivery (POST), given its ``<Encrypt>`` text."""
        self.check_signature(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def decrypt(self, encrypted: str) -> str:
        try:
            ciphertext = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRejected("bad_base64") from None
        if not ciphertext or len(ciphertext) % 16:
            raise CallbackRejected("bad_length")
        key = self._key
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= PAD_BLOCK_BYTES or padded[-pad:] != bytes([pad]) * pad:
            raise CallbackRejected("bad_padding")
        plain = padded[:-pad]
        if len(plain) < RANDOM_PREFIX_BYTES + 4:
            raise CallbackRejected("bad_length")
        (length,) = struct.unpack(">I", plain[RANDOM_PREFIX_BYTES : RANDOM_PREFIX_BYTES + 4])
        start = RANDOM_PREFIX_BYTES + 4
        if start + length > len(plain):
            raise CallbackRejected("bad_length")
        message, receive_id = plain[start : start + length], plain[start + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise CallbackRejected("wrong_receive_id")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackRejected("bad_encoding") from None

    def encrypt(self, message: str, *, random_prefix: bytes | None = None) -> str:
        """Encrypt like WeCom does (for replies and for the tests' deliveries)."""
        prefix = os.urandom(RANDOM_PREFIX_BYTES) if random_prefix is None else random_prefix
        body = message.encode()
        plain = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        pad = PAD_BLOCK_BYTES - len(plain) % PAD_BLOCK_BYTES
        key = self._key
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()


MAX_CALLBACK_XML_BYTES = 64 * 1024
MAX_TIMESTAMP_DIGITS = 12  # Unix seconds have 10 digits until the year 2286


def parse_xml_fields(document: bytes | str) -> dict[str, str]:
    """The top-level elements of a WeCom callback XML document as name → text.

    defusedxml refuses entity declarations and external references (XXE, "billion laughs");
    anything that is not a small well-formed ``<xml>`` document is rejected."""
    raw = document.encode() if isinstance(document, str) else document
    if len(raw) > MAX_CALLBACK_XML_BYTES:
        raise CallbackRejected("too_large")
    try:
        root = defused_fromstring(raw)
    except (ParseError, DefusedXmlException, ValueError):
        raise CallbackRejected("bad_xml") from None
    return {child.tag: (child.text or "").strip() for child in root if isinstance(child.tag, str)}


def parse_json_fields(document: bytes | str) -> dict[str, str]:
    """The top-level members of a WeCom callback JSON object as name → text, like
    :func:`parse_xml_fields`: numbers become their decimal text (``CreateTime``, ``AgentID``),
    nested values their compact JSON (UNCERTAIN whether any event nests; none we act on
    does). A duplicate member, a non-object or invalid JSON is refused."""
    raw = document.encode() if isinstance(document, str) else document
    if len(raw) > MAX_CALLBACK_XML_BYTES:
        raise CallbackRejected("too_large")
    try:
        parsed = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=_unique_members)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CallbackRejected("bad_json") from None
    if not isinstance(parsed, dict):
        raise CallbackRejected("bad_json")
    return {name: _json_text(value) for name, value in parsed.items()}


def parse_callback_fields(document: bytes | str, content_type: str | None = None) -> dict[str, str]:
    """An envelope or a decrypted event, XML or JSON: a JSON content type or a first
    non-blank character ``{`` selects JSON, anything else is parsed as XML."""
    raw = document.encode() if isinstance(document, str) else document
    if len(raw) > MAX_CALLBACK_XML_BYTES:
        raise CallbackRejected("too_large")
    declared_json = content_type is not None and "json" in content_type.lower()
    if declared_json or raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return parse_json_fields(raw)
    return parse_xml_fields(raw)


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    members: dict[str, object] = {}
    for name, value in pairs:
        if name in members:  # two "Encrypt" members: which one was signed is ambiguous
            raise ValueError("duplicate member")
        members[name] = value
    return members


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class ReplayGuard:
    """Refuses a (timestamp, nonce) pair seen before and timestamps outside the window.

    In memory, per process: WeCom delivers to one URL, normally one API process; behind
    several processes a replay can reach each once (a signed, fresh message — the harm
    is a duplicate pull trigger or a duplicate event row, both idempotent downstream)."""

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def check(self, timestamp: str, nonce: str, now_s: float) -> None:
        # WeCom sends Unix seconds (10 digits). Anything else is refused before arithmetic:
        # int() would take 400 digits, and comparing those with a float overflows.
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
            raise CallbackRejected("bad_timestamp")
        sent_s = int(timestamp)
        if abs(now_s - sent_s) > self.window_s:
            raise CallbackRejected("stale_timestamp")
        with self._lock:
            for key, seen_s in list(self._seen.items()):
                if now_s - seen_s > 2 * self.window_s:
                    del self._seen[key]
            if (timestamp, nonce) in self._seen:
                raise CallbackRejected("replayed_nonce")
            self._seen[(timestamp, nonce)] = now_s
