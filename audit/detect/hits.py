"""What every detector returns, and what the alerting, search and console layers consume."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


@dataclass(frozen=True, slots=True)
class Hit:
    """One finding in one message.

    ``start``/``end`` index the message's original ``text`` (``None`` for behaviours that
    are about the message as a whole, such as a red packet); ``normalised`` is the form the
    detector matched on (so an officer sees why ``加 V 信`` matched ``加微信``); ``detail``
    is a short human explanation without chat content beyond the match itself.
    """

    detector: str  # "lexicon" | "pattern" | "behaviour" | "sentiment" | ...
    detector_version: str
    category: str  # e.g. "off_platform_contact", "pii.mobile", "red_packet"
    rule: str  # the rule / lexicon group / pattern id that fired
    severity: Severity
    start: int | None = None
    end: int | None = None
    matched: str | None = None
    normalised: str | None = None
    detail: str = ""
