"""Reading the consent ledger (``archive.consent``) through the access gate: the one use
case behind ``GET /api/v1/consent``, the handover dossier's consent panel and
``wecom-audit consent show``.

Consent is content-adjacent (it says who talked with whom and when): a record is shown
only when its archived conversation is in the caller's scope (company-wide scopes also see
pairs that never chatted), and every read is one ``content.consent`` access-log row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from archive.consent import service
from archive.consent.service import ConsentRecord
from audit.access.gate import AccessGate
from audit.accesslog import log as access_log
from audit.errors import InvalidInput
from audit.security.principal import Principal
from audit.security.scope import DataScope
from config.settings import Settings

ACTION = "content.consent"
EVERYTHING = DataScope(True, frozenset(), frozenset(), frozenset(), frozenset())


def consent_target(settings: Settings, corp: str | None, customer: str | None, room: str | None) -> dict[str, Any]:
    """The read asked for (one customer or one room of a configured corp), checked."""
    if (customer is None) == (room is None):
        raise InvalidInput("name one customer or one room", hint="?customer=<external_userid> or ?room=<roomid>")
    if any(not value.isprintable() or value != value.strip() for value in (customer, room, corp) if value is not None):
        # WeCom ids are printable ASCII; PostgreSQL refuses NUL in text (a 500 otherwise).
        raise InvalidInput("ids are printable text without surrounding spaces", hint="copy the id from WeCom")
    if corp is not None and corp not in {c.corp_id for c in settings.corps()}:
        raise InvalidInput("unknown corp", hint="leave corp out for the configured corp")
    return {"corp_id": settings.corp(corp).corp_id, "customer": customer, "room": room}


def scoped_ledger(gate: AccessGate, corp_id: str, *, customer: str | None, room: str | None) -> list[ConsentRecord]:
    """The consent records of a customer or a room that this caller may see, logged."""
    everything = gate.scope.everything and not gate.scope.excluded_people
    records = service.ledger(
        gate.session, corp_id, external_userid=customer, party=room, visible=None if everything else gate.visible()
    )
    target = {"corp_id": corp_id, "customer": customer, "room": room}
    gate.record(ACTION, target, len(records))
    return records


def company_wide_ledger(
    session: Session,
    operator: Principal,
    purpose: str,
    corp_id: str,
    *,
    customer: str | None,
    room: str | None,
    now: datetime,
) -> list[ConsentRecord]:
    """:func:`scoped_ledger` for the command line: company-wide (whoever runs it on the
    server can read the configuration and the database anyway), logged as ``operator``."""
    if session.get_bind().dialect.name == "sqlite":
        access_log.lock_head(session, now)  # as the access gate does before a read
    gate = AccessGate(session, operator, EVERYTHING, purpose, now)
    return scoped_ledger(gate, corp_id, customer=customer, room=room)
