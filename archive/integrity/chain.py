"""The per-corp hash chain over stored messages.

Contract:
- ``append`` runs inside the transaction that inserted the messages (``archive.storage``),
  so a message is never committed without its link, nor a link without its message. It
  moves the corp's head only if the head is still what it read (optimistic check): when
  two transactions race, the second gets ``ChainConflictError`` (retryable) and rolls back
  whole, so the chain never forks.
- Records are hashed from the values the batch has just bound for the message, recipient
  and envelope rows (``StoredMessage.row``, ``.recipients``, ``.envelope``), not read back;
  ``verify`` recomputes them from the database, so a value that did not round-trip
  unchanged would show as a broken link (see ``archive.integrity.canonical``).
- Links are never deleted. ``mark_disposed`` turns the link of a message retention is about
  to delete into a tombstone (msgid, seq, hash, time, policy stay), in the caller's
  transaction, before the message rows go; the chain then still verifies.
- Logs carry counts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from archive.integrity import canonical, repository
from archive.integrity.canonical import Evidence
from archive.integrity.errors import UnlinkedMessageError
from archive.integrity.repository import Head, NewLink
from archive.repository import StoredMessage
from config.logs import get_logger

log = get_logger("archive.integrity")


def append(session: Session, corp_id: str, stored: Sequence[StoredMessage], now: datetime) -> None:
    """Append newly stored messages to the corp's chain, in the caller's transaction."""
    if not stored:
        return
    head = repository.read_head(session, corp_id)
    position, prev_hash = head.position, head.head_hash
    links: list[NewLink] = []
    for message in stored:
        position += 1
        record = _evidence(message)
        encoded = canonical.encode(canonical.record_document(corp_id, position, record, message.recipients))
        record_hash = canonical.chain_hash(prev_hash, encoded)
        links.append(NewLink(position, message.id, record.msgid, record.seq, record_hash, prev_hash))
        prev_hash = record_hash
    # The head first: a racing appender fails here, before touching any link position.
    repository.advance_head(session, corp_id, head, Head(position, prev_hash), now)
    repository.insert_links(session, corp_id, links, now)


def _evidence(message: StoredMessage) -> Evidence:
    """The evidence of a message as just inserted: what ``read_evidence`` will read back."""
    row, envelope = message.row, message.envelope
    return Evidence(
        message.id,
        row["msgid"],
        row["seq"],
        row["action"],
        row["msgtype"],
        row["sender"],
        row["roomid"],
        row["msgtime"],
        row["recalls_msgid"],
        row["parse_status"],
        row["text"],
        row["raw"],
        row["media_count"],
        envelope.seq,
        envelope.msgid,
        envelope.publickey_ver,
        envelope.encrypt_random_key,
        envelope.encrypt_chat_msg,
    )


def mark_disposed(session: Session, corp_id: str, message_ids: Sequence[int], policy: str, now: datetime) -> None:
    """Turn the chain links of messages about to be deleted into tombstones."""
    wanted = list(dict.fromkeys(message_ids))
    disposed = repository.dispose_links(session, corp_id, wanted, policy, now)
    if disposed != len(wanted):
        raise UnlinkedMessageError(
            f"{len(wanted) - disposed} of the {len(wanted)} messages to dispose of in corp {corp_id} "
            "have no live chain link",
            hint="run `wecom-audit verify`: a message without a link was not stored by wecom-audit",
        )
    log.info("archive.integrity.disposed", corp_id=corp_id, messages=disposed, policy=policy)
