"""The command line as an operator uses it: real processes, real databases, real output."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Edge

pytestmark = pytest.mark.usefixtures("fake_sdk_library")


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so rich tables do not wrap the ids the assertions look for.
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env={**env, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_pulls_the_simulated_company_with_no_other_step(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WECOM_")},
        "WECOM_AUDIT_DATA_DIR": str(tmp_path / "data"),
        "WECOM_AUDIT_SIMULATOR__PORT": str(free_port()),
        "WECOM_AUDIT_API__PORT": str(free_port()),
        "WECOM_AUDIT_SIMULATOR__HISTORY_DAYS": "0.5",
        "WECOM_AUDIT_SIMULATOR__LIVE_MESSAGES_PER_MINUTE": "600",
    }
    started_ms = int(time.time() * 1000)
    demo = cli(env, "demo", "--duration", "15", "--interval", "2")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "Simulating up to 1,500 messages" in demo.stdout
    # Messages the simulated company sent this long before the demo ended have had several
    # pulls to arrive. (Live traffic follows office hours: at night there may be none.)
    settled_before_ms = int(time.time() * 1000) - 10_000

    status = cli(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    status_ms = int(time.time() * 1000)
    (row,) = [json.loads(line) for line in status.stdout.splitlines()]
    with sqlite3.connect(tmp_path / "data" / "simulator" / "sim.db") as simulated:
        history = simulated.execute("SELECT COUNT(*) FROM chatdata WHERE msgtime_ms < ?", (started_ms,)).fetchone()[0]
        settled, newest_settled_ms = simulated.execute(
            "SELECT COUNT(*), MAX(msgtime_ms) FROM chatdata WHERE msgtime_ms < ?", (settled_before_ms,)
        ).fetchone()
        sent = simulated.execute("SELECT COUNT(*) FROM chatdata").fetchone()[0]
    assert history > 0
    assert settled <= row["messages"] <= sent, "history and the settled live traffic must have been pulled"
    assert row["quarantined"] == 0
    assert row["cursor"] >= row["messages"]
    assert row["lag_s"] is not None and row["lag_s"] <= (status_ms - newest_settled_ms) / 1000 + 1

    table = cli(env, "status")
    assert row["corp_id"] in table.stdout and "completed" in table.stdout


def test_pull_status_keys_and_quarantine_commands(edge: Edge) -> None:
    edge.simulator.populate(200, messages_per_day=20_000, rotate_after=150)
    env = edge.env()
    key_files = []
    for pair in edge.simulator.key_pairs():
        path = edge.settings.data_dir.parent / f"wecom_v{pair.version}.pem"
        path.write_bytes(pair.private_pem())
        key_files.append((pair.version, path))

    version, path = key_files[0]
    added = cli(env, "keys", "add", "--version", str(version), str(path))
    assert added.returncode == 0, added.stderr
    assert "Registered publickey_ver 1" in added.stdout
    listed = cli(env, "keys", "list")
    assert "v1.pem" in listed.stdout and "BEGIN" not in listed.stdout

    pulled = cli(env, "pull", "--once")
    assert pulled.returncode == 0, pulled.stderr
    assert "quarantined: unknown_key_version" in pulled.stdout

    quarantined = cli(env, "quarantine", "list")
    assert "unknown_key_version" in quarantined.stdout and "keys add --version 2" in quarantined.stdout

    version, path = key_files[1]
    assert cli(env, "keys", "add", "--version", str(version), str(path)).returncode == 0
    retried = cli(env, "quarantine", "retry")
    assert retried.returncode == 0, retried.stderr
    assert "50 recovered" in retried.stdout
    assert "Quarantine is empty" in cli(env, "quarantine", "list").stdout

    (row,) = [json.loads(line) for line in cli(env, "status", "--json").stdout.splitlines()]
    assert (row["messages"], row["quarantined"], row["cursor"]) == (200, 0, 200)


def test_errors_tell_the_operator_what_to_do(edge: Edge, tmp_path: Path) -> None:
    env = {**edge.env(), "WECOM_AUDIT_WECOM__ARCHIVE_SECRET": "wrong"}
    edge.register_keys()
    failed = cli(env, "pull", "--once")
    assert failed.returncode == 1
    assert "40001" in failed.stderr and "What to do" in failed.stderr
    assert "Traceback" not in failed.stderr

    weak = tmp_path / "weak.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    refused = cli(edge.env(), "keys", "add", "--version", "5", str(weak))
    assert refused.returncode == 1 and "RSA-2048" in refused.stderr

    taken = cli(edge.env(), "keys", "add", "--version", "1", str(weak))
    assert taken.returncode == 1

    missing = cli({**edge.env(), "WECOM_AUDIT_SDK__LIBRARY_PATH": "/nowhere/lib.so"}, "pull", "--once")
    assert missing.returncode == 1 and "does not exist" in missing.stderr

    not_configured = {k: v for k, v in edge.env().items() if not k.startswith("WECOM_AUDIT_WECOM")}
    nothing = cli(not_configured, "pull", "--once")
    assert nothing.returncode == 1 and "WECOM_AUDIT_WECOM__CORP_ID" in (nothing.stderr + nothing.stdout)
