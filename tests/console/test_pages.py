"""Every console page in the browser: it loads with no failed request and no console
error (the ``tab`` fixture fails the test otherwise), in Chinese by default with English a
click away, with the menu each role may use; screenshots land in docs/screenshots/."""

from __future__ import annotations

import pytest

from api.console.nav import NAV
from audit.security.roles import ROLE_PERMISSIONS, Role
from tests.api.world import PURPOSE
from tests.console.conftest import Watched


def test_login_page_is_chinese_by_default_and_switches_to_english(tab: Watched) -> None:
    tab.goto("/")
    assert "/console/login?next=/console" in tab.page.url
    assert tab.page.locator("html").get_attribute("lang") == "zh-CN"
    tab.screenshot("login")
    tab.page.get_by_role("link", name="English").click()
    assert tab.page.get_by_role("heading", name="Sign in").is_visible()
    tab.page.get_by_role("link", name="中文").click()
    assert tab.page.get_by_role("heading", name="登录").is_visible()


def test_a_wrong_password_says_so_and_keeps_the_user_name(tab: Watched) -> None:
    tab.expected_statuses.add(401)
    tab.login("reviewer", "not the password")
    assert tab.page.get_by_role("alert").inner_text() == "用户名或密码错误。"
    assert tab.page.get_by_label("用户名").input_value() == "reviewer"


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_every_page_in_the_menu_loads_cleanly_for_each_role(tab: Watched, role: str) -> None:
    tab.login(role)
    shown = tab.page.locator("nav.menu a").evaluate_all("links => links.map(a => a.dataset.nav)")
    allowed = ROLE_PERMISSIONS[Role(role)]
    assert shown == [item.key for item in NAV if item.permission is None or item.permission in allowed]
    for key in shown:
        tab.page.locator(f'nav.menu a[data-nav="{key}"]').click()
        tab.page.wait_for_load_state("networkidle")
        if "/console/purpose" in tab.page.url:
            tab.give_purpose(PURPOSE)
        assert tab.page.locator(f'nav.menu a[data-nav="{key}"]').get_attribute("aria-current") == "page"
        assert tab.page.locator("h1").count() == 1


def test_overview_shows_ingest_health_and_charts(tab: Watched) -> None:
    tab.login("compliance_officer")
    page = tab.page
    assert page.get_by_role("heading", name="数据接入").is_visible()
    assert page.locator(".tile").count() >= 6
    charts = page.locator("[data-chart]")
    assert charts.count() == 3  # alerts over time, alerts by state, riskiest groups
    for index in range(charts.count()):
        charts.nth(index).locator("canvas").wait_for()  # drawn by ECharts from our static files
    tab.screenshot("overview")
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", name="Ingest health").is_visible()
    page.get_by_role("link", name="中文").click()


def test_overview_of_a_reviewer_has_no_ingest_health(tab: Watched) -> None:
    tab.login("reviewer")
    assert tab.page.get_by_role("heading", name="概览").is_visible()
    assert tab.page.locator(".tile").count() == 0  # archive status is not a reviewer's


def test_unknown_pages_and_missing_records_are_pages_not_json(tab: Watched) -> None:
    tab.expected_statuses.update({404})
    tab.login("compliance_officer")
    response = tab.goto("/console/no-such-page")
    assert response.status == 404
    assert tab.page.get_by_role("heading", name="404 页面不存在").is_visible()
    tab.screenshot("error")
    tab.page.get_by_role("link", name="返回概览").click()
    assert tab.page.get_by_role("heading", name="概览").is_visible()


def test_keyboard_skip_link_and_slash_to_search(tab: Watched) -> None:
    tab.login("compliance_officer")
    page = tab.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    tab.goto("/console/search")
    tab.give_purpose(PURPOSE)
    page.locator("h1").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "q"


def test_signing_out_ends_the_session(tab: Watched) -> None:
    tab.login("auditor")
    tab.page.get_by_role("button", name="退出登录").click()
    tab.page.wait_for_url("**/console/login")
    tab.goto("/console/")
    assert "/console/login" in tab.page.url
