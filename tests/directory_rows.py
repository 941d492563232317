"""Directory rows written straight into the tables (``archive.directory.models``), for tests
that need names without running the WeCom sync."""

from __future__ import annotations

from datetime import UTC, datetime

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
from archive.simulator.company import Company

WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def department(session: Session, corp_id: str, dept_id: int, name: str) -> None:
    session.merge(
        DirectoryDepartment(
            corp_id=corp_id, dept_id=dept_id, name=name, parent_id=None, is_active=True, updated_at=WHEN
        )
    )


def member(
    session: Session, corp_id: str, userid: str, name: str, *, dept_id: int | None = None, active: bool = True
) -> None:
    session.merge(
        DirectoryMember(
            corp_id=corp_id,
            userid=userid,
            name=name,
            is_active=active,
            updated_at=WHEN,
            left_at=None if active else WHEN,
        )
    )
    if dept_id is not None:
        session.flush()
        session.merge(DirectoryMembership(corp_id=corp_id, userid=userid, dept_id=dept_id))


def customer(
    session: Session, corp_id: str, external_userid: str, name: str, *, type: int = 1, corp_name: str | None = None
) -> None:
    session.merge(
        DirectoryCustomer(
            corp_id=corp_id,
            external_userid=external_userid,
            name=name,
            type=type,
            corp_name=corp_name,
            corp_full_name=None,
            updated_at=WHEN,
        )
    )


def follow(
    session: Session, corp_id: str, userid: str, external_userid: str, remark: str | None, *, removed: bool = False
) -> None:
    session.merge(
        DirectoryFollow(
            corp_id=corp_id,
            userid=userid,
            external_userid=external_userid,
            remark=remark,
            remark_corp_name=None,
            added_at=WHEN,
            removed_at=WHEN if removed else None,
            removed_by="member" if removed else None,
            updated_at=WHEN,
        )
    )


def group(session: Session, corp_id: str, roomid: str, name: str, *, kind: str = "customer") -> None:
    session.merge(
        DirectoryGroup(
            corp_id=corp_id,
            roomid=roomid,
            name=name,
            kind=kind,
            owner=None,
            created_at=WHEN,
            is_active=True,
            updated_at=WHEN,
        )
    )


def robot(session: Session, corp_id: str, robot_id: str, name: str) -> None:
    session.merge(DirectoryRobot(corp_id=corp_id, robot_id=robot_id, name=name, creator_userid=None, updated_at=WHEN))


def whole_company(session: Session, company: Company) -> None:
    """Everything the simulated company knows: customers (no remarks), follows, groups,
    robots, and members with their departments (a no-op where the sync wrote them)."""
    for dept in company.departments:
        session.merge(
            DirectoryDepartment(
                corp_id=company.corp_id,
                dept_id=dept.id,
                name=dept.name,
                parent_id=dept.parent_id,
                is_active=True,
                updated_at=WHEN,
            )
        )
    session.flush()
    for employee in company.employees:
        member(session, company.corp_id, employee.userid, employee.name, dept_id=employee.department_id)
    for person in company.customers:
        customer(
            session, company.corp_id, person.external_userid, person.name, type=person.type, corp_name=person.corp_name
        )
    session.flush()
    for userid, external_userid in company.follows:
        follow(session, company.corp_id, userid, external_userid, None)
    for room in company.groups:
        group(session, company.corp_id, room.roomid, room.name, kind=room.kind)
    for bot in company.robots:
        robot(session, company.corp_id, bot.robot_id, bot.name)
