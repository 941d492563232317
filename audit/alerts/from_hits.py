"""From the hits of a batch to the alerts they raise — a pure function.

Shared by the detection stage (which then calls ``raise_alert``) and by rule simulation
(which only counts), so a simulation predicts exactly what enabling the rule produces.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audit.alerts.masking import masked_excerpt
from audit.alerts.service import dedupe_key, window_start
from audit.detect.hits import Hit, Severity

# A false-positive verdict (``audit.review.models.Suppression``) is keyed by this much of a
# hit's normalised form; review records the verdict, this module honours it.
SUPPRESSION_KEY_CHARS = 256


@dataclass(frozen=True, slots=True)
class ScannedMessage:
    """What alerting needs to know about one scanned message."""

    message_id: int
    corp_id: str
    conversation_id: int | None
    msgtime: datetime
    text: str


@dataclass
class AlertRequest:
    corp_id: str
    conversation_id: int | None
    rule: str
    category: str
    severity: Severity
    at: datetime
    dedupe_key: str
    message_ids: list[int] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    detector: str = ""
    detector_version: str = ""

    def explanation(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "detector_version": self.detector_version,
            "category": self.category,
            "rule": self.rule,
            "matches": self.matches,
        }


def alert_requests(
    messages: Sequence[ScannedMessage],
    hits: Sequence[Sequence[Hit]],
    *,
    window_minutes: int,
    min_severity: Severity,
    suppressed: Collection[tuple[int, str, str]] = (),
) -> list[AlertRequest]:
    """Group the alert-worthy hits by (conversation, rule, window).

    A hit below ``min_severity`` raises nothing; a hit whose (conversation, rule,
    normalised form) was marked a false positive raises nothing. Explanations carry the
    span, the normalised form and a masked excerpt — never the message text itself.
    """
    requests: dict[tuple[str, str], AlertRequest] = {}
    for message, message_hits in zip(messages, hits, strict=True):
        for hit in message_hits:
            if Severity(hit.severity).rank < min_severity.rank:
                continue
            normalised = (hit.normalised or "")[:SUPPRESSION_KEY_CHARS]
            if message.conversation_id is not None and (message.conversation_id, hit.rule, normalised) in suppressed:
                continue
            start = window_start(message.msgtime, window_minutes)
            key = dedupe_key(message.conversation_id, hit.rule, start)
            request = requests.get((message.corp_id, key))
            if request is None:
                request = requests[(message.corp_id, key)] = AlertRequest(
                    corp_id=message.corp_id,
                    conversation_id=message.conversation_id,
                    rule=hit.rule,
                    category=hit.category,
                    severity=Severity(hit.severity),
                    at=message.msgtime,
                    dedupe_key=key,
                    detector=hit.detector,
                    detector_version=hit.detector_version,
                )
            if Severity(hit.severity).rank > request.severity.rank:
                request.severity = Severity(hit.severity)
            request.at = min(request.at, message.msgtime)
            if message.message_id not in request.message_ids:
                request.message_ids.append(message.message_id)
            request.matches.append(
                {
                    "message_id": message.message_id,
                    "detector": hit.detector,
                    "detector_version": hit.detector_version,
                    "start": hit.start,
                    "end": hit.end,
                    "normalised": hit.normalised,
                    "excerpt": masked_excerpt(message.text, hit.start, hit.end),
                    "detail": hit.detail,
                }
            )
    return list(requests.values())
