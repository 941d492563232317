"""Names in filters resolve to ids against the directory (exact, then a unique prefix), on
SQLite and PostgreSQL; ambiguous names list their candidates and unknown ones say so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
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
from search.errors import AmbiguousNameError, NameResolutionError, QuerySyntaxError, UnknownNameError
from search.names import resolve_names
from search.query import Filter, Query, parse_query, walk
from tests.audit.monitor.helpers import CORP as monitor_corp
from tests.audit.monitor.helpers import Chat, group, store
from tests.conftest import Database

CORP = "wwcorp"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.sessions() as session, session.begin():
        departments = [(1, "华信财富", None), (5, "销售部", 1), (6, "销售支持部", 1), (7, "客服部", 1)]
        for dept_id, name, parent in departments:
            session.add(
                DirectoryDepartment(
                    corp_id=CORP, dept_id=dept_id, name=name, parent_id=parent, is_active=True, updated_at=NOW
                )
            )
        members = [
            ("haoxl", "郝欣亮", 5),
            ("zhangwei", "张伟", 5),
            ("zhangwei2", "张伟", 7),  # a namesake in another department
            ("zhangmin", "张敏", 6),
            ("li", "Lisa", 7),
            ("lin", "li", 6),  # a name that is also the start of ids (li, lin, lisi ...)
        ]
        for userid, name, dept in members:
            session.add(DirectoryMember(corp_id=CORP, userid=userid, name=name, is_active=True, updated_at=NOW))
            session.flush()
            session.add(DirectoryMembership(corp_id=CORP, userid=userid, dept_id=dept))
        for external, name, company in [
            ("wmgu01", "顾女士", None),
            ("wmgu02", "顾先生", "远景科技"),
            ("wmqian", "钱总", None),
        ]:
            session.add(
                DirectoryCustomer(
                    corp_id=CORP, external_userid=external, name=name, type=1, corp_name=company, updated_at=NOW
                )
            )
        session.flush()
        session.add(
            DirectoryFollow(
                corp_id=CORP, userid="haoxl", external_userid="wmqian", remark="钱老板-养老", updated_at=NOW
            )
        )
        for roomid, name in [
            ("wrpension", "养老规划交流群"),
            ("wrpension2", "养老规划VIP群"),
            ("wrfund", "基金定投群"),
        ]:
            session.add(
                DirectoryGroup(corp_id=CORP, roomid=roomid, name=name, kind="customer", is_active=True, updated_at=NOW)
            )
        session.add(DirectoryRobot(corp_id=CORP, robot_id="wbremind", name="提醒小助手", updated_at=NOW))
    with database.sessions() as reading:
        yield reading


def resolved(session: Session, text: str) -> list[tuple[str, str]]:
    query: Query = resolve_names(session, parse_query(text), [CORP])
    return [(node.field, node.value) for node in walk(query) if isinstance(node, Filter)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from:郝欣亮", [("from", "haoxl")]),  # exact member name
        ("from:郝", [("from", "haoxl")]),  # unique prefix
        ("to:顾先生", [("to", "wmgu02")]),  # to: and from: also name customers
        ("from:提醒", [("from", "wbremind")]),  # and robots
        ("customer:顾女士", [("customer", "wmgu01")]),
        ("customer:钱老板", [("customer", "wmqian")]),  # a follower's remark
        ("room:养老规划交流群", [("room", "wrpension")]),
        ('room:"基金"', [("room", "wrfund")]),
        ("dept:销售部", [("dept", "5")]),  # exact beats the prefix of 销售支持部
        ("dept:客服", [("dept", "7")]),
        # Ids keep working, also where they start other ids or names.
        (
            "from:haoxl to:wmgu01 room:wrfund dept:6",
            [("from", "haoxl"), ("to", "wmgu01"), ("room", "wrfund"), ("dept", "6")],
        ),
        ("from:li", [("from", "li")]),  # an id wins over the member *named* li
        ("from:zhangwei", [("from", "zhangwei")]),
        ("dept:99", [("dept", "99")]),  # a department id is kept (departments of people who left)
        # Under NOT and OR too; each name resolved once.
        (
            "返利 -(from:郝欣亮 OR customer:顾女士) from:郝欣亮",
            [("from", "haoxl"), ("customer", "wmgu01"), ("from", "haoxl")],
        ),
    ],
)
def test_names_become_ids(session: Session, text: str, expected: list[tuple[str, str]]) -> None:
    assert resolved(session, text) == expected


def test_a_name_that_is_also_an_id_prefix_resolves_as_a_name(session: Session) -> None:
    """ "lis" starts the id lisi-like ids and the name Lisa: ids match exactly only, names by prefix."""
    assert resolved(session, "from:Lis") == [("from", "li")]  # the member named Lisa (id "li")


def test_an_ambiguous_name_lists_its_candidates(session: Session) -> None:
    with pytest.raises(AmbiguousNameError) as raised:
        resolved(session, "返利 from:张伟")
    error = raised.value
    assert isinstance(error, QuerySyntaxError) and error.position == len("返利 from:")
    assert (error.field, error.value) == ("from", "张伟")
    assert [(c.kind, c.id, c.name, c.detail) for c in error.candidates] == [
        ("member", "zhangwei", "张伟", "销售部"),
        ("member", "zhangwei2", "张伟", "客服部"),
    ]
    assert "张伟 (销售部, member zhangwei)" in error.message and "客服部" in error.message


def test_an_ambiguous_prefix_lists_every_entry_it_starts(session: Session) -> None:
    with pytest.raises(AmbiguousNameError) as raised:
        resolved(session, "from:张")
    assert {c.id for c in raised.value.candidates} == {"zhangwei", "zhangwei2", "zhangmin"}
    with pytest.raises(AmbiguousNameError) as raised:
        resolved(session, "customer:顾")
    assert [(c.id, c.detail) for c in raised.value.candidates] == [("wmgu02", "远景科技"), ("wmgu01", "")]
    with pytest.raises(AmbiguousNameError) as raised:
        resolved(session, "room:养老规划")
    assert {c.id for c in raised.value.candidates} == {"wrpension", "wrpension2"}
    with pytest.raises(AmbiguousNameError) as raised:
        resolved(session, "dept:销售")
    # Not ambiguous at the exact step (nobody is named 销售), so the prefix step lists both.
    assert [(c.id, c.name, c.detail) for c in raised.value.candidates] == [
        ("6", "销售支持部", "华信财富"),
        ("5", "销售部", "华信财富"),
    ]


@pytest.mark.parametrize(
    ("text", "field"),
    [("from:郝鑫亮", "from"), ("customer:郝欣亮", "customer"), ("room:理财群", "room"), ("dept:人事部", "dept")],
)
def test_a_name_that_matches_nothing_says_so(session: Session, text: str, field: str) -> None:
    with pytest.raises(UnknownNameError) as raised:
        resolved(session, text)
    assert raised.value.field == field and raised.value.candidates == ()
    assert "matches nothing" in raised.value.message
    assert isinstance(raised.value, NameResolutionError)


def test_names_resolve_only_in_the_corps_asked_for(session: Session) -> None:
    with pytest.raises(UnknownNameError):
        resolve_names(session, parse_query("from:郝欣亮"), ["wwother"])


def test_an_id_the_directory_does_not_know_is_kept_only_when_the_archive_has_it(database: Database) -> None:
    """Robots, people who left before the first sync, a directory never synced: their ids
    are in the archive only. A mistyped ASCII name is in neither and says so."""
    moment = datetime(2026, 12, 1, 10, tzinfo=UTC)
    store(database, group("wrghost", ["ghost01", "wmghost"], [Chat("ghost01", moment)]))
    with database.sessions() as session:
        kept = resolve_names(
            session, parse_query("from:ghost01 to:wmghost customer:wmghost room:wrghost"), [monitor_corp]
        )
        assert [(node.field, node.value) for node in walk(kept) if isinstance(node, Filter)] == [
            ("from", "ghost01"),
            ("to", "wmghost"),
            ("customer", "wmghost"),
            ("room", "wrghost"),
        ]
        for mistyped in ("from:ghots01", "room:wrghots", "customer:ghost01x"):
            with pytest.raises(UnknownNameError) as raised:
                resolve_names(session, parse_query(mistyped), [monitor_corp])
            assert "no archived message involves it" in raised.value.message
        with pytest.raises(UnknownNameError):  # only the corps asked about
            resolve_names(session, parse_query("from:ghost01"), ["wwother"])
