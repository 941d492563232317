"""Suggested successors: who should take over each of a leaver's customers and groups.

Rules, in order:
1. Candidates are active members of the leaver's own department(s) (directory), never
   the leaver, never a member WeCom lists as departed or who has an open resigned case.
   If nobody is left there, the parent department's members (said in the reason).
2. A candidate who already knows the customer is preferred: an archived single chat with
   them, or following them in WeCom already.
3. Among the remaining choice, the lowest load: customers followed today (WeCom's
   externalcontact/list, when the inventory has it for every candidate), else customers
   chatted with in the archive in the last ``ARCHIVE_LOAD_DAYS``. Every suggestion adds
   one to the suggested member's load, so a book is spread rather than dumped on one person.
Each suggestion says why as reason codes (``audit.handover.reasons``), not as words.
A group goes to whoever is suggested for most of its customers, else the lowest load.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from archive.directory import repository as directory
from archive.models import Conversation
from audit.handover.models import CaseKind, CaseStatus, HandoverCase
from audit.handover.reasons import Reason, encode

if TYPE_CHECKING:
    from audit.handover.inventory import InventoryCustomer, InventoryGroup

ARCHIVE_LOAD_DAYS: Final = 90
_KEY_CHUNK: Final = 500


@dataclass(frozen=True)
class Candidates:
    userids: tuple[str, ...]
    department_ids: tuple[int, ...]  # where they were found
    widened: bool  # nobody was left in the leaver's own department: its parent's members
    names: Mapping[str, str]


@dataclass(frozen=True)
class Suggestion:
    userid: str | None
    reason: str  # coded (``audit.handover.reasons``): words in the reader's language


def busy_leavers(session: Session, corp_id: str) -> set[str]:
    """Members with an open or executing resigned case: they have left."""
    rows = session.scalars(
        select(HandoverCase.handover_userid).where(
            HandoverCase.corp_id == corp_id,
            HandoverCase.kind == CaseKind.RESIGNED.value,
            HandoverCase.status.in_([CaseStatus.OPEN.value, CaseStatus.EXECUTING.value]),
        )
    )
    return set(rows)


def successor_candidates(
    session: Session, corp_id: str, leaver: str, *, exclude: Collection[str] = frozenset()
) -> Candidates:
    members = directory.members(session, corp_id)
    memberships = directory.memberships(session, corp_id)
    parents = directory.department_parents(session, corp_id)
    own = memberships.get(leaver, set())

    def active_in(departments: set[int]) -> list[str]:
        return sorted(
            userid
            for userid, depts in memberships.items()
            if depts & departments
            and userid != leaver
            and userid not in exclude
            and (member := members.get(userid)) is not None
            and member.is_active
        )

    found, widened, where = active_in(own), False, own
    if not found:
        parent_departments = {p for d in own if (p := parents.get(d)) is not None}
        found, widened, where = active_in(parent_departments), True, parent_departments
    names = {userid: members[userid].name for userid in found}
    return Candidates(tuple(found), tuple(sorted(where)), widened, names)


def suggest_for_customers(
    session: Session,
    corp_id: str,
    candidates: Candidates,
    customers: Sequence[InventoryCustomer],
    *,
    loads: Mapping[str, int],
    reference: datetime,
) -> dict[str, Suggestion]:
    """external_userid → suggestion for each customer (see the module's rules)."""
    if not candidates.userids:
        empty = Suggestion(None, encode([Reason("no_candidate_parent" if candidates.widened else "no_candidate")]))
        return {c.external_userid: empty for c in customers}
    pool = list(candidates.userids)
    from_wecom = all(userid in loads for userid in pool)
    load = Counter({u: loads[u] for u in pool}) if from_wecom else _archive_load(session, corp_id, pool, reference)
    base = Counter(load)
    chats = _previous_chats(session, corp_id, pool, [c.external_userid for c in customers])
    where = Reason("parent_department" if candidates.widened else "same_department")
    result: dict[str, Suggestion] = {}
    # Customers someone already knows first: their choice does not depend on load order.
    ordered = sorted(customers, key=lambda c: not _known_by(c, pool, chats))
    for customer in ordered:
        known = _known_by(customer, pool, chats)
        choice_pool = known or pool
        last_chat = {u: chats.get((u, customer.external_userid)) for u in choice_pool}
        # Lowest load; then the most recent chat; then the userid (stable).
        chosen = min(choice_pool, key=_rank(load, last_chat))
        parts = [where]
        if chosen in known:
            when = last_chat.get(chosen)
            parts.append(
                Reason("previous_chat", {"last": when.date().isoformat()}) if when else Reason("follows_customer")
            )
        parts.append(
            Reason("lowest_load_followed", {"of": len(choice_pool), "load": base[chosen]})
            if from_wecom
            else Reason(
                "lowest_load_chatted", {"of": len(choice_pool), "load": base[chosen], "days": ARCHIVE_LOAD_DAYS}
            )
        )
        added = load[chosen] - base[chosen]
        if added:
            parts.append(Reason("suggested_in_case", {"count": added}))
        result[customer.external_userid] = Suggestion(chosen, encode(parts))
        load[chosen] += 1
    return result


def suggest_for_group(
    candidates: Candidates, group: InventoryGroup, suggestions: Mapping[str, Suggestion]
) -> Suggestion:
    if not candidates.userids:
        return Suggestion(None, encode([Reason("no_group_candidate")]))
    votes = Counter(
        s.userid for ext in group.customers if (s := suggestions.get(ext)) is not None and s.userid is not None
    )
    if votes:
        userid, count = min(votes.items(), key=lambda item: (-item[1], item[0]))
        return Suggestion(userid, encode([Reason("group_majority", {"count": count})]))
    in_group = [u for u in candidates.userids if u in group.staff]
    userid = (in_group or list(candidates.userids))[0]
    return Suggestion(userid, encode([Reason("in_group" if in_group else "same_department")]))


def _rank(load: Counter[str], last_chat: Mapping[str, datetime | None]) -> Callable[[str], tuple[int, float, str]]:
    def key(userid: str) -> tuple[int, float, str]:
        when = last_chat.get(userid)
        return (load[userid], -(when.timestamp() if when else 0.0), userid)

    return key


def _known_by(customer: InventoryCustomer, pool: Sequence[str], chats: Mapping[tuple[str, str], datetime]) -> list[str]:
    return [u for u in pool if (u, customer.external_userid) in chats or u in customer.followers]


def _pair_key(a: str, b: str) -> str:
    first, second = sorted((a, b))
    return f"pair:{first}|{second}"


def _previous_chats(
    session: Session, corp_id: str, members: Sequence[str], customers: Sequence[str]
) -> dict[tuple[str, str], datetime]:
    """(member, customer) → the last archived message of their single chat."""
    wanted = {_pair_key(m, c): (m, c) for m in members for c in customers}
    found: dict[tuple[str, str], datetime] = {}
    keys = list(wanted)
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        for key, last in session.execute(
            select(Conversation.key, Conversation.last_msg_at).where(
                Conversation.corp_id == corp_id, Conversation.key.in_(chunk)
            )
        ):
            found[wanted[key]] = last
    return found


def _archive_load(session: Session, corp_id: str, members: Sequence[str], reference: datetime) -> Counter[str]:
    since = reference - timedelta(days=ARCHIVE_LOAD_DAYS)
    load: Counter[str] = Counter({u: 0 for u in members})
    rows = session.execute(
        select(Conversation.participant_a, Conversation.participant_b).where(
            Conversation.corp_id == corp_id,
            Conversation.kind == "single",
            Conversation.has_external.is_(True),
            Conversation.last_msg_at >= since,
            or_(Conversation.participant_a.in_(list(members)), Conversation.participant_b.in_(list(members))),
        )
    )
    for a, b in rows:
        for member in (a, b):
            if member is not None and member in load:
                load[member] += 1
    return load
