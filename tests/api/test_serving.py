"""The app as it is really served: uvicorn on loopback, started by ``wecom-audit serve`` and by
``ApiServer`` (the demo's and the tests' server). uvicorn's default trusts X-Forwarded-For from
any loopback peer; here the header sets the client address only when
``auth.trust_proxy_headers`` says a proxy sets it, so rotating it neither escapes the login
rate limit nor forges the address stored for the attempt (issue 15 item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api.app import ApiServer
from api.context import AppContext
from audit.security.models import LoginAttempt
from config.database import session_scope
from config.settings import AuthSettings, DatabaseSettings, Settings
from tests.conftest import Database, _free_port, wait_for

ATTEMPTS_PER_MINUTE = 3
FORGED = [f"203.0.113.{n}" for n in range(1, 8)]  # seven attempts: one calendar minute gets 4 or more


def _serving(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/live", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _forged_logins(url: str) -> list[int]:
    """Failed logins from this loopback client, each claiming another address."""
    body = {"username": "nobody", "password": "not a password at all"}
    return [
        httpx.post(f"{url}/api/v1/auth/login", json=body, headers={"X-Forwarded-For": address}, timeout=30).status_code
        for address in FORGED
    ]


def _stored_clients(database: Database) -> set[str]:
    with session_scope(database.sessions) as session:
        return set(session.execute(select(LoginAttempt.client)).scalars())


@contextmanager
def _api_server(database: Database, tmp_path: Path, *, trust: bool) -> Iterator[str]:
    auth = AuthSettings(trust_proxy_headers=trust, login_attempts_per_minute=ATTEMPTS_PER_MINUTE)
    context = AppContext(Settings(data_dir=tmp_path, database=DatabaseSettings(url=database.url), auth=auth))
    server = ApiServer(context, "127.0.0.1", _free_port()).start()
    try:
        wait_for(lambda: _serving(server.url), timeout_s=30)
        yield server.url
    finally:
        server.stop()
        context.close()


def test_the_api_server_ignores_forwarded_for_from_loopback(database: Database, tmp_path: Path) -> None:
    with _api_server(database, tmp_path, trust=False) as url:
        statuses = _forged_logins(url)
    assert 429 in statuses and set(statuses) == {401, 429}
    assert _stored_clients(database) == {"127.0.0.1"}


def test_the_api_server_believes_forwarded_for_behind_a_trusted_proxy(database: Database, tmp_path: Path) -> None:
    with _api_server(database, tmp_path, trust=True) as url:
        statuses = _forged_logins(url)
    assert statuses == [401] * len(FORGED)  # one attempt per (proxied) client
    assert _stored_clients(database) == set(FORGED)


def test_wecom_audit_serve_ignores_forwarded_for_from_loopback(database: Database, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "WECOM_AUDIT_DATA_DIR": str(tmp_path),
        "WECOM_AUDIT_DATABASE__URL": database.url,
        "WECOM_AUDIT_AUTH__LOGIN_ATTEMPTS_PER_MINUTE": str(ATTEMPTS_PER_MINUTE),
    }
    env.pop("WECOM_AUDIT_CONFIG", None)
    command = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _serving(url) or process.poll() is not None, timeout_s=60)
        if process.poll() is not None:
            pytest.fail(f"wecom-audit serve exited: {process.communicate()[0][-2000:]}")
        statuses = _forged_logins(url)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert 429 in statuses and set(statuses) == {401, 429}
    assert _stored_clients(database) == {"127.0.0.1"}
