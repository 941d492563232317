"""Syncing the org directory from a feed, the department tree, and the sync's status.

``sync_directory`` takes plain records (``DepartmentRecord``, ``MemberRecord``) and upserts
the whole directory: what the feed no longer lists becomes inactive and is never deleted,
because retention policies and old messages still refer to it. Installations are fed from
WeCom by ``archive.directory.sync`` (ADR 0020), which also keeps customers, groups, robots
and the history of changes; tests use ``sync_directory`` for hand-written directories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from archive import repository as archive_repository
from archive.directory import repository


@dataclass(frozen=True, slots=True)
class DepartmentRecord:
    dept_id: int
    name: str
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class MemberRecord:
    userid: str
    name: str
    department_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DirectorySyncReport:
    departments_added: int
    departments_deactivated: int
    members_added: int
    members_deactivated: int
    memberships_changed: int


def sync_directory(
    session: Session,
    corp_id: str,
    departments: Sequence[DepartmentRecord],
    members: Sequence[MemberRecord],
    now: datetime,
) -> DirectorySyncReport:
    """Make the stored directory match the feed, in the caller's transaction.

    Departments and members are upserted by id; those missing from the feed become
    inactive (an inactive member keeps its last memberships, so its old messages stay
    under its departments' retention policies). A member listed again becomes active.
    """
    stored_departments = {d.dept_id: d for d in repository.departments(session, corp_id)}
    departments_added = 0
    for dept in departments:
        department = stored_departments.get(dept.dept_id)
        if department is None:
            repository.add_department(session, corp_id, dept.dept_id, dept.name, dept.parent_id, now)
            departments_added += 1
        elif (department.name, department.parent_id, department.is_active) != (dept.name, dept.parent_id, True):
            department.name, department.parent_id, department.is_active = dept.name, dept.parent_id, True
            department.updated_at = now
    listed_departments = {dept.dept_id for dept in departments}
    gone_departments = [d for d, row in stored_departments.items() if row.is_active and d not in listed_departments]
    repository.set_departments_inactive(session, corp_id, gone_departments, now)

    stored_members = repository.members(session, corp_id)
    stored_memberships = repository.memberships(session, corp_id)
    members_added = memberships_changed = 0
    for record in members:
        member = stored_members.get(record.userid)
        if member is None:
            repository.add_member(session, corp_id, record.userid, record.name, now)
            members_added += 1
        elif (member.name, member.is_active) != (record.name, True):
            member.name, member.is_active, member.updated_at = record.name, True, now
    session.flush()  # member rows exist before their memberships
    for record in members:
        wanted = set(record.department_ids)
        if stored_memberships.get(record.userid, set()) != wanted:
            repository.replace_memberships(session, corp_id, record.userid, sorted(wanted))
            memberships_changed += 1
    listed_members = {record.userid for record in members}
    gone_members = [u for u, row in stored_members.items() if row.is_active and u not in listed_members]
    repository.set_members_inactive(session, corp_id, gone_members, now)
    session.flush()
    return DirectorySyncReport(
        departments_added=departments_added,
        departments_deactivated=len(gone_departments),
        members_added=members_added,
        members_deactivated=len(gone_members),
        memberships_changed=memberships_changed,
    )


def department_subtree(session: Session, corp_id: str, dept_id: int) -> set[int]:
    """The department and every department below it (inactive ones included)."""
    return subtree(repository.department_parents(session, corp_id), dept_id)


def subtree(parents: dict[int, int | None], dept_id: int) -> set[int]:
    """``dept_id`` and its descendants in a child → parent map (cycles are tolerated)."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found = {dept_id}
    pending = [dept_id]
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


@dataclass(frozen=True, slots=True)
class DirectorySyncStatus:
    """Where a corp's directory sync stands: ``step`` is the step in progress (or where an
    interrupted sync resumes), ``last_report`` the report of the last finished sync."""

    corp_id: str
    step: str | None
    started_at: datetime | None
    finished_at: datetime | None
    last_report: dict[str, Any] | None
    error: str | None
    lease_holder: str | None  # the process syncing now (or one that died holding the lease)


def sync_status(session: Session, corp_id: str) -> DirectorySyncStatus:
    run = repository.sync_run(session, corp_id)
    holder = archive_repository.lease_holder(session, repository.sync_lease_name(corp_id))
    if run is None:
        return DirectorySyncStatus(corp_id, None, None, None, None, None, holder)
    report = run.report if isinstance(run.report, dict) else None
    return DirectorySyncStatus(corp_id, run.step, run.started_at, run.finished_at, report, run.error, holder)


# The change_external_contact events that end a follow, and who ended it (spec §8.8).
FOLLOW_ENDED_BY = {"del_follow_user": "customer", "del_external_contact": "member"}


def record_follow_ended(
    session: Session,
    corp_id: str,
    userid: str,
    external_userid: str,
    *,
    change_type: str,
    occurred_at: datetime,
    now: datetime,
    source: str | None = None,
) -> bool:
    """A follow ended as WeCom's callback says: who ended it (``FOLLOW_ENDED_BY``) and when
    (the event's CreateTime), which a sync cannot tell. False when the follow is unknown or
    already ended (the sync that later misses it then changes nothing)."""
    ended_by = FOLLOW_ENDED_BY[change_type]
    follow = repository.follow(session, corp_id, userid, external_userid)
    if follow is None or follow.removed_at is not None:
        return False
    follow.removed_at, follow.removed_by, follow.updated_at = occurred_at, ended_by, now
    after = {"removed_by": ended_by, **({"source": source} if source else {})}  # DELETE_BY_TRANSFER
    repository.add_change(
        session,
        corp_id,
        "follow",
        external_userid,
        "removed",
        before={"userid": userid},
        after=after,
        occurred_at=occurred_at,
        source="callback",
    )
    return True


def record_departure(session: Session, corp_id: str, userid: str, *, occurred_at: datetime, now: datetime) -> bool:
    """A member left as WeCom's ``delete_user`` callback says, dated by its CreateTime (a
    sync can only date it when it notices). Memberships stay, as in a sync's departure.
    False when the member is unknown or already gone (the sync then changes nothing)."""
    member = repository.member(session, corp_id, userid)
    if member is None or not member.is_active:
        return False
    departments = sorted(repository.memberships(session, corp_id, [userid]).get(userid, set()))
    member.is_active, member.left_at, member.updated_at = False, occurred_at, now
    repository.add_change(
        session,
        corp_id,
        "member",
        userid,
        "left",
        before={"name": member.name, "departments": departments},
        after=None,
        occurred_at=occurred_at,
        source="callback",
    )
    return True


def record_move(
    session: Session, corp_id: str, userid: str, department_ids: Sequence[int], *, occurred_at: datetime, now: datetime
) -> bool:
    """A member's departments as WeCom's ``update_user`` callback gives them, applied at once
    (scopes follow people: a reviewer's view changes with the move, not a debounce later)
    and dated by its CreateTime. False when nothing changes or the member is unknown."""
    member = repository.member(session, corp_id, userid)
    wanted = sorted(set(department_ids))
    if member is None or not member.is_active or not wanted:
        return False
    current = sorted(repository.memberships(session, corp_id, [userid]).get(userid, set()))
    if current == wanted:
        return False
    repository.replace_memberships(session, corp_id, userid, wanted)
    member.updated_at = now
    repository.add_change(
        session,
        corp_id,
        "member",
        userid,
        "moved",
        before={"departments": current},
        after={"departments": wanted},
        occurred_at=occurred_at,
        source="callback",
    )
    return True


def callback_departments(value: str) -> list[int] | None:
    """The department ids of an ``update_user`` callback's ``Department`` field, or None
    when it names none or does not parse (the sync that follows reads them then).

    UNCERTAIN (spec §6.7a): ``Department`` lists the member's department ids, comma
    separated, and only when they changed."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        return None
    return [int(part) for part in parts]


def record_member_change(
    session: Session,
    corp_id: str,
    change: str,
    userid: str,
    department_ids: Sequence[int],
    *,
    occurred_at: datetime,
    now: datetime,
) -> bool:
    """A ``change_contact`` callback: ``delete_user`` (:func:`record_departure`) or
    ``update_user`` with its departments (:func:`record_move`). True when applied."""
    if change == "delete_user":
        return record_departure(session, corp_id, userid, occurred_at=occurred_at, now=now)
    return record_move(session, corp_id, userid, department_ids, occurred_at=occurred_at, now=now)
