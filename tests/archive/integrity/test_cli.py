"""The integrity commands, run through typer the way `wecom-audit` runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import integrity
from config.logs import configure_logging
from tests.archive.integrity.helpers import checkpoint_file, link_at, pull
from tests.conftest import Edge


@pytest.fixture
def cli(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    for name, value in edge.env().items():
        monkeypatch.setenv(name, value)
    app = typer.Typer()
    app.command("verify")(integrity.verify)
    app.command("export")(integrity.export)
    app.command("verify-export")(integrity.verify_export)
    app.command("checkpoint")(integrity.checkpoint)
    yield app
    configure_logging()  # the commands pointed the logs at the runner's stream, closed now


def test_verify_reports_a_sound_chain_and_checkpoints_it(edge: Edge, cli: typer.Typer) -> None:
    pull(edge, 120)

    result = CliRunner().invoke(cli, ["verify"])

    assert result.exit_code == 0, result.output
    assert "verified: 120 links" in result.output
    assert checkpoint_file(edge).read_text().count("\n") == 1


def test_verify_exits_1_naming_the_broken_link_without_content(edge: Edge, cli: typer.Typer) -> None:
    pull(edge, 120)
    target = link_at(edge, 77)
    with edge.database.engine.begin() as connection:
        connection.execute(text("UPDATE messages SET text = 'hush money' WHERE id = :id"), {"id": target.message_id})

    result = CliRunner().invoke(cli, ["verify"])

    assert result.exit_code == 1
    output = " ".join(result.output.split())  # rich wraps long lines
    assert f"record_hash_mismatch at position 77 (msgid {target.msgid}, seq {target.seq})" in output
    assert "hush" not in output
    assert not checkpoint_file(edge).exists()


def test_export_then_verify_export(edge: Edge, cli: typer.Typer, tmp_path: Path) -> None:
    pull(edge, 80)
    out_dir = tmp_path / "case-42"

    exported = CliRunner().invoke(cli, ["export", str(out_dir), "--since", "2000-01-01"])
    checked = CliRunner().invoke(cli, ["verify-export", str(out_dir)])
    (out_dir / "messages.jsonl").write_bytes((out_dir / "messages.jsonl").read_bytes()[:-10])
    tampered = CliRunner().invoke(cli, ["verify-export", str(out_dir)])

    assert exported.exit_code == 0, exported.output
    assert "Exported 80 messages" in exported.output
    assert checked.exit_code == 0 and "80 messages" in checked.output
    assert tampered.exit_code == 1 and "does not verify" in " ".join(tampered.output.split())


def test_checkpoint_writes_once_per_change(edge: Edge, cli: typer.Typer) -> None:
    pull(edge, 40)

    first = CliRunner().invoke(cli, ["checkpoint"])
    second = CliRunner().invoke(cli, ["checkpoint", "--corp", edge.simulator.corp_id])

    assert first.exit_code == 0 and "checkpoint at position 40" in first.output
    assert second.exit_code == 0 and "no new links" in second.output
