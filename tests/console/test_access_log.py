"""The access log in the browser: an auditor filters it and verifies its hash chain, and
reads no chat content anywhere (separation of duties)."""

from __future__ import annotations

from tests.console.conftest import ConsoleSite, Watched


def test_an_auditor_sees_the_log_and_verifies_the_chain(tab: Watched, console_site: ConsoleSite) -> None:
    page = tab.page
    tab.login("auditor")
    page.locator('nav.menu a[data-nav="access_log"]').click()
    assert page.locator("tr[data-position]").count() >= 1  # at least the users created by the world
    page.get_by_role("link", name="立即校验整条链").click()
    verified = page.locator('[data-chain="ok"]')
    assert verified.is_visible()
    assert "链完整" in verified.inner_text()
    tab.screenshot("access-log")

    page.get_by_label("操作（或前缀）").fill("admin.")
    page.get_by_role("button", name="筛选").click()
    actions = page.locator("tr[data-position]").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions and all(action.startswith("admin.") for action in actions)
    positions = page.locator("tr[data-position]").evaluate_all("rows => rows.map(r => +r.dataset.position)")
    assert positions == sorted(positions, reverse=True)  # newest first


def test_an_auditor_reads_no_content(tab: Watched, console_site: ConsoleSite) -> None:
    tab.expected_statuses.add(403)
    tab.login("auditor")
    shown = tab.page.locator("nav.menu a").evaluate_all("links => links.map(a => a.dataset.nav)")
    assert "search" not in shown and "alerts" not in shown and "groups" not in shown
    for path in (
        "/console/search?q=test",
        f"/console/conversations/{console_site.world.in_conversation}",
        "/console/alerts",
        "/console/groups",
    ):
        response = tab.goto(path)
        assert response.status == 403, path
        assert tab.page.get_by_role("heading", name="403 没有权限").is_visible()
        assert tab.page.locator(".bubble, li.result, tr[data-alert-id]").count() == 0


def test_other_roles_cannot_open_the_access_log(tab: Watched) -> None:
    tab.expected_statuses.add(403)
    tab.login("compliance_officer")
    assert tab.goto("/console/access-log").status == 403
