"""`wecom-audit users …`, `tokens …` and `access-log verify` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from api.cli import app
from audit.accesslog.models import AccessLogEntry
from config.database import session_scope
from tests.conftest import Database

PASSWORD = "correct horse battery staple"


@pytest.fixture
def env(database: Database, tmp_path: Path) -> dict[str, str]:
    return {"WECOM_AUDIT_DATA_DIR": str(tmp_path), "WECOM_AUDIT_DATABASE__URL": database.url}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.output


def test_bootstrap_an_admin_then_manage_users_and_tokens(env: dict[str, str], database: Database) -> None:
    assert run(env, "users", "add", "alice", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    code, out = run(
        env,
        "users",
        "add",
        "bob",
        "--role",
        "reviewer",
        "--department",
        "ww1:2",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, out
    code, out = run(env, "users", "add", "carol", "--role", "pope", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 1 and "unknown role" in out and "compliance_officer" in out
    code, out = run(env, "users", "add", "dave", "--role", "auditor", "--password-stdin", stdin="short\n")
    assert code == 1 and "too short" in out
    code, out = run(env, "users", "list")
    assert code == 0 and "alice" in out and "ww1:2" in out and PASSWORD not in out

    code, out = run(env, "tokens", "create", "bob", "--name", "siem", "--permission", "content:read")
    assert code == 1 and "reads chat content for another user" in out  # only bob creates that, signed in
    code, out = run(env, "tokens", "create", "bob", "--name", "siem", "--permission", "alerts:read")
    assert code == 0, out
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("wa_") and len(secret) > 40
    code, out = run(env, "tokens", "list")
    assert code == 0 and secret not in out and secret[:10] in out
    assert run(env, "tokens", "revoke", "1")[0] == 0
    assert run(env, "users", "disable", "bob")[0] == 0
    assert run(env, "users", "passwd", "alice", "--password-stdin", stdin=PASSWORD + "!\n")[0] == 0

    code, out = run(env, "access-log", "verify")
    assert code == 0 and "intact" in out
    with session_scope(database.sessions) as session:
        session.execute(update(AccessLogEntry).where(AccessLogEntry.position == 2).values(actor="someone else"))
    code, out = run(env, "access-log", "verify")
    assert code == 1 and "row 2 was changed" in out
