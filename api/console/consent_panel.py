"""The consent panel (同意会话存档) of the conversation view and the handover dossier: is
the customer's consent 已同意/未同意/未知, since when, and its history (``archive.consent``).

The conversation view's records come with the conversation read (``audit.access.content``:
same scope, and the conversation read is logged). The dossier reads a customer's records
through the gate, scope-filtered and logged like ``GET /api/v1/consent``. Template: ``_consent.html``.
"""

from __future__ import annotations

from typing import Any

from api.console import i18n
from api.console.people import people_of
from api.routes.content import reader_of
from api.unit_of_work import Db
from archive.consent.service import ConsentRecord
from archive.directory.names import Names
from audit.events import consent as consent_reads

MESSAGES = {
    "consent.title": ("存档同意情况", "Consent to archiving"),
    "consent.state.agreed": ("已同意", "Agreed"),
    "consent.state.disagreed": ("未同意", "Not agreed"),
    "consent.state.unknown": ("未知", "Unknown"),
    "consent.since": ("自 {time}", "since {time}"),
    "consent.with_member": ("与成员 {who}", "with member {who}"),
    "consent.in_room": ("在群 {who}", "in group {who}"),
    "consent.history": ("变更记录（{count} 条）", "History ({count})"),
    "consent.source.check_api": ("企业微信接口", "WeCom check API"),
    "consent.source.callback": ("企业微信回调", "WeCom callback"),
    "consent.source.message": ("同意/拒绝消息", "agree/disagree message"),
    "consent.none": (
        "尚无此客户的同意记录（未知）。客户未同意前，企业微信不会存档与其的会话。",
        "No consent recorded for this customer yet (unknown). WeCom archives no chat with a customer "
        "before they agree.",
    ),
    "consent.not_archived": (
        "客户未同意存档期间的聊天不会被企业微信存档，这不是数据丢失。",
        "Chats while the customer had not agreed are not archived by WeCom; that is not data loss.",
    ),
}
i18n.merge(MESSAGES)  # a panel, not a page: it registers its texts itself


def for_customer(request: Any, corp_id: str, external_userid: str) -> list[ConsentRecord]:
    """A customer's consent records in the caller's scope, through the gate (logged)."""
    target = {"corp_id": corp_id, "customer": external_userid, "room": None}
    return reader_of(request).through(
        consent_reads.ACTION,
        target,
        lambda gate: consent_reads.scoped_ledger(gate, corp_id, customer=external_userid, room=None),
    )


def names_of(db: Db, records: list[ConsentRecord]) -> Names:
    """The members and groups the records name (the panel shows them by name)."""
    return people_of(db, {record.party for record in records})
