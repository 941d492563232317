"""Small builders shared by the alert, review and notification tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from archive.models import Conversation
from audit.alerts.models import Alert
from audit.alerts.service import raise_alert
from audit.detect.hits import Severity

CORP = "wwcorp"
T0 = datetime(2026, 11, 2, 9, 5, tzinfo=UTC)


def conversation(
    session: Session, key: str, *, roomid: str | None = None, a: str | None = None, b: str | None = None
) -> int:
    row = Conversation(
        corp_id=CORP,
        key=key,
        kind="group" if roomid else "single",
        roomid=roomid,
        participant_a=a,
        participant_b=b,
        has_external=True,
        first_msg_at=T0,
        last_msg_at=T0,
        message_count=0,
    )
    session.add(row)
    session.flush()
    return row.id


def alert(
    session: Session,
    conversation_id: int | None,
    *,
    rule: str = "offplatform",
    severity: Severity = Severity.MEDIUM,
    at: datetime = T0,
    normalised: str = "加微信",
    message_id: int = 1,
) -> Alert:
    return raise_alert(
        session,
        corp_id=CORP,
        conversation_id=conversation_id,
        rule=rule,
        category="off_platform_contact",
        severity=severity,
        source="detect",
        explanation={
            "detector": "lexicon",
            "detector_version": "1",
            "matches": [
                {"message_id": message_id, "start": 0, "end": 3, "normalised": normalised, "excerpt": "加*****"}
            ],
        },
        message_ids=[],
        now=at,
    )


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
