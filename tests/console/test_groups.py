"""Group monitoring in the browser: groups ranked by risk as a chart and a table, and one
group's four time series and its word cloud (chat content: asked for a purpose first)."""

from __future__ import annotations

from sqlalchemy import select

from audit.accesslog.models import AccessLogEntry
from config.database import session_scope
from tests.api.world import PURPOSE
from tests.console.conftest import ConsoleSite, Watched


def test_groups_ranked_by_risk_and_one_group_over_time(tab: Watched, console_site: ConsoleSite) -> None:
    page = tab.page
    tab.login("compliance_officer")
    page.locator('nav.menu a[data-nav="groups"]').click()
    page.get_by_role("link", name="近 90 天").click()
    rows = page.locator("tr[data-conversation-id]")
    assert rows.count() >= 1
    scores = [float(v) for v in rows.locator("td:nth-child(2)").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    page.locator("[data-chart] canvas").first.wait_for()
    tab.screenshot("groups")

    conversation_id = int(rows.first.get_attribute("data-conversation-id") or 0)
    rows.first.get_by_role("link").click()
    page.wait_for_url(f"**/console/groups/{conversation_id}?days=90")
    charts = page.locator(".grid [data-chart]")
    assert charts.count() == 4  # volume, negative share, hits, unanswered
    for index in range(4):
        charts.nth(index).locator("canvas").wait_for()
    # The word cloud is chat content: without a purpose the page offers to give one.
    page.get_by_role("link", name="说明目的").click()
    tab.give_purpose(PURPOSE)
    page.wait_for_url(f"**/console/groups/{conversation_id}?days=90")
    cloud = page.locator("[data-words]")
    assert int(cloud.get_attribute("data-words") or 0) > 0
    cloud.locator("canvas").wait_for()
    tab.screenshot("group")

    with session_scope(console_site.world.context.session_factory) as session:
        logged = session.scalars(
            select(AccessLogEntry.target).where(
                AccessLogEntry.actor == "compliance_officer", AccessLogEntry.action == "content.top_words"
            )
        ).all()
    assert any(target.get("conversation_id") == conversation_id for target in logged)


def test_a_manager_sees_counts_but_no_alert_link(tab: Watched) -> None:
    tab.login("manager")
    tab.goto("/console/groups?days=90")
    rows = tab.page.locator("tr[data-conversation-id]")
    if rows.count():
        rows.first.get_by_role("link").click()
        tab.page.wait_for_load_state()
        assert tab.page.get_by_role("link", name="此群的告警").count() == 0  # managers do not review alerts
    else:
        assert tab.page.locator(".empty").is_visible()
