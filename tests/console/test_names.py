"""Names everywhere a person looks (issue 14): with the directory filled, no console page
shows a raw external-contact or room id (``wo…``/``wm…``/``wr…``) as text; ids stay one
hover away (``title``) or in places marked ``data-id-only``. A group the directory does
not know yet is shown by its id, marked "未同步"."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from archive.directory.models import DirectoryCustomer, DirectoryFollow, DirectoryGroup, DirectoryRobot
from archive.models import Conversation
from config.database import session_scope
from tests import directory_rows
from tests.api.world import PURPOSE
from tests.console.conftest import ConsoleSite, Watched

RAW_ID = re.compile(r"\b(?:wo|wm|wr)[A-Za-z0-9_-]{10,}")
# The page's text as a reader sees it, without the places meant to show ids.
VISIBLE_TEXT = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('[data-id-only], script, style, template, noscript').forEach((e) => e.remove());
  return body.textContent;
}"""
REMARK = "王女士（理财VIP）"


@pytest.fixture(scope="module")
def named(console_site: ConsoleSite) -> Iterator[tuple[str, str]]:
    """The simulated company's customers, groups and robots in the directory, one customer
    with a remark and one group left out (not synced yet): (customer id, unsynced room id).
    What it adds is removed afterwards: the site is shared with other tests."""
    world = console_site.world
    company = world.edge.simulator.company
    tables = (DirectoryCustomer, DirectoryFollow, DirectoryGroup, DirectoryRobot)
    with session_scope(world.context.session_factory) as session:
        before = {table: set(session.execute(select(table)).scalars()) for table in tables}
        rooms = list(
            session.scalars(
                select(Conversation.roomid).where(Conversation.roomid.is_not(None)).order_by(Conversation.id)
            )
        )
        directory_rows.whole_company(session, company)
        unsynced = next(r for r in rooms if r is not None)
        session.flush()
        session.execute(delete(DirectoryGroup).where(DirectoryGroup.roomid == unsynced))
        userid, customer = company.follows[0]
        directory_rows.follow(session, company.corp_id, userid, customer, REMARK)
        had_rows = any(before.values())
    yield customer, unsynced
    if not had_rows:  # the sync had written none of these: leave the site as it was
        with session_scope(world.context.session_factory) as session:
            for table in tables:
                session.execute(delete(table))


def _raw_ids(tab: Watched, path: str) -> list[str]:
    tab.goto(path)
    text = tab.page.evaluate(VISIBLE_TEXT)
    return [f"{path}: {found}" for found in sorted(set(RAW_ID.findall(text)))]


def test_no_page_shows_a_raw_id_where_a_name_belongs(
    tab: Watched, console_site: ConsoleSite, named: tuple[str, str]
) -> None:
    world = console_site.world
    company = world.edge.simulator.company
    customer, unsynced_room = named
    with session_scope(world.context.session_factory) as session:
        group_conversation = session.scalar(
            select(Conversation.id).where(Conversation.kind == "group", Conversation.roomid != unsynced_room)
        )
        unsynced_conversation = session.scalar(select(Conversation.id).where(Conversation.roomid == unsynced_room))
        customer_conversation = session.scalar(
            select(Conversation.id).where(
                (Conversation.participant_a == customer) | (Conversation.participant_b == customer)
            )
        )
    tab.login("compliance_officer")
    tab.goto("/console/search?q=type%3Atext")
    tab.give_purpose(PURPOSE)
    pages = [
        "/console/",
        "/console/search?q=type%3Atext",
        "/console/alerts?status=all",
        f"/console/alerts/{world.in_alert}",
        "/console/alerts/samples",
        f"/console/conversations/{world.in_conversation}",
        f"/console/conversations/{group_conversation}",
        f"/console/conversations/{unsynced_conversation}",
        "/console/groups?days=90",
        f"/console/groups/{group_conversation}?days=90",
        f"/console/groups/{unsynced_conversation}?days=90",
        "/console/handover",
    ]
    if customer_conversation is not None:
        pages.append(f"/console/conversations/{customer_conversation}")
    raw = [found for path in pages for found in _raw_ids(tab, path)]

    # Names, not ids: a group by its name, a customer by the remark their follower gave.
    tab.goto(f"/console/groups/{group_conversation}?days=90")
    heading = tab.page.locator("h1 [data-wecom-id]")
    room = heading.get_attribute("data-wecom-id") or ""
    assert heading.inner_text() == next(g.name for g in company.groups if g.roomid == room)
    assert heading.get_attribute("title") == room  # the id one hover away
    if customer_conversation is not None:
        tab.goto(f"/console/conversations/{customer_conversation}")
        assert tab.page.locator(f'[data-wecom-id="{customer}"]').first.inner_text() == REMARK
    # The group the directory does not know: its id, marked, with the hint on hover.
    tab.goto(f"/console/groups/{unsynced_conversation}?days=90")
    marked = tab.page.locator(f'h1 .unsynced[data-wecom-id="{unsynced_room}"]')
    assert "未同步" in marked.inner_text() and "通讯录" in (marked.get_attribute("title") or "")
    tab.goto("/console/search?q=type%3Atext")
    senders = tab.page.locator(".result .meta > span:nth-child(2) .who").all_inner_texts()
    assert senders and not [s for s in senders if RAW_ID.search(s)], [s for s in senders if RAW_ID.search(s)]
    tab.screenshot("search-names")

    tab.login("auditor")
    raw += _raw_ids(tab, "/console/access-log")
    tab.login("admin")
    raw += _raw_ids(tab, "/console/rules")
    assert not raw, "raw ids shown as text:\n" + "\n".join(raw)
    tab.assert_clean()
