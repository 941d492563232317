"""Display names of WeCom ids: the ONE place that turns ``zhangsan``, ``wm…``/``wo…``,
``wr…`` and ``wb…`` into what an officer reads (console, API, CLI, exports, reports).

Contract: read-only, a fixed number of queries per call (one per kind asked for, plus one
for the departments of same-named members), whatever the number of ids. The names come
from the directory tables the sync fills (``archive.directory.models``); an id the
directory does not know yet keeps its id as its name and ``synced=False``, so every
surface can say "not synced yet" instead of passing an id off as a name. The queries
live here rather than in ``repository.py`` because they exist only to build names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.directory.models import (
    DirectoryCustomer,
    DirectoryDepartment,
    DirectoryFollow,
    DirectoryGroup,
    DirectoryMember,
    DirectoryMembership,
    DirectoryRobot,
)
from archive.models import Conversation

Kind = Literal["member", "customer", "group", "robot"]

ROBOT_MARK = "（机器人）"
LEFT_MARK = "（已离职）"
CUSTOMER_TYPE_WECOM = 2  # WeCom's external contact type: 1 WeChat user, 2 WeCom user
ID_TAIL_CHARS = 4  # the last characters of an id that tell two same-named people apart
# Bind parameters per IN list: SQLite's old default limit is 999, PostgreSQL's 65535.
IN_CHUNK = 500


def kind_of(wecom_id: str) -> Kind:
    """What an id names, from WeCom's prefixes: ``wm``/``wo`` external contacts, ``wr`` rooms,
    ``wb`` robots; anything else is a member's userid."""
    if wecom_id.startswith(("wm", "wo")):
        return "customer"
    if wecom_id.startswith("wr"):
        return "group"
    if wecom_id.startswith("wb"):
        return "robot"
    return "member"


@dataclass(frozen=True)
class Name:
    """What to show for one id. ``label`` is the whole display text (told apart from others
    of the same name); ``id`` stays with it so every surface can show it on demand."""

    id: str
    label: str
    kind: Kind
    synced: bool

    def __str__(self) -> str:
        return self.label

    def with_id(self) -> str:
        """The label followed by the id, for plain-text surfaces (CLI, exports) where a user
        may need to copy the id. An unsynced id is its own label: said once, marked."""
        if not self.synced:
            return f"{self.id}（未同步）"
        return f"{self.label} ({self.id})"


@dataclass(frozen=True)
class Names:
    """The names of a set of ids; ``of`` answers for any id (unknown ones unsynced)."""

    by_id: dict[str, Name]

    def of(self, wecom_id: str) -> Name:
        found = self.by_id.get(wecom_id)
        return found if found is not None else Name(wecom_id, wecom_id, kind_of(wecom_id), synced=False)

    def label(self, wecom_id: str) -> str:
        return self.of(wecom_id).label

    def __iter__(self) -> Iterator[Name]:
        return iter(self.by_id.values())


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), IN_CHUNK):
        yield ordered[start : start + IN_CHUNK]


def display_names(
    session: Session,
    corp_ids: str | Collection[str] | None,
    ids: Iterable[str],
    *,
    followers: Collection[str] = (),
) -> Names:
    """Names of ``ids`` in the directories of ``corp_ids`` (None: every corp).

    ``followers``: the members of the conversation at hand; a customer is then named by the
    remark one of them gave (as that member sees the customer in WeCom), else by any
    follower's remark, else by the customer's own name (``＠corp`` for a WeCom user)."""
    corps = [corp_ids] if isinstance(corp_ids, str) else (sorted(corp_ids) if corp_ids is not None else None)
    wanted: dict[Kind, set[str]] = {"member": set(), "customer": set(), "group": set(), "robot": set()}
    for wecom_id in ids:
        if wecom_id:
            wanted[kind_of(wecom_id)].add(wecom_id)
    base: dict[str, tuple[Kind, str]] = {}  # id → (kind, name before telling apart)
    # Every id is looked up as a member too: a userid may start like an external id ("wolf").
    base |= _members(session, corps, {i for kind_ids in wanted.values() for i in kind_ids})
    base |= _customers(session, corps, wanted["customer"], set(followers))
    base |= _groups(session, corps, wanted["group"])
    base |= _robots(session, corps, wanted["robot"])
    return Names(_told_apart(session, corps, base))


def _members(session: Session, corps: list[str] | None, ids: set[str]) -> dict[str, tuple[Kind, str]]:
    found: dict[str, tuple[Kind, str]] = {}
    for chunk in _chunks(ids):
        query = select(DirectoryMember.userid, DirectoryMember.name, DirectoryMember.is_active).where(
            DirectoryMember.userid.in_(chunk)
        )
        if corps is not None:
            query = query.where(DirectoryMember.corp_id.in_(corps))
        for userid, name, is_active in session.execute(query):
            found[userid] = ("member", name if is_active else f"{name}{LEFT_MARK}")
    return found


def _customers(
    session: Session, corps: list[str] | None, ids: set[str], followers: set[str]
) -> dict[str, tuple[Kind, str]]:
    found: dict[str, tuple[Kind, str]] = {}
    for chunk in _chunks(ids):
        customers = select(
            DirectoryCustomer.external_userid,
            DirectoryCustomer.name,
            DirectoryCustomer.type,
            DirectoryCustomer.corp_name,
        ).where(DirectoryCustomer.external_userid.in_(chunk))
        follows = select(DirectoryFollow.external_userid, DirectoryFollow.userid, DirectoryFollow.remark).where(
            DirectoryFollow.external_userid.in_(chunk)
        )
        if corps is not None:
            customers = customers.where(DirectoryCustomer.corp_id.in_(corps))
            follows = follows.where(DirectoryFollow.corp_id.in_(corps))
        # A current relation's remark wins over an ended one's; then the userid, so the
        # choice does not change from one page to the next.
        remarks: dict[str, str] = {}
        preferred: dict[str, str] = {}
        for external_userid, userid, remark in session.execute(
            follows.order_by(DirectoryFollow.removed_at.is_not(None), DirectoryFollow.userid)
        ):
            if not remark:  # no remark: this follower shows the customer's own name
                continue
            remarks.setdefault(external_userid, remark)
            if userid in followers:
                preferred.setdefault(external_userid, remark)
        for external_userid, name, ctype, corp_name in session.execute(customers):
            shown = preferred.get(external_userid) or remarks.get(external_userid) or name
            if ctype == CUSTOMER_TYPE_WECOM and corp_name:
                shown = f"{shown}＠{corp_name}"  # as WeCom's own UI names a WeCom user
            found[external_userid] = ("customer", shown)
    return found


def _groups(session: Session, corps: list[str] | None, ids: set[str]) -> dict[str, tuple[Kind, str]]:
    found: dict[str, tuple[Kind, str]] = {}
    for chunk in _chunks(ids):
        query = select(DirectoryGroup.roomid, DirectoryGroup.name).where(DirectoryGroup.roomid.in_(chunk))
        if corps is not None:
            query = query.where(DirectoryGroup.corp_id.in_(corps))
        for roomid, name in session.execute(query):
            if name:  # WeCom gives unnamed groups an empty name: then the id is all there is
                found[roomid] = ("group", name)
    return found


def _robots(session: Session, corps: list[str] | None, ids: set[str]) -> dict[str, tuple[Kind, str]]:
    found: dict[str, tuple[Kind, str]] = {}
    for chunk in _chunks(ids):
        query = select(DirectoryRobot.robot_id, DirectoryRobot.name).where(DirectoryRobot.robot_id.in_(chunk))
        if corps is not None:
            query = query.where(DirectoryRobot.corp_id.in_(corps))
        for robot_id, name in session.execute(query):
            found[robot_id] = ("robot", f"{name}{ROBOT_MARK}")
    return found


def _told_apart(session: Session, corps: list[str] | None, base: dict[str, tuple[Kind, str]]) -> dict[str, Name]:
    """Same-named ids get a suffix: a member its department, anyone else (or a member
    whose department does not tell them apart) the last characters of the id."""
    counts = Counter(label for _, label in base.values())
    twins = {wecom_id for wecom_id, (_, label) in base.items() if counts[label] > 1}
    departments = _departments_of(session, corps, [i for i in twins if base[i][0] == "member"])
    labels = {}
    for wecom_id, (kind, label) in base.items():
        if wecom_id in twins and kind == "member" and departments.get(wecom_id):
            label = f"{label}（{departments[wecom_id]}）"
        labels[wecom_id] = label
    counts = Counter(labels.values())
    names = {}
    for wecom_id, (kind, _) in base.items():
        label = labels[wecom_id]
        if counts[label] > 1:
            label = f"{label}（…{wecom_id[-ID_TAIL_CHARS:]}）"
        names[wecom_id] = Name(wecom_id, label, kind, synced=True)
    return names


def _departments_of(session: Session, corps: list[str] | None, userids: list[str]) -> dict[str, str]:
    """userid → its departments' names (joined, in id order)."""
    result: dict[str, list[str]] = {}
    for chunk in _chunks(userids):
        query = (
            select(DirectoryMembership.userid, DirectoryDepartment.name)
            .join(
                DirectoryDepartment,
                (DirectoryDepartment.corp_id == DirectoryMembership.corp_id)
                & (DirectoryDepartment.dept_id == DirectoryMembership.dept_id),
            )
            .where(DirectoryMembership.userid.in_(chunk))
            .order_by(DirectoryMembership.userid, DirectoryMembership.dept_id)
        )
        if corps is not None:
            query = query.where(DirectoryMembership.corp_id.in_(corps))
        for userid, name in session.execute(query):
            result.setdefault(userid, []).append(name)
    return {userid: "、".join(names) for userid, names in result.items()}


@dataclass(frozen=True)
class Place:
    """Where something happened, by name: a group chat's room, or a one-to-one chat's people."""

    conversation_id: int
    kind: str  # "group" or "single"
    names: tuple[Name, ...]


def places_of(session: Session, conversation_ids: Collection[int]) -> dict[int, Place]:
    """The named places of conversations (alerts, samples): one query for the conversations
    (per ``IN_CHUNK``), one resolver call for their rooms and people. The members among all of them are the
    followers whose remarks name the customers (one call, not one per conversation)."""
    ordered = sorted(set(conversation_ids))
    rows = [
        row
        for start in range(0, len(ordered), IN_CHUNK)
        for row in session.execute(
            select(
                Conversation.id,
                Conversation.corp_id,
                Conversation.kind,
                Conversation.roomid,
                Conversation.participant_a,
                Conversation.participant_b,
            ).where(Conversation.id.in_(ordered[start : start + IN_CHUNK]))
        )
    ]
    ids = {p for row in rows for p in (row.roomid, row.participant_a, row.participant_b) if p}
    names = display_names(
        session, {row.corp_id for row in rows}, ids, followers=[i for i in ids if kind_of(i) == "member"]
    )
    places: dict[int, Place] = {}
    for row in rows:
        if row.kind == "group":
            places[row.id] = Place(row.id, "group", (names.of(row.roomid),) if row.roomid else ())
        else:
            pair = (row.participant_a, row.participant_b)
            places[row.id] = Place(row.id, "single", tuple(names.of(p) for p in pair if p))
    return places
