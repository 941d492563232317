"""Every query of the org directory. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from archive.directory.models import DirectoryDepartment, DirectoryMember, DirectoryMembership


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
