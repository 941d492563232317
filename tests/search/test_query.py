"""The officers' query language: what each construct parses to, and where errors point."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from search.errors import QuerySyntaxError
from search.query import (
    MAX_QUERY_DEPTH,
    And,
    Filter,
    MatchAll,
    Near,
    Not,
    Or,
    Phrase,
    Term,
    parse_query,
    resolve_departments,
)


def test_words_are_folded_and_joined_by_an_implicit_and() -> None:
    assert parse_query("返利 ＶＸ 轉賬") == And((Term("返利", "返利"), Term("vx", "ＶＸ"), Term("转账", "轉賬")))


def test_keywords_are_case_insensitive_and_or_binds_loosest() -> None:
    a, b, c = Term("a", "a"), Term("b", "b"), Term("c", "c")
    assert parse_query("a and b OR c") == Or((And((a, b)), c))
    assert parse_query("a or b AND c") == Or((a, And((b, c))))
    assert parse_query("a Or (b c)") == Or((a, And((b, c))))
    assert parse_query("NOT a -b not(c)") == And((Not(a), Not(b), Not(c)))


def test_phrases_keep_spaces_and_escapes() -> None:
    assert parse_query('"加 微信"') == Phrase("加 微信", "加 微信")
    assert parse_query(r'"说\"好\""') == Phrase('说"好"', '说"好"')


def test_a_lone_dash_is_a_word_and_a_dash_inside_a_word_is_kept() -> None:
    assert parse_query("a - b") == And((Term("a", "a"), Term("-", "-"), Term("b", "b")))
    assert parse_query("wx-id") == Term("wx-id", "wx-id")


def test_near() -> None:
    assert parse_query("返利 NEAR/5 微信") == Near(Term("返利", "返利"), Term("微信", "微信"), 5)
    assert parse_query('"加 我" near 微信') == Near(Phrase("加 我", "加 我"), Term("微信", "微信"), 10)


def test_filters() -> None:
    query = parse_query('from:ZhangSan room:"wr abc" type:Image has:MEDIA severity:High sentiment:negative rule:pii')
    assert query == And(
        (
            Filter("from", "ZhangSan"),
            Filter("room", "wr abc"),
            Filter("type", "image"),
            Filter("has", "media"),
            Filter("severity", "high"),
            Filter("sentiment", "negative"),
            Filter("rule", "pii"),
        )
    )


def test_dates_are_midnight_in_the_query_zone() -> None:
    after = parse_query("after:2026-11-01")
    assert isinstance(after, Filter) and after.at == datetime(2026, 10, 31, 16, tzinfo=UTC)
    before = parse_query("before:2026-11-20", zone=ZoneInfo("Europe/Berlin"))
    assert isinstance(before, Filter) and before.at == datetime(2026, 11, 19, 23, tzinfo=UTC)


def test_the_date_range_and_the_nesting_limit_are_inclusive() -> None:
    assert isinstance(parse_query("after:1900-01-01 before:2199-12-31"), And)
    nested = "NOT " * (MAX_QUERY_DEPTH - 1) + "(" + "a" + ")"
    query = parse_query(nested)
    for _ in range(MAX_QUERY_DEPTH - 1):
        assert isinstance(query, Not)
        query = query.item
    assert query == Term("a", "a")


def test_dept_expands_to_its_subtree_when_resolved() -> None:
    query = resolve_departments(parse_query("dept:2 OR NOT dept:5"), lambda dept: {dept, dept * 10})
    assert isinstance(query, Or)
    first, second = query.items
    assert isinstance(first, Filter) and first.departments() == {2, 20}
    assert isinstance(second, Not) and isinstance(second.item, Filter) and second.item.departments() == {5, 50}
    single = parse_query("dept:7")
    assert isinstance(single, Filter) and single.departments() == {7}


def test_an_empty_query_matches_everything() -> None:
    assert parse_query("") == MatchAll()
    assert parse_query("   ") == MatchAll()


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        ("(a b", "expected )", 4),
        ("a (b OR c", "expected )", 9),
        ("a )", "unbalanced )", 2),
        ('a "b c', "unterminated quote", 2),
        ("a AND", "expected a word, phrase or filter", 5),
        ("OR a", "expected a word, phrase or filter before OR", 0),
        ("a NOT", "expected a word, phrase or filter", 5),
        ("()", "expected a word, phrase or filter", 1),
        ("NEAR/3 b", "needs a word or phrase on its left", 0),
        ("a NEAR/3", "expected a word or a quoted phrase after NEAR/3", 8),
        ("a NEAR/3 from:x", "expected a word or a quoted phrase after NEAR/3", 9),
        ("a NEAR/2 b NEAR/2 c", "NEAR joins exactly two", 11),
        ("a NEAR/5000 b", "NEAR distance must be at most", 2),
        ("from: x", "expected a value after from:", 5),
        ("after:2026-13-01", "after: takes a date", 6),
        ("has:link", "has: takes one of media, hit", 4),
        ("severity:urgent", "severity: takes one of low, medium, high, critical", 9),
        ("sentiment:angry", "sentiment: takes one of", 10),
        ("返利 form:张三", 'unknown filter "form:"', 3),
        ('""', "empty phrase", 0),
        # Issue 15 item 11: each of these used to escape the parser (or a backend) as a 500.
        ("after:0001-01-01", "after: takes a date from 1900-01-01 to 2199-12-31", 6),
        ("before:0001-01-01", "before: takes a date from 1900-01-01 to 2199-12-31", 7),
        ("after:9999-12-31", "after: takes a date from 1900-01-01 to 2199-12-31", 6),
        ("a " + "(" * 300 + "b" + ")" * 300, "nested too deeply", 2 + MAX_QUERY_DEPTH),
        ("-" * 1999, "nested too deeply", MAX_QUERY_DEPTH),
        ("NOT " * 499 + "a", "nested too deeply", 4 * MAX_QUERY_DEPTH),
        ("a \x00 b", "control character U+0000", 2),
        ("dept:" + "9" * 30, "dept: takes a department id", 5),
    ],
)
def test_errors_point_at_the_position(query: str, message: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query(query)
    assert message in raised.value.message
    assert raised.value.position == position
    assert str(raised.value) == f"{raised.value.message} at {position}"


def test_people_rooms_and_departments_may_be_named() -> None:
    """Names stay as typed (search.names resolves them); the value's position is kept for
    the error that says a name matched nothing or several entries."""
    query = parse_query('返利 dept:销售部 from:郝欣亮 room:"养老 规划群" dept:²')
    assert isinstance(query, And)
    filters = [item for item in query.items if isinstance(item, Filter)]
    assert [(f.field, f.value, f.position) for f in filters] == [
        ("dept", "销售部", 8),
        ("from", "郝欣亮", 17),
        ("room", "养老 规划群", 26),
        ("dept", "²", 40),
    ]
    assert filters[0].departments() == frozenset()  # a name nobody resolved matches nothing


def test_the_caret_lands_under_the_position_in_wide_characters() -> None:
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query("(返利 OR 微信")
    assert raised.value.caret("(返利 OR 微信") == "(返利 OR 微信\n" + " " * 13 + "^"
