"""``dept:`` filters name one department and mean its whole subtree, resolved per request
from the directory (the tree changes; the index stores only each message's departments)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from archive.directory.service import department_subtree
from search.query import Query, resolve_departments


def expand_departments(session: Session, query: Query, corp_ids: Iterable[str]) -> Query:
    """``query`` with each ``dept:`` filter widened to the department's subtree in ``corp_ids``."""
    corps = list(corp_ids)

    def subtree(dept_id: int) -> set[int]:
        found = {dept_id}
        for corp_id in corps:
            found |= department_subtree(session, corp_id, dept_id)
        return found

    return resolve_departments(query, subtree)
