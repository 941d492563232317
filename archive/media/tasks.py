"""Media tasks: created with the message, in the same transaction (so no attachment is
ever forgotten), and released when retention deletes the message."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from archive.media.models import MediaTask
from archive.repository import DecodedItem, StoredMessage


def enqueue(
    session: Session, corp_id: str, items: Sequence[DecodedItem], stored: Sequence[StoredMessage], now: datetime
) -> int:
    """One pending task per distinct sdkfileid of each stored message; returns how many."""
    rows = []
    for item, message in zip(items, stored, strict=True):
        seen: set[str] = set()
        for ref in item.parsed.media:
            if ref.sdkfileid in seen:
                continue
            seen.add(ref.sdkfileid)
            rows.append(
                {
                    "corp_id": corp_id,
                    "message_id": message.id,
                    "msgid": message.msgid,
                    "sdkfileid": ref.sdkfileid,
                    "sdkfileid_hash": hashlib.sha256(ref.sdkfileid.encode()).hexdigest(),
                    "md5sum": ref.md5sum.lower()[:32],
                    "expected_size": ref.size,
                    "extension": ref.extension[:32],
                    "msgtime": item.parsed.msgtime,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "bytes_done": 0,
                    "failure": None,
                    "blob_sha256": None,
                    "stored_size": None,
                    "content_type": None,
                    "created_at": now,
                    "finished_at": None,
                }
            )
    if rows:
        session.execute(insert(MediaTask), rows)
    return len(rows)


def release_for_messages(session: Session, corp_id: str, message_ids: Sequence[int]) -> list[str]:
    """Delete the media tasks of messages about to be deleted; returns the blobs (sha256)
    that no remaining task references, for the caller to delete after its commit."""
    if not message_ids:
        return []
    tasks = list(
        session.scalars(select(MediaTask).where(MediaTask.corp_id == corp_id, MediaTask.message_id.in_(message_ids)))
    )
    digests = {task.blob_sha256 for task in tasks if task.blob_sha256}
    for task in tasks:
        session.delete(task)
    session.flush()
    if not digests:
        return []
    still_used = set(
        session.scalars(
            select(MediaTask.blob_sha256).where(MediaTask.blob_sha256.in_(digests)).group_by(MediaTask.blob_sha256)
        )
    )
    return sorted(digests - still_used)


def count_by_status(session: Session, corp_id: str) -> dict[str, int]:
    rows = session.execute(
        select(MediaTask.status, func.count()).where(MediaTask.corp_id == corp_id).group_by(MediaTask.status)
    )
    return {status: int(count) for status, count in rows}
