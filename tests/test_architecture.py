"""Imports go one way: config ← archive ← audit ← search ← api. Nothing imports api, and
the puller imports neither audit nor search (it hands batches to sinks)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["config", "archive", "audit", "search", "api"]


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_imports_follow_the_layers() -> None:
    violations = []
    for rank, package in enumerate(LAYERS):
        allowed = set(LAYERS[: rank + 1])
        for path in (ROOT / package).rglob("*.py"):
            forbidden = (imported_packages(path) & set(LAYERS)) - allowed
            if forbidden:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(forbidden)}")
    assert not violations, "\n".join(violations)


def test_the_puller_knows_nothing_of_audit_or_search() -> None:
    for name in ("puller.py", "quarantine.py", "repository.py"):
        assert not imported_packages(ROOT / "archive" / name) & {"audit", "search", "api"}


def test_the_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from api.cli import app\nimport search.x\n")
    assert imported_packages(bad) == {"api", "search"}
