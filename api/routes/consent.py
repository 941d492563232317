"""The consent ledger over HTTP: whether and since when a customer agreed to archiving,
per member and per customer group, with the history of each (``archive.consent``).

Consent is content-adjacent (it says who talked with whom and when), so reads go through
the access gate like conversations: ``content:read``, a purpose, the caller's data scope
(a record is shown only when its archived conversation is in scope; company-wide scopes
also see pairs that never chatted) and one access-log row per read. Admins can run the
ledger's check now (``POST /api/v1/consent/check``), as ``wecom-audit consent check`` does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth.guards import context_of, requires
from api.routes.content import reader_of
from archive.clock import utcnow
from archive.consent.jobs import limits_from_settings, run_corp
from archive.consent.service import CheckReport, ConsentRecord, MessagePassReport
from audit.errors import InvalidInput
from audit.events import consent as consent_reads
from audit.security.roles import Permission

READ = [requires(Permission.CONTENT_READ)]
ADMIN = [requires(Permission.USERS_ADMIN)]
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
    target = consent_reads.consent_target(context_of(request).settings, corp, customer, room)
    corp_id = target["corp_id"]
    records = reader_of(request).through(
        consent_reads.ACTION,
        target,
        lambda gate: consent_reads.scoped_ledger(gate, corp_id, customer=customer, room=room),
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


class ConsentCheckRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    corp_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # the configured corp by default
    all: bool = False  # ask again about every pair and room


class ConsentCheckOut(msgspec.Struct, frozen=True):
    messages: MessagePassReport  # agree/disagree messages read from the archive
    checks: CheckReport  # what WeCom's check APIs answered


@post("/api/v1/consent/check", guards=ADMIN, status_code=200)
async def check_consent(
    request: Request[Any, Any, Any], data: JSONBody[ConsentCheckRequest | None] = None
) -> ConsentCheckOut:
    """Run the consent ledger's job now (as ``wecom-audit consent check``): new agree/disagree
    messages, then WeCom's check APIs for the pairs and rooms due (``all``: every one). Counts
    only; needs the 会话内容存档 secret."""
    settings = context_of(request).settings
    corp_id = data.corp_id if data else None
    if corp_id is not None and corp_id not in {c.corp_id for c in settings.corps()}:
        raise InvalidInput("unknown corp", hint="leave corp_id out for the configured corp")
    limits = limits_from_settings(settings.consent, everything=bool(data and data.all))
    messages, checks = await run_corp(context_of(request).session_factory, settings.corp(corp_id), utcnow(), limits)
    return ConsentCheckOut(messages, checks)
