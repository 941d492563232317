"""What one slice of a directory sync writes: compare what WeCom answered with the stored
rows, write only the differences, record each as a dated ``DirectoryChange``.

Contract (see ``archive.directory.sync`` for the run around it):
- Called inside the slice's transaction; nothing here commits or reads WeCom.
- Idempotent: writing the same answer twice changes nothing the second time, so a slice
  re-done after a crash neither duplicates rows nor records a change twice.
- Nothing is deleted. Counts go to ``counts`` keyed ``<kind>.<change>`` for the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from archive.directory import repository
from archive.directory.models import DirectoryCustomer, DirectoryFollow, DirectoryGroup, DirectoryMember
from archive.wecom.directory import Department, Follow, Member, Robot


@dataclass(frozen=True)
class GroupData:
    """A group as WeCom answered it: customer groups (externalcontact/groupchat/get) and
    internal ones (msgaudit/groupchat/get) in one shape."""

    roomid: str
    kind: str  # "customer" or "internal"
    name: str
    owner: str | None
    created_at: datetime | None
    members: dict[str, tuple[int, datetime | None]]  # member_id → (type, joined_at)


class SliceWriter:
    """Writes one slice for ``corp_id`` at ``now`` (the time changes are dated with)."""

    def __init__(self, session: Session, corp_id: str, counts: Counter[str], now: datetime) -> None:
        self.session = session
        self.corp_id = corp_id
        self.counts = counts
        self.now = now

    def _change(self, subject: str, subject_id: str, change: str, before: Any, after: Any) -> None:
        repository.add_change(
            self.session,
            self.corp_id,
            subject,
            subject_id,
            change,
            before=before,
            after=after,
            occurred_at=self.now,
            source="sync",
        )

    # --- departments ---------------------------------------------------------------------------

    def departments(self, departments: list[Department]) -> None:
        """The whole department list (one answer): new, renamed, moved, restored, removed."""
        session, now = self.session, self.now
        stored = {row.dept_id: row for row in repository.departments(session, self.corp_id)}
        baseline = not stored  # the first sync: everything is new, nothing "was created"
        for dept in departments:
            row, key = stored.get(dept.dept_id), str(dept.dept_id)
            if row is None:
                repository.add_department(session, self.corp_id, dept.dept_id, dept.name, dept.parent_id, now)
                self.counts["departments.added"] += 1
                if not baseline:
                    self._change("department", key, "created", None, {"name": dept.name, "parent_id": dept.parent_id})
                continue
            changed = False
            if not row.is_active:
                row.is_active, changed = True, True
                self.counts["departments.restored"] += 1
                self._change("department", key, "restored", None, {"name": dept.name})
            if row.name != dept.name:
                self._change("department", key, "renamed", {"name": row.name}, {"name": dept.name})
                row.name, changed = dept.name, True
                self.counts["departments.renamed"] += 1
            if row.parent_id != dept.parent_id:
                self._change("department", key, "moved", {"parent_id": row.parent_id}, {"parent_id": dept.parent_id})
                row.parent_id, changed = dept.parent_id, True
                self.counts["departments.moved"] += 1
            if changed:
                row.updated_at = now
        # UNCERTAIN (spec §6.7a): department/list answers the app's visible range only, so a
        # narrowed range also looks like removed departments: they are marked, never deleted.
        listed = {dept.dept_id for dept in departments}
        for dept_id, row in stored.items():
            if row.is_active and dept_id not in listed:
                row.is_active, row.updated_at = False, now
                self.counts["departments.removed"] += 1
                self._change("department", str(dept_id), "removed", {"name": row.name}, None)

    # --- members --------------------------------------------------------------------------------

    def member(self, userid: str, member: Member | None, *, baseline: bool) -> None:
        """One member as user/get answered (None: WeCom no longer knows the userid)."""
        session, now = self.session, self.now
        row = session.get(DirectoryMember, (self.corp_id, userid))
        if member is None or not member.status.is_member:  # deleted since user/list_id, or status 5
            if row is not None and row.is_active:
                self.left(row)
            return
        departments = sorted(set(member.department_ids))
        if row is None:
            repository.add_member(session, self.corp_id, userid, member.name, now)
            session.flush()  # the member row before its memberships
            repository.replace_memberships(session, self.corp_id, userid, departments)
            self.counts["members.joined"] += 1
            if not baseline:
                self._change("member", userid, "joined", None, {"name": member.name, "departments": departments})
            return
        changed = False
        if not row.is_active:
            self._change("member", userid, "returned", {"left_at": _iso(row.left_at)}, {"name": member.name})
            row.is_active, row.left_at, changed = True, None, True
            self.counts["members.returned"] += 1
        if row.name != member.name:
            self._change("member", userid, "renamed", {"name": row.name}, {"name": member.name})
            row.name, changed = member.name, True
            self.counts["members.renamed"] += 1
        current = sorted(repository.memberships(session, self.corp_id, [userid]).get(userid, set()))
        if current != departments:
            repository.replace_memberships(session, self.corp_id, userid, departments)
            self._change("member", userid, "moved", {"departments": current}, {"departments": departments})
            changed = True
            self.counts["members.moved"] += 1
        if changed:
            row.updated_at = now

    def members_not_listed(self, listed: Collection[str]) -> None:
        """Active members the step's plan (user/list_id) did not list have left."""
        for userid, row in repository.members(self.session, self.corp_id).items():
            if row.is_active and userid not in listed:
                self.left(row)

    def left(self, row: DirectoryMember) -> None:
        """A departure: inactive and dated; the memberships stay (old chats stay in scope)."""
        departments = sorted(repository.memberships(self.session, self.corp_id, [row.userid]).get(row.userid, set()))
        row.is_active, row.left_at, row.updated_at = False, self.now, self.now
        self.counts["members.left"] += 1
        self._change("member", row.userid, "left", {"name": row.name, "departments": departments}, None)

    # --- customers and who follows them -----------------------------------------------------------

    def follows(self, userids: list[str], follows: list[Follow], *, baseline: bool) -> None:
        """Every follow of ``userids`` (a complete answer for them): customers upserted,
        follows added, restored or ended."""
        self._customers(follows)
        session, now = self.session, self.now
        stored = repository.follows_of(session, self.corp_id, userids)
        seen: set[tuple[str, str]] = set()
        for follow in follows:
            ext = follow.customer.external_userid
            key = (follow.userid, ext)
            if key in seen:  # a relation listed on two pages: once is enough
                continue
            seen.add(key)
            found = stored.get(key)
            if found is None:
                session.add(
                    DirectoryFollow(
                        corp_id=self.corp_id,
                        userid=follow.userid,
                        external_userid=ext,
                        remark=follow.remark,
                        remark_corp_name=follow.remark_corp_name,
                        added_at=follow.added_at,
                        updated_at=now,
                    )
                )
                self.counts["follows.added"] += 1
                if not baseline:
                    self._change("follow", ext, "added", None, {"userid": follow.userid})
                continue
            if found.removed_at is not None:
                self._change("follow", ext, "restored", {"userid": follow.userid, "removed_by": found.removed_by}, None)
                found.removed_at, found.removed_by, found.updated_at = None, None, now
                self.counts["follows.restored"] += 1
            values = (follow.remark, follow.remark_corp_name, follow.added_at)
            if (found.remark, found.remark_corp_name, found.added_at) != values:
                found.remark, found.remark_corp_name, found.added_at = values
                found.updated_at = now
        # These members' answer is complete: a follow it no longer has ended since the last sync.
        # Who ended it (customer or member) a sync cannot tell: "unknown".
        for key, found in stored.items():
            if key not in seen and found.removed_at is None:
                found.removed_at, found.removed_by, found.updated_at = now, "unknown", now
                self.counts["follows.removed"] += 1
                self._change("follow", key[1], "removed", {"userid": key[0]}, {"removed_by": "unknown"})

    def _customers(self, follows: list[Follow]) -> None:
        session, now = self.session, self.now
        customers = repository.customers(session, self.corp_id, {f.customer.external_userid for f in follows})
        for follow in follows:
            customer = follow.customer
            row = customers.get(customer.external_userid)
            if row is None:
                row = DirectoryCustomer(
                    corp_id=self.corp_id,
                    external_userid=customer.external_userid,
                    name=customer.name,
                    type=customer.type,
                    corp_name=customer.corp_name,
                    corp_full_name=customer.corp_full_name,
                    updated_at=now,
                )
                session.add(row)
                customers[customer.external_userid] = row
                self.counts["customers.added"] += 1
                continue
            if row.name != customer.name:
                self._change(
                    "customer", customer.external_userid, "renamed", {"name": row.name}, {"name": customer.name}
                )
                self.counts["customers.renamed"] += 1
            fields = (customer.name, customer.type, customer.corp_name, customer.corp_full_name)
            if (row.name, row.type, row.corp_name, row.corp_full_name) != fields:
                row.name, row.type, row.corp_name, row.corp_full_name = fields
                row.updated_at = now

    # --- groups -------------------------------------------------------------------------------------

    def group(self, group: GroupData) -> None:
        session, now = self.session, self.now
        row = session.get(DirectoryGroup, (self.corp_id, group.roomid))
        if row is None:
            session.add(
                DirectoryGroup(
                    corp_id=self.corp_id,
                    roomid=group.roomid,
                    name=group.name,
                    kind=group.kind,
                    owner=group.owner,
                    created_at=group.created_at,
                    is_active=True,
                    updated_at=now,
                )
            )
            session.flush()  # the group row before its members
            self.counts["groups.added"] += 1
        else:
            changed = False
            if not row.is_active:
                self._change("group", group.roomid, "restored", None, {"name": group.name})
                row.is_active, changed = True, True
                self.counts["groups.restored"] += 1
            if row.name != group.name:
                self._change("group", group.roomid, "renamed", {"name": row.name}, {"name": group.name})
                row.name, changed = group.name, True
                self.counts["groups.renamed"] += 1
            if row.owner != group.owner:
                self._change("group", group.roomid, "owner_changed", {"owner": row.owner}, {"owner": group.owner})
                row.owner, changed = group.owner, True
                self.counts["groups.owner_changed"] += 1
            if (row.kind, row.created_at) != (group.kind, group.created_at):
                row.kind, row.created_at, changed = group.kind, group.created_at, True
            if changed:
                row.updated_at = now
        if repository.group_members(session, self.corp_id, group.roomid) != group.members:
            repository.replace_group_members(
                session,
                self.corp_id,
                group.roomid,
                [
                    {"member_id": member_id, "member_type": member_type, "joined_at": joined_at, "nickname": None}
                    for member_id, (member_type, joined_at) in sorted(group.members.items())
                ],
            )
            self.counts["groups.members_changed"] += 1

    def customer_groups_not_listed(self, listed: Collection[str]) -> None:
        """A customer group groupchat/list no longer lists was dismissed. Internal groups have
        no list to judge by: they stay as last read."""
        for roomid, row in repository.groups(self.session, self.corp_id).items():
            if row.kind == "customer" and row.is_active and roomid not in listed:
                row.is_active, row.updated_at = False, self.now
                self.counts["groups.dismissed"] += 1
                self._change("group", roomid, "dismissed", {"name": row.name}, None)

    # --- robots --------------------------------------------------------------------------------------

    def robots(self, robots: list[Robot]) -> None:
        stored = repository.robots(self.session, self.corp_id)
        for robot in robots:
            row = stored.get(robot.robot_id)
            if row is None:
                repository.add_robot(
                    self.session, self.corp_id, robot.robot_id, robot.name, robot.creator_userid, self.now
                )
                self.counts["robots.added"] += 1
            elif (row.name, row.creator_userid) != (robot.name, robot.creator_userid):
                if row.name != robot.name:
                    self._change("robot", robot.robot_id, "renamed", {"name": row.name}, {"name": robot.name})
                    self.counts["robots.renamed"] += 1
                row.name, row.creator_userid, row.updated_at = robot.name, robot.creator_userid, self.now


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
