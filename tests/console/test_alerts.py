"""The alerts pages in the browser: the review queue, one alert, bulk actions and the
sampling queue. The first test finishes issue 8's acceptance path (``test_acceptance``
covers search): the compliance officer finds an alert in the queue, opens its message in
the conversation, and resolves the alert with a note."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Message
from audit.alerts.models import Alert
from audit.review import sampling
from audit.review.models import AlertTrail, ReviewSample
from config.database import session_scope
from tests.api.world import PURPOSE, TEST_RULE
from tests.console.conftest import ConsoleSite, Watched

NOTE = "核实：客户已收到正式答复，员工已辅导"


def alert_with_evidence(site: ConsoleSite) -> tuple[Alert, int]:
    """The first detection alert with a text-span match in its explanation, and that match's
    message: its evidence shows a masked excerpt. Behaviour alerts (after hours, say) have no
    span, and the world's own ``test.rule`` alerts no matches at all."""
    with session_scope(site.world.context.session_factory) as session:
        for alert in session.scalars(select(Alert).where(Alert.rule != TEST_RULE).order_by(Alert.id)):
            for match in alert.explanation.get("matches", []):
                if match.get("start") is not None and match.get("message_id") in alert.message_ids:
                    session.expunge(alert)
                    return alert, int(match["message_id"])
    raise AssertionError("the simulated chats raised no alert with a text match")


def test_officer_resolves_the_alert_of_the_hit_with_a_note(tab: Watched, console_site: ConsoleSite) -> None:
    alert, message_id = alert_with_evidence(console_site)
    conversation_id = alert.conversation_id
    page = tab.page
    tab.login("compliance_officer")
    page.locator('nav.menu a[data-nav="alerts"]').click()
    tab.screenshot("alerts")
    page.get_by_label("规则").select_option(alert.rule)
    page.get_by_role("button", name="应用筛选").click()
    row = page.locator(f'tr[data-alert-id="{alert.id}"]')
    # A busy rule (after hours, say) fills more than one page: page on like an officer would.
    while True:
        assert page.locator("tr[data-alert-id]").count() == len(
            page.locator("tr[data-alert-id] td:nth-child(5) a").filter(has_text=alert.rule).all()
        )  # the filter kept only that rule's alerts
        if row.count() or not page.locator('.pager a[rel="next"]').count():
            break
        page.locator('.pager a[rel="next"]').click()
        page.wait_for_load_state()
    assert row.is_visible()

    row.get_by_role("link", name=f"#{alert.id}").click()
    page.wait_for_url(re.compile(rf"/console/alerts/{alert.id}$"))
    evidence = page.locator(f'.evidence li[data-message-id="{message_id}"]')
    assert "*" in evidence.inner_text()  # a masked excerpt, not the message
    evidence.get_by_role("link", name="在会话中查看").click()
    if "/console/purpose" in page.url:  # the first content read of this session asks why
        tab.give_purpose(PURPOSE)
    page.wait_for_url(re.compile(rf"/console/conversations/{conversation_id}\?anchor={message_id}"))
    bubble = page.locator(f'[data-message-id="{message_id}"][data-anchor]')
    assert bubble.locator(".explain").count() >= 1  # the hit, explained

    tab.goto(f"/console/alerts/{alert.id}")
    page.get_by_role("button", name="认领").click()
    assert page.locator("dd[data-status]").get_attribute("data-status") == "claimed"
    page.get_by_label("备注").fill(NOTE)
    page.get_by_label("处理结论（解决时必填）").select_option("coached")
    page.get_by_role("button", name="解决").click()
    assert page.get_by_role("status").inner_text() == "已保存。"
    assert page.locator("dd[data-status]").get_attribute("data-status") == "resolved"
    assert NOTE in page.locator('tr.trail-entry[data-action="resolve"] td.note').inner_text()
    tab.screenshot("alert")

    with session_scope(console_site.world.context.session_factory) as session:
        stored = session.get(Alert, alert.id)
        assert stored is not None
        assert (stored.status, stored.disposition, stored.assignee) == ("resolved", "coached", "compliance_officer")
        notes = session.scalars(select(AlertTrail.note).where(AlertTrail.alert_id == alert.id)).all()
    assert NOTE in notes


def test_resolving_without_a_disposition_is_refused_with_a_reason(tab: Watched, console_site: ConsoleSite) -> None:
    tab.expected_statuses.add(400)
    tab.login("compliance_officer")
    page = tab.page
    tab.goto("/console/alerts?status=new")
    first = page.locator("tr[data-alert-id]").first
    alert_id = int(first.get_attribute("data-alert-id") or 0)
    tab.goto(f"/console/alerts/{alert_id}")
    page.get_by_role("button", name="认领").click()
    page.get_by_role("button", name="解决").click()
    assert page.get_by_role("heading", name="400 请求无效").is_visible()
    assert "disposition" in page.locator("main").inner_text()


def test_bulk_escalation_and_tags(tab: Watched, console_site: ConsoleSite) -> None:
    tab.login("compliance_officer")
    page = tab.page
    tab.goto("/console/alerts?status=new")
    rows = page.locator("tr[data-alert-id]")
    assert rows.count() >= 2
    chosen = [int(rows.nth(i).get_attribute("data-alert-id") or 0) for i in range(2)]
    boxes = page.locator('input[name="ids"][form="bulk"]')
    page.get_by_label("选择本页全部告警").check()
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.get_by_label("选择本页全部告警").uncheck()
    assert not any(boxes.nth(i).is_checked() for i in range(boxes.count()))
    for alert_id in chosen:
        page.get_by_label(f"选择告警 {alert_id}").check()
    page.get_by_label("操作").select_option("escalate")
    page.get_by_role("button", name="执行").click()
    assert page.get_by_role("status").inner_text().startswith("已处理 2 条告警")

    tab.goto(f"/console/alerts/{chosen[0]}")
    page.get_by_label("添加标签（逗号分隔）").fill("客诉, 复查")
    page.get_by_role("button", name="添加标签").click()
    assert page.locator(".tags .badge").count() == 2
    page.get_by_role("button", name="移除标签 复查").click()
    assert page.locator(".tags .badge").count() == 1

    with session_scope(console_site.world.context.session_factory) as session:
        stored = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(chosen)))}
        assert {a.status for a in stored.values()} == {"escalated"}
        assert stored[chosen[0]].tags == ["客诉"]


def test_sampling_queue_draws_and_completes(tab: Watched, console_site: ConsoleSite) -> None:
    world = console_site.world
    zone = ZoneInfo(world.context.settings.detection.timezone)
    corp = world.edge.simulator.corp_id

    # The day with the most conversations the sampler may draw (active, no alert). The newest
    # day will not do: late at night it holds only a few chats past midnight, all flagged.
    def eligible(session: Session, day: date) -> int:
        start = datetime.combine(day, time(), zone).astimezone(UTC)
        return len(sampling.unflagged_conversations(session, corp, start, start + timedelta(days=1)))

    with session_scope(world.context.session_factory) as session:
        days = sorted({t.astimezone(zone).date() for t in session.scalars(select(Message.msgtime))})
        day = max(days, key=lambda d: eligible(session, d))
        assert eligible(session, day) > 0, "every simulated conversation has an alert"
    tab.login("compliance_officer")
    page = tab.page
    tab.goto("/console/alerts/samples")
    page.get_by_label("日期").fill(day.isoformat())
    page.get_by_label("抽样比例（0–1）").fill("0.5")
    page.get_by_role("button", name="抽取").click()
    assert re.match(r"已抽取 [1-9]\d* 个会话。", page.get_by_role("status").inner_text())
    pending = page.locator("tr[data-sample-id]").first
    sample_id = int(pending.get_attribute("data-sample-id") or 0)
    tab.screenshot("samples")
    pending.get_by_label("复查备注").fill("正常沟通")
    pending.get_by_role("button", name="标记为已复查").click()
    assert page.get_by_role("status").inner_text() == "已标记为已复查。"
    with session_scope(world.context.session_factory) as session:
        sample = session.get(ReviewSample, sample_id)
        assert sample is not None
        assert (sample.status, sample.reviewer, sample.note) == ("reviewed", "compliance_officer", "正常沟通")


def test_the_review_pages_speak_english_too(tab: Watched) -> None:
    tab.login("reviewer")
    page = tab.page
    tab.goto("/console/alerts")
    assert page.get_by_role("heading", name="告警审核").is_visible()
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", name="Alert review").is_visible()
    page.get_by_role("link", name="Sampling queue →").click()
    assert page.get_by_role("heading", name="Sampling queue").is_visible()
    page.get_by_role("link", name="中文").click()
    assert page.get_by_role("heading", name="抽检队列").is_visible()
