"""What the operator must fix before anything runs is one line and what to do, with exit code 2:
never defaults in place of a named file, never a traceback (issue 15, item 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

WECOM_AUDIT = Path(sys.executable).parent / "wecom-audit"


def run(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("WECOM_AUDIT_")}
    return subprocess.run(
        [str(WECOM_AUDIT), *argv],
        cwd=tmp_path,
        env={"WECOM_AUDIT_DATA_DIR": str(tmp_path / "data"), **clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


CASES = {
    "a named config file that does not exist": (
        {"WECOM_AUDIT_CONFIG": "/nonexistent/wecom-audit.toml"},
        "does not exist",
    ),
    "a config file that is a directory": ({"WECOM_AUDIT_CONFIG": "/tmp"}, "is not a file"),
    "malformed TOML": ({"WECOM_AUDIT_CONFIG": "bad.toml"}, "is not valid TOML"),
    "an invalid value": ({"WECOM_AUDIT_SDK__PULL_LIMIT": "5000"}, "sdk.pull_limit"),
    "a value of the wrong type": ({"WECOM_AUDIT_API__PORT": "eighty"}, "api.port"),
    "an unreachable database": (
        {"WECOM_AUDIT_DATABASE__URL": "postgresql+psycopg://audit@127.0.0.1:1/wecom_audit"},
        "The database cannot be used",
    ),
    "a data directory that is a file": ({"WECOM_AUDIT_DATA_DIR": "a-file"}, "Cannot use a-file"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", [["status"], ["init"]])
def test_a_bad_configuration_is_one_clear_error(tmp_path: Path, case: str, command: list[str]) -> None:
    (tmp_path / "bad.toml").write_text('data_dir = "unterminated\n')
    (tmp_path / "a-file").write_text("not a directory")
    env, expected = CASES[case]
    result = run(tmp_path, *command, **env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr  # what is wrong, and what to do
    assert lines[0].startswith("Error:") and expected in lines[0]
    assert lines[1].startswith("What to do:")


def test_a_secret_in_an_invalid_setting_is_not_echoed(tmp_path: Path) -> None:
    result = run(
        tmp_path, "status", WECOM_AUDIT_WECOM__ARCHIVE_SECRET="s3cr3t-value", WECOM_AUDIT_API__PORT="s3cr3t-port"
    )
    assert result.returncode == 2
    assert "s3cr3t" not in result.stderr + result.stdout
