"""The one path by which decrypted messages enter the archive.

Contract: called inside the caller's transaction (a puller batch or a quarantine retry).
Along with the message rows it appends them to the corp's integrity chain, creates a
media task for every attachment and queues the batch in the outbox for the downstream
stages (search, detection), so a message is never stored without all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from archive import repository
from archive.integrity import chain
from archive.media import tasks as media_tasks
from archive.outbox import queue as outbox
from archive.repository import DecodedItem, StoredMessage


def store_messages(session: Session, corp_id: str, items: Sequence[DecodedItem], now: datetime) -> list[StoredMessage]:
    stored = repository.insert_messages(session, corp_id, items)
    chain.append(session, corp_id, stored, now)
    media_tasks.enqueue(session, corp_id, items, stored, now)
    outbox.enqueue(session, corp_id, [message.id for message in stored], now)
    return stored
