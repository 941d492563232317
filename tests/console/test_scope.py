"""Data scopes in the browser: a reviewer scoped to one department sees its alerts, groups
and search results and nothing of the other departments; opening an out-of-scope
conversation, alert or group by its URL gives the 403 page (and the refusal is logged)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

from sqlalchemy import select

from archive.clock import utcnow
from archive.models import Message
from audit.accesslog.models import AccessLogEntry
from audit.monitor import queries as monitor
from config.database import session_scope
from tests.api.world import PURPOSE, TEST_RULE
from tests.console.conftest import ConsoleSite, Watched

CJK_PAIR = re.compile(r"(?=([\u4e00-\u9fff]{2}))")


def out_of_scope_pair(site: ConsoleSite) -> tuple[str, int]:
    """A two-character term of a message outside the reviewer's scope, the rarest one."""
    world = site.world
    with session_scope(world.context.session_factory) as session:
        outside = session.execute(
            select(Message.id, Message.text).where(
                Message.msgtype == "text",
                Message.conversation_id.is_not(None),
                Message.conversation_id.not_in(world.reviewer_conversations),
            )
        ).all()
    best: tuple[int, str, int] | None = None
    for message_id, text in outside:
        for pair in CJK_PAIR.findall(text or ""):
            frequency = sum(pair in other for other in world.message_texts)
            if best is None or frequency < best[0]:
                best = (frequency, pair, message_id)
    assert best is not None, "no text message outside the reviewer's scope"
    return best[1], best[2]


def result_conversations(site: ConsoleSite, message_ids: list[int]) -> set[int]:
    with session_scope(site.world.context.session_factory) as session:
        rows = session.scalars(select(Message.conversation_id).where(Message.id.in_(message_ids)))
        return {c for c in rows if c is not None}


def shown_ids(tab: Watched, selector: str, attribute: str) -> list[int]:
    values = tab.page.locator(selector).evaluate_all(f"rows => rows.map(r => r.getAttribute('{attribute}'))")
    return [int(v) for v in values]


def test_a_reviewer_sees_nothing_of_another_department(tab: Watched, console_site: ConsoleSite) -> None:
    world = console_site.world
    tab.expected_statuses.add(403)
    page = tab.page
    term, outside_message = out_of_scope_pair(console_site)

    # The officer (company-wide) finds the out-of-scope message: the term is searchable.
    tab.login("compliance_officer")
    tab.goto(f"/console/search?q={quote(term)}")
    if "/console/purpose" in page.url:
        tab.give_purpose(PURPOSE)
    page.locator("li.result").first.wait_for()
    assert outside_message in shown_ids(tab, "li.result", "data-message-id")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/console/login")

    tab.login("reviewer")
    # Alerts: the in-scope alert is listed, the out-of-scope one is not.
    # Filtered to the world's own rule: a busy department's detection alerts fill pages.
    tab.goto(f"/console/alerts?status=all&rule={TEST_RULE}")
    alerts = shown_ids(tab, "tr[data-alert-id]", "data-alert-id")
    assert world.in_alert in alerts and world.out_alert not in alerts

    # Groups: only groups of the reviewer's department.
    tab.goto("/console/groups?days=90")
    groups = shown_ids(tab, "tr[data-conversation-id]", "data-conversation-id")
    assert set(groups) <= world.reviewer_conversations
    with session_scope(world.context.session_factory) as session:
        today = utcnow().date()
        ranked = monitor.rank_groups(
            session, world.edge.simulator.corp_id, today - timedelta(days=91), today + timedelta(days=1), limit=10_000
        )
    outside_groups = [g.conversation_id for g in ranked if g.conversation_id not in world.reviewer_conversations]

    # Search: the same term finds nothing outside the scope.
    tab.goto(f"/console/search?q={quote(term)}")
    if "/console/purpose" in page.url:
        tab.give_purpose(PURPOSE)
    page.wait_for_load_state("networkidle")
    found = shown_ids(tab, "li.result", "data-message-id")
    assert outside_message not in found
    assert result_conversations(console_site, found) <= world.reviewer_conversations

    # Opening out-of-scope things by their URL: the 403 page, never their content.
    response = tab.goto(f"/console/conversations/{world.out_conversation}")
    assert response.status == 403
    assert page.get_by_role("heading", name="403 没有权限").is_visible()
    assert page.locator(".bubble").count() == 0
    tab.screenshot("forbidden")
    assert tab.goto(f"/console/alerts/{world.out_alert}").status == 403
    if outside_groups:
        assert tab.goto(f"/console/groups/{outside_groups[0]}").status == 403

    with session_scope(world.context.session_factory) as session:
        denied = session.scalars(
            select(AccessLogEntry.target).where(AccessLogEntry.actor == "reviewer", AccessLogEntry.outcome == "denied")
        ).all()
    assert {"conversation_id": world.out_conversation} in denied
