"""Signing in and staying safe: argon2 passwords, lockout, rate limits, cookie flags,
CSRF for cookie sessions, API tokens (shown once, scoped, expiring, revocable)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from api.context import AppContext
from archive.clock import utcnow
from audit.accesslog.models import AccessLogEntry
from audit.alerts.service import raise_alert
from audit.detect.hits import Severity
from audit.security import service as security
from audit.security.models import ApiToken, LoginFailure, SecurityUser
from config.database import session_scope
from config.settings import AuthSettings, Settings
from tests.conftest import Database

PASSWORD = "correct horse battery staple"


@pytest.fixture
def context(database: Database, tmp_path: Path) -> AppContext:
    settings = Settings(data_dir=tmp_path, auth=AuthSettings(lockout_threshold=3, login_attempts_per_minute=50))
    context = AppContext(settings)
    context.__dict__["engine"] = database.engine
    with session_scope(context.session_factory) as session:
        operator = security.cli_principal("cli:test")
        for name, role in [("alice", "compliance_officer"), ("root", "admin"), ("audrey", "auditor")]:
            security.create_user(session, operator, username=name, password=PASSWORD, role=role, now=utcnow())
    return context


def login(client: TestClient[Any], username: str, password: str = PASSWORD) -> int:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password}).status_code


def test_passwords_are_stored_as_argon2id_hashes(context: AppContext) -> None:
    with session_scope(context.session_factory) as session:
        stored = session.execute(
            select(SecurityUser.password_hash).where(SecurityUser.username == "alice")
        ).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_repeated_failures_lock_the_account_even_for_the_right_password(context: AppContext) -> None:
    with TestClient(app=create_app(context)) as client:
        assert [login(client, "alice", "wrong password!") for _ in range(3)] == [401, 401, 401]
        locked = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
        assert locked.status_code == 423
        assert int(locked.headers["retry-after"]) > 0
        assert login(client, "root") == 200  # other accounts are not affected
    with session_scope(context.session_factory) as session:
        denied = session.execute(
            select(AccessLogEntry.target).where(
                AccessLogEntry.action == "auth.login", AccessLogEntry.outcome == "denied"
            )
        ).scalars()
        assert [t["reason"] for t in denied] == ["bad_credentials"] * 3 + ["locked"]


def test_unknown_users_and_wrong_passwords_look_the_same(context: AppContext) -> None:
    with TestClient(app=create_app(context)) as client:
        unknown = client.post("/api/v1/auth/login", json={"username": "mallory", "password": PASSWORD})
        wrong = client.post("/api/v1/auth/login", json={"username": "alice", "password": "not the password"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]


def test_logins_from_one_address_are_rate_limited(database: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, auth=AuthSettings(login_attempts_per_minute=3))
    context = AppContext(settings)
    context.__dict__["engine"] = database.engine
    with TestClient(app=create_app(context)) as client:
        statuses = [login(client, f"user{i}", "whatever at all") for i in range(7)]
    assert statuses[:3] == [401, 401, 401]
    # Windows are calendar minutes: even if one boundary falls inside the run, one window
    # gets at least 4 of the 7 attempts.
    assert 429 in statuses and set(statuses) == {401, 429}


def test_session_cookie_flags_and_csrf(context: AppContext) -> None:
    with TestClient(app=create_app(context)) as client:
        response = client.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("wecom_audit_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie  # plain HTTP
        csrf = response.json()["csrf_token"]
        body = {"username": "bob", "password": PASSWORD, "role": "reviewer"}
        assert client.post("/api/v1/users", json=body).status_code == 403  # no CSRF token
        assert client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
        assert client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
        assert client.get("/api/v1/users").status_code == 200  # safe methods need none


def test_cookies_are_secure_behind_a_tls_proxy(database: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, auth=AuthSettings(trust_proxy_headers=True))
    context = AppContext(settings)
    context.__dict__["engine"] = database.engine
    with session_scope(context.session_factory) as session:
        security.create_user(
            session, security.cli_principal("cli:test"), username="root", password=PASSWORD, role="admin", now=utcnow()
        )
    with TestClient(app=create_app(context)) as client:
        response = client.post(
            "/api/v1/auth/login",
            json={"username": "root", "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
    cookies = response.headers.get_list("set-cookie")
    assert all("Secure" in cookie for cookie in cookies)


def test_api_tokens_are_shown_once_scoped_expiring_and_revocable(context: AppContext) -> None:
    with TestClient(app=create_app(context)) as client:
        login(client, "alice")
        csrf = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).json()["csrf_token"]
        created = client.post(
            "/api/v1/tokens",
            json={"name": "siem", "permissions": ["archive:status"], "ttl_days": 30},
            headers={"X-CSRF-Token": csrf},
        )
        assert created.status_code == 201
        secret, token_id = created.json()["secret"], created.json()["token"]["id"]
        listed = client.get("/api/v1/tokens").json()
        assert secret not in str(listed) and listed[0]["prefix"] == secret[:10]
        too_much = client.post(
            "/api/v1/tokens", json={"name": "x", "permissions": ["users:admin"]}, headers={"X-CSRF-Token": csrf}
        )
        assert too_much.status_code == 400  # beyond the owner's role

    bearer = {"Authorization": f"Bearer {secret}"}
    with TestClient(app=create_app(context)) as api:
        assert api.get("/api/v1/archive/status", headers=bearer).status_code == 200
        assert api.get("/api/v1/conversations", headers={**bearer, "X-Access-Purpose": "x"}).status_code == 403
        assert (
            api.post("/api/v1/tokens", json={"name": "y", "permissions": ["content:read"]}, headers=bearer).status_code
            == 403
        )
        assert api.get("/api/v1/archive/status", headers={"Authorization": "Bearer wa_guess"}).status_code == 401
        assert api.get("/api/v1/archive/status", headers={"Authorization": f"Basic {secret}"}).status_code == 401
        assert api.delete(f"/api/v1/tokens/{token_id}", headers=bearer).status_code == 200
        assert api.get("/api/v1/archive/status", headers=bearer).status_code == 401

    with session_scope(context.session_factory) as session:
        stored = session.execute(select(ApiToken.digest)).scalars().all()
        assert secret not in stored and all(len(digest) == 64 for digest in stored)
        _, expired = security.create_token(
            session,
            security.cli_principal("cli:test"),
            username="alice",
            name="old",
            permissions=["archive:status"],
            ttl=timedelta(seconds=1),
            now=utcnow() - timedelta(hours=1),
        )
    with TestClient(app=create_app(context)) as api:
        assert api.get("/api/v1/archive/status", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_disabling_a_user_ends_their_sessions_and_tokens(context: AppContext) -> None:
    with session_scope(context.session_factory) as session:
        _, secret = security.create_token(
            session,
            security.cli_principal("cli:test"),
            username="audrey",
            name="t",
            permissions=["access_log:read"],
            ttl=timedelta(days=1),
            now=utcnow(),
        )
    app = create_app(context)
    with TestClient(app=app) as audrey, TestClient(app=app) as root:
        login(audrey, "audrey")
        assert audrey.get("/api/v1/access-log").status_code == 200
        csrf = root.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD}).json()["csrf_token"]
        assert root.post("/api/v1/users/audrey/disable", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert audrey.get("/api/v1/access-log").status_code == 401
        assert audrey.get("/api/v1/access-log", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
        assert login(audrey, "audrey") == 401


def _csrf(client: TestClient[Any], username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def test_nobody_creates_a_content_token_for_another_user(context: AppContext) -> None:
    app = create_app(context)
    with TestClient(app=app) as root, TestClient(app=app) as alice:
        as_root, as_alice = _csrf(root, "root"), _csrf(alice, "alice")
        for permissions in (["content:read"], ["archive:status", "content:read"], ["handover:read"]):
            refused = root.post(
                "/api/v1/tokens",
                json={"name": "as-alice", "permissions": permissions, "username": "alice"},
                headers=as_root,
            )
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "another user" in refused.json()["detail"]
        # What the admin may still do for her: a token that reads no content.
        other = {"name": "status", "permissions": ["archive:status"], "username": "alice"}
        assert root.post("/api/v1/tokens", json=other, headers=as_root).status_code == 201
        # Alice reads content with a token she creates herself.
        own = alice.post("/api/v1/tokens", json={"name": "mine", "permissions": ["content:read"]}, headers=as_alice)
        assert own.status_code == 201, own.text
    with session_scope(context.session_factory) as session:
        tokens = {(t.username, tuple(t.permissions)) for t in security.list_tokens(session)}
    assert tokens == {("alice", ("archive:status",)), ("alice", ("content:read",))}


def test_a_lock_says_nothing_about_which_user_names_exist(context: AppContext) -> None:
    """The threshold is 3: an unknown name locks exactly as an existing one does."""
    with TestClient(app=create_app(context)) as client:
        answers = {}
        for username in ("alice", "mallory"):
            assert [login(client, username, "wrong password!") for _ in range(3)] == [401, 401, 401]
            answer = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
            body = answer.json()
            answers[username] = (answer.status_code, body["title"], body["detail"], body["type"])
    assert answers["alice"] == answers["mallory"]
    assert answers["alice"][0] == 423


def test_failures_from_one_client_never_lock_the_owner_out(database: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, auth=AuthSettings(lockout_threshold=3, trust_proxy_headers=True))
    context = AppContext(settings)
    context.__dict__["engine"] = database.engine
    with session_scope(context.session_factory) as session:
        security.create_user(
            session,
            security.cli_principal("cli:test"),
            username="alice",
            password=PASSWORD,
            role="reviewer",
            now=utcnow(),
        )
    attacker, owner = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.20"}
    body = {"username": "alice", "password": PASSWORD}
    with TestClient(app=create_app(context)) as client:
        for _ in range(3):
            wrong = {"username": "alice", "password": "a guess at it!"}
            assert client.post("/api/v1/auth/login", json=wrong, headers=attacker).status_code == 401
        assert client.post("/api/v1/auth/login", json=body, headers=attacker).status_code == 423
        assert client.post("/api/v1/auth/login", json=body, headers=owner).status_code == 200


def test_a_password_reset_revokes_the_users_api_tokens(context: AppContext) -> None:
    with session_scope(context.session_factory) as session:
        _, secret = security.create_token(
            session,
            security.cli_principal("cli:test"),
            username="audrey",
            name="siem",
            permissions=["access_log:read"],
            ttl=timedelta(days=30),
            now=utcnow(),
        )
    bearer = {"Authorization": f"Bearer {secret}"}
    with TestClient(app=create_app(context)) as root:
        assert root.get("/api/v1/access-log", headers=bearer).status_code == 200
        reset = root.put(
            "/api/v1/users/audrey/password", json={"password": PASSWORD + " again"}, headers=_csrf(root, "root")
        )
        assert reset.status_code == 200, reset.text
        assert root.get("/api/v1/access-log", headers=bearer).status_code == 401
    with session_scope(context.session_factory) as session:
        assert all(token.revoked_at is not None for token in security.list_tokens(session, "audrey"))


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaaaa", "password1234", "qwertyuiop12", "123456789012", "abcdefghijkl", "bobbobbobbob"],
)
def test_common_and_trivial_passwords_are_refused(context: AppContext, password: str) -> None:
    with TestClient(app=create_app(context)) as root:
        csrf = _csrf(root, "root")
        created = root.post(
            "/api/v1/users", json={"username": "bob", "password": password, "role": "reviewer"}, headers=csrf
        )
        assert created.status_code == 400, created.text
        problem = created.json()
        assert problem["type"].endswith(":weak_password") and "too easy to guess" in problem["detail"]
        assert problem["hint"]
        reset = root.put("/api/v1/users/alice/password", json={"password": password}, headers=csrf)
        assert reset.status_code == 400 and reset.json()["type"].endswith(":weak_password")
        strong = {"username": "bob", "password": "violet tram sings at noon", "role": "reviewer"}
        assert root.post("/api/v1/users", json=strong, headers=csrf).status_code == 201
    with TestClient(app=create_app(context)) as alice:
        assert login(alice, "alice") == 200  # the refused reset changed nothing


def test_a_login_must_be_json_so_another_site_cannot_sign_you_in(context: AppContext) -> None:
    """Login CSRF: a form on another site can post text/plain or form bodies, never JSON."""
    body = '{"username": "root", "password": "' + PASSWORD + '"}'
    with TestClient(app=create_app(context)) as client:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            forged = client.post("/api/v1/auth/login", content=body, headers={"Content-Type": content_type})
            assert forged.status_code in (400, 403), (content_type, forged.status_code)
            assert "wecom_audit_session" not in forged.headers.get("set-cookie", "")
        assert login(client, "root") == 200


@pytest.mark.parametrize("purpose", ["\x00", "case\x00-1", "\u200b", " \u200b\u200d\ufeff ", "\u3164", "\x1b[2J"])
def test_a_purpose_must_show_something_and_hold_no_control_characters(context: AppContext, purpose: str) -> None:
    with TestClient(app=create_app(context)) as alice:
        csrf = _csrf(alice, "alice")
        remembered = alice.put("/api/v1/auth/purpose", json={"purpose": purpose}, headers=csrf)
        assert remembered.status_code == 400, remembered.text
        assert alice.get("/api/v1/auth/me").json()["purpose"] is None
        read = alice.get("/api/v1/conversations", headers={"X-Access-Purpose": quote(purpose)})
        assert read.status_code in (400, 428), read.text
        assert alice.put("/api/v1/auth/purpose", json={"purpose": "case 2026-042"}, headers=csrf).status_code == 200


def test_alerts_are_assigned_only_to_users_who_review_them(context: AppContext) -> None:
    with session_scope(context.session_factory) as session:
        operator = security.cli_principal("cli:test")
        security.create_user(
            session,
            operator,
            username="olga",
            password=PASSWORD,
            role="compliance_officer",
            scope_all=True,
            now=utcnow(),
        )
        alert_id = raise_alert(
            session,
            corp_id="ww-test",
            conversation_id=None,
            rule="test.rule",
            category="test",
            severity=Severity.HIGH,
            source="detect",
            explanation={"matches": []},
            message_ids=[],
            now=utcnow(),
        ).id
    with TestClient(app=create_app(context)) as olga:
        csrf = _csrf(olga, "olga")
        for nobody in ("ghost", "audrey", "root"):  # unknown, the auditor, the admin
            refused = olga.post(
                f"/api/v1/alerts/{alert_id}/review", json={"action": "claim", "assignee": nobody}, headers=csrf
            )
            assert refused.status_code == 400, refused.text
            assert nobody in refused.json()["detail"]
        assigned = olga.post(
            f"/api/v1/alerts/{alert_id}/review", json={"action": "claim", "assignee": "alice"}, headers=csrf
        )
        assert assigned.status_code == 200 and assigned.json()["assignee"] == "alice"


def test_failures_count_within_one_lockout_period_and_old_ones_are_forgotten(context: AppContext) -> None:
    policy = security.AuthPolicy(lockout_threshold=3, lockout=timedelta(minutes=15), login_attempts_per_minute=50)
    start = utcnow()

    def attempt(client: str, minutes: float) -> str:
        with session_scope(context.session_factory) as session:
            now = start + timedelta(minutes=minutes)
            result = security.login(session, "alice", "wrong password!", client=client, policy=policy, now=now)
            return type(result.error).__name__

    # Two failures, then a third a day later: it starts a new count instead of locking.
    assert [attempt("10.0.0.1", m) for m in (0, 1, 24 * 60)] == ["InvalidCredentials"] * 3
    assert attempt("10.0.0.1", 24 * 60 + 1) == "InvalidCredentials"
    assert attempt("10.0.0.1", 24 * 60 + 2) == "InvalidCredentials"  # the third within 15 minutes locks …
    assert attempt("10.0.0.1", 24 * 60 + 3) == "AccountLocked"
    # … and a stale row of another client is gone once this name fails again a day later.
    attempt("10.0.0.2", 0)
    attempt("10.0.0.1", 3 * 24 * 60)
    with session_scope(context.session_factory) as session:
        clients = set(session.scalars(select(LoginFailure.client).where(LoginFailure.username == "alice")))
    assert clients == {"10.0.0.1"}
