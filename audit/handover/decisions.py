"""A manager's decisions on a handover case: transfer each customer or group to a
successor, hold it, or keep it where it is (ADR 0016).

Contract:
- Deciding changes only rows of one case and writes one ``handover.decide`` (or
  ``handover.accept_suggestions``) access-log record in the caller's transaction.
- An item whose transfer is under way or done (``sent``, ``completed``, or claimed by a
  running execution) is never re-decided: that would rewrite what WeCom is doing. An
  item whose transfer ended badly (refused, limited, failed) may be re-decided; it goes
  back to ``pending`` so the next execution sends it again, and the outcome it leaves
  behind is written to the log record.
- A customer the member deleted before leaving (``assigned=False``) has nothing WeCom
  could transfer: it is listed for the review but cannot be decided ``transfer``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.directory.models import DirectoryMember
from audit.accesslog import log as access_log
from audit.errors import Conflict, InvalidInput, NotFound
from audit.handover.locks import lock_case
from audit.handover.models import (
    CaseStatus,
    Decision,
    HandoverCase,
    HandoverCustomer,
    HandoverGroup,
    ItemState,
)
from audit.security.principal import Principal
from audit.security.roles import Permission

NOTE_MAX_CHARS: Final = 2000
# Ids written into one log record; beyond this the record says how many were left out.
LOGGED_IDS_MAX: Final = 200
DECIDABLE_CASE_STATES: Final = frozenset({CaseStatus.OPEN, CaseStatus.EXECUTING, CaseStatus.COMPLETED})
RETRYABLE_STATES: Final = frozenset({ItemState.REFUSED, ItemState.LIMITED, ItemState.FAILED})
SYSTEM_ACTOR: Final = "system"

Item = HandoverCustomer | HandoverGroup


def parse_decision(value: str) -> Decision:
    try:
        return Decision(value)
    except ValueError:
        raise InvalidInput(
            f"unknown decision {value!r}", hint=f"use one of: {', '.join(d.value for d in Decision)}"
        ) from None


def load_case(session: Session, case_id: int, *, for_update: bool = False) -> HandoverCase:
    """The case; ``for_update``: under the case's lock (``audit.handover.locks``), taken
    before it is read."""
    if for_update:
        lock_case(session, case_id)
    case = session.execute(select(HandoverCase).where(HandoverCase.id == case_id)).scalar_one_or_none()
    if case is None:
        raise NotFound(f"no handover case {case_id}", hint="`wecom-audit handover list` shows the cases")
    return case


def log_step(
    session: Session,
    actor: Principal | None,
    action: str,
    case_id: int,
    target: dict[str, Any],
    now: datetime,
    *,
    count: int = 0,
) -> None:
    """One access-log record of a case step; ``actor`` None is the scheduler."""
    target = {"case_id": case_id, **target}
    record = (
        access_log.record_of(actor, action, target, result_count=count)
        if actor
        else access_log.AccessRecord(SYSTEM_ACTOR, "", "system", action, target, result_count=count)
    )
    access_log.append(session, record, now)


def logged_ids(ids: Sequence[str]) -> dict[str, Any]:
    listed = sorted(ids)[:LOGGED_IDS_MAX]
    return {"ids": listed, **({"ids_left_out": len(ids) - len(listed)} if len(ids) > len(listed) else {})}


def check_successor(session: Session, case: HandoverCase, successor: str) -> None:
    """The successor must be an active member other than the one handing over.

    Checked against the synced directory; with no directory for the corp the check is
    left to WeCom (the transfer call answers 40003 for an unknown or departed member)."""
    if successor == case.handover_userid:
        raise InvalidInput(
            f"{successor!r} is the member handing over", hint="choose a different successor (another member)"
        )
    member = session.get(DirectoryMember, (case.corp_id, successor))
    if member is not None and member.is_active:
        return
    if member is not None:
        raise InvalidInput(f"{successor!r} has left the company", hint="choose an active member as successor")
    known = session.execute(
        select(func.count()).select_from(DirectoryMember).where(DirectoryMember.corp_id == case.corp_id)
    ).scalar_one()
    if known:
        raise InvalidInput(
            f"{successor!r} is not a member of corp {case.corp_id!r}",
            hint="use the member's WeCom userid (as in the address book)",
        )


def claimed(item: Item) -> bool:
    """Claimed by an execution (its successor recorded) but WeCom's answer not yet stored."""
    return item.state == ItemState.PENDING and item.sent_to is not None


def _locked(item: Item) -> bool:
    return item.state in (ItemState.SENT, ItemState.COMPLETED) or claimed(item)


def _select(rows: Sequence[Item], wanted: list[str] | None, key: str, what: str) -> list[Item]:
    by_id = {getattr(row, key): row for row in rows}
    if wanted is None:
        return [row for row in rows if row.decision is None and not _locked(row)]
    unknown = sorted(set(wanted) - by_id.keys())
    if unknown:
        raise NotFound(
            f"{len(unknown)} {what} not in this case: {', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}",
            hint="`wecom-audit handover show CASE_ID` lists the case's customers and groups",
        )
    chosen = [by_id[item_id] for item_id in dict.fromkeys(wanted)]
    busy = [getattr(row, key) for row in chosen if _locked(row)]
    if busy:
        raise Conflict(
            f"{len(busy)} {what} are being transferred or were transferred: {', '.join(busy[:5])}",
            hint="only items still pending, refused, limited or failed can be re-decided",
        )
    return chosen


def decide(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    customers: list[str] | None,
    groups: list[str] | None,
    decision: Decision,
    successor: str | None,
    note: str | None,
    now: datetime,
) -> int:
    """Decide customers (external_userids) and groups (chat_ids) of a case at once.

    ``None`` means every item of that kind without a decision yet (earlier decisions,
    holds included, are changed only by naming the items; customers deleted before
    leaving are left out of a bulk ``transfer``); ``[]`` means none. Returns how many
    items were decided."""
    actor.require(Permission.HANDOVER_MANAGE)
    case = load_case(session, case_id, for_update=True)
    _check_decidable(case)
    if decision == Decision.TRANSFER:
        if not successor:
            raise InvalidInput("a transfer needs a successor", hint="pass the successor's WeCom userid")
        check_successor(session, case, successor)
    elif successor:
        raise InvalidInput(f"a {decision.value!r} decision takes no successor", hint="leave the successor out")
    if note is not None and len(note) > NOTE_MAX_CHARS:
        raise InvalidInput(f"the note is longer than {NOTE_MAX_CHARS} characters", hint="shorten it")
    customer_rows = _customers(session, case_id)
    chosen_customers: list[HandoverCustomer] = [
        row
        for row in _select(customer_rows, customers, "external_userid", "customers")
        if isinstance(row, HandoverCustomer)
    ]
    if decision == Decision.TRANSFER:
        gone = [row.external_userid for row in chosen_customers if not row.assigned]
        if gone and customers is not None:
            raise InvalidInput(
                f"{len(gone)} customers were deleted before the member left and cannot be transferred: "
                f"{', '.join(gone[:5])}",
                hint="decide them 'keep' (they are listed in the report) or leave them out",
            )
        chosen_customers = [row for row in chosen_customers if row.assigned]
    chosen_groups = [
        row for row in _select(_groups(session, case_id), groups, "chat_id", "groups") if isinstance(row, HandoverGroup)
    ]
    if not chosen_customers and not chosen_groups:
        raise InvalidInput(
            "nothing to decide: no customer or group of this case matches",
            hint="name customers/groups of the case, or check that they are not already being transferred",
        )
    reset = _apply(chosen_customers, chosen_groups, actor, decision, successor, note, now)
    if case.status == CaseStatus.COMPLETED and decision == Decision.TRANSFER:
        # New transfers to send: the case is open again until they are final.
        case.status, case.completed_at = CaseStatus.OPEN, None
    log_step(
        session,
        actor,
        "handover.decide",
        case_id,
        {
            "decision": decision.value,
            "successor": successor,
            "customers": logged_ids([row.external_userid for row in chosen_customers]),
            "groups": logged_ids([row.chat_id for row in chosen_groups]),
            "reset": reset,
            "note": bool(note),
        },
        now,
        count=len(chosen_customers) + len(chosen_groups),
    )
    session.flush()
    return len(chosen_customers) + len(chosen_groups)


def accept_suggestions(session: Session, actor: Principal, case_id: int, now: datetime) -> int:
    """Decide every undecided customer and group 'transfer to the suggested successor'.

    Items without a suggestion, or whose suggested successor is no longer valid, stay
    undecided (named in the log record). Returns how many items were decided."""
    actor.require(Permission.HANDOVER_MANAGE)
    case = load_case(session, case_id, for_update=True)
    _check_decidable(case)
    valid: dict[str, bool] = {}

    def suggested_ok(userid: str | None) -> bool:
        if not userid:
            return False
        if userid not in valid:
            try:
                check_successor(session, case, userid)
                valid[userid] = True
            except InvalidInput:
                valid[userid] = False
        return valid[userid]

    decided = 0
    skipped: list[str] = []
    items: list[tuple[Item, str]] = [
        *((row, row.external_userid) for row in _customers(session, case_id) if row.assigned),
        *((row, row.chat_id) for row in _groups(session, case_id)),
    ]
    for item, item_id in items:
        if item.decision is not None or _locked(item):
            continue
        if not suggested_ok(item.suggested_successor):
            skipped.append(item_id)
            continue
        item.decision, item.successor_userid = Decision.TRANSFER.value, item.suggested_successor
        item.decided_by, item.decided_at = actor.username, now
        decided += 1
    if decided and case.status == CaseStatus.COMPLETED:
        case.status, case.completed_at = CaseStatus.OPEN, None
    log_step(
        session,
        actor,
        "handover.accept_suggestions",
        case_id,
        {"decided": decided, "without_valid_suggestion": logged_ids(skipped)},
        now,
        count=decided,
    )
    session.flush()
    return decided


def _check_decidable(case: HandoverCase) -> None:
    if case.status not in DECIDABLE_CASE_STATES:
        raise Conflict(
            f"case {case.id} is {case.status.replace('_', ' ')}: its decisions are final",
            hint="open a new case for the member if something must still move",
        )


def _apply(
    customers: Iterable[HandoverCustomer],
    groups: Iterable[HandoverGroup],
    actor: Principal,
    decision: Decision,
    successor: str | None,
    note: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Set the decision; returns the earlier outcomes of re-decided failed items."""
    reset: list[dict[str, Any]] = []
    pairs: list[tuple[Item, str]] = [*((c, c.external_userid) for c in customers), *((g, g.chat_id) for g in groups)]
    for item, item_id in pairs:
        if item.state in RETRYABLE_STATES:
            reset.append({"id": item_id, "state": item.state, "errcode": item.errcode, "sent_to": item.sent_to})
            item.state, item.errcode, item.final_at, item.sent_to = ItemState.PENDING.value, None, None, None
            if isinstance(item, HandoverCustomer):
                item.sent_at = None
        item.decision, item.successor_userid = decision.value, successor
        item.decided_by, item.decided_at = actor.username, now
        if isinstance(item, HandoverCustomer):
            item.decision_note = note
    return reset


def _customers(session: Session, case_id: int) -> list[HandoverCustomer]:
    return list(
        session.execute(
            select(HandoverCustomer).where(HandoverCustomer.case_id == case_id).order_by(HandoverCustomer.id)
        ).scalars()
    )


def _groups(session: Session, case_id: int) -> list[HandoverGroup]:
    return list(
        session.execute(select(HandoverGroup).where(HandoverGroup.case_id == case_id).order_by(HandoverGroup.id))
        .scalars()
        .all()
    )
