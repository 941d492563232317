"""Rules and lexicons in the browser: simulate a new word group before saving it, save it
disabled, enable it, export the lexicon as CSV and Excel and import a CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from audit.accesslog.models import AccessLogEntry
from audit.detect.rules import repository as rules
from config.database import session_scope
from tests.api.world import PURPOSE
from tests.console.conftest import ConsoleSite, Watched
from tests.console.test_acceptance import CJK_PAIR, rare_pair

GROUP = "console.simulated"


def archived_term(site: ConsoleSite) -> str:
    """A two-character term of the archive, not the one the acceptance test searches (the
    group made here is deleted at the end, but the session's world is shared)."""
    avoid = rare_pair(site)[0]
    for text in site.world.message_texts:
        for pair in CJK_PAIR.findall(text):
            if pair != avoid and avoid not in text:
                return str(pair)
    raise AssertionError("no Chinese text in the archive")


def test_simulate_a_new_group_then_save_enable_and_delete_it(tab: Watched, console_site: ConsoleSite) -> None:
    term = archived_term(console_site)
    page = tab.page
    tab.login("compliance_officer")
    page.locator('nav.menu a[data-nav="rules"]').click()
    assert page.locator("tr[data-group]").count() >= 1  # the starter lexicons
    tab.screenshot("rules")

    page.get_by_role("link", name="新建词组").click()
    page.get_by_label("名称（即规则名）").fill(GROUP)
    page.get_by_label("类别（如 fraud.rebate）").fill("test.console")
    page.get_by_label("严重程度").select_option("high")
    page.get_by_label("词语（每行一个）").fill(f"{term}\n不会出现的词语组合")
    page.get_by_label("模拟最近").select_option("90")
    page.get_by_role("button", name="模拟（不保存）").click()
    summary = page.locator("#simulation [data-hits]")
    assert int(summary.get_attribute("data-hits") or 0) >= 1, summary.inner_text()  # the term is in the archive
    assert page.get_by_label("名称（即规则名）").input_value() == GROUP  # the draft is kept
    tab.screenshot("rule-simulation")
    with session_scope(console_site.world.context.session_factory) as session:
        assert rules.get_group(session, GROUP) is None  # simulating saved nothing

    page.get_by_role("button", name="保存", exact=True).click()
    assert page.get_by_role("status").inner_text() == f"已保存词组 {GROUP}。"
    row = page.locator(f'tr[data-group="{GROUP}"]')
    assert row.get_attribute("data-enabled") == "false"  # saved without enabling
    row.get_by_role("button", name="启用").click()
    assert page.locator(f'tr[data-group="{GROUP}"]').get_attribute("data-enabled") == "true"

    with session_scope(console_site.world.context.session_factory) as session:
        group = rules.get_group(session, GROUP)
        assert group is not None and group.enabled and term in group.terms
        actions = session.scalars(
            select(AccessLogEntry.action).where(AccessLogEntry.action.startswith("admin.rules."))
        ).all()
    assert {"admin.rules.simulate", "admin.rules.create", "admin.rules.enable"} <= set(actions)

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-group="{GROUP}"]').get_by_role("button", name="删除").click()
    assert page.get_by_role("status").inner_text() == f"已删除词组 {GROUP}。"
    with session_scope(console_site.world.context.session_factory) as session:
        assert rules.get_group(session, GROUP) is None


def test_an_invalid_group_keeps_the_form_and_says_why(tab: Watched) -> None:
    tab.expected_statuses.add(400)
    tab.login("compliance_officer")
    tab.goto("/console/rules/new")
    page = tab.page
    page.get_by_label("名称（即规则名）").fill("console.empty")
    page.get_by_label("类别（如 fraud.rebate）").fill("test")
    page.get_by_label("词语（每行一个）").fill("   ")
    page.get_by_role("button", name="保存", exact=True).click()
    assert "at least one term" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("名称（即规则名）").input_value() == "console.empty"


def test_export_and_import_the_lexicon(tab: Watched, console_site: ConsoleSite, tmp_path: Path) -> None:
    page = tab.page
    tab.login("compliance_officer")
    tab.goto("/console/rules")
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="导出 CSV").click()
    exported = csv_download.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows and {"group", "category", "severity", "kind", "text"} <= set(rows[0])
    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="导出 Excel").click()
    workbook = tmp_path / "lexicon.xlsx"
    xlsx_download.value.save_as(workbook)
    sheet = load_workbook(workbook, read_only=True).active
    assert sheet is not None
    assert len(list(sheet.iter_rows(values_only=True))) == len(rows) + 1

    upload = tmp_path / "extra.csv"
    upload.write_text(
        "group,category,severity,kind,text\nconsole.imported,test.import,low,term,导入测试词\n", encoding="utf-8"
    )
    page.get_by_label("文件（.csv / .xlsx", exact=False).set_input_files(str(upload))
    page.get_by_role("button", name="导入").click()
    assert page.get_by_role("status").inner_text() == "已导入 1 个词组。"
    assert page.locator('tr[data-group="console.imported"]').is_visible()
    with session_scope(console_site.world.context.session_factory) as session:
        imported = rules.get_group(session, "console.imported")
    assert imported is not None and imported.terms == ("导入测试词",)


def test_a_reviewer_reads_the_rules_but_cannot_change_them(tab: Watched) -> None:
    tab.expected_statuses.add(403)
    tab.login("reviewer")
    tab.goto("/console/rules")
    assert tab.page.get_by_role("link", name="新建词组").count() == 0
    assert tab.goto("/console/rules/new").status == 403
    assert PURPOSE  # (rules are not chat content: no purpose is asked)


def test_the_staff_and_groups_a_draft_is_limited_to_are_shown_by_name(tab: Watched, console_site: ConsoleSite) -> None:
    member = console_site.world.edge.simulator.company.employees[0]
    page = tab.page
    tab.login("compliance_officer")
    tab.goto("/console/rules/new")
    page.get_by_label("名称（即规则名）").fill("test.limited")
    page.get_by_label("类别（如 fraud.rebate）").fill("test.console")
    page.get_by_label("词语（每行一个）").fill("不会出现的词语组合")
    page.get_by_label("仅限员工（userid，逗号分隔）").fill(f"{member.userid}, NoSuchMember")
    page.get_by_role("button", name="模拟（不保存）").click()
    names = page.locator("[data-rule-names]")
    assert member.name in names.inner_text() and "未同步" in names.inner_text()
    assert names.locator(f'[data-wecom-id="{member.userid}"]').get_attribute("title") == member.userid
    assert names.locator('[data-wecom-id="NoSuchMember"] [data-id-only]').inner_text() == "NoSuchMember"
