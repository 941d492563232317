"""Spike detection (舆情): a group's day against the same group's trailing baseline.

Two measures are compared with their mean over the previous ``baseline_days`` days:

- *negative share* (negative / scored messages), over baseline days on which at least
  ``min_scored_per_baseline_day`` messages were scored;
- *hit points* (hits weighted by severity), over every baseline day (a quiet day is 0).

A day spikes on a measure when its value exceeds ``mean + k · max(stddev, floor)``. The
floor keeps a perfectly flat history from turning the first small change into a spike.
A spike also needs ``min_messages`` messages that day and ``min_baseline_days`` days of
history for the room, so a new or tiny group never "spikes". See the ADR for the numbers.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.monitor.models import ConversationDaily
from audit.monitor.rollups import DayRow


@dataclass(frozen=True, slots=True)
class SpikeRule:
    baseline_days: int = 14
    k: float = 3.0
    min_messages: int = 20
    min_baseline_days: int = 7
    min_scored_per_baseline_day: int = 5
    share_std_floor: float = 0.05
    points_std_floor: float = 2.0


@dataclass(frozen=True, slots=True)
class SpikeMeasure:
    metric: str
    value: float
    baseline_mean: float
    baseline_std: float
    threshold: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": round(self.value, 4),
            "baseline_mean": round(self.baseline_mean, 4),
            "baseline_std": round(self.baseline_std, 4),
            "threshold": round(self.threshold, 4),
        }


def find_spikes(session: Session, rule: SpikeRule, today: DayRow) -> list[SpikeMeasure]:
    """The measures on which ``today`` (a group's day) spikes; empty if none."""
    if today.messages < rule.min_messages:
        return []
    first = today.day - timedelta(days=rule.baseline_days)
    history: dict[date, tuple[int, int, int]] = {
        day: (scored, negative, hit_points)
        for day, scored, negative, hit_points in session.execute(
            select(
                ConversationDaily.day,
                ConversationDaily.scored,
                ConversationDaily.negative,
                ConversationDaily.hit_points,
            ).where(
                ConversationDaily.conversation_id == today.conversation_id,
                ConversationDaily.day >= first,
                ConversationDaily.day < today.day,
            )
        )
    }
    if len(history) < rule.min_baseline_days:
        return []
    spikes: list[SpikeMeasure] = []
    shares = [
        negative / scored for scored, negative, _ in history.values() if scored >= rule.min_scored_per_baseline_day
    ]
    if today.scored >= rule.min_scored_per_baseline_day and len(shares) >= rule.min_baseline_days:
        spike = _compare("negative_share", today.negative / today.scored, shares, rule.k, rule.share_std_floor)
        if spike is not None:
            spikes.append(spike)
    points = [
        float(history[day][2]) if day in history else 0.0
        for day in (first + timedelta(days=offset) for offset in range(rule.baseline_days))
    ]
    spike = _compare("hit_points", float(today.hit_points), points, rule.k, rule.points_std_floor)
    if spike is not None:
        spikes.append(spike)
    return spikes


def _compare(metric: str, value: float, baseline: list[float], k: float, std_floor: float) -> SpikeMeasure | None:
    mean = statistics.fmean(baseline)
    std = statistics.pstdev(baseline)
    threshold = mean + k * max(std, std_floor)
    if value <= threshold:
        return None
    return SpikeMeasure(metric, value, mean, std, threshold)
