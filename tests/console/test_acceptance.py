"""The compliance officer's path through the console (issue 8's acceptance): sign in, give
a purpose, search a two-character term, open the conversation and see the hit highlighted.
(Resolving the alert with a note continues from :func:`officer_reaches_the_hit` in the
alerts page's tests.)"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from archive.models import Message
from audit.accesslog.models import AccessLogEntry
from audit.detect.models import MessageHit
from config.database import session_scope
from tests.api.world import PURPOSE
from tests.console.conftest import ConsoleSite, Watched

CJK_PAIR = re.compile(r"(?=([\u4e00-\u9fff]{2}))")


def rare_pair(site: ConsoleSite) -> tuple[str, int, int]:
    """A two-character term from a text message that has a rule hit, the one fewest
    messages contain (so the message is on the first page of results): (term, message, conversation).

    The term never straddles the edge of a hit: the conversation view marks the hit over the
    search match, so a straddling term would be split across two marks."""
    world = site.world
    with session_scope(world.context.session_factory) as session:
        rows = session.execute(
            select(Message.id, Message.conversation_id, Message.text, MessageHit.start, MessageHit.end)
            .join(MessageHit, MessageHit.message_id == Message.id)
            .where(Message.msgtype == "text", Message.conversation_id.is_not(None))
            .order_by(Message.id)
        ).all()
    spans: dict[tuple[int, int, str], list[tuple[int, int]]] = defaultdict(list)
    for message_id, conversation_id, text, start, end in rows:
        located = [(start, end)] if start is not None and end is not None else []
        spans[(message_id, conversation_id or 0, text or "")] += located

    def straddles(pair: str, text: str, hits: list[tuple[int, int]]) -> bool:
        at = [m.start() for m in re.finditer(re.escape(pair), text)]
        return any(p < end and start < p + 2 and not start <= p < p + 2 <= end for p in at for start, end in hits)

    best: tuple[int, str, int, int] | None = None
    for (message_id, conversation_id, text), hits in spans.items():
        for pair in CJK_PAIR.findall(text):
            if straddles(pair, text, hits):
                continue
            frequency = sum(pair in other for other in world.message_texts)
            if best is None or frequency < best[0]:
                best = (frequency, pair, message_id, conversation_id)
    assert best is not None, "the simulated chats gave no text message with a rule hit"
    return best[1], best[2], best[3]


@dataclass(frozen=True)
class ReachedHit:
    term: str
    message_id: int
    conversation_id: int


def officer_reaches_the_hit(tab: Watched, site: ConsoleSite, *, screenshots: bool = False) -> ReachedHit:
    """Steps 1-4 of the acceptance flow, for this test and for the alerts page's test, which
    continues from the conversation to resolve the alert with a note."""
    term, message_id, conversation_id = rare_pair(site)
    page = tab.page
    tab.login("compliance_officer")
    page.get_by_role("link", name="搜索").click()
    # The first content read of the session asks why.
    assert "/console/purpose" in page.url
    assert page.get_by_role("heading", name="查阅目的").is_visible()
    if screenshots:
        tab.screenshot("purpose")
    tab.give_purpose(PURPOSE)
    assert page.url.endswith("/console/search")

    page.get_by_label("查询").fill(term)
    page.keyboard.press("Enter")
    result = page.locator(f'li.result[data-message-id="{message_id}"]')
    result.wait_for()
    assert any(term in mark for mark in result.locator("mark").all_inner_texts())
    assert "q=" in page.url  # the search is in the address bar (htmx pushes it): back and reload work
    if screenshots:
        tab.screenshot("search")

    result.locator("a.open").click()
    page.wait_for_url(re.compile(rf"/console/conversations/{conversation_id}\?anchor={message_id}"))
    bubble = page.locator(f'[data-message-id="{message_id}"][data-anchor]')
    # The bubble marks the search term and the rule hits; either may come first.
    assert any(term in mark for mark in bubble.locator("mark").all_inner_texts())
    assert bubble.locator(".explain").count() >= 1  # the rule hit with its explanation
    assert bubble.is_visible()
    if screenshots:
        tab.screenshot("conversation")
    return ReachedHit(term, message_id, conversation_id)


def test_officer_searches_a_two_character_term_and_sees_the_hit_in_its_conversation(
    tab: Watched, console_site: ConsoleSite
) -> None:
    officer_reaches_the_hit(tab, console_site, screenshots=True)
    with session_scope(console_site.world.context.session_factory) as session:
        logged = session.execute(
            select(AccessLogEntry.action, AccessLogEntry.purpose).where(AccessLogEntry.actor == "compliance_officer")
        ).all()
    assert ("content.search", PURPOSE) in logged and ("content.conversation", PURPOSE) in logged
