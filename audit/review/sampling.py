"""Random sampling of unflagged conversations for supervisory review.

Reproducible: the draw for a period depends only on the corp, the period, the seed and
the set of candidate conversations, so an auditor can re-derive it. Drawing a period
again returns the existing sample instead of drawing twice.

The use cases of every front end (the JSON API, the console's sampling queue, ``wecom-audit
alerts sample``): :func:`draw_day` draws a day in the detection time zone,
:func:`samples_for` lists the queue within a principal's data scope and :func:`complete_for`
records a review of a sample in it.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Message
from audit.alerts.models import Alert
from audit.alerts.visibility import visible_conversation_ids
from audit.errors import InvalidInput, NotFound
from audit.review.models import ReviewSample
from audit.security.errors import OutOfScope
from audit.security.principal import Principal
from audit.security.scope import resolve_scope

PENDING = "pending"
REVIEWED = "reviewed"
SAMPLES_SHOWN = 200


def period_label(start: datetime, end: datetime) -> str:
    return f"{start.astimezone(UTC):%Y%m%dT%H%M}/{end.astimezone(UTC):%Y%m%dT%H%M}"  # ≤ 32 characters


def unflagged_conversations(session: Session, corp_id: str, start: datetime, end: datetime) -> list[int]:
    """Conversations with messages in [start, end) and no alert about that time."""
    active = set(
        session.scalars(
            select(Message.conversation_id)
            .where(
                Message.corp_id == corp_id,
                Message.msgtime >= start,
                Message.msgtime < end,
                Message.conversation_id.is_not(None),
            )
            .distinct()
        )
    )
    flagged = set(
        session.scalars(
            select(Alert.conversation_id)
            .where(
                Alert.corp_id == corp_id,
                Alert.conversation_id.is_not(None),
                Alert.last_seen_at >= start,
                Alert.first_seen_at < end,
            )
            .distinct()
        )
    )
    return sorted(int(c) for c in active - flagged if c is not None)


def draw_sample(
    session: Session, corp_id: str, *, start: datetime, end: datetime, rate: float, seed: int, now: datetime
) -> list[ReviewSample]:
    """Draw ``rate`` of the unflagged conversations of [start, end) into the sampling queue
    (at least one when there is any candidate and the rate is above zero)."""
    if not 0.0 <= rate <= 1.0:
        raise InvalidInput(f"sampling rate must be between 0 and 1, not {rate}")
    label = period_label(start, end)
    existing = samples(session, corp_id, period=label)
    if existing:
        return existing
    candidates = unflagged_conversations(session, corp_id, start, end)
    count = min(len(candidates), max(1, math.floor(rate * len(candidates) + 0.5))) if rate > 0 and candidates else 0
    # Not for security: a seeded generator so the draw can be reproduced and audited.
    generator = random.Random(f"{corp_id}|{label}|{seed}")  # noqa: S311
    chosen = sorted(generator.sample(candidates, count))
    for conversation_id in chosen:
        session.add(
            ReviewSample(
                corp_id=corp_id,
                period=label,
                conversation_id=conversation_id,
                status=PENDING,
                drawn_at=now,
                reviewer=None,
                note=None,
                reviewed_at=None,
            )
        )
    session.flush()
    return samples(session, corp_id, period=label)


def samples(
    session: Session, corp_id: str, *, period: str | None = None, status: str | None = None
) -> list[ReviewSample]:
    query = select(ReviewSample).where(ReviewSample.corp_id == corp_id)
    if period is not None:
        query = query.where(ReviewSample.period == period)
    if status is not None:
        query = query.where(ReviewSample.status == status)
    return list(session.scalars(query.order_by(ReviewSample.period, ReviewSample.conversation_id)))


def complete_sample(
    session: Session, sample_id: int, *, reviewer: str, note: str | None, now: datetime
) -> ReviewSample:
    sample = session.get(ReviewSample, sample_id)
    if sample is None:
        raise NotFound(f"review sample {sample_id} does not exist")
    if sample.status == REVIEWED:
        raise InvalidInput(f"review sample {sample_id} was already reviewed by {sample.reviewer}")
    sample.status = REVIEWED
    sample.reviewer = reviewer
    sample.note = note
    sample.reviewed_at = now
    return sample


def day_period(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC start and end of ``day`` in ``zone``."""
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    return start, start + timedelta(days=1)


def draw_day(
    session: Session, corp_id: str, day: date, *, zone: ZoneInfo, rate: float, seed: int, now: datetime
) -> list[ReviewSample]:
    """:func:`draw_sample` over ``day`` in ``zone`` (the detection time zone)."""
    start, end = day_period(day, zone)
    return draw_sample(session, corp_id, start=start, end=end, rate=rate, seed=seed, now=now)


def samples_for(
    session: Session, principal: Principal, corp_id: str, *, status: str | None = None, limit: int = SAMPLES_SHOWN
) -> list[ReviewSample]:
    """The sampling queue within ``principal``'s scope: pending samples first, then by
    period and conversation; at most ``limit``."""
    found = samples(session, corp_id, status=status)
    visible = visible_conversation_ids(session, resolve_scope(session, principal), {s.conversation_id for s in found})
    shown = [s for s in found if s.conversation_id in visible]
    shown.sort(key=lambda s: (s.status != PENDING, s.period, s.conversation_id))
    return shown[:limit]


def complete_for(
    session: Session, principal: Principal, sample_id: int, *, note: str | None, now: datetime
) -> ReviewSample:
    """Record ``principal``'s review of a sample whose conversation is in their scope
    (``OutOfScope`` otherwise, a missing sample included: ids are not probed)."""
    sample = session.get(ReviewSample, sample_id)
    scope = resolve_scope(session, principal)
    if sample is None or not visible_conversation_ids(session, scope, {sample.conversation_id}):
        raise OutOfScope("this sample's conversation is outside your data scope")
    return complete_sample(session, sample_id, reviewer=principal.username, note=note, now=now)
