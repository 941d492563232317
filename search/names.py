"""Names in the query language: ``from:郝欣亮``, ``customer:顾女士``, ``room:养老规划交流群``,
``dept:销售部`` mean the ids the directory gives those names *now*, resolved per request
(like ``search.departments`` resolves a department's subtree), so backends only ever see
ids and one contract suite covers both.

A value is, in this order:

1. an id when the directory knows it as one (ids keep working, and win over a namesake);
2. the one entry whose name equals it (for customers also a follower's remark);
3. the one entry whose name starts with it;
4. several entries at step 2 or 3: ``AmbiguousNameError`` listing them;
5. nothing found: an id-shaped value (ASCII, no spaces; ``dept:`` digits) is kept as an id
   when an archived message involves it, because the archive holds ids the directory may not
   list (robots, people who left before the first sync, a directory never synced); anything
   else (a mistyped ASCII name included) raises ``UnknownNameError`` rather than finding nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from search import repository
from search.errors import AmbiguousNameError, NameCandidate, UnknownNameError
from search.query import Filter, Query, is_department_id, map_filters

# What each filter's value may name, and how an error message calls them.
KINDS_BY_FIELD: dict[str, tuple[str, ...]] = {
    "from": ("member", "customer", "robot"),
    "to": ("member", "customer", "robot"),
    "customer": ("customer",),
    "room": ("group",),
    "dept": ("department",),
}
_WHAT = {
    "from": "member, customer or robot",
    "to": "member, customer or robot",
    "customer": "customer (by name or a follower's remark)",
    "room": "group",
    "dept": "department",
}
# WeCom ids: userid, external_userid (wm…/wo…), roomid (wr…), robot id (wb…).
_ID_SHAPE = re.compile(r"[A-Za-z0-9_.@=\-]+")
# Candidates an error lists (the message and the API problem); more are counted, not shown.
MAX_CANDIDATES_SHOWN = 10


def resolve_names(session: Session, query: Query, corp_ids: Iterable[str]) -> Query:
    """``query`` with each name in a ``from:``/``to:``/``customer:``/``room:``/``dept:``
    filter replaced by its id in ``corp_ids``' directories. Raises ``UnknownNameError`` or
    ``AmbiguousNameError`` (positioned at the value, with the candidates)."""
    corps = sorted(set(corp_ids))
    resolved: dict[tuple[str, str], str] = {}

    def resolve(item: Filter) -> Filter:
        if item.field not in KINDS_BY_FIELD:
            return item
        key = (item.field, item.value)
        if key not in resolved:
            resolved[key] = _resolve_value(session, corps, item)
        value = resolved[key]
        return item if value == item.value else replace(item, value=value)

    return map_filters(query, resolve)


def _resolve_value(session: Session, corps: list[str], item: Filter) -> str:
    rows = repository.named(session, KINDS_BY_FIELD[item.field], corps, item.value)
    if any(row.how == "id" for row in rows):
        return item.value
    for how in ("name", "prefix"):
        matching = [row for row in rows if row.how == how]
        ids = sorted({row.id for row in matching})
        if len(ids) == 1:
            return ids[0]
        if ids:
            candidates = _candidates(session, matching)
            shown = "; ".join(_describe(candidate) for candidate in candidates[:MAX_CANDIDATES_SHOWN])
            more = len(candidates) - MAX_CANDIDATES_SHOWN
            wording = "is the name of" if how == "name" else "starts the names of"
            raise AmbiguousNameError(
                f'{item.field}:{item.value} is ambiguous: "{item.value}" {wording} {len(candidates)}'
                f"{'+' if len(matching) >= repository.NAME_LOOKUP_LIMIT else ''} entries: {shown}"
                f"{f'; and {more} more' if more > 0 else ''} (use more of the name, or the id)",
                item.position,
                item.field,
                item.value,
                tuple(candidates),
            )
    if item.field == "dept" and is_department_id(item.value):
        return item.value
    if (
        item.field != "dept"
        and _ID_SHAPE.fullmatch(item.value)
        and repository.in_archive(session, corps, item.field, item.value)
    ):
        return item.value
    raise UnknownNameError(
        f"{item.field}:{item.value} matches nothing: no {_WHAT[item.field]}"
        f' has that id or a name starting with "{item.value}", and no archived message involves it',
        item.position,
        item.field,
        item.value,
    )


def _candidates(session: Session, rows: Sequence[repository.NamedRow]) -> list[NameCandidate]:
    """One candidate per (kind, corp, id), with what tells namesakes apart."""
    unique = {(row.kind, row.corp_id, row.id): row for row in rows}
    details: dict[tuple[str, str, str], str] = {}
    for corp_id in sorted({row.corp_id for row in unique.values()}):
        ids = {kind: [i for k, c, i in unique if k == kind and c == corp_id] for kind in KINDS_BY_FIELD["from"]}
        departments = repository.member_departments(session, corp_id, ids["member"]) if ids["member"] else {}
        for userid, names in departments.items():
            details[("member", corp_id, userid)] = "、".join(names)
        companies = repository.customer_corps(session, corp_id, ids["customer"]) if ids["customer"] else {}
        for external_userid, company in companies.items():
            details[("customer", corp_id, external_userid)] = company or ""
        dept_ids = [int(i) for k, c, i in unique if k == "department" and c == corp_id]
        for dept_id, parent in repository.department_parent_names(session, corp_id, dept_ids).items():
            details[("department", corp_id, str(dept_id))] = parent
    return [
        NameCandidate(row.kind, row.id, row.name, details.get(key, ""), row.corp_id)
        for key, row in sorted(unique.items(), key=lambda pair: (pair[1].name, pair[1].id))
    ]


def _describe(candidate: NameCandidate) -> str:
    detail = f"{candidate.detail}, " if candidate.detail else ""
    return f"{candidate.name} ({detail}{candidate.kind} {candidate.id})"
