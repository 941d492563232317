"""msgspec structs at the API edge (no ORM objects leave through the API)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from archive.completeness.alerts import AlertSnapshot
from archive.completeness.service import GapSummary, LagReport, SeqGap


class LastPull(msgspec.Struct, frozen=True):
    status: str
    started_at: datetime
    finished_at: datetime | None
    stored: int
    quarantined: int
    error_code: str | None


class ArchiveStatusView(msgspec.Struct, frozen=True):
    corp_id: str
    messages: int
    envelopes: int
    first_seq: int | None
    cursor: int
    newest_msgtime: datetime | None
    lag_s: float | None
    quarantined: int
    unknown_types: int
    conversations: int
    media: dict[str, int]
    last_pull: LastPull | None


class Health(msgspec.Struct, frozen=True):
    status: str


class CompletenessView(msgspec.Struct, frozen=True):
    """Gaps, lag (messages and media) and open alerts of one corp; see archive.completeness."""

    corp_id: str
    gaps: GapSummary
    first_gaps: list[SeqGap]
    lag: LagReport
    open_alerts: list[AlertSnapshot]
