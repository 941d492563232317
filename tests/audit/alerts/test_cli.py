"""`wecom-audit alerts` end to end in a subprocess: detect, list, review, simulate, rescan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from audit.detect.hits import Severity
from audit.detect.rules.io import write_csv
from audit.detect.rules.spec import LexiconGroup
from tests.conftest import Edge

REPO = Path(__file__).resolve().parents[3]


def _cli(edge: Edge, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "alerts", *args],
        cwd=REPO,
        env={**edge.env(), "WECOM_AUDIT_NLP__MODEL_DIR": str(edge.settings.data_dir / "no-models")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_detect_review_and_simulate_from_the_command_line(edge: Edge, tmp_path: Path) -> None:
    edge.simulator.populate(600, messages_per_day=4000)
    edge.register_keys()
    context = edge.context()
    assert context.puller(edge.simulator.corp_id).run().status == "completed"
    context.close()

    run = _cli(edge, "run")
    assert run.returncode == 0, run.stderr
    assert "Scanned 600 messages" in run.stdout

    listed = _cli(edge, "list", "--json", "--limit", "500")
    assert listed.returncode == 0, listed.stderr
    alerts = [json.loads(line) for line in listed.stdout.splitlines()]
    assert alerts and all(a["status"] == "new" for a in alerts)
    first, second = alerts[0]["id"], alerts[-1]["id"]

    assert _cli(edge, "claim", str(first), str(second), "--as", "li").returncode == 0
    refused = _cli(edge, "claim", str(first), "--as", "zhao")
    assert refused.returncode == 1 and f"Refused {first}" in refused.stderr
    resolved = _cli(edge, "resolve", str(first), "--disposition", "coached", "--as", "li", "--note", "talked")
    assert resolved.returncode == 0, resolved.stderr
    shown = _cli(edge, "show", str(first))
    assert shown.returncode == 0 and "resolve" in shown.stdout and "talked" in shown.stdout

    drafts = tmp_path / "draft.csv"
    write_csv([LexiconGroup("draft.thanks", "courtesy", Severity.LOW, ("谢谢", "好的"))], drafts)
    simulated = _cli(edge, "simulate", str(drafts), "--days", "30")
    assert simulated.returncode == 0, simulated.stderr
    assert "draft.thanks" in simulated.stdout

    # The simulated chats can run a few hours past now at night: rescan to a far date.
    rescanned = _cli(edge, "rescan", "--since", "2000-01-01", "--until", "2100-01-01")
    assert rescanned.returncode == 0 and "Queued 600 messages" in rescanned.stdout
    again = _cli(edge, "run")
    assert "0 new alerts" in again.stdout
