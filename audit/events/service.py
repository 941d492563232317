"""Recording contact-change events; a member deleting a customer raises an alert.

``record_contact_event`` is idempotent: WeCom re-delivers a callback it believes was
lost, and the repeat neither adds a row nor raises a second alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive.clock import utcnow
from archive.directory.service import FOLLOW_ENDED_BY, record_follow_ended
from audit.alerts.service import raise_alert
from audit.detect.hits import Severity
from audit.events import repository
from audit.events.models import ContactEvent

DEL_FOLLOW_USER = "del_follow_user"  # the customer deleted the member
DEL_EXTERNAL_CONTACT = "del_external_contact"  # the member deleted the customer
TRANSFER_FAIL = "transfer_fail"
CHANGE_TYPES = (DEL_FOLLOW_USER, DEL_EXTERNAL_CONTACT, TRANSFER_FAIL)
# Source of a deletion caused by an on-job transfer, not by the member (spec §8.8).
DELETE_BY_TRANSFER = "DELETE_BY_TRANSFER"
CUSTOMER_DELETED_RULE = "behaviour.customer_deleted_by_staff"
CUSTOMER_DELETED_CATEGORY = "customer_deleted"


def record_contact_event(
    session: Session,
    *,
    corp_id: str,
    change_type: str,
    user_id: str,
    external_user_id: str,
    fail_reason: str | None = None,
    occurred_at: datetime,
    raw: Mapping[str, Any],
) -> None:
    """Store one ``change_external_contact`` event (the callback's fields as ``raw``).

    ``del_external_contact`` not caused by a transfer raises the behaviour alert
    "customer deleted by staff" on the pair's single chat (if one is archived).
    """
    if change_type not in CHANGE_TYPES:
        raise ValueError(f"unsupported change type {change_type!r} (expected one of {', '.join(CHANGE_TYPES)})")
    source = raw.get("Source") or raw.get("source")
    event = ContactEvent(
        corp_id=corp_id,
        change_type=change_type,
        user_id=user_id,
        external_user_id=external_user_id,
        source=str(source) if source else None,
        fail_reason=fail_reason,
        occurred_at=occurred_at,
        recorded_at=utcnow(),
        raw={str(k): v for k, v in raw.items()},
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        return  # a re-delivered callback: already recorded (and alerted)
    if change_type == DEL_EXTERNAL_CONTACT and source != DELETE_BY_TRANSFER:
        raise_alert(
            session,
            corp_id=corp_id,
            conversation_id=repository.pair_conversation_id(session, corp_id, user_id, external_user_id),
            rule=CUSTOMER_DELETED_RULE,
            category=CUSTOMER_DELETED_CATEGORY,
            severity=Severity.MEDIUM,
            source="contact_event",
            explanation={
                "detector": "contact_event",
                "detector_version": "1",
                "detail": "the member deleted the external contact",
                "user_id": user_id,
                "external_user_id": external_user_id,
                "event_ids": [event.id],
            },
            message_ids=[],
            now=occurred_at,
        )


def list_contact_events(
    session: Session, corp_id: str, *, change_type: str | None = None, limit: int = 100
) -> list[ContactEvent]:
    return repository.contact_events(session, corp_id, change_type=change_type, limit=limit)


def record_contact_change(
    session: Session,
    *,
    corp_id: str,
    change_type: str,
    user_id: str,
    external_user_id: str,
    fail_reason: str | None,
    source: str | None,
    occurred_at: datetime,
    raw: Mapping[str, Any],
    now: datetime,
) -> None:
    """A ``change_external_contact`` callback (``del_follow_user``, ``del_external_contact``,
    ``transfer_fail``): the event for the detectors and handover, and who ended a follow
    and when, which only the callback knows (``archive.directory.service``)."""
    record_contact_event(
        session,
        corp_id=corp_id,
        change_type=change_type,
        user_id=user_id,
        external_user_id=external_user_id,
        fail_reason=fail_reason,
        occurred_at=occurred_at,
        raw=raw,
    )
    if change_type in FOLLOW_ENDED_BY:
        record_follow_ended(
            session,
            corp_id,
            user_id,
            external_user_id,
            change_type=change_type,
            occurred_at=occurred_at,
            now=now,
            source=source,
        )
