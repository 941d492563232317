"""Logs and error output never contain message text, key material or secrets.

Runs pulls through every fault path with logs captured (the app's structlog output and
the worker processes' stderr), then searches the capture for every secret and every
piece of message text that was sent."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from archive.quarantine import retry_quarantine
from archive.simulator.cipher import CorpKeyPair
from archive.simulator.conversations import GeneratedMessage
from config.logs import configure_logging
from tests.conftest import Edge


def content_fragments(messages: list[GeneratedMessage]) -> set[str]:
    """Every string value of at least 6 characters inside the sent plaintexts."""
    fragments: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str) and len(value) >= 6 and value not in ("action", "msgtype"):
            fragments.add(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in (
                    "msgid",
                    "from",
                    "tolist",
                    "roomid",
                    "action",
                    "msgtype",
                    "pre_msgid",
                    "user",
                    "userid",
                    "sdkfileid",
                    "md5sum",
                ):
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for message in messages:
        walk(message.plaintext)
    return fragments


def test_logs_hold_no_content_keys_or_secrets(
    edge: Edge, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(600, messages_per_day=20_000, rotate_after=300, record=sent)
    stranger = CorpKeyPair.generate(7)
    edge.simulator.populate(5, messages_per_day=20_000, encrypt_with=stranger, record=sent)
    edge.register_keys(versions=[1])
    stream = io.StringIO()
    configure_logging("DEBUG", json_output=True, stream=stream)
    monkeypatch.setenv("WECOM_FAKE_SDK_CRASH_SEQ", "42")
    monkeypatch.setenv("WECOM_FAKE_SDK_CORRUPT_SEQ", "43")
    monkeypatch.setenv("WECOM_FAKE_SDK_CHATDATA_RC", "10002")
    monkeypatch.setenv("WECOM_FAKE_SDK_CHATDATA_RC_TIMES", "1")

    context = edge.context()
    corp_id = edge.simulator.corp_id
    report = context.puller(corp_id).run()
    edge.register_keys()
    retry_quarantine(corp_id, context.source(corp_id), edge.database.sessions)
    context.close()
    edge.server.faults.chatdata_errcode = 301042
    failed = edge.context().puller(corp_id).run()

    # The CLI's own output, as an operator would see it.
    cli_env = edge.env()
    cli_runs = [
        subprocess.run(
            [sys.executable, "-m", "api.cli", *args], env=cli_env, capture_output=True, text=True, timeout=120
        )
        for args in (
            ["pull", "--once"],
            ["status"],
            ["keys", "list"],
            ["quarantine", "list", "--all"],
            ["config", "show"],
        )
    ]
    captured = capfd.readouterr()
    logs = "\n".join([stream.getvalue(), captured.out, captured.err, *(r.stdout + r.stderr for r in cli_runs)])

    assert report.quarantined >= 2 and failed.status == "failed"  # the fault paths really ran
    assert "archive.pull.completed" in logs and "archive.sdk.worker_died" in logs and "archive.sdk.retry" in logs
    assert all(json.loads(line) for line in stream.getvalue().splitlines())  # structured

    secrets = [edge.simulator.archive_secret] + [
        line
        for pair in [*edge.simulator.key_pairs(), stranger]
        for line in pair.private_pem().decode().splitlines()[1:-1]
    ]
    for secret in secrets:
        assert secret not in logs
    leaked = [fragment for fragment in content_fragments(sent) if fragment in logs]
    assert not leaked, f"message content in logs: {leaked[:3]}"
