"""The simulated company's org directory as hand-made records for ``sync_directory``.

For tests that need a directory without WeCom's API in the way. Installations and the demo
sync from WeCom instead (``archive.directory.sync``; the simulator serves that API from
``archive.simulator.directory``).
"""

from __future__ import annotations

from archive.directory.service import DepartmentRecord, MemberRecord
from archive.simulator.company import Company


def directory_of(company: Company) -> tuple[list[DepartmentRecord], list[MemberRecord]]:
    """Every department and every employee (robots and customers are not members)."""
    departments = [DepartmentRecord(d.id, d.name, d.parent_id) for d in company.departments]
    members = [MemberRecord(e.userid, e.name, (e.department_id,)) for e in company.employees]
    return departments, members
