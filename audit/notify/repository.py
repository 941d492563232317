"""The queries of notification delivery (``audit.notify.service`` decides what they mean)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.notify.models import DIGEST, Notification


def due(session: Session, status: str, now: datetime) -> Sequence[Notification]:
    """Notifications in ``status`` whose next attempt is due, oldest first."""
    return session.scalars(
        select(Notification)
        .where(Notification.status == status, Notification.next_attempt_at <= now)
        .order_by(Notification.id)
    ).all()


def due_first_attempts(session: Session, status: str, now: datetime) -> Sequence[Notification]:
    """Due notifications about one alert (no digest) never tried yet, oldest first."""
    return session.scalars(
        select(Notification)
        .where(
            Notification.status == status,
            Notification.attempts == 0,
            Notification.kind != DIGEST,
            Notification.next_attempt_at <= now,
        )
        .order_by(Notification.id)
    ).all()


def count_spent_since(session: Session, target: str, since: datetime, held_statuses: Sequence[str]) -> int:
    """Notifications about one alert to ``target`` created since ``since`` that already used
    up the allowance: tried at least once, or held / rolled into a digest."""
    count = session.scalar(
        select(func.count(Notification.id)).where(
            Notification.target == target,
            Notification.kind != DIGEST,
            Notification.created_at >= since,
            (Notification.attempts > 0) | Notification.status.in_(held_statuses),
        )
    )
    return int(count or 0)


def in_status(session: Session, status: str) -> Sequence[Notification]:
    return session.scalars(select(Notification).where(Notification.status == status).order_by(Notification.id)).all()


def has_digest_after(session: Session, target: str, after: datetime) -> bool:
    count = session.scalar(
        select(func.count(Notification.id)).where(
            Notification.target == target, Notification.kind == DIGEST, Notification.created_at > after
        )
    )
    return bool(count)


def receipts(session: Session, *, alert_id: int | None = None, limit: int = 100) -> list[Notification]:
    """The latest receipts first (of one alert, or of all)."""
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if alert_id is not None:
        query = query.where(Notification.alert_id == alert_id)
    return list(session.scalars(query))
