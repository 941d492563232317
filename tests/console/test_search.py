"""The search page: syntax errors point at the problem, facets narrow the query, searches
can be saved and run again, and the results export as a ZIP whose manifest holds the
SHA-256 of the exported file (through the API's export route and the access gate)."""

from __future__ import annotations

import hashlib
import json
import zipfile

from sqlalchemy import select

from audit.accesslog.models import AccessLogEntry
from config.database import session_scope
from tests.api.world import PURPOSE
from tests.console.conftest import ConsoleSite, Watched
from tests.console.test_acceptance import rare_pair


def signed_in_search(tab: Watched) -> None:
    tab.login("compliance_officer")
    tab.goto("/console/search")
    tab.give_purpose(PURPOSE)


def search(tab: Watched, query: str) -> None:
    tab.page.get_by_label("查询").fill(query)
    tab.page.keyboard.press("Enter")
    tab.page.locator("#result-count, #results .error, #results .empty").first.wait_for()


def test_an_empty_search_page_explains_itself_and_a_syntax_error_says_where(tab: Watched) -> None:
    signed_in_search(tab)
    assert tab.page.get_by_text("输入关键词开始搜索。").is_visible()
    tab.page.get_by_text("查询语法与示例").click()
    tab.page.get_by_role("link", name="返利 OR 回扣").click()  # an example fills the box
    assert tab.page.get_by_label("查询").input_value() == "返利 OR 回扣"
    search(tab, "(合同 OR 回扣")
    assert tab.page.get_by_role("alert").inner_text().startswith("查询语法有误（在查询末尾）")


def test_facets_narrow_the_query(tab: Watched) -> None:
    signed_in_search(tab)
    search(tab, "type:text")
    total = int("".join(c for c in tab.page.locator("#result-count").inner_text() if c.isdigit()))
    sender = tab.page.locator("nav.facets ul").first.locator("a").first
    sender.click()
    tab.page.wait_for_load_state("networkidle")
    assert "from%3A" in tab.page.url or "from:" in tab.page.get_by_label("查询").input_value()
    narrowed = int("".join(c for c in tab.page.locator("#result-count").inner_text() if c.isdigit()))
    assert 0 < narrowed <= total


def test_a_search_is_saved_run_again_and_deleted(tab: Watched, console_site: ConsoleSite) -> None:
    term, _, _ = rare_pair(console_site)
    signed_in_search(tab)
    search(tab, term)
    tab.page.get_by_label("名称").fill("客户手机号")
    tab.page.get_by_role("button", name="保存此搜索").click()
    saved = tab.page.locator("ul.saved").get_by_role("link", name="客户手机号")
    saved.wait_for()
    tab.goto("/console/search")
    saved.click()
    tab.page.wait_for_load_state("networkidle")
    assert tab.page.get_by_label("查询").input_value() == term
    tab.page.once("dialog", lambda dialog: dialog.accept())
    tab.page.get_by_role("button", name="删除 客户手机号").click()
    tab.page.wait_for_load_state("networkidle")
    assert tab.page.get_by_text("还没有保存的搜索。").is_visible()


def test_results_export_as_a_zip_with_a_hash_manifest(tab: Watched, console_site: ConsoleSite) -> None:
    term, _, _ = rare_pair(console_site)
    signed_in_search(tab)
    search(tab, term)
    with tab.page.expect_download() as download:
        tab.page.get_by_role("button", name="导出结果").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        exported = archive.read(manifest["file"])
    assert hashlib.sha256(exported).hexdigest() == manifest["sha256"]
    assert manifest["purpose"] == PURPOSE
    assert any(json.loads(line)["text"] and term in json.loads(line)["text"] for line in exported.splitlines())
    tab.page.get_by_text("已下载").wait_for()
    with session_scope(console_site.world.context.session_factory) as session:
        actions = set(
            session.execute(select(AccessLogEntry.action).where(AccessLogEntry.actor == "compliance_officer")).scalars()
        )
    assert "content.export" in actions
