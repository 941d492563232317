"""Rule tables: seeded from the starter lexicons, scoped, and picked up without a restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit.detect.engine import EngineCache, compile_engine, load_rules
from audit.detect.hits import Severity
from audit.detect.rules import io as rules_io
from audit.detect.rules import repository
from audit.detect.rules.service import ensure_starter_rules
from audit.detect.rules.spec import LexiconGroup, RuleError, RuleSet
from audit.detect.rules.starter import starter_groups
from config.database import session_scope
from config.settings import DetectionSettings
from tests.audit.detect.conftest import STAFF_TO_CUSTOMER
from tests.conftest import Database

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
SETTINGS = DetectionSettings()


def _rules_hit(engine_rules: RuleSet, text: str, **fields: Any) -> list[str]:
    engine = compile_engine(engine_rules, SETTINGS)
    message = replace(STAFF_TO_CUSTOMER, text=text, **fields)
    return [hit.rule for hit in engine.scan([message])[0] if hit.detector == "lexicon"]


def test_starter_rules_seed_once_and_load_back(database: Database) -> None:
    with session_scope(database.sessions) as session:
        assert ensure_starter_rules(session, NOW) == len(starter_groups())
        assert ensure_starter_rules(session, NOW) == 0
    with session_scope(database.sessions) as session:
        loaded = load_rules(session)
    assert loaded.version == RuleSet(tuple(starter_groups())).version
    assert {group.category for group in loaded.groups} >= {
        "private_dealing",
        "kickback",
        "guaranteed_return",
        "off_platform_contact",
        "abuse",
        "competitor_poaching",
    }


def test_rule_changes_recompile_the_engine_without_a_restart(database: Database) -> None:
    cache = EngineCache(SETTINGS)
    message = replace(STAFF_TO_CUSTOMER, text="这是内部暗号青龙计划")
    with session_scope(database.sessions) as session:
        ensure_starter_rules(session, NOW)
        first = cache.get(session)
        assert cache.get(session) is first  # unchanged rules: the same compiled engine
        assert first.scan([message]) == [[]]

    draft = LexiconGroup("暗号", "private_dealing", Severity.HIGH, ("青龙计划",))
    with session_scope(database.sessions) as session:
        repository.save_group(session, draft, NOW + timedelta(seconds=1))
    with session_scope(database.sessions) as session:
        second = cache.get(session)
    assert second is not first and second.ruleset_version != first.ruleset_version
    assert [hit.rule for hit in second.scan([message])[0]] == ["暗号"]

    with session_scope(database.sessions) as session:
        repository.set_enabled(session, "暗号", False, NOW + timedelta(seconds=2))
    with session_scope(database.sessions) as session:
        third = cache.get(session)
    assert third.scan([message]) == [[]]
    assert third.ruleset_version == first.ruleset_version

    with session_scope(database.sessions) as session:
        repository.save_group(session, replace(draft, terms=("白虎计划",)), NOW + timedelta(seconds=3))
        repository.delete_group(session, "暗号")
    with session_scope(database.sessions) as session:
        assert cache.get(session).ruleset_version == first.ruleset_version


def test_scope_direction_and_chat_kind() -> None:
    group = LexiconGroup(
        "内部", "private_dealing", Severity.HIGH, ("青龙计划",), direction="staff", chat_kind="group",
        departments=frozenset({7}), rooms=frozenset({"wrRoomA"}),
    )  # fmt: skip
    rules = RuleSet((group,))
    text = "青龙计划"
    in_room = {"roomid": "wrRoomA", "chat_kind": "group"}
    assert _rules_hit(rules, text, **in_room) == ["内部"]
    assert _rules_hit(rules, text, roomid="wrOther", chat_kind="group") == []
    assert _rules_hit(rules, text, roomid="wrOther", chat_kind="group", sender_department_ids=frozenset({1, 7})) == [
        "内部"
    ]
    assert _rules_hit(rules, text) == []  # a single chat
    assert _rules_hit(rules, text, sender="wmCust", sender_is_staff=False, **in_room) == []
    internal = replace(group, chat_kind="internal", rooms=frozenset(), departments=frozenset())
    assert _rules_hit(RuleSet((internal,)), text) == []
    assert _rules_hit(RuleSet((internal,)), text, has_external=False, chat_kind="internal") == ["内部"]


def test_a_draft_group_can_be_simulated_in_memory() -> None:
    base = RuleSet(tuple(starter_groups()))
    draft = base.with_group(LexiconGroup("草稿", "kickback", Severity.LOW, ("茶水费",)))
    assert draft.version != base.version
    assert _rules_hit(draft, "给点茶水费") == ["草稿"]
    assert _rules_hit(base, "给点茶水费") == []


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_import_export_round_trip(tmp_path: Path, suffix: str) -> None:
    groups = [
        *starter_groups(),
        LexiconGroup(
            "范围", "abuse", Severity.LOW, ("笨蛋", "蠢, 货"), direction="customer", chat_kind="single",
            departments=frozenset({3, 12}), employees=frozenset({"lisi", "zhangsan"}), rooms=frozenset({"wr1"}),
            exclusions=("不笨蛋",), allowed_contexts=("玩笑",), enabled=False,
        ),
    ]  # fmt: skip
    path = tmp_path / f"lexicon{suffix}"
    rules_io.write_rules(groups, path)
    back = rules_io.read_rules(path)
    assert back == RuleSet(tuple(groups))
    assert back.version == RuleSet(tuple(groups)).version


def test_database_round_trip_through_a_file(database: Database, tmp_path: Path) -> None:
    with session_scope(database.sessions) as session:
        ensure_starter_rules(session, NOW)
        exported = repository.list_groups(session)
    path = tmp_path / "rules.xlsx"
    rules_io.write_rules(exported, path)
    with session_scope(database.sessions) as session:
        for group in exported:
            repository.delete_group(session, group.name)
        repository.save_groups(session, rules_io.read_rules(path).groups, NOW)
    with session_scope(database.sessions) as session:
        assert load_rules(session).version == RuleSet(tuple(exported)).version


def test_bad_files_say_which_line_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("group,category,severity,text\n返利,kickback,urgent,返利\n", encoding="utf-8")
    with pytest.raises(RuleError, match=r"line 2: severity must be one of"):
        rules_io.read_rules(path)
    with pytest.raises(RuleError, match=r"\.csv or \.xlsx"):
        rules_io.read_rules(tmp_path / "rules.txt")
