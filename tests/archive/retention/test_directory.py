"""The org directory syncs from a feed: upserts, never deletes, and knows department subtrees."""

from __future__ import annotations

from sqlalchemy import select

from archive.directory import repository
from archive.directory.models import DirectoryDepartment, DirectoryMember
from archive.directory.service import DepartmentRecord, MemberRecord, department_subtree, sync_directory
from archive.simulator.company import build_company
from archive.simulator.directory_feed import directory_of
from config.database import session_scope
from tests.archive.retention.helpers import DAY, NOW
from tests.conftest import Database

CORP_ID = "wwdirectorytest"


def test_the_simulated_company_syncs_and_departments_cover_their_subtrees(database: Database) -> None:
    company = build_company(11)
    departments, members = directory_of(company)
    with session_scope(database.sessions) as session:
        report = sync_directory(session, CORP_ID, departments, members, NOW)
    assert (report.departments_added, report.members_added) == (len(company.departments), len(company.employees))
    with session_scope(database.sessions) as session:
        again = sync_directory(session, CORP_ID, departments, members, NOW + DAY)
        assert department_subtree(session, CORP_ID, 3) == {3, 4, 5, 6}
        assert department_subtree(session, CORP_ID, 1) == {d.id for d in company.departments}
        assert department_subtree(session, CORP_ID, 12) == {12}
        memberships = repository.memberships(session, CORP_ID, [e.userid for e in company.employees[:3]])
    assert again.members_added == again.memberships_changed == again.members_deactivated == 0
    assert memberships == {e.userid: {e.department_id} for e in company.employees[:3]}


def test_members_and_departments_that_leave_become_inactive_never_deleted(database: Database) -> None:
    departments = [
        DepartmentRecord(1, "总公司", None),
        DepartmentRecord(2, "销售部", 1),
        DepartmentRecord(3, "客服部", 1),
    ]
    members = [MemberRecord("LiNa", "李娜", (2,)), MemberRecord("WangFang", "王芳", (2, 3))]
    with session_scope(database.sessions) as session:
        sync_directory(session, CORP_ID, departments, members, NOW)
    with session_scope(database.sessions) as session:
        report = sync_directory(session, CORP_ID, departments[:2], [MemberRecord("WangFang", "王芳", (2,))], NOW + DAY)
    assert (report.members_deactivated, report.departments_deactivated, report.memberships_changed) == (1, 1, 1)
    with database.sessions() as session:
        active = {m.userid: m.is_active for m in session.scalars(select(DirectoryMember))}
        depts = {d.dept_id: d.is_active for d in session.scalars(select(DirectoryDepartment))}
        memberships = repository.memberships(session, CORP_ID)
    assert active == {"LiNa": False, "WangFang": True}
    assert depts == {1: True, 2: True, 3: False}
    assert memberships == {"LiNa": {2}, "WangFang": {2}}, "a member who left keeps its last departments"

    with session_scope(database.sessions) as session:
        back = sync_directory(session, CORP_ID, departments, [*members], NOW + 2 * DAY)
    assert back.members_added == 0 and back.memberships_changed == 1
    with database.sessions() as session:
        assert all(m.is_active for m in session.scalars(select(DirectoryMember)))
