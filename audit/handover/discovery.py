"""Discovering departed members: a case for each member WeCom lists with unassigned customers.

A member gets a new case when they have no open or executing case and some of their
unassigned customers were never part of one of their cases. So a case's refused or kept
customers (still unassigned in WeCom) do not open a case every run, while customers that
appear later (re-assigned to the leaver by an admin, say) do. Each case is opened in its
own transaction, after its WeCom reads: no transaction is held across an await.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.wecom.contacts import WeComContacts
from audit.handover.inventory import active_case, open_case, take_inventory
from audit.handover.locks import lock_openings
from audit.handover.models import CaseKind, CaseStatus, HandoverCase, HandoverCustomer
from config.database import session_scope
from config.logs import get_logger

DISCOVERY_ACTOR: Final = "system"
DISCOVERY_SOURCE: Final = "unassigned"
log = get_logger("audit.handover")


async def discover_cases(
    session_factory: sessionmaker[Session], contacts: WeComContacts, corp_id: str, now: datetime
) -> list[int]:
    """Open a case (source "unassigned", actor "system") for every departed member in
    get_unassigned_list that needs one; returns the new cases' ids."""
    unassigned = await contacts.unassigned_customers()
    waiting: dict[str, set[str]] = {}
    for row in unassigned:
        if row.handover_userid:
            waiting.setdefault(row.handover_userid, set()).add(row.external_userid)
    opened: list[int] = []
    for userid in sorted(waiting):
        with session_scope(session_factory) as session:
            if not _needs_case(session, corp_id, userid, waiting[userid]):
                continue
        inventory = await take_inventory(
            session_factory, contacts, corp_id, userid, CaseKind.RESIGNED, unassigned=unassigned
        )
        with session_scope(session_factory) as session:
            lock_openings(session, corp_id, now)  # before reading: see open_case
            if not _needs_case(session, corp_id, userid, waiting[userid]):
                continue  # another run opened it while WeCom was being read
            case = open_case(session, inventory, actor=DISCOVERY_ACTOR, source=DISCOVERY_SOURCE, now=now)
            opened.append(case.id)
    log.info("audit.handover.discovered", corp_id=corp_id, departed=len(waiting), opened=len(opened))
    return opened


def _needs_case(session: Session, corp_id: str, userid: str, waiting: set[str]) -> bool:
    if active_case(session, corp_id, userid) is not None:
        return False
    reviewed = set(
        session.scalars(
            select(HandoverCustomer.external_userid)
            .join(HandoverCase, HandoverCase.id == HandoverCustomer.case_id)
            .where(
                HandoverCase.corp_id == corp_id,
                HandoverCase.handover_userid == userid,
                HandoverCase.status != CaseStatus.CANCELLED.value,  # a cancelled case reviewed nothing
            )
        )
    )
    return bool(waiting - reviewed)
