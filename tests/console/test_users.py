"""Users, roles and scopes, and the settings page, in the browser (administrators)."""

from __future__ import annotations

from sqlalchemy import select

from audit.security import service as security
from audit.security.models import SecurityUser
from config.database import session_scope
from tests.api.world import PASSWORD, TEST_RULE
from tests.console.conftest import ConsoleSite, Watched

NEW_USER = "console_reviewer"


def test_an_admin_adds_a_user_with_a_department_scope(tab: Watched, console_site: ConsoleSite) -> None:
    world = console_site.world
    corp_id = world.edge.simulator.corp_id
    member = next(e.userid for e in world.edge.simulator.company.employees)
    page = tab.page
    tab.login("admin")
    page.locator('nav.menu a[data-nav="users"]').click()
    assert page.locator("tr[data-username]").count() >= 5
    page.get_by_label("用户名", exact=True).fill(NEW_USER)
    page.get_by_label("显示名").fill("审核员 新")
    page.get_by_label("初始密码").fill(PASSWORD)
    page.get_by_label("角色").select_option("reviewer")
    page.get_by_label("部门范围（含下级部门，可多选）").select_option(f"{corp_id}:{world.department_id}")
    page.get_by_label("对应的企业微信成员（userid，可留空）").fill(member)
    page.keyboard.press("Escape")  # closes the member suggestions (a datalist) over the button
    tab.screenshot("users")
    page.get_by_role("button", name="创建用户").click()
    page.wait_for_load_state()
    assert "/console/users?created=" in page.url, page.locator("main").inner_text()
    assert page.get_by_role("status").inner_text().startswith(f"已创建用户 {NEW_USER}。")
    assert page.locator(f'tr[data-username="{NEW_USER}"] td.scope').inner_text() != ""

    with session_scope(world.context.session_factory) as session:
        view = security.get_user(session, NEW_USER)
        linked = session.scalar(select(SecurityUser.wecom_userid).where(SecurityUser.username == NEW_USER))
    assert (view.role, view.scope_all, view.departments) == ("reviewer", False, [(corp_id, world.department_id)])
    assert linked == member

    # The new account signs in and sees its department's alerts only.
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/console/login")
    tab.login(NEW_USER)
    # Filtered to the world's own rule: a busy department's detection alerts fill pages.
    tab.goto(f"/console/alerts?status=all&rule={TEST_RULE}")
    shown = page.locator("tr[data-alert-id]").evaluate_all("rows => rows.map(r => +r.dataset.alertId)")
    assert world.in_alert in shown and world.out_alert not in shown


def test_a_token_is_shown_once_and_can_be_revoked(tab: Watched, console_site: ConsoleSite) -> None:
    page = tab.page
    tab.login("admin")
    tab.goto("/console/users/reviewer")
    page.get_by_label("名称").fill("console-test")
    page.get_by_label("alerts:read").check()
    page.get_by_role("button", name="创建令牌").click()
    secret = page.locator("[data-token-secret]").inner_text().strip()
    assert len(secret) > 20
    with session_scope(console_site.world.context.session_factory) as session:
        tokens = security.list_tokens(session, "reviewer")
    created = next(t for t in tokens if t.name == "console-test")
    assert created.permissions == ["alerts:read"] and secret.startswith(created.prefix)

    page.get_by_role("link", name="返回用户列表").click()
    page.wait_for_url("**/console/users/reviewer")
    assert secret not in page.content()  # never shown again
    tab.screenshot("user")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-token-id="{created.id}"]').get_by_role("button", name="吊销").click()
    page.wait_for_load_state()
    assert page.locator(f'tr[data-token-id="{created.id}"]').inner_text().find("已吊销") >= 0


def test_settings_show_key_versions_jobs_and_no_secret(tab: Watched, console_site: ConsoleSite) -> None:
    settings = console_site.world.edge.settings
    page = tab.page
    tab.login("admin")
    page.locator('nav.menu a[data-nav="settings"]').click()
    assert page.locator("tr[data-key-version]").count() >= 1
    assert "BEGIN" not in page.content() and "PRIVATE KEY" not in page.content()
    secret = settings.wecom.archive_secret.get_secret_value()
    assert secret and secret not in page.content()
    jobs = page.locator("table.jobs code").all_inner_texts()
    assert "detect:stage" in jobs and "search:index" in jobs
    assert page.locator("[data-search-backend]").inner_text() == settings.search.backend
    tab.screenshot("settings")


def test_only_admins_manage_users(tab: Watched) -> None:
    tab.expected_statuses.add(403)
    tab.login("compliance_officer")
    assert tab.goto("/console/users").status == 403
    assert tab.goto("/console/settings").status == 403


def test_an_admin_adds_and_shortens_a_retention_policy(tab: Watched, console_site: ConsoleSite) -> None:
    tab.expected_statuses.add(409)
    page = tab.page
    tab.login("admin")
    tab.goto("/console/settings")
    add = page.get_by_role("form", name="添加保留策略")
    add.get_by_label("名称").fill("群聊五年")
    add.locator('select[name="scope"]').select_option("chat")
    add.locator('select[name="chat_type"]').select_option("group")
    add.get_by_label("保留天数").fill("1830")
    add.get_by_role("button", name="添加").click()
    assert page.get_by_role("status").inner_text() == "已保存。"
    row = page.locator('tr[data-policy="群聊五年"]')
    assert "chat:group" in row.inner_text()

    # Shortening without a reason is refused by the retention rules, with the reason why.
    row.get_by_label("保留天数 群聊五年").fill("400")
    row.get_by_role("button", name="修改天数").click()
    assert page.get_by_role("heading", name="409 冲突").is_visible()
    assert "reason" in page.locator("main").inner_text()
    tab.goto("/console/settings")
    row = page.locator('tr[data-policy="群聊五年"]')
    row.get_by_label("保留天数 群聊五年").fill("400")
    row.get_by_label("原因 群聊五年").fill("法务确认：两年以上的群聊无需保留")
    row.get_by_role("button", name="修改天数").click()
    assert page.get_by_role("status").inner_text() == "已保存。"
    assert page.locator('tr[data-policy="群聊五年"] td.num').inner_text() == "400"
