"""The consent ledger over HTTP: whether and since when a customer agreed to archiving,
per member and per customer group, with the history of each (``archive.consent``).

Consent is content-adjacent (it says who talked with whom and when), so reads go through
the access gate like conversations: ``content:read``, a purpose, the caller's data scope
(a record is shown only when its archived conversation is in scope; company-wide scopes
also see pairs that never chatted) and one access-log row per read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import PathParameter, QueryParameter

from api.auth.guards import context_of, requires
from api.routes.content import through_gate
from archive.consent import service
from archive.consent.service import ConsentRecord
from audit.access.gate import AccessGate
from audit.errors import InvalidInput
from audit.security.roles import Permission

READ = [requires(Permission.CONTENT_READ)]
WeComId = Annotated[str | None, QueryParameter(min_length=1, max_length=128)]
ExternalUserId = Annotated[str, PathParameter(min_length=1, max_length=128)]


class ConsentEventOut(msgspec.Struct, frozen=True):
    changed_at: datetime
    status: str  # WeCom's word as sent: Agree | Disagree | Default_Agree | …
    state: str  # agreed | disagreed | unknown
    source: str  # check_api | callback | message
    msgid: str | None


class ConsentRecordOut(msgspec.Struct, frozen=True):
    scope: str  # single | room
    member: str | None  # the member of a single chat
    roomid: str | None  # the customer group
    external_userid: str
    status: str
    state: str
    since: datetime
    source: str
    history: list[ConsentEventOut]


class ConsentOut(msgspec.Struct, frozen=True):
    corp_id: str
    customer: str | None
    room: str | None
    records: list[ConsentRecordOut]


def scoped_ledger(gate: AccessGate, corp_id: str, *, customer: str | None, room: str | None) -> list[ConsentRecord]:
    """The consent records of a customer or a room that this caller may see, logged."""
    everything = gate.scope.everything and not gate.scope.excluded_people
    records = service.ledger(
        gate.session, corp_id, external_userid=customer, party=room, visible=None if everything else gate.visible()
    )
    target = {"corp_id": corp_id, "customer": customer, "room": room}
    gate.record("content.consent", target, len(records))
    return records


def record_out(record: ConsentRecord) -> ConsentRecordOut:
    return ConsentRecordOut(
        scope=record.scope,
        member=record.party if record.scope == "single" else None,
        roomid=record.party if record.scope == "room" else None,
        external_userid=record.external_userid,
        status=record.status,
        state=record.state.value,
        since=record.since,
        source=record.source,
        history=[
            ConsentEventOut(entry.changed_at, entry.status, entry.state.value, entry.source, entry.msgid)
            for entry in record.history
        ],
    )


def _read(request: Request[Any, Any, Any], corp: str | None, customer: str | None, room: str | None) -> ConsentOut:
    if (customer is None) == (room is None):
        raise InvalidInput("name one customer or one room", hint="?customer=<external_userid> or ?room=<roomid>")
    if any(not value.isprintable() or value != value.strip() for value in (customer, room, corp) if value is not None):
        # WeCom ids are printable ASCII; PostgreSQL refuses NUL in text (a 500 otherwise).
        raise InvalidInput("ids are printable text without surrounding spaces", hint="copy the id from WeCom")
    settings = context_of(request).settings
    if corp is not None and corp not in {c.corp_id for c in settings.corps()}:
        raise InvalidInput("unknown corp", hint="leave corp out for the configured corp")
    corp_id = settings.corp(corp).corp_id
    target = {"corp_id": corp_id, "customer": customer, "room": room}
    records = through_gate(
        request, "content.consent", target, lambda gate: scoped_ledger(gate, corp_id, customer=customer, room=room)
    )
    return ConsentOut(corp_id, customer, room, [record_out(r) for r in records])


@get("/api/v1/consent", guards=READ, sync_to_thread=True)
def consent(
    request: Request[Any, Any, Any], customer: WeComId = None, room: WeComId = None, corp: WeComId = None
) -> ConsentOut:
    """Consent of one customer (every member and group) or of one group's customers.
    Needs a purpose (X-Access-Purpose)."""
    return _read(request, corp, customer, room)


@get("/api/v1/consent/{external_userid:str}", guards=READ, sync_to_thread=True)
def customer_consent(
    request: Request[Any, Any, Any], external_userid: ExternalUserId, corp: WeComId = None
) -> ConsentOut:
    """Consent of one customer, per member and per group, with history."""
    return _read(request, corp, external_userid, None)
