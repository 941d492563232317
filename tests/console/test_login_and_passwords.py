"""The console's sign-in form and its password and token forms, over HTTP (no browser needed):
login CSRF is refused, weak passwords are refused in the user's language, and the pages say
what a password reset does and why content permissions are not offered for another user's
token (issue 15 items 4, 8, 9, 10)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.context import AppContext
from archive.clock import utcnow
from audit.security import service as security
from config.database import session_scope
from config.settings import Settings
from tests.conftest import Database

PASSWORD = "correct horse battery staple"
Client = TestClient[Any]


@pytest.fixture
def context(database: Database, tmp_path: Path) -> AppContext:
    context = AppContext(Settings(data_dir=tmp_path))
    context.__dict__["engine"] = database.engine
    with session_scope(context.session_factory) as session:
        operator = security.cli_principal("cli:test")
        for name, role in [("root", "admin"), ("olga", "compliance_officer")]:
            security.create_user(session, operator, username=name, password=PASSWORD, role=role, now=utcnow())
    return context


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)


def console_login(client: Client, username: str) -> None:
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    signed_in = client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1) if token else ""},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    assert "wecom_audit_session" in client.cookies


def test_a_login_form_from_another_site_signs_nobody_in(context: AppContext) -> None:
    with TestClient(app=create_app(context)) as client:
        # What a hostile page's auto-submitted form sends: no token, no login-page cookie.
        forged = client.post("/console/login", data={"username": "root", "password": PASSWORD}, follow_redirects=False)
        assert forged.status_code == 403
        assert "wecom_audit_session" not in client.cookies
        assert "登录页面已过期或不是从本系统提交的" in forged.text
        # A token copied from somewhere without the cookie that goes with it is refused too.
        token = _field(client.get("/console/login").text, "csrf_token")
        client.cookies.clear()
        copied = {"username": "root", "password": PASSWORD, "csrf_token": token}
        assert client.post("/console/login", data=copied, follow_redirects=False).status_code == 403
        assert "wecom_audit_session" not in client.cookies
        console_login(client, "root")  # our own form signs in


def test_weak_passwords_are_refused_in_chinese_and_english(context: AppContext) -> None:
    with TestClient(app=create_app(context)) as client:
        console_login(client, "root")
        csrf = client.cookies["wecom_audit_csrf"]
        weak = {"username": "bob", "password": "aaaaaaaaaaaa", "role": "reviewer", "csrf_token": csrf}
        refused = client.post("/console/users", data=weak, follow_redirects=False)
        assert refused.status_code == 400
        assert "密码太容易被猜到" in refused.text
        reset = client.post("/console/users/olga/password", data={"password": "password1234", "csrf_token": csrf})
        assert reset.status_code == 400 and "密码太容易被猜到" in reset.text
        short = client.post("/console/users/olga/password", data={"password": "Xq9!", "csrf_token": csrf})
        assert short.status_code == 400 and "密码太短：至少需要 12 个字符" in short.text
        client.cookies.set("wecom_audit_lang", "en")
        english = client.post("/console/users", data=weak, follow_redirects=False)
        assert english.status_code == 400 and "The password is too easy to guess" in english.text


def test_the_user_page_says_a_reset_revokes_tokens_and_offers_no_content_token(context: AppContext) -> None:
    with TestClient(app=create_app(context)) as client:
        console_login(client, "root")
        page = client.get("/console/users/olga").text
        assert "重设密码会结束该用户的所有登录会话，并吊销其全部 API 令牌。" in page
        assert 'value="content:read"' not in page and 'value="handover:read"' not in page
        assert 'value="alerts:read"' in page  # permissions that read no content are still offered
        assert "只能由用户本人登录后为自己的令牌申请" in page
        client.cookies.set("wecom_audit_lang", "en")
        assert "revokes all their API tokens" in client.get("/console/users/olga").text


@pytest.mark.parametrize("purpose", ["\u200b", "\u3164 \ufeff", "case\x00"])
def test_an_invisible_purpose_is_no_purpose(context: AppContext, purpose: str) -> None:
    with TestClient(app=create_app(context)) as client:
        console_login(client, "olga")
        csrf = client.cookies["wecom_audit_csrf"]
        given = client.post("/console/purpose", data={"purpose": purpose, "csrf_token": csrf}, follow_redirects=False)
        assert given.status_code == 400
        assert "请填写目的" in given.text or "目的中含有控制字符" in given.text
