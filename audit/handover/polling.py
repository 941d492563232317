"""Polling a handover case's transfers until every one is final (ADR 0015, 0016).

Contract:
- :func:`poll` reads WeCom's transfer results per (member, successor) outside any
  transaction, then stores them in one: final states (completed, refused, limited),
  WeCom's takeover time, and the inheritance of what completed
  (``audit.handover.inheritance``). A claim of an interrupted execution is confirmed when
  WeCom shows the transfer waiting, and released when it is older than ``CLAIM_STALE``
  with no sign of it. When nothing is in flight the case is ``completed`` (or ``open``
  again if decided transfers still wait to be sent).
- Polling is idempotent and safe at any time; a ``handover.poll`` access-log record is
  written only when something changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.wecom.contacts import TransferResult, TransferStatus, WeComContacts
from archive.wecom.errors import WeComApiError
from audit.handover.decisions import claimed, load_case, log_step
from audit.handover.execution import CLAIM_STALE, case_customers, case_groups, in_flight, settle
from audit.handover.inheritance import inherit
from audit.handover.models import CaseKind, CaseStatus, HandoverCase, ItemState
from audit.security.principal import Principal
from audit.security.roles import Permission
from config.database import session_scope
from config.logs import get_logger

log = get_logger("audit.handover")


@dataclass
class PollSummary:
    case_id: int
    completed: int = 0
    refused: int = 0
    limited: int = 0
    waiting: int = 0
    released: int = 0
    inherited_conversations: int = 0
    case_status: str = ""
    follow_up: list[str] = field(default_factory=list)  # external_userids refused or limited


async def poll(
    session_factory: sessionmaker[Session],
    contacts: WeComContacts,
    case_id: int,
    now: datetime,
    *,
    actor: Principal | None = None,
) -> PollSummary:
    """Read WeCom's results of the case's transfers in flight and store the final ones
    (``actor`` None: the scheduler). Safe to call any time, as often as wanted."""
    with session_scope(session_factory) as session:
        if actor is not None:
            actor.require(Permission.HANDOVER_READ)
        case = load_case(session, case_id)
        summary = PollSummary(case_id, case_status=case.status)
        if case.status != CaseStatus.EXECUTING:
            return summary
        kind, handover_userid = CaseKind(case.kind), case.handover_userid
        successors = sorted({c.sent_to for c in case_customers(session, case_id) if c.sent_to and in_flight(c)})
        claimed_groups = {g.chat_id: g.sent_to for g in case_groups(session, case_id) if claimed(g) and g.sent_to}
    results: dict[tuple[str, str], TransferResult] = {}
    for successor in successors:
        if kind == CaseKind.RESIGNED:
            found = await contacts.resigned_transfer_results(handover_userid, successor)
        else:
            found = await contacts.transfer_results(handover_userid, successor)
        results.update({(successor, result.external_userid): result for result in found})
    owners = {chat_id: (await contacts.group_chat(chat_id)).owner for chat_id in claimed_groups}
    with session_scope(session_factory) as session:
        case = load_case(session, case_id, for_update=True)
        _apply_results(session, case, results, owners, summary, actor, now)
        summary.case_status = settle(session, case, actor, now)
    return summary


async def poll_executing(
    session_factory: sessionmaker[Session], contacts: WeComContacts, corp_id: str, now: datetime
) -> list[PollSummary]:
    """Poll every executing case of a corp (the ``handover:poll`` job). A case whose poll
    fails is logged and counted; the others are still polled."""
    with session_scope(session_factory) as session:
        case_ids = list(
            session.execute(
                select(HandoverCase.id)
                .where(HandoverCase.corp_id == corp_id, HandoverCase.status == CaseStatus.EXECUTING)
                .order_by(HandoverCase.id)
            ).scalars()
        )
    summaries: list[PollSummary] = []
    failed = 0
    for case_id in case_ids:
        try:
            summaries.append(await poll(session_factory, contacts, case_id, now))
        except WeComApiError as error:
            failed += 1
            log.error("handover.poll.failed", case_id=case_id, error_code=error.code, errcode=error.errcode)
    log.info(
        "handover.poll.completed",
        corp_id=corp_id,
        cases=len(case_ids),
        failed=failed,
        completed_cases=sum(1 for s in summaries if s.case_status == CaseStatus.COMPLETED),
    )
    return summaries


def _apply_results(
    session: Session,
    case: HandoverCase,
    results: dict[tuple[str, str], TransferResult],
    owners: dict[str, str],
    summary: PollSummary,
    actor: Principal | None,
    now: datetime,
) -> None:
    completed: dict[str, list[str]] = {}
    for customer in case_customers(session, case.id):
        if not in_flight(customer) or customer.sent_to is None:
            continue
        result = results.get((customer.sent_to, customer.external_userid))
        was_claimed = claimed(customer)
        if was_claimed and (result is None or result.status != TransferStatus.WAITING):
            # No sign of this transfer yet (a final status may be an earlier transfer's).
            if customer.sent_at is not None and customer.sent_at + CLAIM_STALE <= now:
                customer.sent_to, customer.sent_at = None, None
                summary.released += 1
            continue
        status = result.status if result else TransferStatus.WAITING
        if status == TransferStatus.COMPLETED:
            customer.state, customer.takeover_at = ItemState.COMPLETED.value, result.takeover_time if result else None
            completed.setdefault(customer.sent_to, []).append(customer.external_userid)
            summary.completed += 1
        elif status == TransferStatus.REFUSED:
            customer.state = ItemState.REFUSED.value
            summary.refused += 1
            summary.follow_up.append(customer.external_userid)
        elif status == TransferStatus.LIMIT_REACHED:
            customer.state = ItemState.LIMITED.value
            summary.limited += 1
            summary.follow_up.append(customer.external_userid)
        else:  # waiting, or a status this code does not know (not final)
            customer.state = ItemState.SENT.value
            summary.waiting += 1
            continue
        customer.final_at = now
    groups_done: dict[str, list[str]] = {}
    for group in case_groups(session, case.id):
        if not claimed(group) or group.sent_to is None or group.chat_id not in owners:
            continue
        if owners[group.chat_id] == group.sent_to:
            group.state, group.final_at = ItemState.COMPLETED.value, now
            groups_done.setdefault(group.sent_to, []).append(group.chat_id)
            summary.completed += 1
        elif case.executed_at is not None and case.executed_at + CLAIM_STALE <= now:
            group.sent_to = None
            summary.released += 1
    changed = summary.completed + summary.refused + summary.limited + summary.released
    if changed:
        log_step(
            session,
            actor,
            "handover.poll",
            case.id,
            {
                "completed": summary.completed,
                "refused": summary.refused,
                "limited": summary.limited,
                "released": summary.released,
                "waiting": summary.waiting,
                "follow_up": sorted(summary.follow_up),
            },
            now,
            count=changed,
        )
    for successor in sorted({*completed, *groups_done}):
        summary.inherited_conversations += inherit(
            session,
            case,
            successor,
            customers=completed.get(successor, []),
            groups=groups_done.get(successor, []),
            actor=actor,
            now=now,
        )
    session.flush()
