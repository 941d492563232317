"""Names in the console's search box (issue 14): a name that matches nothing is said so
where syntax errors are shown, instead of an empty result."""

from __future__ import annotations

from tests.console.conftest import Watched
from tests.console.test_search import search, signed_in_search


def test_a_name_that_matches_nothing_says_so(tab: Watched) -> None:
    signed_in_search(tab)
    search(tab, "返利 from:查无此人")
    message = tab.page.get_by_role("alert").inner_text()
    assert "from:查无此人 matches nothing" in message
    assert tab.page.locator("#result-count").count() == 0
