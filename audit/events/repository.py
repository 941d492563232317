"""The queries of contact-change events (``audit.events.service`` records them)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Conversation
from audit.events.models import ContactEvent


def pair_conversation_id(session: Session, corp_id: str, user_id: str, external_user_id: str) -> int | None:
    """The single chat of a member and a customer, if one is archived."""
    key = "pair:" + "|".join(sorted([user_id, external_user_id]))
    return session.scalar(select(Conversation.id).where(Conversation.corp_id == corp_id, Conversation.key == key))


def contact_events(session: Session, corp_id: str, *, change_type: str | None, limit: int) -> list[ContactEvent]:
    """The latest events of ``corp_id`` first (of one change type, or of all)."""
    query = select(ContactEvent).where(ContactEvent.corp_id == corp_id)
    if change_type:
        query = query.where(ContactEvent.change_type == change_type)
    return list(session.scalars(query.order_by(ContactEvent.occurred_at.desc()).limit(limit)))
