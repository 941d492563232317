"""The simulated company's org directory, as the records ``archive.directory`` syncs.

A later issue feeds the directory from WeCom's contact API; this is the simulator's
stand-in, so tests and the demo can scope retention by department.
"""

from __future__ import annotations

from archive.directory.service import DepartmentRecord, MemberRecord
from archive.simulator.company import Company


def directory_of(company: Company) -> tuple[list[DepartmentRecord], list[MemberRecord]]:
    """Every department and every employee (robots and customers are not members)."""
    departments = [DepartmentRecord(d.id, d.name, d.parent_id) for d in company.departments]
    members = [MemberRecord(e.userid, e.name, (e.department_id,)) for e in company.employees]
    return departments, members
