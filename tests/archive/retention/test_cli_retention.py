"""``wecom-audit retention …`` as an operator uses it, against pulled simulated chats."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import typer
from typer.testing import CliRunner, Result

from api.cli import retention
from config.logs import configure_logging
from tests.archive.retention.helpers import older_than, pull_history, sent_messages, stored_msgids
from tests.conftest import Edge


@pytest.fixture
def retention_cli(edge: Edge) -> Iterator[typer.Typer]:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """The main CLI's stand-in (``api.cli`` registers the same group)."""

    app.add_typer(retention.app, name="retention")
    yield app
    configure_logging("WARNING")  # the commands pointed the logs at the runner's streams, closed by now


def invoke(app: typer.Typer, edge: Edge, *args: str) -> Result:
    env = {**edge.env(), "COLUMNS": "250", "WECOM_AUDIT_LOGGING__JSON": "true"}
    return CliRunner().invoke(app, ["retention", *args], env=env)


def _count(pattern: str, output: str) -> int:
    found = re.search(pattern, output)
    assert found, output
    return int(found.group(1))


def test_policies_holds_and_disposition_from_the_command_line(edge: Edge, retention_cli: typer.Typer) -> None:
    sent = sent_messages(pull_history(edge, 400, days=40))
    held_employee = edge.simulator.company.employees[0].userid

    added = invoke(retention_cli, edge, "policy", "add", "--scope", "corp", "--days", "30")
    assert added.exit_code == 0, added.output
    assert "Added policy 1 'corp': corp, 30 days." in added.output
    assert invoke(retention_cli, edge, "policy", "add", "--scope", "department:3", "--years", "1").exit_code == 0
    both = invoke(retention_cli, edge, "policy", "add", "--scope", "corp", "--days", "3", "--years", "1")
    assert both.exit_code == 1 and "exactly one of --days and --years" in both.output
    bad_scope = invoke(retention_cli, edge, "policy", "add", "--scope", "chat:wechat", "--days", "3")
    assert bad_scope.exit_code == 1 and "single_external" in bad_scope.output

    listed = invoke(retention_cli, edge, "policy", "list")
    assert re.search(r"2\s+│\s+department:3\s+│\s+department:3\s+│\s+366", listed.output), listed.output

    no_reason = invoke(retention_cli, edge, "policy", "set-days", "1", "20")
    assert no_reason.exit_code == 1 and "needs a reason" in no_reason.output and "What to do" in no_reason.output
    assert invoke(retention_cli, edge, "policy", "set-days", "1", "25", "--reason", "legal review").exit_code == 0
    assert invoke(retention_cli, edge, "policy", "lock", "1").exit_code == 0
    locked = invoke(retention_cli, edge, "policy", "set-days", "1", "10", "--reason", "cost")
    assert locked.exit_code == 1 and "locked at 25 days" in locked.output

    assert invoke(retention_cli, edge, "hold", "add", "--employee", held_employee).exit_code == 0
    window = invoke(retention_cli, edge, "hold", "add", "--from", "2026-09-01", "--to", "2026-09-03")
    assert window.exit_code == 0 and "(date_range)" in window.output
    case = invoke(retention_cli, edge, "hold", "add", "--employee", "a", "--room", "wrX", "--case", "SEC-9")
    assert case.exit_code == 0 and "'SEC-9' (case)" in case.output
    two = invoke(retention_cli, edge, "hold", "add", "--employee", "a", "--employee", "b")
    assert two.exit_code == 1 and "--case" in two.output
    holds = invoke(retention_cli, edge, "hold", "list")
    assert "2026-09-01 00:00" in holds.output and "2026-09-04 00:00" in holds.output, holds.output
    assert invoke(retention_cli, edge, "hold", "release", "3").exit_code == 2, "--reason is required"
    assert invoke(retention_cli, edge, "hold", "release", "3", "--reason", "withdrawn").exit_code == 0

    dry = invoke(retention_cli, edge, "dispose", "--dry-run")
    assert dry.exit_code == 0, dry.output
    would = _count(r"would dispose\s+│\s+(\d+)", dry.output)
    assert len(stored_msgids(edge)) == len(sent)

    done = invoke(retention_cli, edge, "dispose")
    assert done.exit_code == 0, done.output
    disposed = _count(r"disposed\s+│\s+(\d+)", done.output)
    assert disposed == would == len(sent) - len(stored_msgids(edge)) > 0
    # The command runs on the wall clock: what is younger than the locked 25 days is all still there.
    assert stored_msgids(edge) >= {m.msgid for m in sent} - older_than(sent, 25, datetime.now(UTC))

    runs = invoke(retention_cli, edge, "runs")
    assert runs.exit_code == 0 and runs.output.count("completed") == 2 and "yes" in runs.output
    history = invoke(retention_cli, edge, "history")
    for action in ("policy.created", "policy.retention_changed", "policy.locked", "hold.created", "hold.released"):
        assert action in history.output
    assert "withdrawn" in history.output
