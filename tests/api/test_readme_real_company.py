"""The README's "Archiving a real company", followed literally with Tencent's own library on a
machine that cannot reach WeCom: the admin gets the typed network error and what to check,
never a dead worker or a traceback."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archive.simulator.cipher import CorpKeyPair
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def readme_steps() -> list[str]:
    """The shell lines of the README section, comments and blank lines dropped."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Archiving a real company", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the section has a shell block"
    lines = (line.split("  #", 1)[0].strip() for line in block.group(1).splitlines())
    return [line for line in lines if line]


def test_the_readme_steps_with_tencents_library_and_no_network(tencent_sdk_library: Path, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"], check=False).returncode != 0:
        require("a private network namespace (unshare -n, as root)", "cannot cut this test off the network")
    (tmp_path / "private_v1.pem").write_bytes(CorpKeyPair.generate(1).private_pem())
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("WECOM_AUDIT_", "WECOM_FAKE_SDK_"))
    }
    environment |= {"WECOM_AUDIT_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "240", "NO_COLOR": "1"}
    steps = readme_steps()
    assert steps[-1].endswith("pull --once"), steps
    results = []
    for step in steps:
        if step == "make install":
            continue  # this test runs inside the installed virtualenv
        if step.startswith("export "):
            name, _, value = step.removeprefix("export ").partition("=")
            if name == "WECOM_AUDIT_SDK__LIBRARY_PATH":
                value = str(tencent_sdk_library)
            elif name == "WECOM_AUDIT_WECOM__ARCHIVE_SECRET":
                value = "archive-secret-from-the-admin-console"
            elif name == "WECOM_AUDIT_DATABASE__URL":
                continue  # the README's own default: SQLite in the data directory
            environment[name] = value
            continue
        argv = shlex.split(step.replace(".venv/bin/", f"{VENV_BIN}/"))
        if step.endswith("pull --once"):
            argv = ["unshare", "-n", *argv]  # no network: not even a DNS server
        results.append(
            subprocess.run(
                argv, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=180, check=False
            )
        )
    *setup, pull = results
    for done in setup:
        assert done.returncode == 0, done.stderr
    output = pull.stdout + pull.stderr
    assert pull.returncode != 0
    assert "SDK code 10001" in output and "WeCom could not be reached" in output
    assert "qyapi.weixin.qq.com" in output and "可信IP" in output and "proxy" in output
    assert "Traceback" not in output and "died" not in output


@pytest.mark.parametrize("step", ["make install", ".venv/bin/wecom-audit init", ".venv/bin/wecom-audit pull --once"])
def test_the_readme_section_still_has_the_steps_this_test_follows(step: str) -> None:
    assert step in readme_steps()
