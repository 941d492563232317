"""Executing a handover case: the decided transfers sent to WeCom, then polled until
every one is final (ADR 0015, 0016).

Contract:
- WeCom calls never run inside a database transaction. :func:`execute` first *claims*
  the items it will send (their successor is written to ``sent_to`` while they are still
  ``pending``) in one short transaction under the case's row lock, so a second execution
  finds nothing to send. Then each call of at most 100 ids (one successor, one kind) is
  made and its answers are stored in a transaction of their own: a failure part way loses
  nothing that WeCom already answered.
- Per-item answers set the item's state (``sent``; ``failed`` with WeCom's errcode;
  ``limited`` for 40099; groups are ``completed`` at once, as the group APIs report
  failures only). A call-level ``WeComRejectedError`` fails the items of that call. Any
  other WeCom error stops the execution: calls not yet made are released (sent again by
  the next execution); the claims of the interrupted call stay until polling finds
  the transfers in WeCom's results or the claim is older than ``CLAIM_STALE``.
- ``audit.handover.polling`` reads WeCom's results until every transfer is final; the
  helpers at the end of this module (what is in flight, settling the case) are shared.
- Every step is an access-log record with the case id: ``handover.execute``,
  ``handover.transfer`` (one per call), ``handover.poll`` (when something changed),
  ``handover.grant``, ``handover.complete``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.wecom.contacts import (
    TRANSFER_BATCH_LIMIT,
    TRANSFER_MESSAGE_MAX_CHARS,
    TransferAnswer,
    WeComContacts,
)
from archive.wecom.errors import WeComApiError, WeComConfigurationError, WeComRejectedError
from audit.errors import Conflict, InvalidInput
from audit.handover.decisions import claimed, load_case, log_step
from audit.handover.inheritance import inherit
from audit.handover.models import (
    FINAL_STATES,
    CaseKind,
    CaseStatus,
    Decision,
    HandoverCase,
    HandoverCustomer,
    HandoverGroup,
    ItemState,
)
from audit.security.principal import Principal
from audit.security.roles import Permission
from config.database import session_scope
from config.logs import get_logger

log = get_logger("audit.handover")

# A claim without WeCom's answer (an interrupted call) is released after this long if
# WeCom's results do not show the transfer: the next execution sends it again.
CLAIM_STALE: Final = timedelta(minutes=15)
EXECUTABLE_CASE_STATES: Final = frozenset({CaseStatus.OPEN, CaseStatus.EXECUTING, CaseStatus.COMPLETED})
# Per-customer answers that mean the successor is full (final: choose another successor).
LIMIT_ERRCODES: Final = frozenset({40099})
# Per-group answers that mean the group already belongs to the new owner.
ALREADY_OWNER_ERRCODES: Final = frozenset({90504})

Progress = Callable[[int, int], None]  # (items answered so far, items to send)


@dataclass(frozen=True)
class ExecutionSummary:
    case_id: int
    customers_sent: int
    customers_failed: int
    groups_completed: int
    groups_failed: int
    calls: int
    case_status: str


@dataclass(frozen=True)
class _Call:
    what: str  # "customers" | "groups"
    successor: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class _Plan:
    kind: CaseKind
    handover_userid: str
    transfer_message: str | None
    calls: tuple[_Call, ...]


# --- execute ---------------------------------------------------------------------------------


async def execute(
    session_factory: sessionmaker[Session],
    contacts: WeComContacts,
    case_id: int,
    actor: Principal,
    now: datetime,
    *,
    progress: Progress | None = None,
) -> ExecutionSummary:
    """Send every decided, unsent transfer of the case (see the module contract)."""
    with session_scope(session_factory) as session:
        plan = _claim(session, case_id, actor, now)
    total = sum(len(call.ids) for call in plan.calls)
    done = 0
    counts = {"customers_sent": 0, "customers_failed": 0, "groups_completed": 0, "groups_failed": 0}
    for index, call in enumerate(plan.calls):
        try:
            answers = await _send(contacts, plan, call)
        except WeComRejectedError as error:
            answers = [TransferAnswer(item_id, error.errcode or -1, str(error)) for item_id in call.ids]
        except WeComApiError as error:
            interrupted = (
                plan.calls[index + 1 :] if not isinstance(error, WeComConfigurationError) else plan.calls[index:]
            )
            with session_scope(session_factory) as session:
                _release(session, case_id, interrupted, actor, error, now)
            raise
        with session_scope(session_factory) as session:
            for key, value in _record(session, case_id, call, answers, actor, now).items():
                counts[key] += value
        done += len(call.ids)
        if progress is not None:
            progress(done, total)
    with session_scope(session_factory) as session:
        status = settle(session, load_case(session, case_id, for_update=True), actor, now)
    return ExecutionSummary(case_id, calls=len(plan.calls), case_status=status, **counts)


def _claim(session: Session, case_id: int, actor: Principal, now: datetime) -> _Plan:
    actor.require(Permission.HANDOVER_MANAGE)
    case = load_case(session, case_id, for_update=True)
    if case.status not in EXECUTABLE_CASE_STATES:
        raise Conflict(f"case {case_id} is {case.status.replace('_', ' ')}", hint="nothing can be sent any more")
    if (
        case.kind == CaseKind.ONJOB
        and case.transfer_message
        and len(case.transfer_message) > TRANSFER_MESSAGE_MAX_CHARS
    ):
        raise InvalidInput(
            f"the handover message is longer than {TRANSFER_MESSAGE_MAX_CHARS} characters (WeCom's limit)",
            hint="open the case again with a shorter message",
        )
    customers = case_customers(session, case_id)
    groups = case_groups(session, case_id)
    to_send_customers = [c for c in customers if to_send(c) and c.assigned]
    to_send_groups = [g for g in groups if to_send(g)]
    if not to_send_customers and not to_send_groups:
        _check_something_to_send(case, customers, groups)
    by_successor: dict[tuple[str, str], list[str]] = {}
    for customer in to_send_customers:
        assert customer.successor_userid is not None
        customer.sent_to, customer.sent_at = customer.successor_userid, now
        by_successor.setdefault(("customers", customer.successor_userid), []).append(customer.external_userid)
    for group in to_send_groups:
        assert group.successor_userid is not None
        group.sent_to = group.successor_userid
        by_successor.setdefault(("groups", group.successor_userid), []).append(group.chat_id)
    calls = tuple(
        _Call(what, successor, tuple(ids[start : start + TRANSFER_BATCH_LIMIT]))
        for (what, successor), ids in sorted(by_successor.items())
        for start in range(0, len(ids), TRANSFER_BATCH_LIMIT)
    )
    case.status, case.completed_at = CaseStatus.EXECUTING.value, None
    case.executed_by, case.executed_at = actor.username, now
    log_step(
        session,
        actor,
        "handover.execute",
        case_id,
        {
            "kind": case.kind,
            "customers": len(to_send_customers),
            "groups": len(to_send_groups),
            "successors": sorted({successor for _, successor in by_successor}),
            "calls": len(calls),
            "transfer_message": case.kind == CaseKind.ONJOB and bool(case.transfer_message),
        },
        now,
        count=len(to_send_customers) + len(to_send_groups),
    )
    session.flush()
    return _Plan(CaseKind(case.kind), case.handover_userid, case.transfer_message, calls)


def to_send(item: HandoverCustomer | HandoverGroup) -> bool:
    return item.decision == Decision.TRANSFER and item.state == ItemState.PENDING and item.sent_to is None


def _check_something_to_send(
    case: HandoverCase, customers: Sequence[HandoverCustomer], groups: Sequence[HandoverGroup]
) -> None:
    """Raise with what to do next when there is nothing to send. Returns when every item
    is decided and final (or kept): the execution then just completes the case."""
    items: list[HandoverCustomer | HandoverGroup] = [*customers, *groups]
    waiting = [item for item in items if in_flight(item)]
    if waiting:
        raise Conflict(
            f"case {case.id} has nothing new to send; {len(waiting)} transfers are waiting for WeCom",
            hint=f"`wecom-audit handover poll {case.id}` reads their results",
        )
    undecided = [
        item
        for item in items
        if item.decision in (None, Decision.HOLD) and not (isinstance(item, HandoverCustomer) and not item.assigned)
    ]
    if undecided:
        raise InvalidInput(
            f"case {case.id} has no customer or group decided 'transfer' that is still to be sent "
            f"({len(undecided)} undecided or on hold)",
            hint=f"decide first: `wecom-audit handover decide {case.id} --successor USERID` (or --accept-suggestions)",
        )
    if case.status == CaseStatus.COMPLETED:
        raise Conflict(
            f"case {case.id} is already completed: every item is decided and final",
            hint=f"review the report and sign the case off (`wecom-audit handover show {case.id}`)",
        )


async def _send(contacts: WeComContacts, plan: _Plan, call: _Call) -> list[TransferAnswer]:
    ids = list(call.ids)
    if call.what == "groups":
        if plan.kind == CaseKind.RESIGNED:
            return await contacts.transfer_resigned_groups(ids, call.successor)
        return await contacts.transfer_groups(ids, call.successor)
    if plan.kind == CaseKind.RESIGNED:
        return await contacts.transfer_resigned_customers(plan.handover_userid, call.successor, ids)
    # On-job: WeCom shows the customer this message (its default text when None).
    return await contacts.transfer_customers(
        plan.handover_userid, call.successor, ids, transfer_success_msg=plan.transfer_message
    )


def _record(
    session: Session, case_id: int, call: _Call, answers: Sequence[TransferAnswer], actor: Principal, now: datetime
) -> dict[str, int]:
    case = load_case(session, case_id, for_update=True)
    answer_of = {answer.item_id: answer for answer in answers}
    counts = {"customers_sent": 0, "customers_failed": 0, "groups_completed": 0, "groups_failed": 0}
    failed: dict[str, int] = {}
    completed_groups: list[str] = []
    items: Sequence[HandoverCustomer | HandoverGroup]
    items = (
        case_customers(session, case_id, call.ids)
        if call.what == "customers"
        else case_groups(session, case_id, call.ids)
    )
    for item in items:
        item_id = item.external_userid if isinstance(item, HandoverCustomer) else item.chat_id
        if not claimed(item) or item.sent_to != call.successor:
            continue  # changed since the claim (cannot happen under the claim; defensive)
        answer = answer_of.get(item_id, TransferAnswer(item_id, -1, "not in WeCom's answer"))
        if isinstance(item, HandoverCustomer):
            if answer.accepted:
                item.state = ItemState.SENT.value
                counts["customers_sent"] += 1
                continue
            item.state = (ItemState.LIMITED if answer.errcode in LIMIT_ERRCODES else ItemState.FAILED).value
            counts["customers_failed"] += 1
        else:
            if answer.accepted or answer.errcode in ALREADY_OWNER_ERRCODES:
                # UNCERTAIN (spec §8.4): the group APIs list failures only; a group not listed
                # is taken as transferred (groupchat/list shows it inherited afterwards).
                item.state, item.final_at = ItemState.COMPLETED.value, now
                completed_groups.append(item_id)
                counts["groups_completed"] += 1
                continue
            item.state = ItemState.FAILED.value
            counts["groups_failed"] += 1
        item.errcode, item.final_at = answer.errcode, now
        failed[item_id] = answer.errcode
    log_step(
        session,
        actor,
        "handover.transfer",
        case_id,
        {
            "what": call.what,
            "successor": call.successor,
            "sent": len(call.ids) - len(failed),
            "failed": [{"id": item_id, "errcode": errcode} for item_id, errcode in sorted(failed.items())],
            # Failures WeCom reported for groups we did not send: kept, never dropped (the
            # groups of the call were re-checked one by one, see WeComContacts).
            "unmatched": [
                {"id": answer.item_id, "errcode": answer.errcode, "errmsg": answer.errmsg[:200]}
                for answer in answers
                if answer.item_id not in set(call.ids)
            ],
        },
        now,
        count=len(call.ids),
    )
    if completed_groups:
        inherit(session, case, call.successor, customers=(), groups=completed_groups, actor=actor, now=now)
    session.flush()
    return counts


def _release(
    session: Session, case_id: int, calls: Sequence[_Call], actor: Principal, error: WeComApiError, now: datetime
) -> None:
    """Un-claim the items of calls that were not made (the next execution sends them)."""
    released = 0
    for call in calls:
        items: Sequence[HandoverCustomer | HandoverGroup]
        if call.what == "customers":
            items = case_customers(session, case_id, call.ids)
        else:
            items = case_groups(session, case_id, call.ids)
        for item in items:
            if claimed(item):
                item.sent_to = None
                if isinstance(item, HandoverCustomer):
                    item.sent_at = None
                released += 1
    log_step(
        session,
        actor,
        "handover.execute.interrupted",
        case_id,
        {"error_code": error.code, "errcode": error.errcode, "released": released},
        now,
        count=released,
    )
    log.warning("handover.execute.interrupted", case_id=case_id, error_code=error.code, released=released)


# --- shared with polling ------------------------------------------------------------------


def in_flight(item: HandoverCustomer | HandoverGroup) -> bool:
    return item.state == ItemState.SENT or claimed(item)


def settle(session: Session, case: HandoverCase, actor: Principal | None, now: datetime) -> str:
    """Complete the case when nothing is in flight; open it again if decided transfers
    still wait to be sent. Returns the case's status."""
    if case.status != CaseStatus.EXECUTING:
        return case.status
    customers, groups = case_customers(session, case.id), case_groups(session, case.id)
    items: list[HandoverCustomer | HandoverGroup] = [*customers, *groups]
    if any(in_flight(item) for item in items):
        return case.status
    if any(to_send(item) and not (isinstance(item, HandoverCustomer) and not item.assigned) for item in items):
        case.status = CaseStatus.OPEN.value  # decided after the execution: to be sent by the next one
        return case.status
    case.status, case.completed_at = CaseStatus.COMPLETED.value, now
    outcomes: dict[str, int] = {}
    for item in items:
        if item.state in FINAL_STATES:
            outcomes[item.state] = outcomes.get(item.state, 0) + 1
    log_step(session, actor, "handover.complete", case.id, {"outcomes": outcomes}, now, count=len(items))
    session.flush()
    return case.status


def case_customers(session: Session, case_id: int, ids: Sequence[str] | None = None) -> list[HandoverCustomer]:
    statement = select(HandoverCustomer).where(HandoverCustomer.case_id == case_id)
    if ids is not None:
        statement = statement.where(HandoverCustomer.external_userid.in_(list(ids)))
    return list(session.execute(statement.order_by(HandoverCustomer.id)).scalars())


def case_groups(session: Session, case_id: int, ids: Sequence[str] | None = None) -> list[HandoverGroup]:
    statement = select(HandoverGroup).where(HandoverGroup.case_id == case_id)
    if ids is not None:
        statement = statement.where(HandoverGroup.chat_id.in_(list(ids)))
    return list(session.execute(statement.order_by(HandoverGroup.id)).scalars())
