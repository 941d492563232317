"""A member's customers and customer groups as WeCom lists them, and opening a case on them.

Contract:
- ``fetch_inventory`` reads WeCom only (no database, no transaction held across awaits).
  ``take_inventory`` first reads what only the archive knows (successor candidates, whose
  load WeCom is then asked for; customers the member deleted, whose names WeCom still
  has) in a short transaction of its own, then fetches.
- ``open_case`` writes one case with its customers and groups, each with a dossier
  (``dossier.py``) and a suggested successor (``successor.py``), plus one ``handover.open``
  row in the access log, all in the caller's transaction. At most one OPEN or EXECUTING
  case per member: a second is refused with :class:`CaseAlreadyOpen`.
- Customers the member deleted in the ``DELETED_BEFORE_LEAVING_DAYS`` before leaving
  (``del_external_contact`` contact events not caused by a transfer) join the case with
  ``assigned=False, deleted_before_leaving=True``: nothing to transfer, everything to review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.directory import repository as directory
from archive.wecom.contacts import (
    TRANSFER_MESSAGE_MAX_CHARS,
    ExternalContact,
    GroupStatus,
    UnassignedCustomer,
    WeComContacts,
)
from archive.wecom.errors import WeComRejectedError
from audit.accesslog import log as access_log
from audit.errors import InvalidInput
from audit.events.models import ContactEvent
from audit.events.service import DEL_EXTERNAL_CONTACT, DELETE_BY_TRANSFER
from audit.handover.dossier import customer_dossier, group_dossier
from audit.handover.locks import lock_openings
from audit.handover.models import CaseKind, CaseStatus, HandoverCase, HandoverCustomer, HandoverGroup, ItemState
from audit.handover.reasons import Reason, encode
from audit.handover.successor import (
    Suggestion,
    busy_leavers,
    successor_candidates,
    suggest_for_customers,
    suggest_for_group,
)
from config.database import session_scope
from config.logs import get_logger

DELETED_BEFORE_LEAVING_DAYS: Final = 30
ACTIVE_STATUSES: Final = (CaseStatus.OPEN.value, CaseStatus.EXECUTING.value)
OPEN_ACTION: Final = "handover.open"
log = get_logger("audit.handover")


@dataclass(frozen=True)
class InventoryCustomer:
    external_userid: str
    name: str  # "" when WeCom no longer describes the customer
    corp_name: str
    type: int  # 1 WeChat user, 2 WeCom user
    follow_since: datetime | None  # the member's follow_user createtime: the relationship's start
    tags: tuple[str, ...]  # the member's tags on the customer
    remark: str
    followers: tuple[str, ...]  # other members following the customer


@dataclass(frozen=True)
class InventoryGroup:
    chat_id: str
    name: str
    owner: str
    created_at: datetime | None
    status: int  # GroupStatus: 0 normal, 1 owner resigned, 2 inheriting
    staff: tuple[str, ...]
    customers: tuple[str, ...]

    @property
    def member_count(self) -> int:
        return len(self.staff) + len(self.customers)


@dataclass(frozen=True)
class Inventory:
    """What WeCom says about one member's book, at one moment."""

    corp_id: str
    userid: str
    kind: CaseKind
    dimission_at: datetime | None  # resigned: WeCom's dimission_time
    listed_departed: bool  # the member appears in get_unassigned_list
    customers: tuple[InventoryCustomer, ...]
    groups: tuple[InventoryGroup, ...]
    # Every member get_unassigned_list names (resigned cases): never suggested as successors.
    departed: frozenset[str] = frozenset()
    # Customers each successor candidate follows today (externalcontact/list).
    loads: dict[str, int] = field(default_factory=dict)
    # WeCom's details of customers the member deleted (the archive knows only their ids).
    deleted: tuple[InventoryCustomer, ...] = ()


class CaseAlreadyOpen(InvalidInput):
    """The member already has an open or executing case."""

    code = "handover_case_open"

    def __init__(self, case_id: int, userid: str) -> None:
        super().__init__(
            f"member {userid} already has an open handover case ({case_id})",
            hint=f"continue case {case_id}, or cancel it before opening a new one",
        )
        self.case_id = case_id


async def fetch_inventory(
    contacts: WeComContacts,
    corp_id: str,
    userid: str,
    kind: CaseKind,
    *,
    candidates: Sequence[str] = (),
    deleted: Sequence[str] = (),
    unassigned: Sequence[UnassignedCustomer] | None = None,
) -> Inventory:
    """The member's customers (resigned: their unassigned ones; on-job: everyone they
    follow) with WeCom's details, and their customer groups. ``candidates``: members whose
    current customer count to fetch (successor load); ``deleted``: customers to describe
    although no longer the member's; ``unassigned``: a get_unassigned_list already read."""
    dimission_at: datetime | None = None
    departed: frozenset[str] = frozenset()
    listed = False
    if kind == CaseKind.RESIGNED:
        rows = list(unassigned) if unassigned is not None else await contacts.unassigned_customers()
        departed = frozenset(row.handover_userid for row in rows)
        mine = [row for row in rows if row.handover_userid == userid]
        listed = bool(mine)
        ids = list(dict.fromkeys(row.external_userid for row in mine))
        times = [row.dimission_time for row in mine if row.dimission_time is not None]
        dimission_at = min(times) if times else None
    else:
        ids = list(dict.fromkeys(await contacts.customer_ids(userid)))
    customers = [_customer(await contacts.customer(ext), userid) for ext in ids]
    described = [await _describe(contacts, ext, userid) for ext in dict.fromkeys(deleted) if ext not in ids]
    groups = []
    for summary in await contacts.group_chats(owner_userids=[userid]):
        if summary.status == GroupStatus.INHERITED:
            continue  # already someone else's
        chat = await contacts.group_chat(summary.chat_id)
        groups.append(
            InventoryGroup(
                chat_id=chat.chat_id,
                name=chat.name,
                owner=chat.owner,
                created_at=chat.create_time,
                status=int(summary.status),
                staff=tuple(m.userid for m in chat.members if m.type == 1),
                customers=tuple(m.userid for m in chat.members if m.type == 2),
            )
        )
    loads: dict[str, int] = {}
    for candidate in dict.fromkeys(candidates):
        if candidate == userid:
            continue
        try:
            loads[candidate] = len(await contacts.customer_ids(candidate))
        except WeComRejectedError:
            continue  # unknown to WeCom: the suggestion falls back to the archive's load
    return Inventory(
        corp_id=corp_id,
        userid=userid,
        kind=kind,
        dimission_at=dimission_at,
        listed_departed=listed,
        customers=tuple(customers),
        groups=tuple(groups),
        departed=departed,
        loads=loads,
        deleted=tuple(described),
    )


async def take_inventory(
    session_factory: sessionmaker[Session],
    contacts: WeComContacts,
    corp_id: str,
    userid: str,
    kind: CaseKind,
    *,
    unassigned: Sequence[UnassignedCustomer] | None = None,
) -> Inventory:
    """:func:`fetch_inventory` with the successor candidates and deleted customers the
    archive knows of (read in a short transaction before any WeCom call)."""
    with session_scope(session_factory) as session:
        candidates = successor_candidates(session, corp_id, userid).userids
        deleted = list(deletions_by(session, corp_id, userid))
    return await fetch_inventory(
        contacts, corp_id, userid, kind, candidates=candidates, deleted=deleted, unassigned=unassigned
    )


def active_case(session: Session, corp_id: str, userid: str) -> HandoverCase | None:
    return session.scalars(
        select(HandoverCase)
        .where(
            HandoverCase.corp_id == corp_id,
            HandoverCase.handover_userid == userid,
            HandoverCase.status.in_(ACTIVE_STATUSES),
        )
        .order_by(HandoverCase.id)
        .limit(1)
    ).first()


def deletions_by(
    session: Session, corp_id: str, userid: str, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, datetime]:
    """Customers the member deleted (not by a transfer) → when (the latest deletion)."""
    query = select(ContactEvent.external_user_id, ContactEvent.occurred_at, ContactEvent.source).where(
        ContactEvent.corp_id == corp_id,
        ContactEvent.user_id == userid,
        ContactEvent.change_type == DEL_EXTERNAL_CONTACT,
    )
    if since is not None:
        query = query.where(ContactEvent.occurred_at >= since)
    if until is not None:
        query = query.where(ContactEvent.occurred_at <= until)
    found: dict[str, datetime] = {}
    for external_userid, occurred_at, source in session.execute(query.order_by(ContactEvent.occurred_at)):
        if source != DELETE_BY_TRANSFER:
            found[external_userid] = occurred_at
    return found


def open_case(
    session: Session,
    inventory: Inventory,
    *,
    actor: str,
    source: str,
    now: datetime,
    transfer_message: str | None = None,
    actor_role: str = "",
    via: str = "",
    token_id: int | None = None,
) -> HandoverCase:
    """Open a case on ``inventory`` with dossiers and suggested successors (see the contract)."""
    corp_id, userid = inventory.corp_id, inventory.userid
    # The handover's opening lock serialises concurrent openers (a manager and discovery):
    # the second sees the first's case once it commits, and is refused.
    lock_openings(session, corp_id, now)
    _check_openable(session, inventory, transfer_message)
    member = directory.members(session, corp_id).get(userid)
    departments = sorted(directory.memberships(session, corp_id, [userid]).get(userid, set()))
    reference = inventory.dimission_at or now  # "before leaving" is measured from here
    case = HandoverCase(
        corp_id=corp_id,
        kind=inventory.kind.value,
        handover_userid=userid,
        handover_name=member.name if member is not None else userid,
        department_ids=departments,
        dimission_at=inventory.dimission_at,
        status=CaseStatus.OPEN.value,
        source=source,
        opened_by=actor,
        opened_at=now,
        inventoried_at=now,
        transfer_message=transfer_message,
    )
    session.add(case)
    session.flush()

    assigned = {c.external_userid for c in inventory.customers}
    window_start = reference - timedelta(days=DELETED_BEFORE_LEAVING_DAYS)
    deleted = {
        ext: at
        for ext, at in deletions_by(session, corp_id, userid, since=window_start, until=reference).items()
        if ext not in assigned
    }
    excluded = inventory.departed | busy_leavers(session, corp_id) | {userid}
    candidates = successor_candidates(session, corp_id, userid, exclude=excluded)
    suggestions = suggest_for_customers(
        session, corp_id, candidates, inventory.customers, loads=inventory.loads, reference=reference
    )
    described = {c.external_userid: c for c in inventory.deleted}
    rows = [(c, None) for c in inventory.customers] + [
        (described.get(ext) or _unknown(ext), at) for ext, at in sorted(deleted.items())
    ]
    for details, deleted_at in rows:
        dossier = customer_dossier(
            session, corp_id, userid, details, reference=reference, deleted_at=deleted_at, now=now
        )
        suggestion = suggestions.get(details.external_userid) if deleted_at is None else None
        session.add(
            HandoverCustomer(
                case_id=case.id,
                external_userid=details.external_userid,
                name=details.name[:128],
                assigned=deleted_at is None,
                deleted_before_leaving=deleted_at is not None,
                risk=dossier["risk"],
                dossier=dossier,
                suggested_successor=suggestion.userid if suggestion else None,
                suggestion_reason=_reason(suggestion, deleted_at),
                state=ItemState.PENDING.value,
            )
        )
    for group in inventory.groups:
        dossier = group_dossier(session, corp_id, group, reference=reference, now=now)
        suggestion = suggest_for_group(candidates, group, suggestions)
        session.add(
            HandoverGroup(
                case_id=case.id,
                chat_id=group.chat_id,
                name=group.name[:256],
                member_count=group.member_count,
                customer_count=len(group.customers),
                dossier=dossier,
                suggested_successor=suggestion.userid,
                state=ItemState.PENDING.value,
            )
        )
    session.flush()
    access_log.append(
        session,
        access_log.AccessRecord(
            actor=actor,
            actor_role=actor_role or ("system" if actor == "system" else ""),
            via=via or ("scheduler" if source == "unassigned" else "api"),
            action=OPEN_ACTION,
            target={
                "case_id": case.id,
                "corp_id": corp_id,
                "handover_userid": userid,
                "kind": inventory.kind.value,
                "customers": len(inventory.customers),
                "deleted_before_leaving": len(deleted),
                "groups": len(inventory.groups),
            },
            result_count=len(rows) + len(inventory.groups),
            token_id=token_id,
        ),
        now,
    )
    log.info(
        "audit.handover.case_opened",
        case_id=case.id,
        kind=inventory.kind.value,
        source=source,
        customers=len(inventory.customers),
        deleted_before_leaving=len(deleted),
        groups=len(inventory.groups),
    )
    return case


def _check_openable(session: Session, inventory: Inventory, transfer_message: str | None) -> None:
    existing = active_case(session, inventory.corp_id, inventory.userid)
    if existing is not None:
        raise CaseAlreadyOpen(existing.id, inventory.userid)
    owner_left = any(g.status in (GroupStatus.OWNER_RESIGNED, GroupStatus.INHERITING) for g in inventory.groups)
    if inventory.kind == CaseKind.RESIGNED and not inventory.listed_departed and not owner_left:
        raise InvalidInput(
            f"WeCom lists no unassigned customers or groups for member {inventory.userid}",
            hint="for a member who has not left, open an on-job case (kind onjob)",
        )
    if transfer_message is not None:
        if inventory.kind != CaseKind.ONJOB:
            raise InvalidInput(
                "a transfer message is only shown for on-job transfers",
                hint="leave the message out for a departed member",
            )
        if len(transfer_message) > TRANSFER_MESSAGE_MAX_CHARS:
            raise InvalidInput(f"the transfer message must be at most {TRANSFER_MESSAGE_MAX_CHARS} characters")


def _reason(suggestion: Suggestion | None, deleted_at: datetime | None) -> str | None:
    if deleted_at is not None:
        return encode([Reason("deleted_before_leaving")])
    return suggestion.reason[:256] if suggestion else None


def _customer(contact: ExternalContact, userid: str) -> InventoryCustomer:
    mine = next((f for f in contact.follow_users if f.userid == userid), None)
    return InventoryCustomer(
        external_userid=contact.external_userid,
        name=contact.name,
        corp_name=contact.corp_name,
        type=contact.type,
        follow_since=mine.createtime if mine else None,
        tags=tuple(dict.fromkeys(t.tag_name for t in mine.tags if t.tag_name)) if mine else (),
        remark=mine.remark if mine else "",
        followers=tuple(f.userid for f in contact.follow_users if f.userid != userid),
    )


async def _describe(contacts: WeComContacts, external_userid: str, userid: str) -> InventoryCustomer:
    try:
        return _customer(await contacts.customer(external_userid), userid)
    except WeComRejectedError:
        return _unknown(external_userid)  # WeCom forgot them: the case shows the id only


def _unknown(external_userid: str) -> InventoryCustomer:
    return InventoryCustomer(external_userid, "", "", 0, None, (), "", ())
