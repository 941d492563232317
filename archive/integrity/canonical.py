"""The canonical encoding of a chained record and the chain's hash function.

Contract (also docs/adr/0004-integrity-chain.md; changing it needs a new ``format``):

- A record is one JSON object::

      {"format": 1, "corp_id": str, "position": int,
       "envelope": {"seq", "msgid", "publickey_ver", "encrypt_random_key", "encrypt_chat_msg"},
       "message": {"msgid", "seq", "action", "msgtype", "sender", "roomid", "msgtime",
                   "recalls_msgid", "parse_status", "text", "raw", "media_count"},
       "recipients": [str, ...]}

  with the stored column values; ``msgtime`` is epoch milliseconds (int), absent values
  are ``null``, recipients are sorted by code point.
- Encoded with keys sorted by code point at every level, no whitespace, UTF-8, only
  ``"``, ``\\`` and control characters escaped — byte for byte what Python's
  ``json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` gives.
- ``record_hash = sha256(prev_hash + encoding)`` in lower-case hex, where ``prev_hash`` is
  the previous link's ``record_hash`` as its 64 ASCII hex characters (64 zeros before the
  first link).
- Left out: ``body`` (PostgreSQL's JSONB does not keep key order; ``verify`` instead
  re-parses ``raw`` and compares) and surrogate ids (conversation, envelope, message ids).

``append`` builds :class:`Evidence` from the values its batch has just inserted and
``verify`` from the rows read back; both go through :func:`record_document`, so the
record is the same exactly when the stored values round-trip unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec

CANONICAL_FORMAT = 1
GENESIS_HASH = "0" * 64

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_ENCODER = msgspec.json.Encoder(order="sorted")
_DECODER = msgspec.json.Decoder(dict[str, Any])


class Evidence(NamedTuple):
    """The stored columns of one message and its envelope that a record is made of."""

    message_id: int
    msgid: str
    seq: int
    action: str
    msgtype: str
    sender: str
    roomid: str | None
    msgtime: datetime
    recalls_msgid: str | None
    parse_status: str
    text: str | None
    raw: str
    media_count: int
    envelope_seq: int
    envelope_msgid: str
    publickey_ver: int
    encrypt_random_key: str
    encrypt_chat_msg: str
    body: dict[str, Any] | None = None  # read for verify's raw-vs-body check, never hashed


def epoch_millis(moment: datetime) -> int:
    return (moment - _EPOCH) // _MILLISECOND


def record_document(corp_id: str, position: int, evidence: Evidence, recipients: Sequence[str]) -> dict[str, Any]:
    return {
        "format": CANONICAL_FORMAT,
        "corp_id": corp_id,
        "position": position,
        "envelope": {
            "seq": evidence.envelope_seq,
            "msgid": evidence.envelope_msgid,
            "publickey_ver": evidence.publickey_ver,
            "encrypt_random_key": evidence.encrypt_random_key,
            "encrypt_chat_msg": evidence.encrypt_chat_msg,
        },
        "message": {
            "msgid": evidence.msgid,
            "seq": evidence.seq,
            "action": evidence.action,
            "msgtype": evidence.msgtype,
            "sender": evidence.sender,
            "roomid": evidence.roomid,
            "msgtime": epoch_millis(evidence.msgtime),
            "recalls_msgid": evidence.recalls_msgid,
            "parse_status": evidence.parse_status,
            "text": evidence.text,
            "raw": evidence.raw,
            "media_count": evidence.media_count,
        },
        "recipients": sorted(recipients),
    }


def encode(document: dict[str, Any]) -> bytes:
    return _ENCODER.encode(document)


def decode(encoded: bytes) -> dict[str, Any]:
    """Raises ``msgspec.DecodeError`` for what is not a JSON object."""
    return _DECODER.decode(encoded)


def chain_hash(prev_hash: str, encoded: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + encoded).hexdigest()


def encode_struct(value: msgspec.Struct) -> bytes:
    """A msgspec struct in the same canonical form (fields sorted, compact)."""
    return _ENCODER.encode(value)
