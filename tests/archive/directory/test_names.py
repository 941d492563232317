"""The one name resolver (``archive.directory.names``) on SQLite and PostgreSQL: members,
customers by remark or name (＠corp for WeCom users), groups, robots, same-named people
told apart, and ids the directory does not know yet marked unsynced."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from archive.directory import names
from tests import directory_rows as rows
from tests.conftest import Database

CORP = "wwcorp"
OTHER_CORP = "wwother"
WECHAT_USER = "wmAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1"
WECOM_USER = "woBBBBBBBBBBBBBBBBBBBBBBBBBBBBB2"
ROOM = "wrCCCCCCCCCCCCCCCCCCCCCCCCCCCC3"
ROBOT = "wbDDDDDDDDDDDDDDDDDDDD4"


def _resolve(database: Database, ids: list[str], **kwargs: Any) -> names.Names:
    with database.sessions() as session:
        return names.display_names(session, CORP, ids, **kwargs)


def test_members_groups_and_robots_by_their_directory_names(database: Database) -> None:
    with database.sessions.begin() as session:
        rows.member(session, CORP, "zhangsan", "张三")
        rows.member(session, CORP, "wolfgang", "沃尔夫冈")  # a userid that looks like an external id
        rows.member(session, CORP, "lisi", "李四", active=False)
        rows.group(session, CORP, ROOM, "VIP 客户群")
        rows.robot(session, CORP, ROBOT, "行情早报助手")
    found = _resolve(database, ["zhangsan", "wolfgang", "lisi", ROOM, ROBOT])
    assert found.of("zhangsan") == names.Name("zhangsan", "张三", "member", synced=True)
    assert found.of("wolfgang") == names.Name("wolfgang", "沃尔夫冈", "member", synced=True)
    assert found.label("lisi") == "李四（已离职）"
    assert found.of(ROOM) == names.Name(ROOM, "VIP 客户群", "group", synced=True)
    assert found.label(ROBOT) == "行情早报助手（机器人）"
    assert found.of(ROBOT).kind == "robot"


def test_a_customer_is_named_by_the_remark_of_the_follower_at_hand(database: Database) -> None:
    with database.sessions.begin() as session:
        rows.customer(session, CORP, WECHAT_USER, "微信昵称")
        rows.follow(session, CORP, "advisor", WECHAT_USER, "王女士-理财")
        rows.follow(session, CORP, "service", WECHAT_USER, "王姐 客服")
    assert _resolve(database, [WECHAT_USER], followers={"service"}).label(WECHAT_USER) == "王姐 客服"
    assert _resolve(database, [WECHAT_USER], followers={"advisor"}).label(WECHAT_USER) == "王女士-理财"
    # No follower at hand: any follower's remark (the same one every time), never the nickname.
    assert _resolve(database, [WECHAT_USER]).label(WECHAT_USER) == "王女士-理财"


def test_a_current_remark_wins_over_an_ended_one_and_no_remark_means_the_name(database: Database) -> None:
    with database.sessions.begin() as session:
        rows.customer(session, CORP, WECHAT_USER, "微信昵称")
        rows.follow(session, CORP, "advisor", WECHAT_USER, "旧备注", removed=True)
        rows.follow(session, CORP, "service", WECHAT_USER, "新备注")
        rows.customer(session, CORP, WECOM_USER, "陈经理", type=2, corp_name="上海华信")
        rows.follow(session, CORP, "advisor", WECOM_USER, "")
    found = _resolve(database, [WECHAT_USER, WECOM_USER])
    assert found.label(WECHAT_USER) == "新备注"
    # A WeCom user is shown with their company, as WeCom's own UI does.
    assert found.of(WECOM_USER) == names.Name(WECOM_USER, "陈经理＠上海华信", "customer", synced=True)


def test_same_named_people_are_told_apart(database: Database) -> None:
    with database.sessions.begin() as session:
        rows.department(session, CORP, 2, "财富管理部")
        rows.department(session, CORP, 3, "客户服务部")
        rows.member(session, CORP, "zhangwei1", "张伟", dept_id=2)
        rows.member(session, CORP, "zhangwei2", "张伟", dept_id=3)
        rows.member(session, CORP, "zhangwei3", "张伟", dept_id=3)
        rows.member(session, CORP, "wangfang", "王芳", dept_id=2)
        rows.customer(session, CORP, WECHAT_USER, "小李")
        rows.customer(session, CORP, WECOM_USER, "小李")
    found = _resolve(database, ["zhangwei1", "zhangwei2", "zhangwei3", "wangfang", WECHAT_USER, WECOM_USER])
    assert found.label("zhangwei1") == "张伟（财富管理部）"
    # The department does not tell these two apart: the end of the id does.
    assert found.label("zhangwei2") == "张伟（客户服务部）（…wei2）"
    assert found.label("zhangwei3") == "张伟（客户服务部）（…wei3）"
    assert found.label("wangfang") == "王芳"  # only the same-named get a suffix
    assert found.label(WECHAT_USER) == "小李（…AAA1）"
    assert found.label(WECOM_USER) == "小李（…BBB2）"


def test_unknown_ids_keep_their_id_and_are_marked_unsynced(database: Database) -> None:
    with database.sessions.begin() as session:
        rows.member(session, OTHER_CORP, "zhangsan", "别家的张三")
    found = _resolve(database, ["zhangsan", WECHAT_USER, ROOM, ROBOT])
    expected: list[tuple[str, names.Kind]] = [
        ("zhangsan", "member"),
        (WECHAT_USER, "customer"),
        (ROOM, "group"),
        (ROBOT, "robot"),
    ]
    for wecom_id, kind in expected:
        assert found.of(wecom_id) == names.Name(wecom_id, wecom_id, kind, synced=False)
    assert found.of(WECHAT_USER).with_id() == f"{WECHAT_USER}（未同步）"
    # Not even asked for: still an answer, never an error.
    assert found.of("wrNEVERSEEN").synced is False
    # Every corp when none is given.
    with database.sessions() as session:
        assert names.display_names(session, None, ["zhangsan"]).label("zhangsan") == "别家的张三"


def test_one_query_per_kind_however_many_ids(database: Database) -> None:
    with database.sessions.begin() as session:
        for n in range(30):
            rows.member(session, CORP, f"user{n:02d}", f"员工{n}")
            rows.customer(session, CORP, f"wm{n:030d}", f"客户{n}")
            rows.follow(session, CORP, f"user{n:02d}", f"wm{n:030d}", f"备注{n}")
    ids = [f"user{n:02d}" for n in range(30)] + [f"wm{n:030d}" for n in range(30)] + [ROOM, ROBOT]
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *rest: object) -> None:
        statements.append(statement)

    with database.sessions() as session:
        engine = database.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            found = names.display_names(session, CORP, ids)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert found.label("user07") == "员工7"
    assert found.label(f"wm{7:030d}") == "备注7"
    # members, customers, follows, groups, robots: five, not one per id.
    assert len(statements) == 5, statements
