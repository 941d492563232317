"""Names in the console's search box (issue 14): a name that matches nothing is said so in
Chinese where syntax errors are shown, instead of an empty result; a name several people
share lists them by name, and picking one searches by that person's id."""

from __future__ import annotations

from collections import Counter

from tests.console.conftest import ConsoleSite, Watched
from tests.console.test_search import search, signed_in_search


def test_a_name_that_matches_nothing_says_so(tab: Watched) -> None:
    signed_in_search(tab)
    search(tab, "返利 from:查无此人")
    message = tab.page.get_by_role("alert").inner_text()
    assert "“from:查无此人” 找不到" in message and "成员、客户或机器人" in message
    assert tab.page.locator("#result-count").count() == 0


def test_a_shared_name_lists_the_people_and_picking_one_searches_by_id(tab: Watched, console_site: ConsoleSite) -> None:
    employees = console_site.world.edge.simulator.company.employees
    surname, count = Counter(e.name[0] for e in employees).most_common(1)[0]
    assert count >= 2, "the simulated company has a surname shared by several members"
    sharing = {e.userid: e.name for e in employees if e.name.startswith(surname)}

    signed_in_search(tab)
    search(tab, f"from:{surname}")
    alert = tab.page.get_by_role("alert")
    assert f"“from:{surname}” 对应" in alert.inner_text()
    listed = alert.locator("[data-candidate]")
    candidates = [listed.nth(i) for i in range(listed.count())]
    shown = {candidate.get_attribute("data-candidate") or "": candidate for candidate in candidates}
    assert set(shown) <= set(sharing) and len(shown) == min(len(sharing), 10)
    first_id = sorted(shown)[0]
    assert sharing[first_id] in shown[first_id].inner_text(), "candidates are shown by name"

    shown[first_id].get_by_role("link").click()
    tab.page.locator("#result-count, #results .empty").first.wait_for()
    assert tab.page.get_by_label("查询").input_value() == f"from:{first_id}"
    assert tab.page.get_by_role("alert").count() == 0
