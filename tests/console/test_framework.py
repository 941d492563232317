"""The console's framework without a browser: the message catalogue covers every text a
template asks for, redirects stay inside the console, missing assets fail clearly, plain
forms need the session's CSRF token, and highlighting cuts text at the right places."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from api import console
from api.console import i18n
from api.console.errors import safe_next
from api.console.pages.search import segments as snippet
from audit.access.shown import segments
from config.settings import ConfigError
from tests.api.world import PASSWORD
from tests.console.conftest import ConsoleSite

TEMPLATES = Path(console.__file__).parent / "templates"
LITERAL_KEY = re.compile(r"""\bt\(\s*'([a-z_.0-9]+)'\s*[,)]""")  # literal keys, not 'prefix.' ~ value


def test_every_text_a_template_asks_for_is_in_the_catalogue_in_both_languages() -> None:
    console.routes()  # merges the pages' catalogues
    used = {key for path in TEMPLATES.glob("*.html") for key in LITERAL_KEY.findall(path.read_text())}
    assert used, "no texts found: the pattern is broken"
    missing = sorted(key for key in used if key not in i18n.MESSAGES)
    assert not missing
    assert all(zh and en for zh, en in i18n.MESSAGES.values())


def test_translation_falls_back_to_chinese_and_fills_values() -> None:
    assert i18n.translator("fr")("nav.search") == "搜索"
    assert i18n.translator("en")("conv.messages", count=3) == "3 messages"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/search?q=x", "/console/search?q=x"),
        ("/console", "/console"),
        ("https://evil.example/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/console\\..\\evil", "/console/"),
        ("/api/v1/search", "/console/"),
        (None, "/console/"),
    ],
)
def test_redirects_after_login_stay_inside_the_console(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_missing_assets_fail_with_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="make console-assets"):
        console.check_assets(tmp_path)


def test_marks_cover_rule_hits_over_search_matches() -> None:
    assert segments("客户手机号138", [(5, 8)], [(1, 3)]) == [
        ("客", None),
        ("户手", "match"),
        ("机号", None),
        ("138", "hit"),
    ]


def test_a_long_result_is_cut_around_its_first_highlight() -> None:
    text = "前" * 500 + "返利" + "后" * 500
    pieces = snippet(text, ((500, 502),), limit=40)
    assert ("返利", True) in pieces and pieces[0] == ("…", False) and pieces[-1] == ("…", False)
    assert sum(len(piece) for piece, _ in pieces) <= 42


def test_a_plain_form_without_the_csrf_token_is_refused(console_site: ConsoleSite) -> None:
    with httpx.Client(base_url=console_site.url) as client:
        login = client.post("/api/v1/auth/login", json={"username": "compliance_officer", "password": PASSWORD})
        assert login.status_code == 200
        refused = client.post("/console/purpose", data={"purpose": "x", "next": "/console/"})
        assert refused.status_code == 403
        assert "text/html" in refused.headers["content-type"]
        accepted = client.post(
            "/console/purpose", data={"purpose": "x", "next": "/console/", "csrf_token": login.json()["csrf_token"]}
        )
        assert accepted.status_code == 303 and accepted.headers["location"] == "/console/"


def test_static_assets_are_cacheable_and_pages_are_not(console_site: ConsoleSite) -> None:
    with httpx.Client(base_url=console_site.url) as client:
        assert "max-age" in client.get("/console/static/vendor/htmx.min.js").headers["cache-control"]
        assert client.get("/console/login").headers["cache-control"] == "no-store"
        assert "default-src 'self'" in client.get("/console/login").headers["content-security-policy"]
