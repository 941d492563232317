"""Every query of the org directory. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from archive.directory.models import (
    DirectoryChange,
    DirectoryCustomer,
    DirectoryDepartment,
    DirectoryFollow,
    DirectoryGroup,
    DirectoryGroupMember,
    DirectoryMember,
    DirectoryMembership,
    DirectoryRobot,
    DirectorySyncRun,
)
from archive.models import Conversation, Message


def department_parents(session: Session, corp_id: str) -> dict[int, int | None]:
    """Every department the corp ever had (inactive ones included): id → parent id."""
    rows = session.execute(
        select(DirectoryDepartment.dept_id, DirectoryDepartment.parent_id).where(DirectoryDepartment.corp_id == corp_id)
    )
    return {dept_id: parent_id for dept_id, parent_id in rows}


def departments(session: Session, corp_id: str) -> list[DirectoryDepartment]:
    return list(
        session.scalars(
            select(DirectoryDepartment)
            .where(DirectoryDepartment.corp_id == corp_id)
            .order_by(DirectoryDepartment.dept_id)
        )
    )


def members(session: Session, corp_id: str) -> dict[str, DirectoryMember]:
    rows = session.scalars(select(DirectoryMember).where(DirectoryMember.corp_id == corp_id))
    return {member.userid: member for member in rows}


def member(session: Session, corp_id: str, userid: str) -> DirectoryMember | None:
    return session.get(DirectoryMember, (corp_id, userid))


def memberships(session: Session, corp_id: str, userids: Collection[str] | None = None) -> dict[str, set[int]]:
    """userid → its departments, for the given members (or all). Non-members are absent."""
    query = select(DirectoryMembership.userid, DirectoryMembership.dept_id).where(
        DirectoryMembership.corp_id == corp_id
    )
    if userids is not None:
        if not userids:
            return {}
        query = query.where(DirectoryMembership.userid.in_(list(userids)))
    result: dict[str, set[int]] = {}
    for userid, dept_id in session.execute(query):
        result.setdefault(userid, set()).add(dept_id)
    return result


def add_department(
    session: Session, corp_id: str, dept_id: int, name: str, parent_id: int | None, now: datetime
) -> None:
    session.add(
        DirectoryDepartment(
            corp_id=corp_id, dept_id=dept_id, name=name, parent_id=parent_id, is_active=True, updated_at=now
        )
    )


def add_member(session: Session, corp_id: str, userid: str, name: str, now: datetime) -> None:
    session.add(DirectoryMember(corp_id=corp_id, userid=userid, name=name, is_active=True, updated_at=now))


def set_departments_inactive(session: Session, corp_id: str, dept_ids: Iterable[int], now: datetime) -> None:
    ids = list(dept_ids)
    if ids:
        session.execute(
            update(DirectoryDepartment)
            .where(DirectoryDepartment.corp_id == corp_id, DirectoryDepartment.dept_id.in_(ids))
            .values(is_active=False, updated_at=now)
        )


def set_members_inactive(session: Session, corp_id: str, userids: Iterable[str], now: datetime) -> None:
    ids = list(userids)
    if ids:
        session.execute(
            update(DirectoryMember)
            .where(DirectoryMember.corp_id == corp_id, DirectoryMember.userid.in_(ids))
            .values(is_active=False, updated_at=now)
        )


def replace_memberships(session: Session, corp_id: str, userid: str, dept_ids: Iterable[int]) -> None:
    session.execute(
        delete(DirectoryMembership).where(DirectoryMembership.corp_id == corp_id, DirectoryMembership.userid == userid)
    )
    rows = [{"corp_id": corp_id, "userid": userid, "dept_id": dept_id} for dept_id in dept_ids]
    if rows:
        session.execute(insert(DirectoryMembership), rows)


# --- the directory synced from WeCom (issue 14) ------------------------------------------------


def sync_lease_name(corp_id: str) -> str:
    """The lease (``archive.repository``) that keeps one directory sync per corp."""
    return f"directory:{corp_id}"


def sync_run(session: Session, corp_id: str) -> DirectorySyncRun | None:
    return session.get(DirectorySyncRun, corp_id)


def add_sync_run(session: Session, corp_id: str) -> DirectorySyncRun:
    run = DirectorySyncRun(corp_id=corp_id)
    session.add(run)
    return run


def has_departments(session: Session, corp_id: str) -> bool:
    return (
        session.scalar(select(DirectoryDepartment.dept_id).where(DirectoryDepartment.corp_id == corp_id).limit(1))
        is not None
    )


def has_follows(session: Session, corp_id: str) -> bool:
    found = session.scalar(select(DirectoryFollow.userid).where(DirectoryFollow.corp_id == corp_id).limit(1))
    return found is not None


def customers(session: Session, corp_id: str, external_userids: Collection[str]) -> dict[str, DirectoryCustomer]:
    if not external_userids:
        return {}
    rows = session.scalars(
        select(DirectoryCustomer).where(
            DirectoryCustomer.corp_id == corp_id, DirectoryCustomer.external_userid.in_(list(external_userids))
        )
    )
    return {row.external_userid: row for row in rows}


def follows_of(session: Session, corp_id: str, userids: Collection[str]) -> dict[tuple[str, str], DirectoryFollow]:
    """(userid, external_userid) → follow, removed ones included, for these members."""
    if not userids:
        return {}
    rows = session.scalars(
        select(DirectoryFollow).where(DirectoryFollow.corp_id == corp_id, DirectoryFollow.userid.in_(list(userids)))
    )
    return {(row.userid, row.external_userid): row for row in rows}


def follow(session: Session, corp_id: str, userid: str, external_userid: str) -> DirectoryFollow | None:
    return session.get(DirectoryFollow, (corp_id, userid, external_userid))


def groups(session: Session, corp_id: str) -> dict[str, DirectoryGroup]:
    rows = session.scalars(select(DirectoryGroup).where(DirectoryGroup.corp_id == corp_id))
    return {row.roomid: row for row in rows}


def group_members(session: Session, corp_id: str, roomid: str) -> dict[str, tuple[int, datetime | None]]:
    """member_id → (member_type, joined_at) of one group as last synced."""
    rows = session.execute(
        select(DirectoryGroupMember.member_id, DirectoryGroupMember.member_type, DirectoryGroupMember.joined_at).where(
            DirectoryGroupMember.corp_id == corp_id, DirectoryGroupMember.roomid == roomid
        )
    )
    return {member_id: (member_type, joined_at) for member_id, member_type, joined_at in rows}


def replace_group_members(session: Session, corp_id: str, roomid: str, rows: list[dict[str, Any]]) -> None:
    session.execute(
        delete(DirectoryGroupMember).where(
            DirectoryGroupMember.corp_id == corp_id, DirectoryGroupMember.roomid == roomid
        )
    )
    if rows:
        session.execute(insert(DirectoryGroupMember), [{"corp_id": corp_id, "roomid": roomid, **row} for row in rows])


def robots(session: Session, corp_id: str) -> dict[str, DirectoryRobot]:
    rows = session.scalars(select(DirectoryRobot).where(DirectoryRobot.corp_id == corp_id))
    return {row.robot_id: row for row in rows}


def add_robot(
    session: Session, corp_id: str, robot_id: str, name: str, creator_userid: str | None, now: datetime
) -> None:
    session.add(
        DirectoryRobot(corp_id=corp_id, robot_id=robot_id, name=name, creator_userid=creator_userid, updated_at=now)
    )


def add_change(
    session: Session,
    corp_id: str,
    subject: str,
    subject_id: str,
    change: str,
    *,
    before: Any,
    after: Any,
    occurred_at: datetime,
    source: str,
) -> None:
    session.add(
        DirectoryChange(
            corp_id=corp_id,
            subject=subject,
            subject_id=subject_id,
            change=change,
            before=before,
            after=after,
            occurred_at=occurred_at,
            source=source,
        )
    )


def changes(session: Session, corp_id: str, subject_id: str | None = None) -> list[DirectoryChange]:
    query = select(DirectoryChange).where(DirectoryChange.corp_id == corp_id)
    if subject_id is not None:
        query = query.where(DirectoryChange.subject_id == subject_id)
    return list(session.scalars(query.order_by(DirectoryChange.occurred_at, DirectoryChange.id)))


def archived_group_roomids(session: Session, corp_id: str) -> list[str]:
    """The roomids of every group conversation in the archive (internal groups have no list API)."""
    rows = session.scalars(
        select(Conversation.roomid)
        .where(Conversation.corp_id == corp_id, Conversation.kind == "group", Conversation.roomid.is_not(None))
        .order_by(Conversation.roomid)
    )
    return [roomid for roomid in rows if roomid]


def archived_robot_ids(session: Session, corp_id: str) -> list[str]:
    """Robot senders (``wb…``) seen in the archive (robots have no list API either)."""
    rows = session.scalars(
        select(Message.sender).where(Message.corp_id == corp_id, Message.sender.like("wb%")).distinct()
    )
    return sorted(rows)
